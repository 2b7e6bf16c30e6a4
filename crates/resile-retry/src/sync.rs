//! Atomics, from loom under `cfg(resile_loom)` so the budget's lock-free code can be model-checked.

#[cfg(resile_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(not(resile_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Lets a spinning thread give way (loom must be told, or it explores a spin for ever).
pub(crate) fn spin() {
    #[cfg(resile_loom)]
    loom::thread::yield_now();
    #[cfg(not(resile_loom))]
    std::hint::spin_loop();
}
