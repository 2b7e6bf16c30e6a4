//! Classifiers for `http::Response`: HTTP status codes and gRPC status codes.
//!
//! Both produce resile-core [`Verdict`]s, so the breaker, retry, fallback and telemetry agree on
//! what failed. Transport errors (connection refused, reset, timeouts) are retryable failures;
//! resile's own rejections in an error's chain are judged as
//! [`DefaultClassifier`](resile_core::DefaultClassifier) does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Response, StatusCode, header::RETRY_AFTER};
use resile_core::classify::classify_error_by_kind;
use resile_core::{Classify, ConfigError, Failure, Verdict};

use crate::pushback::{
    DEFAULT_MAX_PUSHBACK, GRPC_RETRY_PUSHBACK_MS, GrpcPushback, parse_grpc_pushback,
    parse_retry_after,
};

/// How a classifier treats one status (HTTP status code or gRPC code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// The dependency answered well.
    Success,
    /// The caller's fault: not counted for health, not retried.
    Ignored,
    /// A failure a retry will not fix.
    Failure,
    /// A failure a retry may fix (server pushback is honoured).
    RetryableFailure,
}

impl StatusClass {
    fn verdict(self, wait: Option<Duration>) -> Verdict {
        match self {
            StatusClass::Success => Verdict::Success,
            StatusClass::Ignored => Verdict::Ignored,
            StatusClass::Failure => Verdict::failure(),
            StatusClass::RetryableFailure => match wait {
                Some(w) => Verdict::retryable_after(w),
                None => Verdict::retryable_failure(),
            },
        }
    }
}

fn check_cap(component: &'static str, cap: Duration) -> Result<Duration, ConfigError> {
    if cap.is_zero() {
        return Err(ConfigError::new(
            component,
            "max_pushback",
            "must be greater than zero (use `honour_pushback(false)` to ignore server hints)",
        ));
    }
    Ok(cap)
}

/// Classifies HTTP responses by status code.
///
/// Defaults: 1xx–3xx succeed; 5xx, 408 and 429 fail, and 502, 503, 504, 408 and 429 are
/// retryable; other 4xx are ignored (the caller's fault, not the dependency's health); transport
/// errors are retryable failures. A `Retry-After` header on a retryable failure becomes the
/// verdict's wait hint, capped at 60 s by default. Every status can be overridden.
///
/// ```
/// use http::{Response, StatusCode};
/// use resile_core::{Classify, Verdict};
/// use resile_http::classify::{HttpClassifier, StatusClass};
///
/// let default = HttpClassifier::new();
/// let res = |s: u16| Ok::<_, std::io::Error>(Response::builder().status(s).body(()).unwrap());
/// assert!(default.classify(&res(503)).is_retryable());
/// assert!(default.classify(&res(500)).is_failure());
/// assert!(!default.classify(&res(500)).is_retryable());
/// assert!(default.classify(&res(404)).is_ignored());
///
/// // Customised: this dependency answers 404 when it is unhealthy, and 500 is retryable.
/// let custom = HttpClassifier::new()
///     .with_status(StatusCode::NOT_FOUND, StatusClass::Failure)
///     .with_status(StatusCode::INTERNAL_SERVER_ERROR, StatusClass::RetryableFailure);
/// assert!(custom.classify(&res(404)).is_failure());
/// assert!(custom.classify(&res(500)).is_retryable());
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifier {
    table: Arc<[StatusClass; 1000]>,
    max_pushback: Duration,
    honour_pushback: bool,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClassifier {
    /// The default HTTP classifier (see the type's docs).
    pub fn new() -> Self {
        let mut table = [StatusClass::Failure; 1000];
        for (code, class) in table.iter_mut().enumerate() {
            *class = match code {
                100..=399 => StatusClass::Success,
                408 | 429 | 502 | 503 | 504 => StatusClass::RetryableFailure,
                400..=499 => StatusClass::Ignored,
                _ => StatusClass::Failure,
            };
        }
        Self {
            table: Arc::new(table),
            max_pushback: DEFAULT_MAX_PUSHBACK,
            honour_pushback: true,
        }
    }

    /// Treats `status` as `class`.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode, class: StatusClass) -> Self {
        Arc::make_mut(&mut self.table)[usize::from(status.as_u16())] = class;
        self
    }

    /// Caps every `Retry-After` hint at `cap` (default 60 s). Zero is refused.
    pub fn max_pushback(mut self, cap: Duration) -> Result<Self, ConfigError> {
        self.max_pushback = check_cap("http classifier", cap)?;
        Ok(self)
    }

    /// Whether `Retry-After` becomes the verdict's wait hint (default `true`).
    #[must_use]
    pub fn honour_pushback(mut self, honour: bool) -> Self {
        self.honour_pushback = honour;
        self
    }

    /// The class of `status`.
    pub fn class_of(&self, status: StatusCode) -> StatusClass {
        self.table[usize::from(status.as_u16())]
    }

    /// The verdict for a response head.
    pub fn classify_head(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let class = self.class_of(status);
        let wait = if class == StatusClass::RetryableFailure && self.honour_pushback {
            headers
                .get(RETRY_AFTER)
                .and_then(|v| parse_retry_after(v, SystemTime::now(), self.max_pushback))
        } else {
            None
        };
        class.verdict(wait)
    }
}

