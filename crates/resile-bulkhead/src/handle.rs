//! A handle to watch a bulkhead.

use std::sync::Arc;

use resile_core::Name;

use crate::layer::{Mode, Shared};

/// Watches a bulkhead: calls in flight, callers waiting, rejections. Cheap to clone; shares the
/// state of the layer it came from.
///
/// Figures are read without stopping callers: each is exact when no call starts or ends while
/// it is read, and otherwise a snapshot of the moment.
#[derive(Debug, Clone)]
pub struct BulkheadHandle {
    shared: Arc<Shared>,
}

impl BulkheadHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Permits in use: calls in flight, plus (with [`Mode::Backpressure`] or
    /// [`Mode::WaitAtMost`]) services readied by `poll_ready` and not called yet, and permits
    /// granted to a waiter about to take them. Never more than [`limit`](Self::limit).
    pub fn in_flight(&self) -> usize {
        self.shared.permits.in_use()
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.shared.permits.free()
    }

    /// The most calls in flight at once.
    pub fn limit(&self) -> usize {
        self.shared.permits.limit()
    }

    /// Callers waiting for a permit (always zero with [`Mode::RejectWhenFull`]).
    pub fn waiting(&self) -> usize {
        self.shared.permits.waiting()
    }

    /// Calls rejected so far.
    pub fn rejected(&self) -> u64 {
        self.shared.permits.rejected()
    }

    /// The dependency the bulkhead protects.
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// What the bulkhead does when full.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }
}
