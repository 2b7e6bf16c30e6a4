//! Paused-clock tests of every trip model and every wait knob.

mod support;

use std::time::Duration;

use resile_circuit_breaker::State;
use support::*;

// ---- count window -------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn count_window_lets_old_failures_slide_out() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(10)
            .minimum_calls(10)
            .failure_rate(0.5),
    );
    calls(&mut svc, Call::Fail, 4).await;
    calls(&mut svc, Call::Ok, 10).await; // the 4 failures have left the window
    assert_eq!(h.metrics().failures, 0);
    calls(&mut svc, Call::Fail, 4).await;
    assert_eq!(h.state(), State::Closed, "4 of the last 10, not 8 of 18");
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Open, "5 of the last 10");
}

#[tokio::test(start_paused = true)]
async fn count_window_does_not_need_successes_to_pay_back_old_failures() {
    // A peer's window that only resets on state change would need 1000 failures here.
    let (mut svc, h, _) = service(builder().count_window(100).minimum_calls(100));
    calls(&mut svc, Call::Ok, 1_000).await;
    calls(&mut svc, Call::Fail, 50).await;
    assert_eq!(h.state(), State::Open);
}

// ---- time window --------------------------------------------------------------------------

fn timed() -> resile_circuit_breaker::Builder<Classifier> {
    // 10 s in 10 buckets of 1 s, 50 %, judged from 4 calls.
    builder()
        .time_window(secs(10), 10)
        .minimum_calls(4)
        .failure_rate(0.5)
        .wait(secs(5))
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_on_failures_within_its_length() {
    let (mut svc, h, _) = service(timed());
    for _ in 0..4 {
        let _ = call(&mut svc, Call::Fail).await;
        advance(secs(2)).await;
    }
    assert_eq!(h.state(), State::Open, "4 failures within 8 s");
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_failures_older_than_its_length() {
    let (mut svc, h, _) = service(timed());
    calls(&mut svc, Call::Fail, 3).await;
    advance(secs(10)).await;
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Closed, "the first 3 have left the window");
    assert_eq!(h.metrics().calls, 1);
}

#[tokio::test(start_paused = true)]
async fn time_window_slides_bucket_by_bucket() {
    let (mut svc, h, _) = service(timed().minimum_calls(1).failure_rate(1.0));
    calls(&mut svc, Call::Ok, 2).await; // bucket 0
    advance(secs(5)).await;
    calls(&mut svc, Call::Ok, 3).await; // bucket 5
    assert_eq!(h.metrics().calls, 5);
    advance(secs(5)).await; // bucket 10: bucket 0 leaves
    assert_eq!(h.metrics().calls, 3);
    advance(secs(5)).await; // bucket 15: bucket 5 leaves
    assert_eq!(h.metrics().calls, 0);
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_when_old_successes_leave_and_failures_remain() {
    let (mut svc, h, _) = service(timed());
    calls(&mut svc, Call::Ok, 10).await; // bucket 0
    advance(secs(5)).await;
    calls(&mut svc, Call::Fail, 4).await; // bucket 5: 4 of 14, under 50 %
    assert_eq!(h.state(), State::Closed);
    advance(secs(5)).await; // bucket 10: the successes leave
    call(&mut svc, Call::Ok).await.unwrap(); // first call of the bucket re-evaluates: 4 of 5
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_counts_only_its_last_buckets_under_heavy_traffic() {
    let (mut svc, h, _) = service(timed().minimum_calls(1_000_000));
    for i in 0..5_000u64 {
        let _ = call(&mut svc, if i % 3 == 0 { Call::Fail } else { Call::Ok }).await;
        if i % 100 == 0 {
            advance(ms(250)).await;
        }
    }
    // 50 advances of 250 ms = 12.5 s: only the last 10 buckets count.
    let m = h.metrics();
    assert!(m.calls < 5_000 && m.calls > 3_000, "{m:?}");
}

// ---- consecutive failures -----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn consecutive_failures_trip_after_n_in_a_row() {
    let (mut svc, h, _) = service(builder().consecutive_failures(3).wait(secs(5)));
    calls(&mut svc, Call::Fail, 2).await;
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.metrics().consecutive_failures, 2);
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_failures() {
    let (mut svc, h, _) = service(builder().consecutive_failures(3));
    for _ in 0..10 {
        calls(&mut svc, Call::Fail, 2).await;
        call(&mut svc, Call::Ok).await.unwrap();
    }
    assert_eq!(h.state(), State::Closed);
    let m = h.metrics();
    assert_eq!(m.consecutive_failures, 0);
    assert_eq!((m.calls, m.failures), (30, 20));
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_ignore_ignored_outcomes() {
    let (mut svc, h, _) = service(builder().consecutive_failures(2));
    calls(&mut svc, Call::Fail, 1).await;
    calls(&mut svc, Call::NotFound, 5).await;
    calls(&mut svc, Call::Fail, 1).await;
    assert_eq!(
        h.state(),
        State::Open,
        "ignored outcomes do not break the streak"
    );
}

// ---- slow calls ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn slow_call_rate_trips_a_healthy_but_slow_dependency() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(10)
            .minimum_calls(4)
            .slow_calls(secs(1), 0.5),
    );
    calls(&mut svc, Call::Slow(ms(1_000)), 2).await; // exactly the threshold: not slow
    calls(&mut svc, Call::Ok, 2).await;
    assert_eq!(h.metrics().slow_calls, 0);
    calls(&mut svc, Call::Slow(ms(1_001)), 3).await;
    assert_eq!(h.metrics().slow_calls, 3);
    assert_eq!(h.state(), State::Closed, "3 slow of 7");
    calls(&mut svc, Call::Slow(secs(2)), 1).await;
    assert_eq!(h.state(), State::Open, "4 slow of 8");
    assert_eq!(h.metrics().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_reopens_the_circuit() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(4)
            .minimum_calls(4)
            .slow_calls(secs(1), 1.0)
            .wait(secs(5))
            .probes(1),
    );
    calls(&mut svc, Call::Fail, 4).await;
    advance(secs(5)).await;
    call(&mut svc, Call::Slow(secs(2))).await.unwrap();
    assert_eq!(h.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_failures_count_in_both_rates() {
    let (mut svc, h, _) = service(
        builder()
            .count_window(10)
            .minimum_calls(10)
            .slow_calls(secs(1), 1.0),
    );
    calls(&mut svc, Call::SlowFail(secs(2)), 2).await;
    let m = h.metrics();
    assert_eq!((m.failures, m.slow_calls, m.calls), (2, 2, 2));
}

// ---- open wait ----------------------------------------------------------------------------

async fn trip(svc: &mut Svc) {
    calls(svc, Call::Fail, 4).await;
}

async fn fail_probe_after(svc: &mut Svc, wait: Duration) {
    advance(wait).await;
    assert!(call(svc, Call::Fail).await.is_err());
}

fn growing() -> resile_circuit_breaker::Builder<Classifier> {
    builder()
        .count_window(4)
        .minimum_calls(4)
        .probes(1)
        .wait(secs(1))
        .wait_growth(2.0, secs(5))
}

#[tokio::test(start_paused = true)]
async fn the_wait_grows_on_each_reopening_up_to_its_cap() {
    let (mut svc, h, _) = service(growing());
    trip(&mut svc).await;
    let mut waits = vec![assert_rejected(&mut svc, Call::Ok).await];
    for _ in 0..4 {
        let last = *waits.last().unwrap();
        fail_probe_after(&mut svc, last).await;
        waits.push(assert_rejected(&mut svc, Call::Ok).await);
    }
    assert_eq!(waits, [secs(1), secs(2), secs(4), secs(5), secs(5)]);
    assert_eq!(h.metrics().open_streak, 5);
}

#[tokio::test(start_paused = true)]
async fn the_wait_resets_after_a_clean_close() {
    let (mut svc, h, _) = service(growing());
    trip(&mut svc).await;
    fail_probe_after(&mut svc, secs(1)).await;
    fail_probe_after(&mut svc, secs(2)).await;
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(4));
    advance(secs(4)).await;
    call(&mut svc, Call::Ok).await.unwrap();
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.metrics().open_streak, 0);
    trip(&mut svc).await;
    assert_eq!(
        assert_rejected(&mut svc, Call::Ok).await,
        secs(1),
        "back to the base wait"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fixed_wait_never_grows() {
    let (mut svc, _, _) = service(builder().count_window(4).probes(1).wait(secs(3)));
    trip(&mut svc).await;
    for _ in 0..3 {
        fail_probe_after(&mut svc, secs(3)).await;
        assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(3));
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_shortens_each_wait_by_at_most_its_fraction() {
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (mut svc, _, _) = service(builder().count_window(4).wait(secs(10)).wait_jitter(0.5));
        trip(&mut svc).await;
        let wait = assert_rejected(&mut svc, Call::Ok).await;
        assert!(wait >= secs(5) && wait <= secs(10), "{wait:?}");
        seen.insert(wait);
    }
    assert!(seen.len() > 1, "jitter varies the wait: {seen:?}");
}

#[tokio::test(start_paused = true)]
async fn a_server_wait_hint_keeps_the_circuit_open_at_least_that_long() {
    let (mut svc, h, _) = service(builder().count_window(4).wait(secs(1)));
    calls(&mut svc, Call::Fail, 3).await;
    calls(&mut svc, Call::Busy(secs(30)), 1).await; // "retry after 30 s" trips it
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(30));
    advance(secs(29)).await;
    assert_eq!(h.state(), State::Open);
    advance(secs(1)).await;
    assert_eq!(h.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn an_earlier_hint_still_in_force_extends_the_opening() {
    let (mut svc, _, _) = service(builder().count_window(4).wait(secs(1)));
    calls(&mut svc, Call::Busy(secs(20)), 1).await;
    advance(secs(5)).await;
    calls(&mut svc, Call::Fail, 3).await;
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_huge_hint_is_capped_by_max_wait_hint() {
    let (mut svc, _, _) = service(
        builder()
            .count_window(4)
            .wait(secs(1))
            .max_wait_hint(secs(60)),
    );
    calls(&mut svc, Call::Busy(secs(1_000_000)), 4).await;
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_with_a_hint_reopens_for_the_hint() {
    let (mut svc, _, _) = service(builder().count_window(4).probes(1).wait(secs(1)));
    trip(&mut svc).await;
    advance(secs(1)).await;
    calls(&mut svc, Call::Busy(secs(12)), 1).await;
    assert_eq!(assert_rejected(&mut svc, Call::Ok).await, secs(12));
}
