//! The handle (state, metrics, manual control) and the events.

mod support;

use std::sync::{Arc, Mutex};

use resile_circuit_breaker::{CircuitBreakerEvent, EventKind, Reason, State};
use resile_core::{Event, EventLevel};
use support::*;

fn small() -> resile_circuit_breaker::Builder<Classifier> {
    builder()
        .count_window(10)
        .minimum_calls(4)
        .wait(secs(10))
        .probes(1)
}

#[tokio::test(start_paused = true)]
async fn force_open_rejects_every_call_until_force_closed() {
    let (mut svc, h, dep) = service(small());
    h.force_open();
    assert_eq!(h.state(), State::ForcedOpen);
    advance(secs(3_600)).await;
    let wait = assert_rejected(&mut svc, Call::Ok).await;
    assert_eq!(
        wait,
        secs(10),
        "the configured wait, as a hint to check back"
    );
    assert_eq!(
        h.state(),
        State::ForcedOpen,
        "no wait ever ends a forced opening"
    );
    assert_eq!(dep.reached(), 0);
    h.force_closed();
    assert_eq!(h.state(), State::Closed);
    call(&mut svc, Call::Ok).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn force_closed_closes_an_open_breaker_with_a_fresh_window() {
    let (mut svc, h, _) = service(small().wait_growth(2.0, secs(60)));
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open);
    h.force_closed();
    assert_eq!(h.state(), State::Closed);
    let m = h.metrics();
    assert_eq!((m.calls, m.failures, m.open_streak), (0, 0, 0));
    calls(&mut svc, Call::Fail, 3).await;
    assert_eq!(h.state(), State::Closed, "old failures are gone");
}

#[tokio::test(start_paused = true)]
async fn disable_lets_everything_through_and_keeps_recording() {
    let (mut svc, h, dep) = service(small());
    h.disable();
    calls(&mut svc, Call::Fail, 50).await;
    assert_eq!(h.state(), State::Disabled);
    assert_eq!(dep.reached(), 50);
    let m = h.metrics();
    assert_eq!((m.calls, m.failures), (10, 10), "recorded in the window");
    assert_eq!(m.trips, 0);
    h.force_closed();
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open, "normal evaluation resumes");
}

#[tokio::test(start_paused = true)]
async fn metrics_only_never_opens_and_reports_each_crossing_once() {
    let rec = Recorder::default();
    let (mut svc, h, dep) = service(rec.attach(small()));
    h.metrics_only();
    calls(&mut svc, Call::Fail, 20).await;
    assert_eq!(h.state(), State::MetricsOnly);
    assert_eq!(dep.reached(), 20);
    let exceeded = |rec: &Recorder| {
        rec.kinds()
            .iter()
            .filter(|k| matches!(k, EventKind::ThresholdExceeded { .. }))
            .count()
    };
    assert_eq!(exceeded(&rec), 1);
    calls(&mut svc, Call::Ok, 10).await; // back under the threshold
    calls(&mut svc, Call::Fail, 10).await; // over again
    assert_eq!(exceeded(&rec), 2);
    assert!(rec.kinds().iter().any(|k| matches!(
        k,
        EventKind::ThresholdExceeded { reason: Reason::FailureRate, failure_rate, .. }
            if *failure_rate >= 0.5
    )));
}

#[tokio::test(start_paused = true)]
async fn metrics_only_reports_consecutive_failures() {
    let rec = Recorder::default();
    let (mut svc, h, _) = service(rec.attach(builder().consecutive_failures(3)));
    h.metrics_only();
    calls(&mut svc, Call::Fail, 5).await;
    let n = rec
        .kinds()
        .iter()
        .filter(|k| {
            matches!(
                k,
                EventKind::ThresholdExceeded {
                    reason: Reason::ConsecutiveFailures,
                    ..
                }
            )
        })
        .count();
    assert_eq!(n, 1);
    assert_eq!(h.state(), State::MetricsOnly);
}