impl<B, E: 'static> Classify<Response<B>, E> for HttpClassifier {
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Verdict {
        match outcome {
            Ok(res) => self.classify_head(res.status(), res.headers()),
            Err(e) => classify_error_by_kind(e),
        }
    }
}

/// gRPC status codes, as numbers (the `grpc-status` header).
pub mod code {
    /// OK
    pub const OK: u8 = 0;
    /// CANCELLED
    pub const CANCELLED: u8 = 1;
    /// UNKNOWN
    pub const UNKNOWN: u8 = 2;
    /// INVALID_ARGUMENT
    pub const INVALID_ARGUMENT: u8 = 3;
    /// DEADLINE_EXCEEDED
    pub const DEADLINE_EXCEEDED: u8 = 4;
    /// NOT_FOUND
    pub const NOT_FOUND: u8 = 5;
    /// ALREADY_EXISTS
    pub const ALREADY_EXISTS: u8 = 6;
    /// PERMISSION_DENIED
    pub const PERMISSION_DENIED: u8 = 7;
    /// RESOURCE_EXHAUSTED
    pub const RESOURCE_EXHAUSTED: u8 = 8;
    /// FAILED_PRECONDITION
    pub const FAILED_PRECONDITION: u8 = 9;
    /// ABORTED
    pub const ABORTED: u8 = 10;
    /// OUT_OF_RANGE
    pub const OUT_OF_RANGE: u8 = 11;
    /// UNIMPLEMENTED
    pub const UNIMPLEMENTED: u8 = 12;
    /// INTERNAL
    pub const INTERNAL: u8 = 13;
    /// UNAVAILABLE
    pub const UNAVAILABLE: u8 = 14;
    /// DATA_LOSS
    pub const DATA_LOSS: u8 = 15;
    /// UNAUTHENTICATED
    pub const UNAUTHENTICATED: u8 = 16;
}

