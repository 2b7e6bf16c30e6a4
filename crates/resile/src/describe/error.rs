//! [`DependencyError`]: every error that leaves a dependency's stack.

use std::error::Error as StdError;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use resile_core::error::find_resile_error;
use resile_core::{BoxError, ErrorKind, Name};

use super::operation::Operation;

static TRACE_ID_SOURCE: OnceLock<fn() -> Option<String>> = OnceLock::new();

/// Sets, once per process, where [`DependencyError::trace_id`] comes from when the request did
/// not carry one: an OpenTelemetry trace id, say. Returns `false` if a source was already set.
///
/// Without it, the id is the current `tracing` span's id (feature `tracing`), in hex.
pub fn set_trace_id_source(source: fn() -> Option<String>) -> bool {
    TRACE_ID_SOURCE.set(source).is_ok()
}

/// The trace id of the current context: the configured source, else the current `tracing`
/// span's id.
pub(crate) fn current_trace_id() -> Option<String> {
    if let Some(source) = TRACE_ID_SOURCE.get()
        && let Some(id) = source()
    {
        return Some(id);
    }
    #[cfg(feature = "tracing")]
    if let Some(id) = tracing::Span::current().id() {
        return Some(format!("{:016x}", id.into_u64()));
    }
    None
}

/// A client-side timeout the stack asked for: tonic's channel enforces the `grpc-timeout` the
/// stack wrote, so its timeout is the stack's attempt timeout.
#[cfg_attr(not(feature = "grpc"), allow(clippy::missing_const_for_fn))]
fn transport_timeout(source: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    #[cfg(feature = "grpc")]
    if resile_core::find::<tonic::TimeoutExpired>(source).is_some() {
        return Some(ErrorKind::Timeout);
    }
    let _ = source;
    None
}

/// An error from a dependency's stack: which dependency, which operation, what went wrong (a
/// resile kind, or the dependency's own error), whether calling again later may help and when,
/// how many attempts were made, the trace id, and the full source chain.
///
/// The stacks [`Resilience`](crate::Resilience) builds return it inside their `BoxError`; find
/// it with [`resile_core::find`] (or `err.downcast_ref`), and the resile kind underneath with
/// [`resile_core::kind_of`], which sees through it.
///
/// ```
/// use resile::DependencyError;
/// use resile_core::{find, kind_of, BoxError, ErrorKind};
///
/// fn report(err: &BoxError) {
///     if let Some(e) = find::<DependencyError>(&**err) {
///         eprintln!(
///             "{} failed: {} (attempts: {}, retry later: {}, trace: {:?})",
///             e.dependency(), e.kind_name(), e.attempts(), e.may_retry_later(), e.trace_id(),
///         );
///     }
///     if kind_of(&**err) == Some(ErrorKind::CircuitOpen) { /* shed at once */ }
/// }
/// ```
#[derive(Debug)]
pub struct DependencyError {
    dependency: Name,
    operation: Option<Operation>,
    kind: Option<ErrorKind>,
    may_retry_later: bool,
    retry_after: Option<Duration>,
    attempts: u32,
    trace_id: Option<String>,
    source: BoxError,
}

/// What the outermost layer knows when it builds the error.
pub(crate) struct Facts {
    pub(crate) dependency: Name,
    pub(crate) operation: Option<Operation>,
    pub(crate) trace_id: Option<Name>,
    /// The classifier's view of a non-resile error: (may retry later, server's wait hint).
    pub(crate) verdict: (bool, Option<Duration>),
}

impl DependencyError {
    /// Builds the error for `source`, taking the attempt count out of an
    /// [`Attempted`](crate::Attempted) wrapper.
    pub(crate) fn new(facts: Facts, source: BoxError) -> Self {
        let (attempts, source) = match source.downcast::<crate::Attempted>() {
            Ok(a) => (a.attempts(), a.into_source()),
            Err(source) => {
                let n = resile_core::find::<crate::Attempted>(&*source).map_or(0, |a| a.attempts());
                (n, source)
            }
        };
        let resile = find_resile_error(&*source);
        let kind = resile
            .map(|e| e.kind())
            .or_else(|| transport_timeout(&*source));
        let (may_retry_later, retry_after) = match resile {
            // Every resile rejection is about now: a circuit closes, permits and budget come
            // back, a slow spell passes.
            Some(e) => (true, e.retry_after()),
            None => facts.verdict,
        };
        let trace_id = match facts.trace_id {
            Some(id) => Some(id.as_str().to_owned()),
            None => current_trace_id(),
        };
        Self {
            dependency: facts.dependency,
            operation: facts.operation,
            kind,
            may_retry_later,
            retry_after,
            attempts,
            trace_id,
            source,
        }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The operation (`GET /users/7`, `/shop.Orders/Place`), when the stack knows requests.
    pub fn operation(&self) -> Option<&Operation> {
        self.operation.as_ref()
    }

    /// The resile kind (open circuit, timeout, ...), or `None` when the dependency itself failed
    /// (a connection error, an error the client returned).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.kind
    }

