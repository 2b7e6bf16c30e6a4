//! resile timeout (work in progress).
