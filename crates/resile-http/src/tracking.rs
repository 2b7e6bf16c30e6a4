//! Error tracking: every response's status and duration, as events and counters.
//!
//! [`TrackLayer`] sits on a server (or a client) and records, for each call, the status class
//! and how long it took. Counters are readable from a [`TrackingHandle`]; each call is also an
//! [`HttpEvent`] for listeners (tracing, metrics), so 4xx/5xx rates per route are visible.
//!
//! ```
//! use http::{Request, Response};
//! use resile_http::tracking::TrackLayer;
//! use std::convert::Infallible;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = TrackLayer::new("gateway");
//! let handle = layer.handle();
//! let svc = layer.layer(service_fn(|_req: Request<()>| async {
//!     Ok::<_, Infallible>(Response::builder().status(404).body(()).unwrap())
//! }));
//! svc.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(handle.snapshot().client_errors, 1);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Extensions, Method, Request, Response, StatusCode, Uri};
use pin_project_lite::pin_project;
use resile_core::{Event, EventLevel, Listener, Listeners, Name};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// One finished call, as [`TrackLayer`] saw it.
#[derive(Debug, Clone)]
pub struct HttpEvent {
    /// The name given to the layer (a server or a dependency).
    pub name: Name,
    /// The request method.
    pub method: Method,
    /// The route, when a route function was configured and found one (low cardinality: a
    /// template such as `/users/{id}`, never the raw path).
    pub route: Option<Cow<'static, str>>,
    /// The response status; `None` when the call ended in an error.
    pub status: Option<StatusCode>,
    /// How long the call took, from `call` to the response head.
    pub duration: Duration,
}

impl Event for HttpEvent {
    fn dependency(&self) -> &str {
        self.name.as_str()
    }
    fn layer(&self) -> &'static str {
        "http"
    }
    fn kind(&self) -> &'static str {
        match self.status {
            None => "error",
            Some(s) if s.is_server_error() => "server_error",
            Some(s) if s.is_client_error() => "client_error",
            Some(_) => "response",
        }
    }
    fn level(&self) -> EventLevel {
        match self.status {
            None => EventLevel::Warn,
            Some(s) if s.is_server_error() => EventLevel::Warn,
            _ => EventLevel::Debug,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    informational: AtomicU64,
    successes: AtomicU64,
    redirects: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    errors: AtomicU64,
}

/// Counts of calls by outcome, from [`TrackingHandle::snapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackingSnapshot {
    /// 1xx responses.
    pub informational: u64,
    /// 2xx responses.
    pub successes: u64,
    /// 3xx responses.
    pub redirects: u64,
    /// 4xx responses.
    pub client_errors: u64,
    /// 5xx responses.
    pub server_errors: u64,
    /// Calls that ended in an error instead of a response.
    pub errors: u64,
}

/// Reads the counters of a [`TrackLayer`] and every service it built.
#[derive(Debug, Clone)]
pub struct TrackingHandle {
    counters: Arc<Counters>,
}

impl TrackingHandle {
    /// The counts so far.
    pub fn snapshot(&self) -> TrackingSnapshot {
        let c = &self.counters;
        TrackingSnapshot {
            informational: c.informational.load(Ordering::Relaxed),
            successes: c.successes.load(Ordering::Relaxed),
            redirects: c.redirects.load(Ordering::Relaxed),
            client_errors: c.client_errors.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }
}

type RouteFn = Arc<dyn Fn(&Uri, &Extensions) -> Option<Cow<'static, str>> + Send + Sync>;

/// Layer that records each response's status and duration. See the [module docs](self).
#[derive(Clone)]
pub struct TrackLayer {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    counters: Arc<Counters>,
    listeners: Listeners<HttpEvent>,
    route: Option<RouteFn>,
}

impl fmt::Debug for TrackLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackLayer")
            .field("name", &self.shared.name)
            .field("listeners", &self.shared.listeners)
            .field("route", &self.shared.route.is_some())
            .finish()
    }
}

