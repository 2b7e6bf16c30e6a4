//! A property test: the breaker and a simple reference model are driven by the same random
//! sequence of outcomes, call durations, held/dropped calls and clock advances, and must agree
//! on the state (and the window's counts) after every step.
//!
//! The reference model is deliberately naive: it keeps every outcome in a list, evaluates the
//! trip condition after every recorded call, and knows nothing of shards, armed flags,
//! snapshots or generations.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use resile_circuit_breaker::{DroppedCalls, ResponseFuture, State};
use support::*;
use tower::{Service, ServiceExt};

// ---- the reference ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum ModelKind {
    Count { size: usize },
    Time { bucket_ms: u64, buckets: u64 },
    Consecutive { threshold: u32 },
}

#[derive(Debug, Clone)]
struct Cfg {
    kind: ModelKind,
    failure_rate: f64,
    min_calls: u64,
    slow: Option<(u64, f64)>,
    wait_ms: u64,
    multiplier: f64,
    max_wait_ms: u64,
    hint_cap_ms: u64,
    probes: u32,
    to_close: u32,
    max_probe_ms: u64,
    drop_is_failure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open {
        until: u64,
    },
    HalfOpen {
        since: u64,
        period: u64,
        admitted: u32,
        ok: u32,
        bad: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ticket {
    Closed,
    Probe(u64),
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Success,
    Failure { hint: Option<u64> },
    Ignored,
}

#[derive(Debug)]
struct Reference {
    cfg: Cfg,
    phase: Phase,
    level: u32,
    hint_until: u64,
    streak: u32,
    periods: u64,
    /// (time, failure, slow) of every outcome recorded since the window was last emptied.
    outcomes: Vec<(u64, bool, bool)>,
}

fn reaches(part: u64, whole: u64, rate: f64) -> bool {
    let ppm = (rate * 1_000_000.0).round() as u128;
    whole > 0 && u128::from(part) * 1_000_000 >= ppm * u128::from(whole)
}

impl Reference {
    fn new(cfg: Cfg) -> Self {
        Self {
            cfg,
            phase: Phase::Closed,
            level: 0,
            hint_until: 0,
            streak: 0,
            periods: 0,
            outcomes: Vec::new(),
        }
    }

    fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// The wait of the `level`-th opening, computed as the breaker documents it.
    fn wait(&self) -> Duration {
        let base = Duration::from_millis(self.cfg.wait_ms).as_secs_f64();
        let cap = Duration::from_millis(self.cfg.max_wait_ms)
            .as_secs_f64()
            .max(base);
        let grown = base * self.cfg.multiplier.powi(self.level as i32);
        let capped = if grown.is_finite() {
            grown.min(cap)
        } else {
            cap
        };
        Duration::try_from_secs_f64(capped)
            .unwrap()
            .max(Duration::from_millis(1))
    }

    fn open(&mut self, now: u64) {
        let w = self.wait().as_nanos();
        let until = now + (w / 1_000_000) as u64 + u64::from(!w.is_multiple_of(1_000_000));
        self.phase = Phase::Open {
            until: until.max(self.hint_until),
        };
        self.level += 1;
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.level = 0;
        self.streak = 0;
        self.outcomes.clear();
    }

    fn hint(&mut self, now: u64, hint: Option<u64>) {
        if let Some(h) = hint {
            self.hint_until = self.hint_until.max(now + h.min(self.cfg.hint_cap_ms));
        }
    }

    /// Transitions time alone causes, applied when the state is read (as the breaker does).
    fn read(&mut self, now: u64) -> State {
        if let Phase::Open { until } = self.phase
            && now >= until
        {
            self.periods += 1;
            self.phase = Phase::HalfOpen {
                since: now,
                period: self.periods,
                admitted: 0,
                ok: 0,
                bad: 0,
            };
        }
        if let Phase::HalfOpen { since, .. } = self.phase
            && now >= since + self.cfg.max_probe_ms
        {
            self.open(now);
        }
        self.state()
    }

    fn admit(&mut self, now: u64) -> Ticket {
        loop {
            match self.phase {
                Phase::Closed => return Ticket::Closed,
                Phase::Open { until } if now < until => return Ticket::Rejected,
                Phase::Open { .. } => {
                    self.read(now);
                }
                Phase::HalfOpen { since, .. } if now >= since + self.cfg.max_probe_ms => {
                    self.read(now);
                }
                Phase::HalfOpen {
                    ref mut admitted,
                    period,
                    ..
                } => {
                    if *admitted < self.cfg.probes {
                        *admitted += 1;
                        return Ticket::Probe(period);
                    }
                    return Ticket::Rejected;
                }
            }
        }
    }

    /// The window's (calls, failures, slow calls) at `now`.
    fn window(&self, now: u64) -> (u64, u64, u64) {
        let counted: Vec<&(u64, bool, bool)> = match self.cfg.kind {
            ModelKind::Count { size } => self.outcomes.iter().rev().take(size).collect(),
            ModelKind::Time { bucket_ms, buckets } => {
                let oldest = (now / bucket_ms).saturating_sub(buckets - 1);
                self.outcomes
                    .iter()
                    .filter(|(t, _, _)| t / bucket_ms >= oldest)
                    .collect()
            }
            ModelKind::Consecutive { .. } => self.outcomes.iter().collect(),
        };
        let calls = counted.len() as u64;
        let failures = counted.iter().filter(|o| o.1).count() as u64;
        let slow = counted.iter().filter(|o| o.2).count() as u64;
        (calls, failures, slow)
    }

    fn finish(&mut self, ticket: Ticket, now: u64, kind: Kind, slow: bool, dropped: bool) {
        match ticket {
            Ticket::Rejected => {}
            Ticket::Closed => self.finish_closed(now, kind, slow),
            Ticket::Probe(p) => self.finish_probe(p, now, kind, slow, dropped),
        }
    }

    fn finish_closed(&mut self, now: u64, kind: Kind, slow: bool) {
        if self.phase != Phase::Closed || kind == Kind::Ignored {
            return;
        }
        let (failure, hint) = match kind {
            Kind::Failure { hint } => (true, hint),
            _ => (false, None),
        };
        self.hint(now, hint);
        self.outcomes.push((now, failure, slow));
        if let ModelKind::Consecutive { threshold } = self.cfg.kind {
            if failure {
                self.streak += 1;
                if self.streak >= threshold {
                    self.open(now);
                }
            } else {
                self.streak = 0;
            }
            return;
        }
        let (calls, failures, slows) = self.window(now);
        let over = reaches(failures, calls, self.cfg.failure_rate)
            || self.cfg.slow.is_some_and(|(_, r)| reaches(slows, calls, r));
        if over && calls >= self.cfg.min_calls {
            self.open(now);
        }
    }

    fn finish_probe(&mut self, p: u64, now: u64, kind: Kind, slow: bool, dropped: bool) {
        let Phase::HalfOpen { since, period, .. } = self.phase else {
            return;
        };
        if period != p {
            return;
        }
        if now >= since + self.cfg.max_probe_ms {
            self.read(now);
            return;
        }
        let Phase::HalfOpen {
            ref mut admitted,
            ref mut ok,
            ref mut bad,
            ..
        } = self.phase
        else {
            unreachable!()
        };
        let is_bad = matches!(kind, Kind::Failure { .. }) || slow;
        match (kind, is_bad, dropped) {
            (Kind::Ignored, _, _) => *admitted -= 1,
            (_, true, true) => {
                *admitted -= 1;
                *bad += 1;
            }
            (_, true, false) => *bad += 1,
            (_, false, _) => *ok += 1,
        }
        let (ok, bad) = (*ok, *bad);
        if let Kind::Failure { hint } = kind {
            self.hint(now, hint);
        }
        if kind != Kind::Ignored && !is_bad && ok >= self.cfg.to_close {
            self.close();
        } else if kind != Kind::Ignored && is_bad && bad > self.cfg.probes - self.cfg.to_close {
            self.open(now);
        }
    }
}

// ---- the random input ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum What {
    Ok,
    Fail,
    Busy(u64),
    NotFound,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A call that finishes after `ms`.
    Call(What, u64),
    /// A call that never finishes, kept in flight.
    Hold,
    /// Drops the n-th held call.
    Release(usize),
    Advance(u64),
}

fn what() -> impl Strategy<Value = What> {
    prop_oneof![
        4 => Just(What::Ok),
        4 => Just(What::Fail),
        1 => (1u64..300).prop_map(What::Busy),
        1 => Just(What::NotFound),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (what(), prop_oneof![3 => Just(0u64), 1 => 0u64..80]).prop_map(|(w, d)| Op::Call(w, d)),
        1 => Just(Op::Hold),
        1 => (0usize..4).prop_map(Op::Release),
        4 => (0u64..150).prop_map(Op::Advance),
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    let kind = prop_oneof![
        (1usize..=12).prop_map(|size| ModelKind::Count { size }),
        (prop::sample::select(vec![10u64, 25, 50]), 1u64..=5)
            .prop_map(|(bucket_ms, buckets)| ModelKind::Time { bucket_ms, buckets }),
        (1u32..=5).prop_map(|threshold| ModelKind::Consecutive { threshold }),
    ];
    (
        kind,
        prop::sample::select(vec![0.2, 0.5, 0.7, 1.0]),
        1u64..=12,
        prop::option::of((
            prop::sample::select(vec![20u64, 50]),
            prop::sample::select(vec![0.5, 1.0]),
        )),
        prop::sample::select(vec![10u64, 30, 100]),
        prop::sample::select(vec![1.0, 2.0, 3.0]),
        (1u32..=3, 1u32..=3),
        prop::sample::select(vec![20u64, 60, 200]),
        any::<bool>(),
    )
        .prop_map(
            |(
                kind,
                failure_rate,
                min,
                slow,
                wait_ms,
                multiplier,
                (probes, k),
                max_probe_ms,
                drop_is_failure,
            )| {
                let (min_calls, slow) = match kind {
                    ModelKind::Count { size } => (min.min(size as u64), slow),
                    ModelKind::Time { .. } => (min.min(8), slow),
                    ModelKind::Consecutive { .. } => (1, None),
                };
                Cfg {
                    kind,
                    failure_rate,
                    min_calls,
                    slow,
                    wait_ms,
                    multiplier,
                    max_wait_ms: wait_ms * 4,
                    hint_cap_ms: 200,
                    probes,
                    to_close: k.min(probes),
                    max_probe_ms,
                    drop_is_failure,
                }
            },
        )
}

fn build(cfg: &Cfg) -> resile_circuit_breaker::Builder<Classifier> {
    let mut b = builder()
        .wait(Duration::from_millis(cfg.wait_ms))
        .wait_growth(cfg.multiplier, Duration::from_millis(cfg.max_wait_ms))
        .max_wait_hint(Duration::from_millis(cfg.hint_cap_ms))
        .probes(cfg.probes)
        .probes_to_close(cfg.to_close)
        .max_probe_time(Duration::from_millis(cfg.max_probe_ms))
        .dropped_calls(if cfg.drop_is_failure {
            DroppedCalls::Failure
        } else {
            DroppedCalls::Ignore
        });
    b = match cfg.kind {
        ModelKind::Count { size } => b.count_window(size as u32),
        ModelKind::Time { bucket_ms, buckets } => {
            b.time_window(Duration::from_millis(bucket_ms * buckets), buckets as u32)
        }
        ModelKind::Consecutive { threshold } => return b.consecutive_failures(threshold),
    };
    b = b
        .failure_rate(cfg.failure_rate)
        .minimum_calls(cfg.min_calls as u32);
    if let Some((ms, rate)) = cfg.slow {
        b = b.slow_calls(Duration::from_millis(ms), rate);
    }
    b
}

// ---- the comparison -----------------------------------------------------------------------

async fn run(cfg: Cfg, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let start = tokio::time::Instant::now();
    let now = || (tokio::time::Instant::now() - start).as_millis() as u64;
    let (mut svc, h, _) = service(build(&cfg));
    let mut reference = Reference::new(cfg.clone());
    let mut held: Vec<(ResponseFuture<DepFuture, Classifier>, Ticket)> = Vec::new();
    let slow_ms = cfg.slow.map(|(ms, _)| ms);
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Call(what, d) => {
                let (call, kind, d) = match what {
                    What::Ok => (Call::Slow(Duration::from_millis(d)), Kind::Success, d),
                    What::Fail => (
                        Call::SlowFail(Duration::from_millis(d)),
                        Kind::Failure { hint: None },
                        d,
                    ),
                    What::Busy(h) => (
                        Call::Busy(Duration::from_millis(h)),
                        Kind::Failure { hint: Some(h) },
                        0,
                    ),
                    What::NotFound => (Call::NotFound, Kind::Ignored, 0),
                };
                let ticket = reference.admit(now());
                let fut = svc.ready().await.unwrap().call(call);
                prop_assert_eq!(
                    fut.is_rejected(),
                    ticket == Ticket::Rejected,
                    "step {}: admission",
                    step
                );
                prop_assert_eq!(
                    fut.is_probe(),
                    matches!(ticket, Ticket::Probe(_)),
                    "step {}: probe",
                    step
                );
                let _ = fut.await;
                let slow = slow_ms.is_some_and(|s| d > s) && kind != Kind::Ignored;
                reference.finish(ticket, now(), kind, slow, false);
            }
            Op::Hold => {
                if held.len() < 4 {
                    let ticket = reference.admit(now());
                    let fut = svc.ready().await.unwrap().call(Call::Hang);
                    prop_assert_eq!(
                        fut.is_rejected(),
                        ticket == Ticket::Rejected,
                        "step {}: held admission",
                        step
                    );
                    held.push((fut, ticket));
                }
            }
            Op::Release(i) => {
                if !held.is_empty() {
                    let (fut, ticket) = held.remove(i % held.len());
                    drop(fut);
                    let kind = if cfg.drop_is_failure {
                        Kind::Failure { hint: None }
                    } else {
                        Kind::Ignored
                    };
                    reference.finish(ticket, now(), kind, false, true);
                }
            }
            Op::Advance(ms) => advance(Duration::from_millis(ms)).await,
        }
        let t = now();
        let want = reference.read(t);
        let m = h.metrics();
        prop_assert_eq!(
            m.state,
            want,
            "step {} ({:?}) at {} ms: {:?}",
            step,
            op,
            t,
            reference
        );
        let (calls, failures, slow) = reference.window(t);
        prop_assert_eq!(
            (m.calls, m.failures, m.slow_calls),
            (calls, failures, slow),
            "step {}: window",
            step
        );
        prop_assert_eq!(
            m.consecutive_failures,
            reference.streak,
            "step {}: streak",
            step
        );
        prop_assert_eq!(m.open_streak, reference.level, "step {}: wait level", step);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_reference_model(cfg in cfg(), ops in prop::collection::vec(op(), 1..150)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run(cfg, ops))?;
    }
}

#[test]
fn reference_model_counts_a_sliding_window() {
    let cfg = Cfg {
        kind: ModelKind::Count { size: 2 },
        failure_rate: 1.0,
        min_calls: 2,
        slow: None,
        wait_ms: 10,
        multiplier: 1.0,
        max_wait_ms: 10,
        hint_cap_ms: 10,
        probes: 1,
        to_close: 1,
        max_probe_ms: 10,
        drop_is_failure: true,
    };
    let mut r = Reference::new(cfg);
    r.finish(
        Ticket::Closed,
        0,
        Kind::Failure { hint: None },
        false,
        false,
    );
    r.finish(Ticket::Closed, 0, Kind::Success, false, false);
    r.finish(
        Ticket::Closed,
        0,
        Kind::Failure { hint: None },
        false,
        false,
    );
    assert_eq!(r.window(0), (2, 1, 0));
    assert_eq!(r.state(), State::Closed);
}
