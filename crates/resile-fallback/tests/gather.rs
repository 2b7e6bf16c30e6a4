//! Partial responses on a paused clock: sources that answer, fail, or hang past the deadline;
//! required against optional; cancellation; tower services and deadline propagation.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use resile_core::{BoxError, CarryDeadline, Deadline, ErrorKind, kind_of};
use resile_fallback::gather::{Gather, MissingReason};
use tokio::time::{Instant, sleep};
use tower::service_fn;

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn after<T>(ms: u64, value: T) -> Result<T, io::Error> {
    sleep(Duration::from_millis(ms)).await;
    Ok(value)
}

async fn fail_after<T>(ms: u64, msg: &'static str) -> Result<T, io::Error> {
    sleep(Duration::from_millis(ms)).await;
    Err(io::Error::other(msg))
}

/// A source that never answers and records when it is dropped.
fn hang(
    flag: &Arc<AtomicBool>,
) -> impl std::future::Future<Output = Result<u32, io::Error>> + Send + 'static {
    let guard = DropFlag(flag.clone());
    async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok(0)
    }
}

#[tokio::test(start_paused = true)]
async fn sources_that_all_answer_give_a_complete_result_with_typed_values() {
    let start = Instant::now();
    let mut g = Gather::within(Duration::from_secs(2));
    let metrics = g.required("metrics", after(300, vec![1.5f64, 2.5]));
    let alerts = g.optional("alerts", after(500, vec!["disk".to_owned()]));
    let activity = g.optional_or_default("activity", after(400, 12u32));
    let mut out = g.await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(500),
        "concurrent, not one after another"
    );
    assert_eq!(out.take(metrics), vec![1.5, 2.5]);
    assert_eq!(out.take(alerts), Some(vec!["disk".to_owned()]));
    assert_eq!(out.take(activity), 12);
    assert!(out.is_complete() && !out.is_partial());
    assert_eq!(out.missing().count(), 0);
    assert_eq!(
        out.answered().collect::<Vec<_>>(),
        ["metrics", "alerts", "activity"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_optional_source_is_left_out_or_defaulted_and_recorded_as_missing() {
    let mut g = Gather::within(Duration::from_secs(2));
    let user = g.required("user", after(10, "ada"));
    let prefs = g.optional_or(
        "preferences",
        fail_after::<Vec<&str>>(20, "prefs db down"),
        vec!["default"],
    );
    let badges = g.optional("badges", fail_after::<u8>(30, "badges down"));
    let mut out = g.await.unwrap();
    assert_eq!(out.take(user), "ada");
    assert_eq!(out.take(prefs), vec!["default"]);
    assert_eq!(out.take(badges), None);
    assert!(out.is_partial());
    let missing: Vec<String> = out.missing().map(|m| m.to_string()).collect();
    assert_eq!(
        missing,
        [
            "`preferences` failed: prefs db down",
            "`badges` failed: badges down"
        ]
    );
    let first = out.missing().next().unwrap();
    assert!(matches!(first.reason(), MissingReason::Failed(_)));
    assert_eq!((first.reason_str(), first.is_timeout()), ("failed", false));
    assert_eq!(first.error().unwrap().to_string(), "prefs db down");
}

#[tokio::test(start_paused = true)]
async fn an_optional_source_still_running_at_the_deadline_is_cancelled_and_marked_timed_out() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut g = Gather::within(Duration::from_secs(2));
    let metrics = g.required("metrics", after(100, 1u8));
    let activity = g.optional("activity", hang(&dropped));
    let mut out = g.await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "waits for the deadline, no longer"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the late source was dropped"
    );
    assert_eq!(out.take(metrics), 1);
    assert_eq!(out.take(activity), None);
    let m = out.missing().next().unwrap();
    assert_eq!(
        (m.name(), m.is_timeout(), m.reason_str()),
        ("activity", true, "timed_out")
    );
    assert_eq!(m.to_string(), "`activity` did not answer in time");
    assert_eq!(
        format!("{out:?}"),
        r#"{"metrics": "answered", "activity": "timed_out"}"#
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_required_source_fails_the_whole_at_once_naming_it_and_cancels_the_rest() {
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut g = Gather::within(Duration::from_secs(2));
    let _slow = g.optional("recommendations", hang(&dropped));
    let _user = g.required("user", fail_after::<u8>(50, "user service refused"));
    let err = g.await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(50),
        "no wait for the deadline"
    );
    assert_eq!(err.source_name(), "user");
    assert!(!err.is_timeout());
    assert_eq!(err.to_string(), "required source `user` failed");
    assert_eq!(err.error().unwrap().to_string(), "user service refused");
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "user service refused"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the other sources were cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_required_source_late_at_the_deadline_fails_the_whole_as_a_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut g = Gather::within(Duration::from_millis(800));
    let _fast = g.optional("fast", after(10, 1u8));
    let _user = g.required("user", hang(&dropped));
    let err = g.await.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.source_name(), "user");
    assert_eq!(kind_of(&err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(
        err.to_string(),
        "required source `user` did not answer before the deadline"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_required_source_failing_with_a_resile_error_keeps_its_kind() {
    let mut g = Gather::within(Duration::from_secs(1));
    let _user = g.required("user", async {
        Err::<u8, BoxError>(
            resile_core::CircuitOpen::new(resile_core::Name::new("users"), Duration::from_secs(3))
                .into(),
        )
    });
    let err = g.await.unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn a_source_answering_exactly_at_the_deadline_counts() {
    let mut g = Gather::within(Duration::from_secs(2));
    let on_time = g.optional("on_time", after(2_000, "made it"));
    let mut out = g.await.unwrap();
    assert_eq!(out.take(on_time), Some("made it"));
    assert!(out.is_complete());
}

#[tokio::test(start_paused = true)]
async fn with_a_passed_deadline_only_sources_ready_at_once_count() {
    let deadline = Deadline::after(Duration::from_millis(10));
    sleep(Duration::from_millis(20)).await;
    let mut g = Gather::new(deadline);
    let ready = g.optional("ready", async { Ok::<_, io::Error>(1u8) });
    let slow = g.optional("slow", after(1, 2u8));
    let mut out = g.run().await.unwrap();
    assert_eq!((out.take(ready), out.take(slow)), (Some(1), None));
}

#[tokio::test(start_paused = true)]
async fn an_empty_gather_is_complete_at_once() {
    let g = Gather::within(Duration::from_secs(1));
    assert!(g.is_empty());
    let out = g.await.unwrap();
    assert!(out.is_complete() && out.is_empty());
    assert_eq!(out.len(), 0);
}

#[derive(Debug, Default)]
struct Query {
    deadline: Option<Deadline>,
}
impl CarryDeadline for Query {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
    fn replace_deadline(&mut self, d: Deadline) {
        self.deadline = Some(d);
    }
}

#[tokio::test(start_paused = true)]
async fn tower_services_are_sources_and_their_requests_carry_the_gather_deadline() {
    let mut g = Gather::within(Duration::from_millis(1_500));
    let deadline = g.deadline();
    let users = service_fn(move |q: Query| async move {
        let left = q.deadline.map(|d| d.remaining());
        Ok::<_, io::Error>(left)
    });
    let down = service_fn(|_: Query| async { Err::<u8, _>(io::Error::other("503")) });
    let seen = g.required("users", g.call(users, Query::default()));
    let other = g.optional("other", g.call(down, Query::default()));
    let mut out = g.await.unwrap();
    assert_eq!(out.take(seen), Some(Duration::from_millis(1_500)));
    assert_eq!(out.take(other), None);
    assert_eq!(out.deadline(), deadline);
}

#[tokio::test(start_paused = true)]
async fn a_looser_request_deadline_is_tightened_but_a_tighter_one_is_kept() {
    let g = Gather::within(Duration::from_secs(1));
    let tight = Deadline::after(Duration::from_millis(100));
    let svc = service_fn(|q: Query| async move { Ok::<_, io::Error>(q.deadline) });
    let kept = g
        .call(
            svc,
            Query {
                deadline: Some(tight),
            },
        )
        .await
        .unwrap();
    assert_eq!(kept, Some(tight));
    let loose = Query {
        deadline: Some(Deadline::after(Duration::from_secs(60))),
    };
    let tightened = g.call(svc, loose).await.unwrap();
    assert_eq!(tightened, Some(g.deadline()));
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "another `Gather`")]
async fn a_handle_from_another_gather_is_refused() {
    let mut a = Gather::within(Duration::from_secs(1));
    let from_a = a.optional("x", after(1, 1u8));
    let mut b = Gather::within(Duration::from_secs(1));
    let _from_b = b.optional("x", after(1, 1u8));
    drop(a);
    let mut out = b.await.unwrap();
    let _ = out.take(from_a);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_requests_carry_the_gather_deadline_in_their_extensions() {
    let g = Gather::within(Duration::from_millis(700));
    let svc = service_fn(|req: http::Request<()>| async move {
        Ok::<_, io::Error>(req.extensions().get::<Deadline>().map(|d| d.remaining()))
    });
    let left = g.call(svc, http::Request::new(())).await.unwrap();
    assert_eq!(left, Some(Duration::from_millis(700)));
}
