//! The safe edge: internal failures become safe RFC 9457 problem responses.
//!
//! Put [`SanitizeLayer`] outermost on an axum or tower server. An error that escapes the service
//! — an open circuit, a timeout, a full bulkhead, an exhausted budget, or anything else — becomes
//! a response with the right status and an `application/problem+json` body that carries a trace
//! id and nothing internal: no error text, no dependency name, no address. The full error chain
//! is logged server-side (`tracing`, target `resile::http`) with the same trace id, so support
//! can find it.
//!
//! | error kind | status |
//! |---|---|
//! | open circuit | 503, with `Retry-After` (seconds, rounded up) when the breaker says when |
//! | attempt timeout, deadline exceeded | 504 |
//! | bulkhead full | 429, with `Retry-After: 1` |
//! | retry budget exhausted | 503 |
//! | any other error | 500 |
//!
//! The trace id is the trace-id of an incoming W3C `traceparent` header when it is valid, else a
//! fresh random 128-bit id; it is also sent back in the `x-trace-id` response header.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use resile_core::{BoxError, CircuitOpen, Name};
//! use resile_http::edge::SanitizeLayer;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let handler = service_fn(|_req: Request<()>| async {
//!     Err::<Response<Full<Bytes>>, BoxError>(
//!         CircuitOpen::new(Name::new("billing at 10.0.0.7"), Duration::from_secs(3)).into(),
//!     )
//! });
//! let svc = SanitizeLayer::new().layer(handler);
//! let res = svc.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 503);
//! assert_eq!(res.headers()["retry-after"], "3");
//! assert_eq!(res.headers()["content-type"], "application/problem+json");
//! # }
//! ```

use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use resile_core::error::{chain, find_resile_error};
use resile_core::{BoxError, ErrorKind};
use tower_layer::Layer;
use tower_service::Service;

/// The response header that carries the trace id back to the caller.
pub const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");

/// A request's trace id, as the edge found or made it. Inserted into the request's extensions so
/// handlers can log with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(Arc<str>);

impl TraceId {
    /// The id as 32 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace id of a W3C `traceparent` header value, if it is well formed and not all zeros.
    pub fn from_traceparent(value: &HeaderValue) -> Option<Self> {
        let s = value.to_str().ok()?;
        let mut parts = s.split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |p: &str, n: usize| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(parent, 16) {
            return None;
        }
        if !hex(flags, 2) || trace.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceId(Arc::from(trace)))
    }

    /// A fresh random trace id.
    pub fn random() -> Self {
        let mut s = String::with_capacity(32);
        let _ = write!(s, "{:032x}", fastrand::u128(1..));
        TraceId(Arc::from(s))
    }

    fn of<B>(req: &Request<B>) -> Self {
        req.headers()
            .get("traceparent")
            .and_then(Self::from_traceparent)
            .unwrap_or_else(Self::random)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Layer that turns errors into safe problem responses. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct SanitizeLayer {
    _priv: (),
}

impl SanitizeLayer {
    /// The edge with the documented status mapping.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for SanitizeLayer {
    type Service = Sanitize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Sanitize {
            inner,
            ready_error: None,
        }
    }
}

/// The service built by [`SanitizeLayer`]. Its error type is [`Infallible`]: every failure is a
/// response.
#[derive(Debug)]
pub struct Sanitize<S> {
    inner: S,
    ready_error: Option<BoxError>,
}

impl<S: Clone> Clone for Sanitize<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ready_error: None,
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Sanitize<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: From<Bytes>,
{
    type Response = Response<ResB>;
    type Error = Infallible;
    type Future = SanitizeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.ready_error.is_some() {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            // Answer the next call with this error instead of failing readiness.
            Poll::Ready(Err(e)) => {
                self.ready_error = Some(e.into());
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let trace_id = TraceId::of(&req);
        req.extensions_mut().insert(trace_id.clone());
        let state = match self.ready_error.take() {
            Some(e) => State::Failed { error: Some(e) },
            None => State::Running {
                fut: self.inner.call(req),
            },
        };
        SanitizeFuture { state, trace_id }
    }
}

pin_project! {
    /// Response future of [`Sanitize`].
    pub struct SanitizeFuture<F> {
        #[pin]
        state: State<F>,
        trace_id: TraceId,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] fut: F },
        Failed { error: Option<BoxError> },
    }
}