/// Classifies gRPC responses by `grpc-status`.
///
/// The status is read from the response headers (a trailers-only response, which is how servers
/// answer errors before any message) — that is what retry and the breaker see when the response
/// head arrives. A status in the trailers of a streamed body is classified by
/// [`GrpcClassifier::classify_trailers`], for instance through [`ClassifyTrailers`](crate::body::ClassifyTrailers).
///
/// Defaults: OK succeeds; UNAVAILABLE is retryable; RESOURCE_EXHAUSTED is retryable when the
/// server sent a `grpc-retry-pushback-ms` (honoured and capped at 60 s) and a failure otherwise;
/// DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, UNIMPLEMENTED and DATA_LOSS are failures;
/// CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED,
/// FAILED_PRECONDITION, ABORTED and OUT_OF_RANGE are ignored (the caller's business). A negative
/// or malformed pushback means "don't retry" (gRPC A6). A response with neither a `grpc-status`
/// nor HTTP 200 is judged by its HTTP status ([`HttpClassifier`] defaults).
///
/// ```
/// use http::Response;
/// use resile_core::Classify;
/// use resile_http::classify::{code, GrpcClassifier, StatusClass};
///
/// let grpc = |status: &str| Ok::<_, std::io::Error>(
///     Response::builder().header("grpc-status", status).body(()).unwrap());
/// let c = GrpcClassifier::new();
/// assert!(c.classify(&grpc("14")).is_retryable()); // UNAVAILABLE
/// assert!(c.classify(&grpc("3")).is_ignored());    // INVALID_ARGUMENT
/// assert!(c.classify(&grpc("0")).is_success());
///
/// // Customised: ABORTED is worth a retry for this service.
/// let c = GrpcClassifier::new().with_code(code::ABORTED, StatusClass::RetryableFailure);
/// assert!(c.classify(&grpc("10")).is_retryable());
/// ```
#[derive(Debug, Clone)]
pub struct GrpcClassifier {
    table: [StatusClass; 17],
    max_pushback: Duration,
    http: HttpClassifier,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClassifier {
    /// The default gRPC classifier (see the type's docs).
    pub fn new() -> Self {
        use StatusClass::{Failure, Ignored, RetryableFailure, Success};
        let mut table = [Failure; 17];
        table[usize::from(code::OK)] = Success;
        table[usize::from(code::UNAVAILABLE)] = RetryableFailure;
        table[usize::from(code::RESOURCE_EXHAUSTED)] = RetryableFailure;
        for c in [
            code::CANCELLED,
            code::INVALID_ARGUMENT,
            code::NOT_FOUND,
            code::ALREADY_EXISTS,
            code::PERMISSION_DENIED,
            code::UNAUTHENTICATED,
            code::FAILED_PRECONDITION,
            code::ABORTED,
            code::OUT_OF_RANGE,
        ] {
            table[usize::from(c)] = Ignored;
        }
        Self {
            table,
            max_pushback: DEFAULT_MAX_PUSHBACK,
            http: HttpClassifier::new(),
        }
    }

    /// Treats gRPC code `code` (0–16) as `class`. Codes above 16 are ignored (they are always
    /// classified as failures).
    #[must_use]
    pub fn with_code(mut self, code: u8, class: StatusClass) -> Self {
        if let Some(slot) = self.table.get_mut(usize::from(code)) {
            *slot = class;
        }
        self
    }

    /// Caps every pushback hint at `cap` (default 60 s). Zero is refused.
    pub fn max_pushback(mut self, cap: Duration) -> Result<Self, ConfigError> {
        self.max_pushback = check_cap("grpc classifier", cap)?;
        Ok(self)
    }

    /// The verdict for a `grpc-status` (and pushback) found in `headers` — response headers of a
    /// trailers-only response, or the trailers. `None` when `headers` has no `grpc-status`.
    pub fn classify_status(&self, headers: &HeaderMap) -> Option<Verdict> {
        let status = headers.get("grpc-status")?;
        let code = status
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
            .unwrap_or(code::UNKNOWN);
        let class = self
            .table
            .get(usize::from(code))
            .copied()
            .unwrap_or(StatusClass::Failure);
        if class != StatusClass::RetryableFailure {
            return Some(class.verdict(None));
        }
        match headers.get(GRPC_RETRY_PUSHBACK_MS) {
            Some(v) => match parse_grpc_pushback(v, self.max_pushback) {
                GrpcPushback::Wait(w) => Some(Verdict::retryable_after(w)),
                GrpcPushback::DontRetry => Some(Verdict::Failure(Failure::permanent())),
            },
            // RESOURCE_EXHAUSTED without pushback: the server is out of quota; hammering it
            // again at once does not help.
            None if code == code::RESOURCE_EXHAUSTED => Some(Verdict::failure()),
            None => Some(Verdict::retryable_failure()),
        }
    }

    /// The verdict for the trailers at the end of a streamed gRPC body (`None`: no trailers,
    /// which gRPC treats as UNKNOWN).
    pub fn classify_trailers(&self, trailers: Option<&HeaderMap>) -> Verdict {
        trailers
            .and_then(|t| self.classify_status(t))
            .unwrap_or_else(|| self.table[usize::from(code::UNKNOWN)].verdict(None))
    }
}

impl<B, E: 'static> Classify<Response<B>, E> for GrpcClassifier {
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Verdict {
        match outcome {
            Ok(res) => match self.classify_status(res.headers()) {
                Some(v) => v,
                None if res.status() == StatusCode::OK => Verdict::Success,
                None => self.http.classify_head(res.status(), res.headers()),
            },
            Err(e) => classify_error_by_kind(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{BoxError, CircuitOpen, Name};

    fn http(status: u16, headers: &[(&str, &str)]) -> Result<Response<()>, BoxError> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Ok(b.body(()).unwrap())
    }

    fn grpc(code: &str, headers: &[(&str, &str)]) -> Result<Response<()>, BoxError> {
        let mut h = vec![("grpc-status", code)];
        h.extend_from_slice(headers);
        http(200, &h)
    }

    #[test]
    fn http_defaults_match_the_documented_table() {
        let c = HttpClassifier::new();
        for s in [200, 201, 204, 301, 304] {
            assert!(c.classify(&http(s, &[])).is_success(), "{s}");
        }
        for s in [502, 503, 504, 408, 429] {
            assert!(c.classify(&http(s, &[])).is_retryable(), "{s}");
        }
        for s in [500, 501, 505, 599] {
            let v = c.classify(&http(s, &[]));
            assert!(v.is_failure() && !v.is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422] {
            assert!(c.classify(&http(s, &[])).is_ignored(), "{s}");
        }
    }

    #[test]
    fn http_retry_after_becomes_a_capped_wait_hint() {
        let c = HttpClassifier::new();
        let v = c.classify(&http(503, &[("retry-after", "2")]));
        assert_eq!(v.wait_hint(), Some(Duration::from_secs(2)));
        let v = c.classify(&http(429, &[("retry-after", "3600")]));
        assert_eq!(v.wait_hint(), Some(DEFAULT_MAX_PUSHBACK));
        let v = c.classify(&http(429, &[("retry-after", "garbage")]));
        assert!(v.is_retryable() && v.wait_hint().is_none());
        let off = HttpClassifier::new().honour_pushback(false);
        assert_eq!(
            off.classify(&http(503, &[("retry-after", "2")]))
                .wait_hint(),
            None
        );
        let small = HttpClassifier::new()
            .max_pushback(Duration::from_secs(1))
            .unwrap();
        assert_eq!(
            small
                .classify(&http(503, &[("retry-after", "2")]))
                .wait_hint(),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn zero_pushback_cap_is_refused_naming_the_field() {
        let err = HttpClassifier::new()
            .max_pushback(Duration::ZERO)
            .unwrap_err();
        assert_eq!(err.field(), "max_pushback");
        let err = GrpcClassifier::new()
            .max_pushback(Duration::ZERO)
            .unwrap_err();
        assert_eq!(err.field(), "max_pushback");
    }

    #[test]
    fn transport_errors_are_retryable_but_open_circuits_are_not() {
        let c = HttpClassifier::new();
        let io: BoxError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        assert!(c.classify(&Err::<Response<()>, _>(io)).is_retryable());
        let open: BoxError = CircuitOpen::new(Name::new("x"), Duration::from_secs(1)).into();
        assert!(!c.classify(&Err::<Response<()>, _>(open)).is_retryable());
    }

    #[test]
    fn grpc_defaults_match_the_issue() {
        let c = GrpcClassifier::new();
        assert!(c.classify(&grpc("0", &[])).is_success());
        assert!(c.classify(&grpc("14", &[])).is_retryable());
        for code in ["4", "13", "2", "12", "15"] {
            let v = c.classify(&grpc(code, &[]));
            assert!(v.is_failure() && !v.is_retryable(), "{code}");
        }
        for code in ["1", "3", "5", "6", "7", "9", "10", "11", "16"] {
            assert!(c.classify(&grpc(code, &[])).is_ignored(), "{code}");
        }
        // malformed status: UNKNOWN, a failure
        assert!(c.classify(&grpc("banana", &[])).is_failure());
        assert!(c.classify(&grpc("99", &[])).is_failure());
    }

    #[test]
    fn grpc_pushback_is_honoured_and_negative_means_dont_retry() {
        let c = GrpcClassifier::new();
        let v = c.classify(&grpc("8", &[("grpc-retry-pushback-ms", "300")]));
        assert_eq!(v.wait_hint(), Some(Duration::from_millis(300)));
        assert!(v.is_retryable());
        let v = c.classify(&grpc("14", &[("grpc-retry-pushback-ms", "-1")]));
        assert!(v.is_failure() && !v.is_retryable());
        let v = c.classify(&grpc("8", &[]));
        assert!(v.is_failure() && !v.is_retryable());
        let v = c.classify(&grpc("14", &[("grpc-retry-pushback-ms", "99999999")]));
        assert_eq!(v.wait_hint(), Some(DEFAULT_MAX_PUSHBACK));
    }

    #[test]
    fn grpc_without_status_falls_back_to_http_status_and_trailers() {
        let c = GrpcClassifier::new();
        assert!(c.classify(&http(200, &[])).is_success());
        assert!(c.classify(&http(503, &[])).is_retryable());
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        assert!(c.classify_trailers(Some(&trailers)).is_retryable());
        assert!(c.classify_trailers(None).is_failure());
    }
}