impl TrackLayer {
    /// A tracking layer named `name` (a server or dependency name).
    pub fn new(name: impl Into<Name>) -> Self {
        Self {
            shared: Arc::new(Shared {
                name: name.into(),
                counters: Arc::default(),
                listeners: Listeners::new(),
                route: None,
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Shared)) -> Self {
        let s = &*self.shared;
        let mut shared = Shared {
            name: s.name.clone(),
            counters: s.counters.clone(),
            listeners: s.listeners.clone(),
            route: s.route.clone(),
        };
        f(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Adds a listener for every call's [`HttpEvent`].
    #[must_use]
    pub fn listener(self, listener: impl Listener<HttpEvent>) -> Self {
        self.edit(|s| s.listeners = s.listeners.clone().with(listener))
    }

    /// Names each call's route, e.g. from axum's `MatchedPath` in the extensions. Return a
    /// template, never the raw path, to keep metric labels few.
    #[must_use]
    pub fn route(
        self,
        route: impl Fn(&Uri, &Extensions) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|s| s.route = Some(Arc::new(route)))
    }

    /// A handle on the counters.
    pub fn handle(&self) -> TrackingHandle {
        TrackingHandle {
            counters: self.shared.counters.clone(),
        }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Track {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service built by [`TrackLayer`].
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Track<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Track")
            .field("inner", &self.inner)
            .field("name", &self.shared.name)
            .finish()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Track<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let meta = if self.shared.listeners.is_empty() {
            None
        } else {
            let route = self
                .shared
                .route
                .as_ref()
                .and_then(|f| f(req.uri(), req.extensions()));
            // The clock is read only when someone will see the duration.
            Some((req.method().clone(), route, Instant::now()))
        };
        TrackFuture {
            fut: self.inner.call(req),
            shared: self.shared.clone(),
            meta,
        }
    }
}

pin_project! {
    /// Response future of [`Track`].
    pub struct TrackFuture<F> {
        #[pin]
        fut: F,
        shared: Arc<Shared>,
        meta: Option<(Method, Option<Cow<'static, str>>, Instant)>,
    }
}

impl<F> fmt::Debug for TrackFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.fut.poll(cx));
        let status = out.as_ref().ok().map(Response::status);
        let c = &this.shared.counters;
        let counter = match status.map(|s| s.as_u16() / 100) {
            None => &c.errors,
            Some(1) => &c.informational,
            Some(2) => &c.successes,
            Some(3) => &c.redirects,
            Some(4) => &c.client_errors,
            Some(_) => &c.server_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some((method, route, start)) = this.meta.take() {
            let duration = start.elapsed();
            this.shared.listeners.emit(|| HttpEvent {
                name: this.shared.name.clone(),
                method,
                route,
                status,
                duration,
            });
        }
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tower::{ServiceExt, service_fn};

    #[tokio::test(start_paused = true)]
    async fn counts_each_class_and_emits_status_route_and_duration() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let layer = TrackLayer::new("edge")
            .listener(move |e: &HttpEvent| sink.lock().unwrap().push(e.clone()))
            .route(|uri, _| Some(Cow::Owned(format!("{}-route", uri.path().len()))));
        let handle = layer.handle();
        let svc = layer.layer(service_fn(|req: Request<()>| async move {
            let status: u16 = req.uri().path()[1..].parse().unwrap();
            if status == 999 {
                return Err("boom");
            }
            tokio::time::sleep(Duration::from_millis(u64::from(status))).await;
            Ok(Response::builder().status(status).body(()).unwrap())
        }));
        for path in ["/200", "/204", "/302", "/404", "/503", "/999", "/101"] {
            let _ = svc
                .clone()
                .oneshot(Request::get(path).body(()).unwrap())
                .await;
        }
        assert_eq!(
            handle.snapshot(),
            TrackingSnapshot {
                informational: 1,
                successes: 2,
                redirects: 1,
                client_errors: 1,
                server_errors: 1,
                errors: 1,
            }
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 7);
        assert_eq!(seen[4].status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(seen[4].kind(), "server_error");
        assert_eq!(seen[4].duration, Duration::from_millis(503));
        assert_eq!(seen[4].route.as_deref(), Some("4-route"));
        assert_eq!(seen[5].kind(), "error");
        assert_eq!(seen[3].kind(), "client_error");
    }
}