impl<F> fmt::Debug for SanitizeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SanitizeFuture")
            .field("trace_id", &self.trace_id)
            .finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for SanitizeFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: Into<BoxError>,
    ResB: From<Bytes>,
{
    type Output = Result<Response<ResB>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let error: BoxError = match this.state.project() {
            StateProj::Running { fut } => match fut.poll(cx) {
                Poll::Ready(Ok(mut res)) => {
                    if let Ok(v) = HeaderValue::from_str(this.trace_id.as_str()) {
                        res.headers_mut().insert(X_TRACE_ID, v);
                    }
                    return Poll::Ready(Ok(res));
                }
                Poll::Ready(Err(e)) => e.into(),
                Poll::Pending => return Poll::Pending,
            },
            StateProj::Failed { error } => error
                .take()
                .unwrap_or_else(|| "sanitize future polled after completion".into()),
        };
        Poll::Ready(Ok(problem_response(&*error, this.trace_id)))
    }
}

/// The status, `Retry-After` and public detail for an error.
fn public_view(
    err: &(dyn std::error::Error + 'static),
) -> (StatusCode, Option<u64>, &'static str, Option<ErrorKind>) {
    let Some(e) = find_resile_error(err) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "The request could not be completed.",
            None,
        );
    };
    let kind = e.kind();
    let (status, retry_after, detail) = match kind {
        ErrorKind::CircuitOpen => (
            StatusCode::SERVICE_UNAVAILABLE,
            e.retry_after()
                .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
            "A service this request depends on is temporarily unavailable. Retry later.",
        ),
        ErrorKind::Timeout | ErrorKind::DeadlineExceeded => (
            StatusCode::GATEWAY_TIMEOUT,
            None,
            "A service this request depends on did not answer in time.",
        ),
        ErrorKind::BulkheadFull => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(1),
            "Too many requests are in progress. Retry shortly.",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "The service is shedding load. Retry later.",
        ),
    };
    (status, retry_after, detail, Some(kind))
}

