//! resile bulkhead (work in progress).
