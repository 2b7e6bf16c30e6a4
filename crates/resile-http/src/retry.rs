//! Retrying HTTP requests with resile-retry: [`HttpReplay`] (feature `retry`).
//!
//! [`HttpReplay`] is resile-retry's [`ReplayRequest`] for requests whose body is a
//! [`ReplayBody`]: each retry gets the same head (method, URI, headers, extensions) and the
//! replayed body. A request that cannot be sent again — not idempotent, or a body over the
//! replay cap — goes once, and a [`ReplayEvent`] says why.
//!
//! Stack it as `ReplayBodyLayer` → `RetryLayer` (with `.replay(HttpReplay::new(..))`) → client:
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use resile_http::{HttpClassifier, HttpReplay, ReplayBody, ReplayBodyLayer};
//! use resile_retry::RetryLayer;
//! use std::convert::Infallible;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
//! let seen = calls.clone();
//! let client = service_fn(move |_req: Request<ReplayBody<Full<Bytes>>>| {
//!     let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     async move {
//!         let status = if n == 0 { 503 } else { 200 };
//!         Ok::<_, Infallible>(Response::builder().status(status).body(()).unwrap())
//!     }
//! });
//! let svc = ServiceBuilder::new()
//!     .layer(ReplayBodyLayer::new())
//!     .layer(
//!         RetryLayer::builder()
//!             .classifier(HttpClassifier::new())
//!             .replay(HttpReplay::new("users"))
//!             .build()
//!             .unwrap(),
//!     )
//!     .service(client);
//! let req = Request::put("/users/1").body(Full::new(Bytes::from_static(b"{}"))).unwrap();
//! assert_eq!(svc.oneshot(req).await.unwrap().status(), 200);
//! assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
//! # }
//! ```

use std::fmt;

use http::Request;
use http::request::Parts;
use http_body::Body;
use resile_core::{Event, EventLevel, Listener, Listeners, Name};
use resile_retry::ReplayRequest;

use crate::replay::{NotReplayable, ReplayBody, ReplayHandle, head_of};

/// A request was sent without the means to retry it, or a retry could not be built.
#[derive(Debug, Clone)]
pub struct ReplayEvent {
    /// The dependency.
    pub dependency: Name,
    /// Why the request cannot be sent again.
    pub reason: NotReplayable,
    /// The attempt that could not be built (1 when the request was never retryable).
    pub attempt: u32,
}

impl Event for ReplayEvent {
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
    fn layer(&self) -> &'static str {
        "http"
    }
    fn kind(&self) -> &'static str {
        match self.reason {
            NotReplayable::NotRetryable => "not_retryable",
            NotReplayable::TooLarge { .. } => "body_too_large",
            NotReplayable::Unavailable => "body_unavailable",
        }
    }
    fn level(&self) -> EventLevel {
        match self.reason {
            NotReplayable::NotRetryable => EventLevel::Debug,
            _ => EventLevel::Info,
        }
    }
}

/// resile-retry's [`ReplayRequest`] for `http::Request<ReplayBody<B>>`. See the
/// [module docs](self).
#[derive(Clone)]
pub struct HttpReplay {
    name: Name,
    listeners: Listeners<ReplayEvent>,
}

impl fmt::Debug for HttpReplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpReplay")
            .field("name", &self.name)
            .field("listeners", &self.listeners)
            .finish()
    }
}

impl HttpReplay {
    /// Replays requests to the dependency `name`.
    pub fn new(name: impl Into<Name>) -> Self {
        Self {
            name: name.into(),
            listeners: Listeners::new(),
        }
    }

    /// Adds a listener for requests that could not be retried.
    #[must_use]
    pub fn listener(mut self, listener: impl Listener<ReplayEvent>) -> Self {
        self.listeners = self.listeners.with(listener);
        self
    }

    fn refused(&self, reason: NotReplayable, attempt: u32) {
        self.listeners.emit(|| ReplayEvent {
            dependency: self.name.clone(),
            reason,
            attempt,
        });
    }
}

impl<B: Body> ReplayRequest<Request<ReplayBody<B>>> for HttpReplay {
    type State = (Parts, ReplayHandle<B>);

    fn first(&self, req: Request<ReplayBody<B>>) -> (Request<ReplayBody<B>>, Option<Self::State>) {
        match req.body().handle() {
            Ok(handle) => {
                let head = head_of(&req);
                (req, Some((head, handle)))
            }
            Err(reason) => {
                self.refused(reason, 1);
                (req, None)
            }
        }
    }

    fn next(&self, state: &mut Self::State, attempt: u32) -> Option<Request<ReplayBody<B>>> {
        match state.1.replay() {
            Ok(body) => Some(Request::from_parts(state.0.clone(), body)),
            Err(reason) => {
                self.refused(reason, attempt);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn retries_rebuild_the_same_head_and_body() {
        let h = HttpReplay::new("d");
        let req = Request::put("/x")
            .header("a", "1")
            .body(ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 64))
            .unwrap();
        let (first, state) = h.first(req);
        let mut state = state.unwrap();
        assert_eq!(
            first.into_body().collect().await.unwrap().to_bytes(),
            "hello"
        );
        let again = h.next(&mut state, 2).unwrap();
        assert_eq!(again.method(), http::Method::PUT);
        assert_eq!(again.headers()["a"], "1");
        assert_eq!(
            again.into_body().collect().await.unwrap().to_bytes(),
            "hello"
        );
    }

    #[tokio::test]
    async fn refusals_are_events() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let h = HttpReplay::new("d").listener(move |e: &ReplayEvent| {
            sink.lock().unwrap().push((e.kind(), e.attempt));
        });
        let req = Request::post("/x")
            .body(ReplayBody::pass_through(
                Full::new(Bytes::new()),
                NotReplayable::NotRetryable,
            ))
            .unwrap();
        assert!(h.first(req).1.is_none());
        let big = Request::put("/x")
            .body(ReplayBody::new(Full::new(Bytes::from(vec![1u8; 100])), 10))
            .unwrap();
        assert!(h.first(big).1.is_none());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![("not_retryable", 1), ("body_too_large", 1)]
        );
    }
}
