//! resile circuit-breaker (work in progress).
