//! resile saga (work in progress).
