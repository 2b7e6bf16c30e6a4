//! Plays a layer's part with nothing but resile-core's public API.
//!
//! `GuardLayer` is the smallest layer that honours every contract a real resile layer must:
//! - it carries the dependency's [`Name`];
//! - it reads the request's [`Deadline`] and tightens it with its own attempt limit (never
//!   loosening an outer one), rejects from `call` — not `poll_ready` — when it has already passed,
//!   and times the attempt out at the effective deadline;
//! - it classifies every finished call with a [`Classify`] (here a closure that calls `Ok(503)` a
//!   failure) and publishes the verdict as a typed [`Event`] to [`Listeners`];
//! - its errors are `BoxError`s whose source chain holds a resile error struct, wrapped in a
//!   layer-specific error, and [`kind_of`] still finds the kind.

use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use resile_core::classify::classify_error_by_kind;
use resile_core::{
    BoxError, CarryDeadline, Classify, Deadline, DeadlineExceeded, DefaultClassifier, Elapsed,
    ErrorKind, Event, EventLevel, Listeners, Name, Verdict, find, kind_of,
};
use tokio::time::{Instant, Sleep};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

// ---------------------------------------------------------------------------------------------
// The request: a status the fake dependency should answer with, and a deadline it carries.

#[derive(Debug, Clone, Default)]
struct Req {
    status: u16,
    deadline: Option<Deadline>,
}

impl Req {
    fn status(status: u16) -> Self {
        Self {
            status,
            deadline: None,
        }
    }
}

impl CarryDeadline for Req {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
    fn replace_deadline(&mut self, deadline: Deadline) {
        self.deadline = Some(deadline);
    }
}

// ---------------------------------------------------------------------------------------------
// The layer's typed event.

thread_local! {
    static EVENTS_BUILT: Cell<usize> = const { Cell::new(0) };
}

#[derive(Debug, Clone, PartialEq)]
enum GuardEvent {
    Classified { dependency: Name, verdict: Verdict },
    Rejected { dependency: Name, kind: ErrorKind },
}

impl GuardEvent {
    /// Every construction is counted, so a test can prove none happens without listeners.
    fn built(self) -> Self {
        EVENTS_BUILT.with(|n| n.set(n.get() + 1));
        self
    }
}

impl Event for GuardEvent {
    fn dependency(&self) -> &str {
        match self {
            GuardEvent::Classified { dependency, .. } | GuardEvent::Rejected { dependency, .. } => {
                dependency.as_str()
            }
        }
    }
    fn layer(&self) -> &'static str {
        "guard"
    }
    fn kind(&self) -> &'static str {
        match self {
            GuardEvent::Classified { .. } => "classified",
            GuardEvent::Rejected { .. } => "rejected",
        }
    }
    fn level(&self) -> EventLevel {
        match self {
            GuardEvent::Classified { verdict, .. } if verdict.is_failure() => EventLevel::Warn,
            GuardEvent::Classified { .. } => EventLevel::Trace,
            GuardEvent::Rejected { .. } => EventLevel::Warn,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The layer's own error: wraps a resile error struct, as a real layer may add context.

#[derive(Debug)]
struct GuardError {
    dependency: Name,
    source: BoxError,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guard for `{}` failed the call", self.dependency)
    }
}

impl StdError for GuardError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

fn wrapped(dependency: &Name, source: impl Into<BoxError>) -> BoxError {
    Box::new(GuardError {
        dependency: dependency.clone(),
        source: source.into(),
    })
}

// ---------------------------------------------------------------------------------------------
// Layer, service, future — tower's shape.

#[derive(Debug, Clone)]
struct GuardLayer<C> {
    name: Name,
    attempt_limit: Duration,
    classifier: Arc<C>,
    listeners: Listeners<GuardEvent>,
}

impl<C> GuardLayer<C> {
    fn new(name: &str, attempt_limit: Duration, classifier: C) -> Self {
        Self {
            name: Name::new(name),
            attempt_limit,
            classifier: Arc::new(classifier),
            listeners: Listeners::new(),
        }
    }

    fn listeners(mut self, listeners: Listeners<GuardEvent>) -> Self {
        self.listeners = listeners;
        self
    }
}

impl<S, C> Layer<S> for GuardLayer<C> {
    type Service = Guard<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            layer: GuardLayer {
                name: self.name.clone(),
                attempt_limit: self.attempt_limit,
                classifier: self.classifier.clone(),
                listeners: self.listeners.clone(),
            },
        }
    }
}

#[derive(Debug, Clone)]
struct Guard<S, C> {
    inner: S,
    layer: GuardLayer<C>,
}

