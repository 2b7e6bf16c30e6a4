//! The small public error types resile layers return, and [`kind_of`] to tell them apart.
//!
//! A layer that adds a failure mode (an open circuit, a full bulkhead, a timeout) returns
//! [`BoxError`] whose source chain holds one of the structs here. A layer that adds none (retry,
//! fallback) keeps the inner error type. Because every layer boxes, reordering layers never
//! changes a type: ask any error which resile kind it is with [`kind_of`], or find the struct
//! itself with [`find`].
//!
//! ```
//! use resile_core::error::{find, kind_of, BoxError, CircuitOpen, ErrorKind};
//! use resile_core::Name;
//! use std::time::Duration;
//!
//! let err: BoxError = CircuitOpen::new(Name::new("users"), Duration::from_secs(5)).into();
//! assert_eq!(kind_of(&*err), Some(ErrorKind::CircuitOpen));
//! let open = find::<CircuitOpen>(&*err).unwrap();
//! assert_eq!(open.dependency(), "users");
//! assert_eq!(open.open_for(), Duration::from_secs(5));
//!
//! let other: BoxError = "connection refused".into();
//! assert_eq!(kind_of(&*other), None);
//! ```

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::name::Name;

/// The error type of layers that add a failure mode: tower's `BoxError`.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Which resile failure mode an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The circuit breaker rejected the call without calling the dependency ([`CircuitOpen`]).
    CircuitOpen,
    /// One attempt ran longer than its limit ([`Elapsed`]).
    Timeout,
    /// The logical request's deadline passed ([`DeadlineExceeded`]).
    DeadlineExceeded,
    /// The bulkhead had no permit for the call ([`BulkheadFull`]).
    BulkheadFull,
    /// The retry budget had no room for the call ([`BudgetExhausted`]).
    BudgetExhausted,
}

impl ErrorKind {
    /// A short snake_case name for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Timeout => "timeout",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::BulkheadFull => "bulkhead_full",
            ErrorKind::BudgetExhausted => "budget_exhausted",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every resile error struct can say about itself.
pub trait ResileError: StdError + Send + Sync + 'static {
    /// Which failure mode this is.
    fn kind(&self) -> ErrorKind;
    /// The dependency whose layer produced the error.
    fn dependency(&self) -> &str;
    /// When calling again may succeed, if the layer knows (the time an open circuit stays open).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// The circuit is open (or half-open with every probe slot taken): the call was rejected without
/// reaching the dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    dependency: Name,
    wait: Wait,
}

/// How long an open circuit stays open, as the breaker knew it when it rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    For(Duration),
    /// `millis` milliseconds after `base`: added up only when asked.
    Since {
        base: Instant,
        millis: u64,
    },
}

impl CircuitOpen {
    /// An open-circuit rejection for `dependency`, which admits a probe after `open_for`.
    pub fn new(dependency: Name, open_for: Duration) -> Self {
        Self {
            dependency,
            wait: Wait::For(open_for),
        }
    }

    /// An open-circuit rejection for `dependency`, which admits a probe at `until`.
    ///
    /// The time left is worked out when someone asks ([`open_for`](Self::open_for)), so
    /// rejecting a call needs no clock read.
    pub fn until(dependency: Name, until: Instant) -> Self {
        Self::until_millis_after(dependency, until, 0)
    }

    /// An open-circuit rejection for `dependency`, which admits a probe `millis` milliseconds
    /// after `base`: the same as [`until`](Self::until) for a breaker that keeps its time as
    /// milliseconds since `base`, without even the addition on the rejection path.
    pub fn until_millis_after(dependency: Name, base: Instant, millis: u64) -> Self {
        Self {
            dependency,
            wait: Wait::Since { base, millis },
        }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// How long until the breaker lets a probe call through (zero when half-open and full).
    pub fn open_for(&self) -> Duration {
        match self.wait {
            Wait::For(d) => d,
            Wait::Since { .. } => self.probe_at().map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            }),
        }
    }

    /// The instant the breaker lets a probe call through, when the rejection recorded one.
    pub fn probe_at(&self) -> Option<Instant> {
        match self.wait {
            Wait::For(_) => None,
            Wait::Since { base, millis } => base.checked_add(Duration::from_millis(millis)),
        }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open for `{}`, next probe in {:?}",
            self.dependency,
            self.open_for()
        )
    }
}

