//! Synchronisation primitives, from loom under `cfg(resile_loom)` so the lock-free parts can be
//! model-checked, from `std` otherwise.

#[cfg(resile_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(resile_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(resile_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(resile_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: the breaker's slow-path state stays consistent even if a
/// thread panicked while holding the lock (every update is a few plain assignments, and
/// listeners — user code — are never called with the lock held).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(resile_loom)]
    {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
    #[cfg(not(resile_loom))]
    {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
