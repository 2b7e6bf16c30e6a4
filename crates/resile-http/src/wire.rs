//! Deadlines on the wire: `grpc-timeout` out on client requests, in on server requests.
//!
//! The client-side [`PropagateDeadlineLayer`] writes what remains of the request's resile-core
//! [`Deadline`] as `grpc-timeout` (gRPC) and/or a header of your choice in milliseconds (HTTP),
//! so the server can stop working on a request its caller has given up on. The server-side
//! [`AcceptDeadlineLayer`] reads an incoming `grpc-timeout` (untrusted: malformed values are
//! ignored, huge ones capped) into the request's deadline.

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Request};
use resile_core::{CarryDeadline, ConfigError, Deadline};
use tower_layer::Layer;
use tower_service::Service;

/// The gRPC deadline header.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Encodes `d` as a `grpc-timeout` value: at most eight digits and a unit, choosing the finest
/// unit that fits (rounded down, so the server never gets more time than we have).
pub fn encode_grpc_timeout(d: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let nanos = d.as_nanos();
    let (value, unit) = if nanos <= MAX {
        (nanos, 'n')
    } else if nanos / 1_000 <= MAX {
        (nanos / 1_000, 'u')
    } else if nanos / 1_000_000 <= MAX {
        (nanos / 1_000_000, 'm')
    } else if nanos / 1_000_000_000 <= MAX {
        (nanos / 1_000_000_000, 'S')
    } else if nanos / 60_000_000_000 <= MAX {
        (nanos / 60_000_000_000, 'M')
    } else {
        ((nanos / 3_600_000_000_000).min(MAX), 'H')
    };
    HeaderValue::from_str(&format!("{value}{unit}")).unwrap_or(HeaderValue::from_static("0n"))
}

/// Parses a `grpc-timeout` value (one to eight ASCII digits and a unit among `H M S m u n`),
/// capped at `cap`. `None` for anything else.
pub fn parse_grpc_timeout(value: &HeaderValue, cap: Duration) -> Option<Duration> {
    let bytes = value.as_bytes();
    let (&unit, digits) = bytes.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let d = match unit {
        b'H' => Duration::from_secs(n.saturating_mul(3600)),
        b'M' => Duration::from_secs(n.saturating_mul(60)),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    };
    Some(d.min(cap))
}

/// Client side: writes the remaining deadline on outgoing requests.
///
/// ```
/// use resile_http::wire::PropagateDeadlineLayer;
///
/// // gRPC: `grpc-timeout` (the default).
/// let grpc = PropagateDeadlineLayer::grpc();
/// // HTTP: a header of your choice, in milliseconds.
/// let http = PropagateDeadlineLayer::http_header(http::HeaderName::from_static("x-deadline-ms"));
/// # let _ = (grpc, http);
/// ```
#[derive(Debug, Clone)]
pub struct PropagateDeadlineLayer {
    grpc: bool,
    header: Option<HeaderName>,
}

impl PropagateDeadlineLayer {
    /// Writes `grpc-timeout` (tightening any `grpc-timeout` already on the request).
    pub fn grpc() -> Self {
        Self {
            grpc: true,
            header: None,
        }
    }

    /// Writes the remaining milliseconds in `header`.
    pub fn http_header(header: HeaderName) -> Self {
        Self {
            grpc: false,
            header: Some(header),
        }
    }
}

