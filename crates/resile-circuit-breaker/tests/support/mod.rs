//! Test support: a dependency whose every answer is chosen by the request, a classifier for
//! it, and small helpers.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_circuit_breaker::{
    Builder, CircuitBreaker, CircuitBreakerEvent, CircuitBreakerHandle, CircuitBreakerLayer,
    EventKind,
};
use resile_core::{BoxError, CircuitOpen, Verdict, find};
use tower::{Layer, Service, ServiceExt};

/// What the dependency does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Answers well.
    Ok,
    /// Fails (an `Err`).
    Fail,
    /// Answers "busy, retry after" (an `Ok` that the classifier calls a failure with a hint).
    Busy(Duration),
    /// Answers "not found" (ignored by the classifier).
    NotFound,
    /// Answers well after this long.
    Slow(Duration),
    /// Fails after this long.
    SlowFail(Duration),
    /// Never answers.
    Hang,
}

/// The dependency's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Busy(Duration),
    NotFound,
}

pub type Classifier = fn(&Result<Answer, io::Error>) -> Verdict;

pub fn classify(r: &Result<Answer, io::Error>) -> Verdict {
    match r {
        Ok(Answer::Ok) => Verdict::Success,
        Ok(Answer::NotFound) => Verdict::Ignored,
        Ok(Answer::Busy(wait)) => Verdict::retryable_after(*wait),
        Err(_) => Verdict::retryable_failure(),
    }
}

pub type DepFuture = Pin<Box<dyn Future<Output = Result<Answer, io::Error>> + Send>>;

/// The dependency, counting the calls that reached it.
#[derive(Debug, Clone, Default)]
pub struct Dep {
    pub calls: Arc<AtomicUsize>,
}

impl Dep {
    pub fn reached(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Call> for Dep {
    type Response = Answer;
    type Error = io::Error;
    type Future = DepFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> DepFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match call {
                Call::Ok => Ok(Answer::Ok),
                Call::Fail => Err(io::Error::other("down")),
                Call::Busy(d) => Ok(Answer::Busy(d)),
                Call::NotFound => Ok(Answer::NotFound),
                Call::Slow(d) => {
                    tokio::time::sleep(d).await;
                    Ok(Answer::Ok)
                }
                Call::SlowFail(d) => {
                    tokio::time::sleep(d).await;
                    Err(io::Error::other("down, slowly"))
                }
                Call::Hang => std::future::pending().await,
            }
        })
    }
}

pub type Svc = CircuitBreaker<Dep, Classifier>;

/// A builder with the test classifier.
pub fn builder() -> Builder<Classifier> {
    CircuitBreakerLayer::builder("dep").classifier(classify as Classifier)
}

/// Builds the layer and wraps a fresh dependency.
pub fn service(b: Builder<Classifier>) -> (Svc, CircuitBreakerHandle, Dep) {
    let layer = b.build().expect("valid config");
    let dep = Dep::default();
    let handle = layer.handle();
    (layer.layer(dep.clone()), handle, dep)
}

/// One call through the breaker, to completion.
pub async fn call(svc: &mut Svc, c: Call) -> Result<Answer, BoxError> {
    Ok(svc.ready().await?.call(c).await?)
}

/// Several calls in a row.
pub async fn calls(svc: &mut Svc, c: Call, n: usize) {
    for _ in 0..n {
        let _ = call(svc, c).await;
    }
}

/// The open-circuit rejection inside `err`, if that is what it is.
pub fn rejection(err: &BoxError) -> Option<&CircuitOpen> {
    find::<CircuitOpen>(&**err)
}

/// Asserts the call was rejected by the breaker; returns the time until a probe.
pub async fn assert_rejected(svc: &mut Svc, c: Call) -> Duration {
    match call(svc, c).await {
        Err(e) => rejection(&e)
            .unwrap_or_else(|| panic!("expected a rejection, got {e}"))
            .open_for(),
        Ok(a) => panic!("expected a rejection, got {a:?}"),
    }
}

/// Advances the paused clock.
pub async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Collects every event of a breaker.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub events: Arc<Mutex<Vec<CircuitBreakerEvent>>>,
}

impl Recorder {
    pub fn attach(&self, b: Builder<Classifier>) -> Builder<Classifier> {
        let sink = self.events.clone();
        b.on_event(move |e: &CircuitBreakerEvent| sink.lock().unwrap().push(e.clone()))
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| *e.event())
            .collect()
    }

    /// `(from, to)` of every transition, in order.
    pub fn transitions(&self) -> Vec<(String, String)> {
        self.kinds()
            .into_iter()
            .filter_map(|k| match k {
                EventKind::StateTransition { from, to, .. } => {
                    Some((from.to_string(), to.to_string()))
                }
                _ => None,
            })
            .collect()
    }

    pub fn rejections(&self) -> usize {
        self.kinds()
            .iter()
            .filter(|k| matches!(k, EventKind::Rejected { .. }))
            .count()
    }
}
