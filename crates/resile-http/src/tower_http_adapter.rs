//! Use a `tower_http::classify` classifier as a resile classifier (feature `tower-http`).
//!
//! ```
//! use http::Response;
//! use resile_core::Classify;
//! use resile_http::tower_http_adapter::FromTowerHttp;
//! use tower_http::classify::ServerErrorsAsFailures;
//!
//! let c = FromTowerHttp::new(ServerErrorsAsFailures::new());
//! let res = |s: u16| Ok::<_, std::io::Error>(Response::builder().status(s).body(()).unwrap());
//! assert!(c.classify(&res(500)).is_retryable());
//! assert!(c.classify(&res(404)).is_success()); // tower-http counts only 5xx
//! ```

use std::fmt;

use http::Response;
use resile_core::{Classify, Verdict};
use tower_http::classify::{ClassifiedResponse, ClassifyResponse};

/// Adapts a tower-http [`ClassifyResponse`] into a resile [`Classify`].
///
/// A response tower-http classifies as a failure becomes the verdict `map` returns for its
/// failure class (default: a retryable failure); a success is a success. A response whose
/// classification needs the end of the stream (`RequiresEos`, e.g. gRPC trailers) is a success
/// when its head arrives — judge the trailers with
/// [`ClassifyTrailers`](crate::body::ClassifyTrailers). Errors are failures mapped the same way.
#[derive(Clone)]
pub struct FromTowerHttp<C, M = fn(&<C as ClassifyResponse>::FailureClass) -> Verdict>
where
    C: ClassifyResponse,
{
    classifier: C,
    map: M,
}

impl<C: ClassifyResponse, M> fmt::Debug for FromTowerHttp<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromTowerHttp").finish_non_exhaustive()
    }
}

impl<C: ClassifyResponse> FromTowerHttp<C> {
    /// Every tower-http failure is a retryable failure.
    pub fn new(classifier: C) -> Self {
        fn retryable<F>(_: &F) -> Verdict {
            Verdict::retryable_failure()
        }
        Self {
            classifier,
            map: retryable::<C::FailureClass>,
        }
    }
}

impl<C: ClassifyResponse, M> FromTowerHttp<C, M> {
    /// Maps each tower-http failure class to a verdict.
    pub fn map_failure<M2>(self, map: M2) -> FromTowerHttp<C, M2>
    where
        M2: Fn(&C::FailureClass) -> Verdict,
    {
        FromTowerHttp {
            classifier: self.classifier,
            map,
        }
    }
}

impl<C, M, B, E> Classify<Response<B>, E> for FromTowerHttp<C, M>
where
    C: ClassifyResponse + Clone,
    M: Fn(&C::FailureClass) -> Verdict,
    E: fmt::Display + 'static,
{
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Verdict {
        match outcome {
            Ok(res) => match self.classifier.clone().classify_response(res) {
                ClassifiedResponse::Ready(Ok(())) | ClassifiedResponse::RequiresEos(_) => {
                    Verdict::Success
                }
                ClassifiedResponse::Ready(Err(class)) => (self.map)(&class),
            },
            Err(e) => (self.map)(&self.classifier.clone().classify_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_http::classify::{StatusInRangeAsFailures, StatusInRangeFailureClass};

    #[test]
    fn maps_failure_classes_through_the_user_function() {
        let c = FromTowerHttp::new(StatusInRangeAsFailures::new(400..=599)).map_failure(
            |class: &StatusInRangeFailureClass| match class {
                StatusInRangeFailureClass::StatusCode(s) if s.as_u16() == 503 => {
                    Verdict::retryable_failure()
                }
                _ => Verdict::failure(),
            },
        );
        let res = |s: u16| Ok::<_, std::io::Error>(Response::builder().status(s).body(()).unwrap());
        assert!(c.classify(&res(503)).is_retryable());
        let v = c.classify(&res(404));
        assert!(v.is_failure() && !v.is_retryable());
        assert!(c.classify(&res(200)).is_success());
        let err: Result<Response<()>, std::io::Error> = Err(std::io::Error::other("reset"));
        assert!(c.classify(&err).is_failure());
    }
}
