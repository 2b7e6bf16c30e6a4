//! Atomics, from loom in tests under `cfg(resile_loom)` (loom is a dev-dependency), so the budget's lock-free code can be model-checked.

#[cfg(all(resile_loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(not(all(resile_loom, test)))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Lets a spinning thread give way (loom must be told, or it explores a spin for ever).
pub(crate) fn spin() {
    #[cfg(all(resile_loom, test))]
    loom::thread::yield_now();
    #[cfg(not(all(resile_loom, test)))]
    std::hint::spin_loop();
}
