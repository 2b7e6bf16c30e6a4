//! [`ServiceBuilderExt`]: resile's layers as `tower::ServiceBuilder` methods, in the spirit of
//! tower-http's `ServiceBuilderExt`.

use tower::ServiceBuilder;
use tower_layer::Stack;

use crate::layer::ResilienceLayer;
use crate::protocol::Protocol;

/// Extension methods on [`tower::ServiceBuilder`] for resile's layers.
///
/// ```
/// use resile::{Resilience, ServiceBuilderExt};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), resile_core::BoxError> {
/// let users = Resilience::new("users").build()?;
/// let svc = ServiceBuilder::new()
///     .resilience(users)
///     .service_fn(|id: u64| async move { Ok::<_, std::io::Error>(id) });
/// assert_eq!(svc.oneshot(7).await?, 7);
/// # Ok(())
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// A dependency's whole stack (see [`Resilience`](crate::Resilience)).
    fn resilience<P: Protocol, C, F>(
        self,
        layer: ResilienceLayer<P, C, F>,
    ) -> ServiceBuilder<Stack<ResilienceLayer<P, C, F>, L>>;

    /// A circuit breaker with the defaults, for dependency `name`.
    fn circuit_breaker(
        self,
        name: impl Into<resile_core::Name>,
    ) -> ServiceBuilder<Stack<resile_circuit_breaker::CircuitBreakerLayer, L>>;

    /// A retry layer with the defaults (3 attempts, exponential backoff, ratio budget).
    fn retry_defaults(self) -> ServiceBuilder<Stack<resile_retry::RetryLayer, L>>;

    /// Turns errors into safe RFC 9457 problem responses with a trace id (a server's edge).
    #[cfg(feature = "http")]
    fn sanitize_errors(self) -> ServiceBuilder<Stack<resile_http::SanitizeLayer, L>>;

    /// Reads an incoming `grpc-timeout` into the request's deadline (a server's edge).
    #[cfg(feature = "http")]
    fn accept_deadline(self) -> ServiceBuilder<Stack<resile_http::AcceptDeadlineLayer, L>>;

    /// Writes the time left as `grpc-timeout` on outgoing requests.
    #[cfg(feature = "http")]
    fn propagate_grpc_deadline(
        self,
    ) -> ServiceBuilder<Stack<resile_http::PropagateDeadlineLayer, L>>;

    /// Counts every response's status and duration under `name`.
    #[cfg(feature = "http")]
    fn track(
        self,
        name: impl Into<resile_core::Name>,
    ) -> ServiceBuilder<Stack<resile_http::TrackLayer, L>>;
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn resilience<P: Protocol, C, F>(
        self,
        layer: ResilienceLayer<P, C, F>,
    ) -> ServiceBuilder<Stack<ResilienceLayer<P, C, F>, L>> {
        self.layer(layer)
    }

    fn circuit_breaker(
        self,
        name: impl Into<resile_core::Name>,
    ) -> ServiceBuilder<Stack<resile_circuit_breaker::CircuitBreakerLayer, L>> {
        self.layer(resile_circuit_breaker::CircuitBreakerLayer::new(name))
    }

    fn retry_defaults(self) -> ServiceBuilder<Stack<resile_retry::RetryLayer, L>> {
        self.layer(resile_retry::RetryLayer::new())
    }

    #[cfg(feature = "http")]
    fn sanitize_errors(self) -> ServiceBuilder<Stack<resile_http::SanitizeLayer, L>> {
        self.layer(resile_http::SanitizeLayer::new())
    }

    #[cfg(feature = "http")]
    fn accept_deadline(self) -> ServiceBuilder<Stack<resile_http::AcceptDeadlineLayer, L>> {
        self.layer(resile_http::AcceptDeadlineLayer::new())
    }

    #[cfg(feature = "http")]
    fn propagate_grpc_deadline(
        self,
    ) -> ServiceBuilder<Stack<resile_http::PropagateDeadlineLayer, L>> {
        self.layer(resile_http::PropagateDeadlineLayer::grpc())
    }

    #[cfg(feature = "http")]
    fn track(
        self,
        name: impl Into<resile_core::Name>,
    ) -> ServiceBuilder<Stack<resile_http::TrackLayer, L>> {
        self.layer(resile_http::TrackLayer::new(name))
    }
}
