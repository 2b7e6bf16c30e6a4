//! The synchronisation primitives of the permit engine: loom's under `cfg(resile_loom)`, the
//! standard library's otherwise.

#[cfg(all(test, resile_loom))]
pub(crate) use loom::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
#[cfg(all(test, resile_loom))]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(all(test, resile_loom)))]
pub(crate) use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(all(test, resile_loom)))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: nothing that can panic runs while the engine's lock is held,
/// and the queue stays consistent if something ever did.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A value alone on its cache lines (128 bytes covers adjacent-line prefetch on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
