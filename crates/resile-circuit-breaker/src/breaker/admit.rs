//! Admission: may this call go through?

use std::time::Duration;

use resile_core::CircuitOpen;

use super::shard::lease;
use super::{Breaker, Guard, Ticket};
use crate::event::{CircuitBreakerEvent, EventKind};
use crate::probe::Admission;
use crate::state::{Mode, Phase, Word};
use crate::sync::Ordering;

impl Breaker {
    /// Admits a call (returning the guard that will record its outcome) or rejects it.
    ///
    /// Closed and normal — the common case — is one atomic load, one thread-local read and one
    /// reference-count increment on the thread's own shard; no clock, no shared write.
    #[inline]
    pub(crate) fn admit(&self) -> Result<Guard, CircuitOpen> {
        let w = self.word();
        if w.is_closed_normal() {
            return Ok(self.closed_guard());
        }
        self.admit_slow(w)
    }

    #[inline]
    fn closed_guard(&self) -> Guard {
        let start = self.shared.needs_start.then(|| self.shared.clock.now());
        Guard::new(lease(self.shard()), Ticket::Closed, start)
    }

    #[cold]
    #[inline(never)]
    fn admit_slow(&self, mut w: Word) -> Result<Guard, CircuitOpen> {
        let sh = &*self.shared;
        loop {
            match (w.mode(), w.phase()) {
                (Mode::ForcedOpen, _) => return Err(self.reject(w, sh.config.backoff.wait)),
                (Mode::Disabled | Mode::MetricsOnly, _) | (Mode::Normal, Phase::Closed) => {
                    return Ok(self.closed_guard());
                }
                (Mode::Normal, Phase::Open) => {
                    // The clock is read only here, on the rejection path.
                    let now = sh.clock.now();
                    let until = sh.clock.instant(w.time_ms());
                    if now < until {
                        return Err(self.reject(w, until - now));
                    }
                    w = self.refresh(now);
                }
                (Mode::Normal, Phase::HalfOpen) => {
                    let now = sh.clock.now();
                    if now >= sh.probe_deadline(w.time_ms()) {
                        w = self.refresh(now);
                        continue;
                    }
                    match sh.hot.probes.try_admit(w.generation(), sh.config.probes) {
                        Admission::Admitted => {
                            let start = sh.needs_start.then_some(now);
                            return Ok(Guard::new(
                                lease(self.shard()),
                                Ticket::Probe(w.generation()),
                                start,
                            ));
                        }
                        Admission::Full => return Err(self.reject(w, Duration::ZERO)),
                        Admission::Stale => w = self.word(),
                    }
                }
            }
        }
    }

    /// Counts a rejection, publishes it, and builds the error.
    fn reject(&self, w: Word, open_for: Duration) -> CircuitOpen {
        let shard = self.shard();
        shard.rejected.fetch_add(1, Ordering::Relaxed);
        self.shared.listeners.emit(|| {
            CircuitBreakerEvent::new(
                shard.name.clone(),
                EventKind::Rejected {
                    state: w.state(),
                    retry_after: open_for,
                },
            )
        });
        CircuitOpen::new(shard.name.clone(), open_for)
    }
}