impl<S, C> Service<Req> for Guard<S, C>
where
    S: Service<Req, Response = u16>,
    S::Error: Into<BoxError>,
    C: Classify<u16, BoxError> + Clone,
{
    type Response = u16;
    type Error = BoxError;
    type Future = GuardFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness passes through; rejections come from `call`.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let name = self.layer.name.clone();
        let now = Instant::now();
        if req.deadline().is_some_and(|d| d.is_expired_at(now)) {
            self.layer.listeners.emit(|| {
                GuardEvent::Rejected {
                    dependency: name.clone(),
                    kind: ErrorKind::DeadlineExceeded,
                }
                .built()
            });
            return GuardFuture::Rejected {
                error: Some(wrapped(&name, DeadlineExceeded::new(name.clone(), None))),
            };
        }
        let effective = req.tighten_deadline(Deadline::after_from(now, self.layer.attempt_limit));
        GuardFuture::Running {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep_until(effective.instant()),
            limit: effective.remaining_at(now),
            layer: self.layer.clone(),
        }
    }
}

pin_project! {
    #[project = GuardProj]
    enum GuardFuture<F, C> {
        Rejected { error: Option<BoxError> },
        Running {
            #[pin] inner: F,
            #[pin] sleep: Sleep,
            limit: Duration,
            layer: GuardLayer<C>,
        },
    }
}

