//! Server pushback: `Retry-After` and `grpc-retry-pushback-ms`, parsed from untrusted headers.
//!
//! Both parsers take bytes from the network: they never panic, ignore what they cannot parse and
//! cap every hint (default [`DEFAULT_MAX_PUSHBACK`], 60 s), so a hostile or buggy server cannot
//! park our retries for a day.
//!
//! ```
//! use http::HeaderValue;
//! use resile_http::pushback::{parse_grpc_pushback, parse_retry_after, GrpcPushback};
//! use std::time::{Duration, SystemTime};
//!
//! let cap = Duration::from_secs(60);
//! let now = SystemTime::now();
//! assert_eq!(parse_retry_after(&HeaderValue::from_static("2"), now, cap), Some(Duration::from_secs(2)));
//! assert_eq!(parse_retry_after(&HeaderValue::from_static("86400"), now, cap), Some(cap));
//! assert_eq!(parse_retry_after(&HeaderValue::from_static("soon"), now, cap), None);
//!
//! assert_eq!(
//!     parse_grpc_pushback(&HeaderValue::from_static("250"), cap),
//!     GrpcPushback::Wait(Duration::from_millis(250))
//! );
//! assert_eq!(parse_grpc_pushback(&HeaderValue::from_static("-1"), cap), GrpcPushback::DontRetry);
//! ```

use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// The default cap on any server-supplied wait: 60 seconds.
pub const DEFAULT_MAX_PUSHBACK: Duration = Duration::from_secs(60);

/// The gRPC pushback header (gRPC A6).
pub const GRPC_RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

/// Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
///
/// Returns the wait, capped at `cap`; `None` when the value is malformed (ignored, as RFC 9110
/// suggests). A date in the past means "now" (`Some(Duration::ZERO)`).
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime, cap: Duration) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Delta-seconds. Too many digits to fit in u64 is simply "very long": cap it.
        let secs = text.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(cap));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO).min(cap))
}

/// What a `grpc-retry-pushback-ms` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcPushback {
    /// Retry no sooner than this (capped).
    Wait(Duration),
    /// Negative or malformed: the server asks us not to retry (gRPC A6).
    DontRetry,
}

/// Parses a `grpc-retry-pushback-ms` value: a non-negative integer of milliseconds means "wait
/// that long" (capped at `cap`); anything else — negative, malformed, not ASCII — means "don't
/// retry", as gRPC A6 specifies.
pub fn parse_grpc_pushback(value: &HeaderValue, cap: Duration) -> GrpcPushback {
    let Ok(text) = value.to_str() else {
        return GrpcPushback::DontRetry;
    };
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return GrpcPushback::DontRetry;
    }
    let ms = text.parse::<u64>().unwrap_or(u64::MAX);
    GrpcPushback::Wait(Duration::from_millis(ms).min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CAP: Duration = DEFAULT_MAX_PUSHBACK;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(&hv("0"), now, CAP), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(&hv(" 5 "), now, CAP),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after(&hv("99999999999999999999999"), now, CAP),
            Some(CAP)
        );
    }

    #[test]
    fn retry_after_http_date_in_future_and_past() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after(&hv("Sun, 06 Nov 1994 08:49:47 GMT"), now, CAP),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(&hv("Sun, 06 Nov 1994 08:49:00 GMT"), now, CAP),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&hv("Mon, 07 Nov 1994 08:49:37 GMT"), now, CAP),
            Some(CAP)
        );
    }

    #[test]
    fn retry_after_malformed_is_ignored() {
        let now = SystemTime::now();
        for bad in ["", "-1", "1.5", "soon", "Sun, 99 Nov 1994", "0x10"] {
            assert_eq!(parse_retry_after(&hv(bad), now, CAP), None, "{bad:?}");
        }
    }

    #[test]
    fn grpc_pushback_negative_or_malformed_means_dont_retry() {
        for bad in ["-1", "-250", "", "abc", "1.5", "+3"] {
            assert_eq!(
                parse_grpc_pushback(&hv(bad), CAP),
                GrpcPushback::DontRetry,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_grpc_pushback(&hv("1500"), CAP),
            GrpcPushback::Wait(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_grpc_pushback(&hv("600000"), CAP),
            GrpcPushback::Wait(CAP)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64), cap_ms in 0u64..10_000_000) {
            let cap = Duration::from_millis(cap_ms);
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                if let Some(d) = parse_retry_after(&v, SystemTime::now(), cap) {
                    prop_assert!(d <= cap);
                }
                if let GrpcPushback::Wait(d) = parse_grpc_pushback(&v, cap) {
                    prop_assert!(d <= cap);
                }
            }
        }

        #[test]
        fn any_digit_string_is_capped(digits in "[0-9]{1,40}") {
            let v = HeaderValue::from_str(&digits).unwrap();
            let d = parse_retry_after(&v, SystemTime::now(), CAP).unwrap();
            prop_assert!(d <= CAP);
            prop_assert!(matches!(parse_grpc_pushback(&v, CAP), GrpcPushback::Wait(w) if w <= CAP));
        }
    }
}