impl<S> Layer<S> for PropagateDeadlineLayer {
    type Service = PropagateDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadline {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`PropagateDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct PropagateDeadline<S> {
    inner: S,
    layer: PropagateDeadlineLayer,
}

impl<S, B> Service<Request<B>> for PropagateDeadline<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(deadline) = req.deadline() {
            let left = deadline.remaining();
            if self.layer.grpc {
                let existing = req
                    .headers()
                    .get(&GRPC_TIMEOUT)
                    .and_then(|v| parse_grpc_timeout(v, Duration::MAX));
                let send = existing.map_or(left, |e| e.min(left));
                req.headers_mut()
                    .insert(GRPC_TIMEOUT, encode_grpc_timeout(send));
            }
            if let Some(h) = &self.layer.header {
                let ms = HeaderValue::from(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
                req.headers_mut().insert(h.clone(), ms);
            }
        }
        self.inner.call(req)
    }
}

/// Server side: reads an incoming `grpc-timeout` into the request's resile-core deadline.
///
/// The value is untrusted: malformed values are ignored and huge ones capped (default 5 min).
#[derive(Clone)]
pub struct AcceptDeadlineLayer {
    cap: Duration,
}

impl fmt::Debug for AcceptDeadlineLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptDeadlineLayer")
            .field("cap", &self.cap)
            .finish()
    }
}

impl Default for AcceptDeadlineLayer {
    fn default() -> Self {
        Self {
            cap: Duration::from_secs(300),
        }
    }
}

impl AcceptDeadlineLayer {
    /// Accepts `grpc-timeout` up to 5 minutes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps an incoming `grpc-timeout` at `cap`. Zero is refused.
    pub fn cap(mut self, cap: Duration) -> Result<Self, ConfigError> {
        if cap.is_zero() {
            return Err(ConfigError::new(
                "accept deadline",
                "cap",
                "must be greater than zero",
            ));
        }
        self.cap = cap;
        Ok(self)
    }
}

impl<S> Layer<S> for AcceptDeadlineLayer {
    type Service = AcceptDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AcceptDeadline {
            inner,
            cap: self.cap,
        }
    }
}

/// The service built by [`AcceptDeadlineLayer`].
#[derive(Debug, Clone)]
pub struct AcceptDeadline<S> {
    inner: S,
    cap: Duration,
}

impl<S, B> Service<Request<B>> for AcceptDeadline<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Some(budget) = req
            .headers()
            .get(&GRPC_TIMEOUT)
            .and_then(|v| parse_grpc_timeout(v, self.cap))
        {
            req.tighten_deadline(Deadline::after(budget));
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    #[test]
    fn encodes_with_the_finest_unit_that_fits() {
        assert_eq!(encode_grpc_timeout(Duration::from_nanos(5)), "5n");
        assert_eq!(encode_grpc_timeout(Duration::from_millis(250)), "250000u");
        assert_eq!(encode_grpc_timeout(Duration::from_secs(2)), "2000000u");
        assert_eq!(encode_grpc_timeout(Duration::from_secs(200)), "200000m");
        assert_eq!(
            encode_grpc_timeout(Duration::from_secs(86_400 * 365)),
            "31536000S"
        );
        assert_eq!(encode_grpc_timeout(Duration::MAX), "99999999H");
    }

    #[test]
    fn parses_valid_values_and_ignores_the_rest() {
        let cap = Duration::from_secs(300);
        let p = |s: &str| parse_grpc_timeout(&HeaderValue::from_str(s).unwrap(), cap);
        assert_eq!(p("100m"), Some(Duration::from_millis(100)));
        assert_eq!(p("2S"), Some(Duration::from_secs(2)));
        assert_eq!(p("1H"), Some(cap));
        for bad in ["", "m", "100", "123456789m", "10x", "-1m", "1.5S"] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn encode_then_parse_never_gives_more_time(ns in 0u64..u64::MAX) {
            let d = Duration::from_nanos(ns);
            let back = parse_grpc_timeout(&encode_grpc_timeout(d), Duration::MAX).unwrap();
            prop_assert!(back <= d);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(v) = HeaderValue::from_bytes(&bytes)
                && let Some(d) = parse_grpc_timeout(&v, Duration::from_secs(1))
            {
                prop_assert!(d <= Duration::from_secs(1));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn client_writes_the_remaining_deadline() {
        let svc = PropagateDeadlineLayer::grpc().layer(service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(req.headers().get(&GRPC_TIMEOUT).cloned())
        }));
        let mut req = Request::new(());
        req.tighten_deadline(Deadline::after(Duration::from_millis(1500)));
        tokio::time::advance(Duration::from_millis(500)).await;
        let sent = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(sent.unwrap(), "1000000u");
        // No deadline, no header.
        let sent = svc.oneshot(Request::new(())).await.unwrap();
        assert!(sent.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn client_keeps_a_smaller_existing_grpc_timeout_and_writes_http_header() {
        let svc = PropagateDeadlineLayer::grpc().layer(service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(req.headers().get(&GRPC_TIMEOUT).cloned())
        }));
        let mut req = Request::builder()
            .header("grpc-timeout", "10m")
            .body(())
            .unwrap();
        req.tighten_deadline(Deadline::after(Duration::from_secs(5)));
        assert_eq!(svc.oneshot(req).await.unwrap().unwrap(), "10000000n");

        let name = HeaderName::from_static("x-deadline-ms");
        let svc = PropagateDeadlineLayer::http_header(name.clone()).layer(service_fn(
            move |req: Request<()>| {
                let v = req.headers().get("x-deadline-ms").cloned();
                async move { Ok::<_, Infallible>(v) }
            },
        ));
        let mut req = Request::new(());
        req.tighten_deadline(Deadline::after(Duration::from_millis(750)));
        assert_eq!(svc.oneshot(req).await.unwrap().unwrap(), "750");
    }

    #[tokio::test(start_paused = true)]
    async fn server_reads_grpc_timeout_into_the_deadline_capped() {
        let svc = AcceptDeadlineLayer::new()
            .cap(Duration::from_secs(10))
            .unwrap()
            .layer(service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(req.deadline().map(|d| d.remaining()))
            }));
        let req = Request::builder()
            .header("grpc-timeout", "250m")
            .body(())
            .unwrap();
        assert_eq!(
            svc.clone().oneshot(req).await.unwrap(),
            Some(Duration::from_millis(250))
        );
        let req = Request::builder()
            .header("grpc-timeout", "5H")
            .body(())
            .unwrap();
        assert_eq!(
            svc.clone().oneshot(req).await.unwrap(),
            Some(Duration::from_secs(10))
        );
        let req = Request::builder()
            .header("grpc-timeout", "junk")
            .body(())
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap(), None);
        assert_eq!(
            AcceptDeadlineLayer::new()
                .cap(Duration::ZERO)
                .unwrap_err()
                .field(),
            "cap"
        );
    }
}
