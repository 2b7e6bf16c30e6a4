//! Which requests may be retried: idempotent methods, an `Idempotency-Key`, or an opt-in.

use http::{HeaderName, Method, Request};

/// The `Idempotency-Key` header (IETF draft `httpapi-idempotency-key-header`).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Decides whether a request may be sent more than once.
///
/// By default only idempotent methods (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE)
/// are retried; a request carrying an `Idempotency-Key` header is retried whatever its method.
/// [`allow_all`](RetryableRequests::allow_all) opts in every request (you promise the server
/// de-duplicates).
///
/// ```
/// use http::{Method, Request};
/// use resile_http::idempotency::RetryableRequests;
///
/// let policy = RetryableRequests::default();
/// let get = Request::get("/users/1").body(()).unwrap();
/// let post = Request::post("/orders").body(()).unwrap();
/// let keyed = Request::post("/orders").header("idempotency-key", "order-42").body(()).unwrap();
/// assert!(policy.may_retry(&get));
/// assert!(!policy.may_retry(&post));
/// assert!(policy.may_retry(&keyed));
/// assert!(RetryableRequests::allow_all().may_retry(&post));
/// ```
#[derive(Debug, Clone)]
pub struct RetryableRequests {
    allow_all: bool,
    key_header: Option<HeaderName>,
}

impl Default for RetryableRequests {
    fn default() -> Self {
        Self {
            allow_all: false,
            key_header: Some(IDEMPOTENCY_KEY),
        }
    }
}

impl RetryableRequests {
    /// Every request may be retried.
    pub fn allow_all() -> Self {
        Self {
            allow_all: true,
            key_header: None,
        }
    }

    /// Only idempotent methods; a key header does not make other methods retryable.
    pub fn idempotent_methods_only() -> Self {
        Self {
            allow_all: false,
            key_header: None,
        }
    }

    /// A request carrying `header` (any value) may be retried, whatever its method.
    #[must_use]
    pub fn key_header(mut self, header: HeaderName) -> Self {
        self.key_header = Some(header);
        self
    }

    /// Whether `method` alone makes a request retryable.
    pub fn method_is_idempotent(method: &Method) -> bool {
        method.is_idempotent()
    }

    /// Whether `req` may be sent more than once.
    pub fn may_retry<B>(&self, req: &Request<B>) -> bool {
        self.allow_all
            || req.method().is_idempotent()
            || self
                .key_header
                .as_ref()
                .is_some_and(|h| req.headers().contains_key(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method) -> Request<()> {
        Request::builder().method(method).body(()).unwrap()
    }

    #[test]
    fn rfc9110_idempotent_methods_are_retryable() {
        let p = RetryableRequests::default();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(p.may_retry(&req(m.clone())), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!p.may_retry(&req(m.clone())), "{m}");
        }
    }

    #[test]
    fn idempotency_key_makes_post_retryable_unless_disabled() {
        let mut post = req(Method::POST);
        post.headers_mut()
            .insert(IDEMPOTENCY_KEY, "k1".parse().unwrap());
        assert!(RetryableRequests::default().may_retry(&post));
        assert!(!RetryableRequests::idempotent_methods_only().may_retry(&post));
        let custom = RetryableRequests::idempotent_methods_only()
            .key_header(HeaderName::from_static("x-dedupe"));
        assert!(!custom.may_retry(&post));
        post.headers_mut().insert("x-dedupe", "1".parse().unwrap());
        assert!(custom.may_retry(&post));
    }
}