impl StdError for CircuitOpen {}

impl ResileError for CircuitOpen {
    fn kind(&self) -> ErrorKind {
        ErrorKind::CircuitOpen
    }
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
    fn retry_after(&self) -> Option<Duration> {
        Some(self.open_for())
    }
}

/// The error of a circuit breaker service: its own rejection, or the inner service's error.
///
/// A breaker returns this enum rather than a [`BoxError`] so that rejecting a call while the
/// circuit is open allocates nothing. It converts into a [`BoxError`] (`.into()`, `?`, and the
/// `Into<BoxError>` bound every tower layer above it uses) by *unwrapping*: an open circuit
/// becomes a boxed [`CircuitOpen`], and an inner error becomes the inner service's own
/// `BoxError`, unchanged and not wrapped. So what comes out of a stack is what a boxing breaker
/// would have produced, and [`kind_of`], [`find`] and `downcast_ref` work as on any resile
/// error. That is also why it does not implement `std::error::Error` itself (an `Error` impl
/// would make the conversion wrap it instead); use [`into_box`](Self::into_box) where a
/// `std` error is needed.
///
/// ```
/// use resile_core::error::{kind_of, BoxError, CircuitBreakerError, CircuitOpen, ErrorKind};
/// use resile_core::Name;
/// use std::time::Duration;
///
/// let open = CircuitBreakerError::from(CircuitOpen::new(Name::new("users"), Duration::from_secs(5)));
/// assert!(open.is_open());
/// assert_eq!(open.kind(), Some(ErrorKind::CircuitOpen));
/// let boxed: BoxError = open.into();
/// assert_eq!(kind_of(&*boxed), Some(ErrorKind::CircuitOpen));
///
/// let inner = CircuitBreakerError::Inner(std::io::Error::other("reset").into());
/// let boxed: BoxError = inner.into();
/// assert!(boxed.downcast_ref::<std::io::Error>().is_some(), "not wrapped");
/// ```
#[derive(Debug)]
pub enum CircuitBreakerError {
    /// The breaker rejected the call; the inner service was not called.
    Open(CircuitOpen),
    /// The inner service was called and failed.
    Inner(BoxError),
}

impl CircuitBreakerError {
    /// Whether the breaker rejected the call.
    pub fn is_open(&self) -> bool {
        matches!(self, CircuitBreakerError::Open(_))
    }

    /// The rejection, when the breaker rejected the call.
    pub fn as_open(&self) -> Option<&CircuitOpen> {
        match self {
            CircuitBreakerError::Open(open) => Some(open),
            CircuitBreakerError::Inner(_) => None,
        }
    }

    /// The inner service's error, when it was called and failed.
    pub fn inner(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self {
            CircuitBreakerError::Open(_) => None,
            CircuitBreakerError::Inner(e) => Some(&**e),
        }
    }

    /// The first resile error in this error: the rejection, or one in the inner error's chain.
    pub fn resile_error(&self) -> Option<&dyn ResileError> {
        match self {
            CircuitBreakerError::Open(open) => Some(open),
            CircuitBreakerError::Inner(e) => find_resile_error(&**e),
        }
    }

    /// Which resile kind this error is, if any (see [`kind_of`]).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.resile_error().map(ResileError::kind)
    }

    /// The error as a [`BoxError`] (the same as `.into()`).
    pub fn into_box(self) -> BoxError {
        self.into()
    }
}

impl fmt::Display for CircuitBreakerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CircuitBreakerError::Open(open) => fmt::Display::fmt(open, f),
            CircuitBreakerError::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl From<CircuitOpen> for CircuitBreakerError {
    fn from(open: CircuitOpen) -> Self {
        CircuitBreakerError::Open(open)
    }
}

impl From<BoxError> for CircuitBreakerError {
    fn from(inner: BoxError) -> Self {
        CircuitBreakerError::Inner(inner)
    }
}

impl From<CircuitBreakerError> for BoxError {
    fn from(err: CircuitBreakerError) -> Self {
        match err {
            CircuitBreakerError::Open(open) => Box::new(open),
            CircuitBreakerError::Inner(e) => e,
        }
    }
}