fn problem_response<B: From<Bytes>>(
    err: &(dyn std::error::Error + 'static),
    trace_id: &TraceId,
) -> Response<B> {
    let (status, retry_after, detail, kind) = public_view(err);
    let mut full_chain = String::new();
    for (i, e) in chain(err).enumerate() {
        if i > 0 {
            full_chain.push_str(": ");
        }
        let _ = write!(full_chain, "{e}");
    }
    let kind_label = kind.map_or("internal", ErrorKind::as_str);
    if status.is_server_error() && kind.is_none() {
        tracing::error!(target: "resile::http", trace_id = %trace_id, kind = kind_label, status = status.as_u16(), error = %full_chain, "request failed; answered with a sanitized problem");
    } else {
        tracing::warn!(target: "resile::http", trace_id = %trace_id, kind = kind_label, status = status.as_u16(), error = %full_chain, "request rejected; answered with a sanitized problem");
    }
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"{}\",\"status\":{},\"detail\":\"{}\",\"trace_id\":\"{}\"}}",
        status.canonical_reason().unwrap_or("Error"),
        status.as_u16(),
        detail,
        trace_id
    );
    let mut res = Response::new(B::from(Bytes::from(body)));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Ok(v) = HeaderValue::from_str(trace_id.as_str()) {
        headers.insert(X_TRACE_ID, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use resile_core::{
        BudgetExhausted, BulkheadFull, CircuitOpen, DeadlineExceeded, Elapsed, Name,
    };
    use std::time::Duration;
    use tower::{ServiceExt, service_fn};

    const SECRET: &str = "db-primary.internal:5432";

    async fn answer(err: BoxError, traceparent: Option<&str>) -> (Response<Full<Bytes>>, String) {
        let err = Arc::new(std::sync::Mutex::new(Some(err)));
        let svc = SanitizeLayer::new().layer(service_fn(move |_req: Request<()>| {
            let e = err.lock().unwrap().take().unwrap();
            async move { Err::<Response<Full<Bytes>>, BoxError>(e) }
        }));
        let mut req = Request::new(());
        if let Some(tp) = traceparent {
            req.headers_mut().insert("traceparent", tp.parse().unwrap());
        }
        let res = svc.oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (Response::from_parts(parts, Full::new(Bytes::new())), text)
    }

    fn name() -> Name {
        Name::new(SECRET)
    }

    #[tokio::test]
    async fn every_kind_maps_to_its_status_without_leaking_internals() {
        let cases: Vec<(BoxError, u16)> = vec![
            (
                CircuitOpen::new(name(), Duration::from_millis(2500)).into(),
                503,
            ),
            (Elapsed::attempt(name(), Duration::from_secs(1)).into(), 504),
            (DeadlineExceeded::new(name(), None).into(), 504),
            (BulkheadFull::new(name(), 10).into(), 429),
            (BudgetExhausted::new(name()).into(), 503),
            (format!("connect to {SECRET} refused").into(), 500),
        ];
        for (err, status) in cases {
            let shown = err.to_string();
            let (res, body) = answer(err, None).await;
            assert_eq!(res.status().as_u16(), status, "{shown}");
            assert_eq!(res.headers()[CONTENT_TYPE], "application/problem+json");
            assert!(!body.contains(SECRET), "{body}");
            assert!(!body.contains(&shown), "{body}");
            let trace = res.headers()[X_TRACE_ID].to_str().unwrap().to_owned();
            assert_eq!(trace.len(), 32);
            assert!(
                body.contains(&format!("\"trace_id\":\"{trace}\"")),
                "{body}"
            );
            assert!(body.contains(&format!("\"status\":{status}")), "{body}");
        }
    }

    #[tokio::test]
    async fn open_circuit_sends_retry_after_rounded_up() {
        let (res, _) = answer(
            CircuitOpen::new(name(), Duration::from_millis(2500)).into(),
            None,
        )
        .await;
        assert_eq!(res.headers()[RETRY_AFTER], "3");
        let (res, _) = answer(BulkheadFull::new(name(), 1).into(), None).await;
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        let (res, _) = answer("x".into(), None).await;
        assert!(res.headers().get(RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn a_valid_traceparent_supplies_the_trace_id() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (res, body) = answer("x".into(), Some(tp)).await;
        assert_eq!(
            res.headers()[X_TRACE_ID],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(body.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(
                TraceId::from_traceparent(&bad.parse().unwrap()).is_none(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn successes_pass_through_with_the_trace_header() {
        let svc = SanitizeLayer::new().layer(service_fn(|req: Request<()>| async move {
            assert!(req.extensions().get::<TraceId>().is_some());
            Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key(X_TRACE_ID));
    }

    #[tokio::test]
    async fn a_readiness_error_becomes_a_problem_response() {
        #[derive(Clone)]
        struct NeverReady;
        impl Service<Request<()>> for NeverReady {
            type Response = Response<Full<Bytes>>;
            type Error = BoxError;
            type Future = std::future::Ready<Result<Self::Response, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                Poll::Ready(Err(BulkheadFull::new(Name::new("x"), 1).into()))
            }
            fn call(&mut self, _: Request<()>) -> Self::Future {
                unreachable!("never called when not ready")
            }
        }
        let res = SanitizeLayer::new()
            .layer(NeverReady)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
    }
}
