//! Admission: may this call go through?

use std::time::Duration;

use resile_core::CircuitOpen;

use super::shard::{Count, lease, thread_index};
use super::timer;
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
        // Open, with a timer that will end the wait: reject from atomics alone (see `timer`).
        if w.is_open_normal() && self.shared.hot.timer.load(Ordering::Relaxed) == w.0 {
            let rejections = self.rejections();
            if !timer::recheck_due(rejections.get()) {
                rejections.add();
                return Err(self.timed_rejection(w));
            }
        }
        self.admit_slow(w)
    }

    /// The rejection of a timed opening (already counted): the time left is worked out only
    /// if a listener or the caller asks for it.
    #[inline]
    fn timed_rejection(&self, w: Word) -> CircuitOpen {
        let sh = &*self.shared;
        sh.listeners.emit(|| {
            CircuitBreakerEvent::new(
                sh.name.clone(),
                EventKind::Rejected {
                    state: w.state(),
                    retry_after: sh
                        .clock
                        .instant(w.time_ms())
                        .saturating_duration_since(sh.clock.now()),
                },
            )
        });
        CircuitOpen::until_millis_after(sh.name.clone(), sh.clock.base(), w.time_ms())
    }

    #[inline]
    fn closed_guard(&self) -> Guard {
        // The call's start: the instant a layer outside already read for this call, if one did.
        let start = self.shared.needs_start.then(resile_core::clock::now);
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
                    let until = sh.clock.instant(w.time_ms());
                    let now = sh.clock.now();
                    if now < until {
                        return Err(self.reject_open(w));
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
        self.rejections().add();
        self.shared.listeners.emit(|| {
            CircuitBreakerEvent::new(
                self.shared.name.clone(),
                EventKind::Rejected {
                    state: w.state(),
                    retry_after: open_for,
                },
            )
        });
        CircuitOpen::new(self.shared.name.clone(), open_for)
    }

    /// Counts a rejection of the opening `w` and builds it (see
    /// [`timed_rejection`](Self::timed_rejection)).
    fn reject_open(&self, w: Word) -> CircuitOpen {
        self.rejections().add();
        self.timed_rejection(w)
    }

    /// The calling thread's rejection count (on its shard).
    #[inline]
    fn rejections(&self) -> Count<'_> {
        let index = thread_index();
        self.shards[index & self.mask].rejections(index)
    }
}