/// One attempt ran longer than its limit. A retryable failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed {
    dependency: Name,
    limit: Duration,
}

impl Elapsed {
    /// An attempt timeout of `limit` fired for `dependency`.
    pub fn attempt(dependency: Name, limit: Duration) -> Self {
        Self { dependency, limit }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The limit that was exceeded.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call to `{}` timed out after {:?}",
            self.dependency, self.limit
        )
    }
}

impl StdError for Elapsed {}

impl ResileError for Elapsed {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Timeout
    }
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
}

/// The whole logical request ran out of time: its deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineExceeded {
    dependency: Name,
    budget: Option<Duration>,
}

impl DeadlineExceeded {
    /// The deadline for a request to `dependency` passed; `budget` is the total time it was
    /// given, when the layer knows it.
    pub fn new(dependency: Name, budget: Option<Duration>) -> Self {
        Self { dependency, budget }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The total time the request was given, when known.
    pub fn budget(&self) -> Option<Duration> {
        self.budget
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.budget {
            Some(b) => write!(f, "deadline for `{}` exceeded after {b:?}", self.dependency),
            None => write!(f, "deadline for `{}` exceeded", self.dependency),
        }
    }
}

impl StdError for DeadlineExceeded {}

impl ResileError for DeadlineExceeded {
    fn kind(&self) -> ErrorKind {
        ErrorKind::DeadlineExceeded
    }
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
}

/// The bulkhead had no permit for the call (at once, or within its maximum wait).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadFull {
    dependency: Name,
    limit: usize,
}

impl BulkheadFull {
    /// A rejection by a bulkhead of `limit` concurrent calls guarding `dependency`.
    pub fn new(dependency: Name, limit: usize) -> Self {
        Self { dependency, limit }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The bulkhead's limit of concurrent calls.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead for `{}` full ({} calls in flight)",
            self.dependency, self.limit
        )
    }
}

impl StdError for BulkheadFull {}

impl ResileError for BulkheadFull {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BulkheadFull
    }
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
}

/// The retry budget had no room: retrying now would risk a retry storm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExhausted {
    dependency: Name,
}

impl BudgetExhausted {
    /// The retry budget guarding `dependency` is exhausted.
    pub fn new(dependency: Name) -> Self {
        Self { dependency }
    }

    /// The dependency's name.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
}

impl fmt::Display for BudgetExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retry budget for `{}` exhausted", self.dependency)
    }
}

impl StdError for BudgetExhausted {}

impl ResileError for BudgetExhausted {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BudgetExhausted
    }
    fn dependency(&self) -> &str {
        self.dependency.as_str()
    }
}

/// Iterates over `err` and its sources, outermost first.
pub fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> + 'a {
    // Bounded, so a cyclic `source()` cannot loop for ever.
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source()).take(64)
}

/// Finds the first error of type `T` in `err`'s source chain (including `err` itself).
pub fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// Finds the first resile error in `err`'s source chain, as a [`ResileError`].
pub fn find_resile_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a dyn ResileError> {
    chain(err).find_map(as_resile_error)
}

fn as_resile_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a dyn ResileError> {
    if let Some(x) = e.downcast_ref::<CircuitOpen>() {
        return Some(x);
    }
    if let Some(x) = e.downcast_ref::<Elapsed>() {
        return Some(x);
    }
    if let Some(x) = e.downcast_ref::<DeadlineExceeded>() {
        return Some(x);
    }
    if let Some(x) = e.downcast_ref::<BulkheadFull>() {
        return Some(x);
    }
    if let Some(x) = e.downcast_ref::<BudgetExhausted>() {
        return Some(x);
    }
    None
}