impl<F, E, C> Future for GuardFuture<F, C>
where
    F: Future<Output = Result<u16, E>>,
    E: Into<BoxError>,
    C: Classify<u16, BoxError>,
{
    type Output = Result<u16, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Rejected { error } => {
                Poll::Ready(Err(error.take().expect("polled after completion")))
            }
            GuardProj::Running {
                inner,
                sleep,
                limit,
                layer,
            } => {
                let outcome = match inner.poll(cx) {
                    Poll::Ready(res) => res.map_err(Into::into),
                    Poll::Pending => match sleep.poll(cx) {
                        Poll::Ready(()) => Err(wrapped(
                            &layer.name,
                            Elapsed::attempt(layer.name.clone(), *limit),
                        )),
                        Poll::Pending => return Poll::Pending,
                    },
                };
                let verdict = layer.classifier.classify(&outcome);
                layer.listeners.emit(|| {
                    GuardEvent::Classified {
                        dependency: layer.name.clone(),
                        verdict,
                    }
                    .built()
                });
                Poll::Ready(outcome)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The dependency's classifier: 5xx in `Ok` is a failure (503 retryable after a hint), 4xx is
/// the caller's fault, errors go through resile's default rules.
fn by_status(res: &Result<u16, BoxError>) -> Verdict {
    match res {
        Ok(503) => Verdict::retryable_after(Duration::from_secs(1)),
        Ok(s) if *s >= 500 => Verdict::failure(),
        Ok(s) if *s >= 400 => Verdict::Ignored,
        Ok(_) => Verdict::Success,
        Err(e) => classify_error_by_kind(e),
    }
}

/// A dependency that answers with the status the request asks for, at once.
fn echo_status() -> impl Service<Req, Response = u16, Error = BoxError, Future: Send> + Clone {
    tower::service_fn(|req: Req| async move { Ok::<_, BoxError>(req.status) })
}

fn recording() -> (Listeners<GuardEvent>, Arc<Mutex<Vec<GuardEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let listeners =
        Listeners::new().with(move |e: &GuardEvent| sink.lock().unwrap().push(e.clone()));
    (listeners, seen)
}

fn built_here() -> usize {
    EVENTS_BUILT.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(start_paused = true)]
async fn ok_503_is_classified_as_a_failure_and_published_with_its_wait_hint() {
    let (listeners, seen) = recording();
    let mut svc = ServiceBuilder::new()
        .layer(GuardLayer::new("users", Duration::from_secs(1), by_status).listeners(listeners))
        .service(echo_status());

    for status in [503, 500, 404, 200] {
        let got = svc
            .ready()
            .await
            .unwrap()
            .call(Req::status(status))
            .await
            .unwrap();
        assert_eq!(got, status, "the layer passes responses through untouched");
    }

    let seen = seen.lock().unwrap();
    let verdicts: Vec<Verdict> = seen
        .iter()
        .map(|e| match e {
            GuardEvent::Classified { verdict, .. } => *verdict,
            other @ GuardEvent::Rejected { .. } => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            Verdict::retryable_after(Duration::from_secs(1)),
            Verdict::failure(),
            Verdict::Ignored,
            Verdict::Success,
        ]
    );
    assert!(
        seen.iter()
            .all(|e| e.dependency() == "users" && e.layer() == "guard")
    );
    assert_eq!(seen[0].kind(), "classified");
    assert_eq!(seen[0].level(), EventLevel::Warn);
    assert_eq!(seen[3].level(), EventLevel::Trace);
}

#[tokio::test(start_paused = true)]
async fn default_classifier_calls_ok_503_a_success_which_is_why_layers_take_a_classifier() {
    let (listeners, seen) = recording();
    let mut svc = GuardLayer::new("users", Duration::from_secs(1), DefaultClassifier)
        .listeners(listeners)
        .layer(echo_status());
    svc.ready()
        .await
        .unwrap()
        .call(Req::status(503))
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![GuardEvent::Classified {
            dependency: Name::new("users"),
            verdict: Verdict::Success
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn without_listeners_no_event_is_ever_built() {
    let mut svc = GuardLayer::new("users", Duration::from_secs(1), by_status).layer(echo_status());
    let before = built_here();
    for status in [200, 503, 500] {
        svc.ready()
            .await
            .unwrap()
            .call(Req::status(status))
            .await
            .unwrap();
    }
    assert_eq!(built_here(), before, "no listener, no event");

    let (listeners, _seen) = recording();
    let mut svc = GuardLayer::new("users", Duration::from_secs(1), by_status)
        .listeners(listeners)
        .layer(echo_status());
    svc.ready()
        .await
        .unwrap()
        .call(Req::status(200))
        .await
        .unwrap();
    assert_eq!(built_here(), before + 1, "one listener, one event per call");
}

#[tokio::test(start_paused = true)]
async fn the_layer_tightens_a_looser_deadline_and_keeps_a_tighter_one() {
    let seen_deadline = Arc::new(Mutex::new(Vec::new()));
    let sink = seen_deadline.clone();
    let inner = tower::service_fn(move |req: Req| {
        sink.lock()
            .unwrap()
            .push(req.deadline().map(|d| d.remaining()));
        async move { Ok::<_, BoxError>(200u16) }
    });
    let mut svc = GuardLayer::new("users", Duration::from_millis(100), by_status).layer(inner);

    // No deadline: the attempt limit becomes the deadline.
    svc.ready()
        .await
        .unwrap()
        .call(Req::status(200))
        .await
        .unwrap();
    // An outer 10 s deadline is tightened to the 100 ms attempt limit.
    let mut loose = Req::status(200);
    loose.replace_deadline(Deadline::after(Duration::from_secs(10)));
    svc.ready().await.unwrap().call(loose).await.unwrap();
    // An outer 30 ms deadline is kept: a layer never gives more time than it was given.
    let mut tight = Req::status(200);
    tight.replace_deadline(Deadline::after(Duration::from_millis(30)));
    svc.ready().await.unwrap().call(tight).await.unwrap();

    assert_eq!(
        *seen_deadline.lock().unwrap(),
        vec![
            Some(Duration::from_millis(100)),
            Some(Duration::from_millis(100)),
            Some(Duration::from_millis(30)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_past_its_deadline_fails_with_elapsed_found_through_the_wrapper() {
    let (listeners, seen) = recording();
    let (inner, mut handle) = tower_test::mock::pair::<Req, u16>();
    let svc = GuardLayer::new("users", Duration::from_secs(5), by_status)
        .listeners(listeners)
        .layer(inner);
    let mut svc = tower_test::mock::Spawn::new(svc);
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());

    let mut req = Req::status(200);
    req.replace_deadline(Deadline::after(Duration::from_millis(250)));
    let mut fut = tokio_test::task::spawn(svc.call(req));
    assert_pending!(fut.poll());
    let (_req, _send) = handle
        .next_request()
        .await
        .expect("the inner service was called");

    tokio::time::advance(Duration::from_millis(249)).await;
    assert_pending!(fut.poll());
    tokio::time::advance(Duration::from_millis(1)).await;
    let err = match fut.poll() {
        Poll::Ready(Err(err)) => err,
        other => panic!("expected the attempt to time out, got {other:?}"),
    };

    assert!(
        err.is::<GuardError>(),
        "the layer's own wrapper is outermost"
    );
    assert_eq!(kind_of(&*err), Some(ErrorKind::Timeout));
    let elapsed = find::<Elapsed>(&*err).expect("Elapsed in the source chain");
    assert_eq!(elapsed.dependency(), "users");
    assert_eq!(
        elapsed.limit(),
        Duration::from_millis(250),
        "capped by the deadline"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![GuardEvent::Classified {
            dependency: Name::new("users"),
            verdict: Verdict::retryable_failure(),
        }],
        "an attempt timeout is a retryable failure"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_deadline_is_rejected_from_call_without_calling_the_inner_service() {
    let (listeners, seen) = recording();
    let (inner, mut handle) = tower_test::mock::pair::<Req, u16>();
    let mut svc = tower_test::mock::Spawn::new(
        GuardLayer::new("users", Duration::from_secs(5), by_status)
            .listeners(listeners)
            .layer(inner),
    );
    handle.allow(1);
    assert_ready_ok!(
        svc.poll_ready(),
        "readiness is the inner service's, not a rejection"
    );

    let mut req = Req::status(200);
    req.replace_deadline(Deadline::after(Duration::from_millis(10)));
    tokio::time::advance(Duration::from_millis(10)).await;
    let err = svc.call(req).await.unwrap_err();

    assert_eq!(kind_of(&*err), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(
        find::<DeadlineExceeded>(&*err).map(|e| e.dependency()),
        Some("users")
    );
    assert_eq!(err.to_string(), "guard for `users` failed the call");
    assert!(
        !classify_error_by_kind(&err).is_retryable(),
        "a passed deadline is not retried"
    );
    let mut next = tokio_test::task::spawn(handle.next_request());
    assert_pending!(next.poll(), "the inner service never saw the request");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![GuardEvent::Rejected {
            dependency: Name::new("users"),
            kind: ErrorKind::DeadlineExceeded
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn poll_ready_passes_the_inner_readiness_through() {
    let (inner, mut handle) = tower_test::mock::pair::<Req, u16>();
    let mut svc = tower_test::mock::Spawn::new(
        GuardLayer::new("users", Duration::from_secs(1), by_status).layer(inner),
    );
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken());
    assert_ready_ok!(svc.poll_ready());
}

#[tokio::test(start_paused = true)]
async fn inner_errors_are_classified_by_their_resile_kind() {
    let (listeners, seen) = recording();
    let failing = tower::service_fn(|req: Req| async move {
        match req.status {
            0 => Err::<u16, BoxError>(std::io::Error::other("connection reset").into()),
            _ => Err(resile_core::BulkheadFull::new(Name::new("db"), 4).into()),
        }
    });
    let mut svc = GuardLayer::new("users", Duration::from_secs(1), by_status)
        .listeners(listeners)
        .layer(failing);
    let io = svc
        .ready()
        .await
        .unwrap()
        .call(Req::status(0))
        .await
        .unwrap_err();
    let full = svc
        .ready()
        .await
        .unwrap()
        .call(Req::status(1))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&*io), None, "a foreign error has no resile kind");
    assert_eq!(kind_of(&*full), Some(ErrorKind::BulkheadFull));
    let verdicts: Vec<bool> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            GuardEvent::Classified { verdict, .. } => verdict.is_retryable(),
            other @ GuardEvent::Rejected { .. } => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(verdicts, vec![true, false], "io retryable, a rejection not");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_take_the_call_down() {
    let (recorder, seen) = recording();
    let listeners = Listeners::new()
        .with(|_: &GuardEvent| panic!("a buggy listener"))
        .with(move |e: &GuardEvent| {
            recorder.emit(|| e.clone());
        });
    let before = resile_core::event::listener_panics();
    let mut svc = GuardLayer::new("users", Duration::from_secs(1), by_status)
        .listeners(listeners)
        .layer(echo_status());
    let got = svc
        .ready()
        .await
        .unwrap()
        .call(Req::status(200))
        .await
        .unwrap();
    assert_eq!(got, 200);
    assert_eq!(seen.lock().unwrap().len(), 1, "later listeners still ran");
    assert!(resile_core::event::listener_panics() > before);
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_layer_share_its_listeners() {
    let (listeners, seen) = recording();
    let layer = GuardLayer::new("users", Duration::from_secs(1), by_status).listeners(listeners);
    let mut a = layer.layer(echo_status());
    let mut b = layer.clone().layer(echo_status());
    a.ready()
        .await
        .unwrap()
        .call(Req::status(200))
        .await
        .unwrap();
    b.ready()
        .await
        .unwrap()
        .call(Req::status(500))
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn an_http_request_carries_the_tightened_deadline_to_the_inner_service() {
    let mut req = http::Request::new(());
    assert_eq!(req.deadline(), None);
    let outer = Deadline::after(Duration::from_secs(2));
    req.tighten_deadline(outer);
    let attempt = req.tighten_deadline(Deadline::after(Duration::from_secs(10)));
    assert_eq!(
        attempt, outer,
        "an inner layer cannot loosen the outer deadline"
    );
    let inner = tower::service_fn(|req: http::Request<()>| async move {
        Ok::<_, BoxError>(req.deadline().map(|d| d.remaining()))
    });
    let left = inner.oneshot(req).await.unwrap();
    assert_eq!(left, Some(Duration::from_secs(2)));
}