#[tokio::test(start_paused = true)]
async fn reset_restores_a_new_breaker_but_keeps_lifetime_counters() {
    let (mut svc, h, _) = service(small().wait_growth(2.0, secs(60)));
    calls(&mut svc, Call::Fail, 4).await;
    assert_rejected(&mut svc, Call::Ok).await;
    h.reset();
    let m = h.metrics();
    assert_eq!(m.state, State::Closed);
    assert_eq!((m.calls, m.failures, m.open_streak), (0, 0, 0));
    assert_eq!(
        (m.trips, m.rejected),
        (1, 1),
        "monotonic counters survive a reset"
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_report_rates_counts_rejections_and_trips() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(10)
            .minimum_calls(10)
            .slow_calls(secs(1), 1.0),
    );
    calls(&mut svc, Call::Ok, 5).await;
    calls(&mut svc, Call::Fail, 2).await;
    calls(&mut svc, Call::Slow(secs(2)), 1).await;
    let m = h.metrics();
    assert_eq!((m.calls, m.failures, m.slow_calls), (8, 2, 1));
    assert_eq!(m.failure_rate, 0.25);
    assert_eq!(m.slow_call_rate, 0.125);
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!((m.rejected, m.trips, m.probes_in_flight), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn every_transition_and_rejection_is_an_event() {
    let rec = Recorder::default();
    let (mut svc, h, _) = service(rec.attach(small()));
    calls(&mut svc, Call::Fail, 4).await; // closed -> open
    assert_rejected(&mut svc, Call::Ok).await; // rejected
    advance(secs(10)).await;
    assert_eq!(h.state(), State::HalfOpen); // open -> half_open
    let _ = call(&mut svc, Call::Fail).await; // half_open -> open
    advance(secs(10)).await;
    call(&mut svc, Call::Ok).await.unwrap(); // open -> half_open -> closed
    h.force_open(); // closed -> forced_open
    assert_rejected(&mut svc, Call::Ok).await; // rejected
    h.disable(); // forced_open -> disabled
    h.metrics_only(); // disabled -> metrics_only
    h.reset(); // metrics_only -> closed
    let t: Vec<(String, String)> = rec.transitions();
    let want: Vec<(&str, &str)> = vec![
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("closed", "forced_open"),
        ("forced_open", "disabled"),
        ("disabled", "metrics_only"),
        ("metrics_only", "closed"),
    ];
    let want: Vec<(String, String)> = want
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    assert_eq!(t, want);
    assert_eq!(rec.rejections(), 2);
    let events = rec.events.lock().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.dependency() == "dep" && e.layer() == "circuit_breaker")
    );
    let first = &events[0];
    assert_eq!(first.level(), EventLevel::Warn);
    assert!(matches!(
        first.event(),
        EventKind::StateTransition { reason: Reason::FailureRate, open_for: Some(d), .. } if *d == secs(10)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_listener_may_call_the_handle_without_deadlocking() {
    let seen: Arc<Mutex<Vec<State>>> = Arc::default();
    let slot: Arc<Mutex<Option<resile_circuit_breaker::CircuitBreakerHandle>>> = Arc::default();
    let (sink, handle_slot) = (seen.clone(), slot.clone());
    let b = small().on_event(move |_: &CircuitBreakerEvent| {
        if let Some(h) = handle_slot.lock().unwrap().as_ref() {
            sink.lock().unwrap().push(h.metrics().state);
        }
    });
    let (mut svc, h, _) = service(b);
    *slot.lock().unwrap() = Some(h.clone());
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(seen.lock().unwrap().first(), Some(&State::Open));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_break_the_breaker() {
    let (mut svc, h, _) = service(small().on_event(|_: &CircuitBreakerEvent| panic!("bug")));
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Open);
    assert_rejected(&mut svc, Call::Ok).await;
}

#[tokio::test(start_paused = true)]
async fn manual_calls_that_change_nothing_publish_nothing() {
    let rec = Recorder::default();
    let (_svc, h, _) = service(rec.attach(small()));
    h.force_closed();
    h.reset();
    h.force_open();
    h.force_open();
    assert_eq!(rec.transitions().len(), 1);
    assert_eq!(h.name(), "dep");
}

#[tokio::test(start_paused = true)]
async fn one_listener_list_can_serve_several_breakers() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    let shared = resile_core::Listeners::new().with(move |e: &CircuitBreakerEvent| {
        if matches!(e.event(), EventKind::StateTransition { .. }) {
            sink.lock().unwrap().push(e.dependency().to_owned());
        }
    });
    let a = resile_circuit_breaker::CircuitBreakerLayer::builder("a")
        .classifier(classify as Classifier)
        .count_window(2)
        .listeners(shared.clone());
    let b = resile_circuit_breaker::CircuitBreakerLayer::builder("b")
        .classifier(classify as Classifier)
        .count_window(2)
        .listeners(shared);
    let (mut a, _, _) = service(a);
    let (mut b, _, _) = service(b);
    calls(&mut a, Call::Fail, 2).await;
    calls(&mut b, Call::Fail, 2).await;
    assert_eq!(*seen.lock().unwrap(), ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn trip_model_can_be_set_directly() {
    let (mut svc, h, _) = service(
        builder()
            .trip_model(resile_circuit_breaker::TripModel::ConsecutiveFailures { threshold: 2 }),
    );
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Closed);
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_permit_taken_by_hand_records_what_it_is_told() {
    let layer = small().build().unwrap();
    let handle = layer.handle();
    let mut ok = handle.try_acquire().expect("closed");
    assert!(!ok.is_probe() && !ok.is_recorded());
    ok.record(resile_core::Verdict::Success);
    assert!(ok.is_recorded());
    // Only the first outcome counts.
    ok.record(resile_core::Verdict::failure());
    drop(ok);
    assert_eq!((handle.metrics().calls, handle.metrics().failures), (1, 0));
    let mut failed = 0;
    while let Ok(mut permit) = handle.try_acquire() {
        permit.record(resile_core::Verdict::failure());
        failed += 1;
        assert!(
            failed < 10,
            "failures recorded by hand never opened the breaker"
        );
    }
    assert_eq!(handle.state(), State::Open);
    assert_eq!(handle.metrics().failures, failed);
    let open = handle.try_acquire().expect_err("open");
    assert_eq!(open.dependency(), "dep");
}

#[tokio::test(start_paused = true)]
async fn a_permit_dropped_without_an_outcome_counts_as_a_dropped_call() {
    let layer = small().build().unwrap();
    let handle = layer.handle();
    // Dropped calls are failures by default.
    drop(handle.try_acquire().unwrap());
    assert_eq!((handle.metrics().calls, handle.metrics().failures), (1, 1));

    // Ignored, a dropped half-open probe gives its slot back for another.
    let layer = small()
        .dropped_calls(resile_circuit_breaker::DroppedCalls::Ignore)
        .build()
        .unwrap();
    let handle = layer.handle();
    while let Ok(mut permit) = handle.try_acquire() {
        permit.record(resile_core::Verdict::failure());
    }
    tokio::time::advance(secs(10)).await;
    let probe = handle.try_acquire().expect("probe");
    assert!(probe.is_probe());
    assert!(
        handle.try_acquire().is_err(),
        "the only probe slot is taken"
    );
    drop(probe);
    let mut again = handle.try_acquire().expect("the slot was given back");
    again.record(resile_core::Verdict::Success);
    assert_eq!(handle.state(), State::Closed);
}
