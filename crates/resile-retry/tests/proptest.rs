//! Property: for any backoff, deadline, minimum time and server pushback, every wait lies within
//! `[0, max(cap, capped pushback)]`, no attempt starts once less than the minimum is left before
//! the deadline, and the caller gets the last outcome no later than the deadline.

use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::prelude::*;
use resile_core::{CarryDeadline, Deadline, Verdict};
use resile_retry::{Backoff, Jitter, RetryEvent, RetryEventKind, RetryLayer};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

#[derive(Clone)]
struct Req(Option<Deadline>);

impl CarryDeadline for Req {
    fn deadline(&self) -> Option<Deadline> {
        self.0
    }
    fn replace_deadline(&mut self, d: Deadline) {
        self.0 = Some(d);
    }
}

/// Fails every call after `latency`, recording when each call started.
#[derive(Clone)]
struct SlowFailure {
    latency: Duration,
    starts: Arc<Mutex<Vec<Instant>>>,
}

impl Service<Req> for SlowFailure {
    type Response = ();
    type Error = io::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        self.starts.lock().unwrap().push(Instant::now());
        let latency = self.latency;
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            Err(io::Error::other("down"))
        })
    }
}

#[derive(Debug, Clone)]
struct Case {
    kind: u8,
    jitter: u8,
    base_ms: u64,
    cap_extra_ms: u64,
    hint_ms: Option<u64>,
    max_pushback_ms: u64,
    deadline_ms: Option<u64>,
    min_ms: u64,
    latency_ms: u64,
    attempts: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0u8..3, 0u8..3, 1u64..500, 0u64..5_000),
        (proptest::option::of(0u64..10_000), 0u64..3_000),
        (
            proptest::option::of(1u64..20_000),
            0u64..500,
            0u64..300,
            1u32..12,
        ),
    )
        .prop_map(
            |((kind, jitter, base_ms, cap_extra_ms), (hint_ms, max_pushback_ms), rest)| Case {
                kind,
                jitter,
                base_ms,
                cap_extra_ms,
                hint_ms,
                max_pushback_ms,
                deadline_ms: rest.0,
                min_ms: rest.1,
                latency_ms: rest.2,
                attempts: rest.3,
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let ms = Duration::from_millis;
        let base = ms(case.base_ms);
        let cap = base + ms(case.cap_extra_ms);
        let backoff = match case.kind {
            0 => Backoff::constant(base).unwrap(),
            1 => Backoff::exponential(base, cap).unwrap(),
            _ => Backoff::decorrelated(base, cap).unwrap(),
        }
        .with_jitter([Jitter::None, Jitter::Full, Jitter::Equal][usize::from(case.jitter)]);
        let cap = backoff.cap();
        let hint = case.hint_ms.map(ms);
        let max_pushback = ms(case.max_pushback_ms);
        let events: Arc<Mutex<Vec<(Instant, RetryEvent)>>> = Arc::default();
        let sink = events.clone();
        let layer = RetryLayer::builder()
            .max_attempts(case.attempts)
            .backoff(backoff)
            .no_budget()
            .max_pushback(max_pushback)
            .min_time_for_attempt(ms(case.min_ms))
            .classifier(move |_: &Result<(), io::Error>| match hint {
                Some(h) => Verdict::retryable_after(h),
                None => Verdict::retryable_failure(),
            })
            .on_event(move |e: &RetryEvent| sink.lock().unwrap().push((Instant::now(), e.clone())))
            .build()
            .unwrap();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let svc = layer.layer(SlowFailure {
            latency: ms(case.latency_ms),
            starts: starts.clone(),
        });
        let t0 = Instant::now();
        let deadline = case.deadline_ms.map(|d| Deadline::after(ms(d)));
        let res = svc.oneshot(Req(deadline)).await;
        prop_assert!(res.is_err());
        let end = Instant::now();

        let longest = cap.max(hint.map_or(Duration::ZERO, |h| h.min(max_pushback)));
        let starts = starts.lock().unwrap().clone();
        prop_assert!(!starts.is_empty() && starts.len() <= case.attempts as usize);
        prop_assert_eq!(starts[0], t0);
        for (at, event) in events.lock().unwrap().iter() {
            if let RetryEventKind::Retrying { delay, .. } = event.kind {
                prop_assert!(delay <= longest, "delay {:?} > {:?}", delay, longest);
                if let Some(h) = hint {
                    prop_assert!(delay >= h.min(max_pushback), "pushback not honoured");
                }
                if let Some(d) = deadline {
                    prop_assert!(
                        *at + delay < d.instant(),
                        "a wait that ends past the deadline"
                    );
                }
            }
        }
        if let Some(d) = deadline {
            let start_by = d.instant().checked_sub(ms(case.min_ms)).unwrap_or(t0);
            for s in &starts[1..] {
                prop_assert!(
                    *s < start_by,
                    "retry at {:?} with less than the minimum left",
                    *s - t0
                );
            }
            // The last outcome comes back when the last attempt ends, or before the deadline.
            let last_end = *starts.last().unwrap() + ms(case.latency_ms);
            prop_assert!(end <= d.instant().max(last_end), "slept past the deadline");
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn waits_stay_within_cap_and_pushback_and_never_pass_the_deadline(case in case()) {
        run(&case)?;
    }
}
