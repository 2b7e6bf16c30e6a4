//! Atomics, from loom under `cfg(resile_loom)` so the counters can be model-checked.

#[cfg(resile_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(resile_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
