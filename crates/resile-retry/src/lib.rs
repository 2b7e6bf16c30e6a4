//! resile retry (work in progress).