/// The resile error inside an error value of any type: a [`BoxError`] (or another boxed `std`
/// error) is searched through its source chain, a resile error struct used directly as an error
/// type is recognised as it is, and any other type has none.
///
/// This is what layers generic over `S::Error` use to ask "is this a resile rejection?".
///
/// ```
/// use resile_core::error::{resile_error_in, BoxError, BulkheadFull, ErrorKind};
/// use resile_core::Name;
///
/// let boxed: BoxError = BulkheadFull::new(Name::new("db"), 4).into();
/// assert_eq!(resile_error_in(&boxed).map(|e| e.kind()), Some(ErrorKind::BulkheadFull));
/// let plain = BulkheadFull::new(Name::new("db"), 4);
/// assert_eq!(resile_error_in(&plain).map(|e| e.kind()), Some(ErrorKind::BulkheadFull));
/// assert!(resile_error_in(&std::io::Error::other("reset")).is_none());
/// ```
pub fn resile_error_in<E: 'static>(err: &E) -> Option<&dyn ResileError> {
    let any = err as &dyn Any;
    if let Some(b) = any.downcast_ref::<BoxError>() {
        return find_resile_error(&**b);
    }
    if let Some(e) = any.downcast_ref::<CircuitBreakerError>() {
        return e.resile_error();
    }
    if let Some(b) = any.downcast_ref::<Box<dyn StdError + Send + 'static>>() {
        return find_resile_error(&**b);
    }
    if let Some(b) = any.downcast_ref::<Box<dyn StdError + 'static>>() {
        return find_resile_error(&**b);
    }
    fn direct<T: ResileError>(any: &dyn Any) -> Option<&dyn ResileError> {
        any.downcast_ref::<T>().map(|e| e as &dyn ResileError)
    }
    direct::<CircuitOpen>(any)
        .or_else(|| direct::<Elapsed>(any))
        .or_else(|| direct::<DeadlineExceeded>(any))
        .or_else(|| direct::<BulkheadFull>(any))
        .or_else(|| direct::<BudgetExhausted>(any))
}

/// Which resile kind `err` is, walking its source chain; `None` for errors resile did not make.
///
/// Works on `&*box_error` for a [`BoxError`], whatever order the layers were stacked in.
pub fn kind_of(err: &(dyn StdError + 'static)) -> Option<ErrorKind> {
    find_resile_error(err).map(|e| e.kind())
}

/// An invalid configuration value, found when a layer is built. Names the component, the field
/// and what was wrong with it.
///
/// ```
/// use resile_core::ConfigError;
///
/// let err = ConfigError::new("circuit breaker", "failure_rate", "must be in (0, 1], got 1.5");
/// assert_eq!(err.field(), "failure_rate");
/// assert_eq!(
///     err.to_string(),
///     "invalid circuit breaker configuration: `failure_rate` must be in (0, 1], got 1.5"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    component: &'static str,
    field: &'static str,
    message: String,
}

impl ConfigError {
    /// An error for `field` of `component`; `message` says the allowed range and the value given.
    pub fn new(component: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            component,
            field,
            message: message.into(),
        }
    }

    /// The component (layer) whose configuration is invalid.
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The name of the invalid field.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong, with the allowed range.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} configuration: `{}` {}",
            self.component, self.field, self.message
        )
    }
}