    /// The kind as a short snake_case name: a resile kind, or `dependency_error`.
    pub fn kind_name(&self) -> &'static str {
        self.kind.map_or("dependency_error", ErrorKind::as_str)
    }

    /// Whether calling again later may succeed: `true` for every resile rejection and for
    /// failures the classifier calls retryable (a reset connection), `false` for failures it
    /// calls permanent.
    pub fn may_retry_later(&self) -> bool {
        self.may_retry_later
    }

    /// When calling again may succeed, if known: the time an open circuit stays open, or the
    /// server's wait hint.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// How many attempts reached the stack's retry layer (0: rejected before the first one, by
    /// the bulkhead or the deadline).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The trace id of the request: from the request's `TraceId` extension (HTTP), the source
    /// set with [`set_trace_id_source`], or the current `tracing` span.
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// The underlying error (the last attempt's, or the rejection).
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }

    /// Unwraps the underlying error.
    pub fn into_inner(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for DependencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call to `{}`", self.dependency)?;
        if let Some(op) = &self.operation {
            write!(f, " ({op})")?;
        }
        write!(f, " failed: {}", self.kind_name())?;
        match self.attempts {
            0 => f.write_str(", not attempted")?,
            1 => f.write_str(", 1 attempt")?,
            n => write!(f, ", {n} attempts")?,
        }
        match (self.may_retry_later, self.retry_after) {
            (true, Some(after)) => write!(f, ", retry after {after:?}")?,
            (true, None) => f.write_str(", may succeed later")?,
            (false, _) => f.write_str(", will not succeed on retry")?,
        }
        if let Some(id) = &self.trace_id {
            write!(f, ", trace {id}")?;
        }
        Ok(())
    }
}

impl StdError for DependencyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resile_core::{CircuitOpen, find, kind_of};

    fn facts(verdict: (bool, Option<Duration>)) -> Facts {
        Facts {
            dependency: Name::new("users"),
            operation: Some(Operation::http("GET", "/users/7")),
            trace_id: Some(Name::new("abc")),
            verdict,
        }
    }

    #[test]
    fn an_open_circuit_says_when_to_come_back() {
        let inner: BoxError = CircuitOpen::new(Name::new("users"), Duration::from_secs(5)).into();
        let e = DependencyError::new(facts((false, None)), inner);
        assert_eq!(e.kind(), Some(ErrorKind::CircuitOpen));
        assert!(e.may_retry_later());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
        assert_eq!(e.attempts(), 0);
        assert_eq!(
            e.to_string(),
            "call to `users` (GET /users/7) failed: circuit_open, not attempted, retry after 5s, trace abc"
        );
        let boxed: BoxError = Box::new(e);
        assert_eq!(kind_of(&*boxed), Some(ErrorKind::CircuitOpen));
        assert!(find::<DependencyError>(&*boxed).is_some());
    }

    #[test]
    fn attempts_are_unwrapped_and_the_verdict_decides_for_foreign_errors() {
        let mut out: Result<(), BoxError> = Err("connection reset".into());
        resile_retry::RecordAttempts::record(&crate::CountAttempts, &mut out, 3);
        let e = DependencyError::new(facts((false, None)), out.unwrap_err());
        assert_eq!(e.attempts(), 3);
        assert_eq!(e.kind_name(), "dependency_error");
        assert!(!e.may_retry_later());
        assert_eq!(e.inner().to_string(), "connection reset");
        assert!(
            e.to_string()
                .contains("3 attempts, will not succeed on retry")
        );
    }
}
