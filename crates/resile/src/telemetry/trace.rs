//! Resile events as `tracing` events, one target per layer.

use resile_core::{Event, EventLevel};

/// Emits `event` at `level` under the target `resile::<layer>`.
pub(crate) fn emit<E: Event>(event: &E, level: EventLevel) {
    macro_rules! at {
        ($target:literal) => {
            match level {
                EventLevel::Trace => tracing::trace!(target: $target, dependency = event.dependency(), kind = event.kind(), event = ?event),
                EventLevel::Debug => tracing::debug!(target: $target, dependency = event.dependency(), kind = event.kind(), event = ?event),
                EventLevel::Info => tracing::info!(target: $target, dependency = event.dependency(), kind = event.kind(), event = ?event),
                EventLevel::Warn | EventLevel::Error => tracing::warn!(target: $target, dependency = event.dependency(), kind = event.kind(), event = ?event),
            }
        };
    }
    match event.layer() {
        "circuit_breaker" => at!("resile::circuit_breaker"),
        "retry" => at!("resile::retry"),
        "timeout" => at!("resile::timeout"),
        "bulkhead" => at!("resile::bulkhead"),
        "fallback" => at!("resile::fallback"),
        "http" => at!("resile::http"),
        _ => at!("resile"),
    }
}