impl StdError for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Context(&'static str, BoxError);
    impl fmt::Display for Context {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Context {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.1)
        }
    }

    fn n() -> Name {
        Name::new("dep")
    }

    #[test]
    fn kind_of_names_every_resile_error() {
        let cases: Vec<(BoxError, ErrorKind)> = vec![
            (
                CircuitOpen::new(n(), Duration::ZERO).into(),
                ErrorKind::CircuitOpen,
            ),
            (
                Elapsed::attempt(n(), Duration::ZERO).into(),
                ErrorKind::Timeout,
            ),
            (
                DeadlineExceeded::new(n(), None).into(),
                ErrorKind::DeadlineExceeded,
            ),
            (BulkheadFull::new(n(), 1).into(), ErrorKind::BulkheadFull),
            (BudgetExhausted::new(n()).into(), ErrorKind::BudgetExhausted),
        ];
        for (err, kind) in cases {
            assert_eq!(kind_of(&*err), Some(kind), "{err}");
            assert_eq!(find_resile_error(&*err).unwrap().dependency(), "dep");
        }
    }

    #[test]
    fn kind_of_walks_nested_wrappers() {
        let inner: BoxError = BulkheadFull::new(n(), 3).into();
        let mid: BoxError = Box::new(Context("mid", inner));
        let outer: BoxError = Box::new(Context("outer", mid));
        assert_eq!(kind_of(&*outer), Some(ErrorKind::BulkheadFull));
        assert_eq!(find::<BulkheadFull>(&*outer).unwrap().limit(), 3);
        assert_eq!(chain(&*outer).count(), 3);
    }

    #[test]
    fn foreign_errors_have_no_kind() {
        let err: BoxError = std::io::Error::other("reset").into();
        assert_eq!(kind_of(&*err), None);
        assert!(find::<CircuitOpen>(&*err).is_none());
    }

    #[test]
    fn displays_are_lowercase_and_name_the_dependency() {
        let shown = [
            CircuitOpen::new(n(), Duration::from_secs(1)).to_string(),
            Elapsed::attempt(n(), Duration::from_millis(5)).to_string(),
            DeadlineExceeded::new(n(), Some(Duration::from_secs(2))).to_string(),
            DeadlineExceeded::new(n(), None).to_string(),
            BulkheadFull::new(n(), 8).to_string(),
            BudgetExhausted::new(n()).to_string(),
        ];
        for s in shown {
            assert!(s.contains("`dep`"), "{s}");
            assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
        }
    }

    #[test]
    fn circuit_open_reports_retry_after() {
        let e = CircuitOpen::new(n(), Duration::from_secs(7));
        assert_eq!(ResileError::retry_after(&e), Some(Duration::from_secs(7)));
        assert_eq!(ResileError::retry_after(&BudgetExhausted::new(n())), None);
        assert_eq!(ErrorKind::CircuitOpen.to_string(), "circuit_open");
    }

    #[test]
    fn config_error_names_component_and_field() {
        let e = ConfigError::new("bulkhead", "max_concurrent", "must be at least 1, got 0");
        assert_eq!(e.component(), "bulkhead");
        assert_eq!(e.field(), "max_concurrent");
        assert_eq!(e.message(), "must be at least 1, got 0");
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_until_an_instant_counts_down_when_asked() {
        let until = Instant::now() + Duration::from_secs(10);
        let e = CircuitOpen::until(n(), until);
        assert_eq!(e.probe_at(), Some(until));
        assert_eq!(e.open_for(), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(e.open_for(), Duration::from_secs(6));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(6)));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(e.open_for(), Duration::ZERO, "never negative");
        assert_eq!(
            CircuitOpen::new(n(), Duration::from_secs(1)).probe_at(),
            None
        );
    }

    #[test]
    fn a_breaker_error_unwraps_into_a_box_error() {
        let open = CircuitBreakerError::from(CircuitOpen::new(n(), Duration::from_secs(2)));
        assert!(open.is_open() && open.inner().is_none());
        assert_eq!(open.to_string(), "circuit open for `dep`, next probe in 2s");
        let boxed = open.into_box();
        assert_eq!(
            find::<CircuitOpen>(&*boxed).map(CircuitOpen::open_for),
            Some(Duration::from_secs(2))
        );

        let inner =
            CircuitBreakerError::from(BoxError::from(Elapsed::attempt(n(), Duration::ZERO)));
        assert!(!inner.is_open() && inner.as_open().is_none());
        assert_eq!(inner.kind(), Some(ErrorKind::Timeout));
        let boxed: BoxError = inner.into();
        assert!(boxed.is::<Elapsed>(), "the inner error itself, not wrapped");

        let plain = CircuitBreakerError::Inner("refused".into());
        assert_eq!(plain.kind(), None);
        assert_eq!(plain.to_string(), "refused");
    }

    #[test]
    fn resile_error_in_sees_through_a_breaker_error() {
        let open = CircuitBreakerError::from(CircuitOpen::new(n(), Duration::ZERO));
        assert_eq!(
            resile_error_in(&open).map(|e| e.kind()),
            Some(ErrorKind::CircuitOpen)
        );
        let full = CircuitBreakerError::Inner(BulkheadFull::new(n(), 1).into());
        assert_eq!(
            resile_error_in(&full).map(|e| e.kind()),
            Some(ErrorKind::BulkheadFull)
        );
        let other = CircuitBreakerError::Inner("reset".into());
        assert!(resile_error_in(&other).is_none());
    }
}
