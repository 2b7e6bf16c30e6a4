//! The degraded marker: a response produced by a fallback says so.
//!
//! When a fallback answers, the layer builds a [`Degraded`] (which dependency, which fallback,
//! why, and for a last-known-good answer how old it is) and hands it to the response through
//! [`MarkDegraded`]:
//!
//! - `http::Response<B>` (feature `http`) stores it in its extensions, where a handler reads it
//!   with `response.extensions().get::<Degraded>()`;
//! - [`Degradable<T>`] wraps any response type and keeps it in a field;
//! - your own response type implements [`MarkDegraded`] to set, say, a `degraded: true` field;
//! - plain values (numbers, `String`, `Vec`, `Option`, `()`) cannot carry a marker: their
//!   implementation does nothing, and the answer is known to be degraded only through events and
//!   counters.
//!
//! Only answers from a fallback are marked; the primary's own responses never are.
//!
//! ```
//! use resile_fallback::{Degraded, MarkDegraded};
//!
//! #[derive(Debug, Default)]
//! struct Profile { name: String, degraded: bool }
//!
//! impl MarkDegraded for Profile {
//!     fn mark_degraded(&mut self, _why: &Degraded) {
//!         self.degraded = true;
//!     }
//! }
//! ```

use std::fmt;
use std::time::Duration;

use resile_core::{ErrorKind, Name};

/// Why the primary call was replaced by a fallback's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The primary failed with a resile error of this kind (open circuit, full bulkhead,
    /// timeout, ...), found anywhere in the error's source chain.
    Resile(ErrorKind),
    /// The primary failed with an error resile did not make (a connection error, a server
    /// error mapped to `Err`).
    Error,
    /// The primary answered `Ok`, but the classifier called the response a failure (an HTTP 503).
    FailedResponse,
}

impl Cause {
    /// A short snake_case name for logs, metric labels and response fields: the resile kind
    /// (`circuit_open`, `timeout`, ...), `error` or `failed_response`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Cause::Resile(kind) => kind.as_str(),
            Cause::Error => "error",
            Cause::FailedResponse => "failed_response",
        }
    }

    /// The resile kind, when the primary failed with a resile error.
    pub const fn kind(&self) -> Option<ErrorKind> {
        match self {
            Cause::Resile(kind) => Some(*kind),
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A note attached to a response that a fallback produced: which fallback answered and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    dependency: Name,
    fallback: Name,
    position: usize,
    cause: Cause,
    age: Option<Duration>,
}

impl Degraded {
    /// A marker for an answer from `fallback` (at `position` in the chain, from 0) standing in
    /// for `dependency`, which failed because of `cause`.
    pub fn new(dependency: Name, fallback: Name, position: usize, cause: Cause) -> Self {
        Self {
            dependency,
            fallback,
            position,
            cause,
            age: None,
        }
    }

    /// Records how old a cached answer is.
    #[must_use]
    pub fn with_age(mut self, age: Duration) -> Self {
        self.age = Some(age);
        self
    }

    /// The dependency the fallback stood in for.
    pub fn dependency(&self) -> &str {
        self.dependency.as_str()
    }

    /// The label of the fallback that answered (`value`, `function`, `service`,
    /// `last_known_good`, or the label you gave it).
    pub fn fallback(&self) -> &str {
        self.fallback.as_str()
    }

    /// The answering fallback's position in the chain, from 0.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Why the primary's answer was not used.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// For a last-known-good answer, how long ago the primary produced it.
    pub fn age(&self) -> Option<Duration> {
        self.age
    }
}

impl fmt::Display for Degraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answered by fallback `{}` for `{}` ({})",
            self.fallback, self.dependency, self.cause
        )
    }
}

/// A response type that can record that a fallback produced it.
///
/// The fallback layer calls [`mark_degraded`](MarkDegraded::mark_degraded) on every answer a
/// fallback gives, and never on the primary's own responses. The default implementation does
/// nothing, so a type that cannot carry the marker opts in with `impl MarkDegraded for T {}`.
pub trait MarkDegraded {
    /// Records `degraded` in the response. Called once per fallback answer.
    fn mark_degraded(&mut self, degraded: &Degraded) {
        let _ = degraded;
    }
}

macro_rules! cannot_carry {
    ($($t:ty),* $(,)?) => {
        $(
            /// Cannot carry a marker: does nothing.
            impl MarkDegraded for $t {}
        )*
    };
}

cannot_carry!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
);

/// Cannot carry a marker: does nothing.
impl<T> MarkDegraded for Vec<T> {}

/// Marks the value inside, if any.
impl<T: MarkDegraded> MarkDegraded for Option<T> {
    fn mark_degraded(&mut self, degraded: &Degraded) {
        if let Some(v) = self {
            v.mark_degraded(degraded);
        }
    }
}

/// Marks the boxed value.
impl<T: MarkDegraded + ?Sized> MarkDegraded for Box<T> {
    fn mark_degraded(&mut self, degraded: &Degraded) {
        (**self).mark_degraded(degraded);
    }
}

/// Stores the marker in the response extensions: read it with
/// `response.extensions().get::<Degraded>()`.
#[cfg(feature = "http")]
impl<B> MarkDegraded for http::Response<B> {
    fn mark_degraded(&mut self, degraded: &Degraded) {
        self.extensions_mut().insert(degraded.clone());
    }
}

/// Any response, with a place for the degraded marker.
///
/// Wrap the inner service's responses (`tower::ServiceExt::map_response(Degradable::new)`)
/// when the response type cannot carry the marker itself.
///
/// ```
/// use resile_fallback::{Cause, Degradable, Degraded, MarkDegraded};
/// use resile_core::Name;
///
/// let mut answer = Degradable::new(vec!["popular", "products"]);
/// assert!(!answer.is_degraded());
/// answer.mark_degraded(&Degraded::new(Name::new("recs"), Name::new("value"), 0, Cause::Error));
/// assert_eq!(answer.degraded().map(|d| d.fallback()), Some("value"));
/// assert_eq!(answer.into_inner().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Degradable<T> {
    value: T,
    degraded: Option<Degraded>,
}

impl<T> Degradable<T> {
    /// A response that no fallback produced (yet).
    pub fn new(value: T) -> Self {
        Self {
            value,
            degraded: None,
        }
    }

    /// The marker, when a fallback produced this response.
    pub fn degraded(&self) -> Option<&Degraded> {
        self.degraded.as_ref()
    }

    /// Whether a fallback produced this response.
    pub fn is_degraded(&self) -> bool {
        self.degraded.is_some()
    }

    /// The response.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The response, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// The response, without the marker.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The response and the marker.
    pub fn into_parts(self) -> (T, Option<Degraded>) {
        (self.value, self.degraded)
    }
}

impl<T> From<T> for Degradable<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T> MarkDegraded for Degradable<T> {
    fn mark_degraded(&mut self, degraded: &Degraded) {
        self.degraded = Some(degraded.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> Degraded {
        Degraded::new(
            Name::new("users"),
            Name::new("cache"),
            1,
            Cause::Resile(ErrorKind::CircuitOpen),
        )
        .with_age(Duration::from_secs(3))
    }

    #[test]
    fn marker_reports_who_answered_and_why() {
        let d = marker();
        assert_eq!(d.dependency(), "users");
        assert_eq!(d.fallback(), "cache");
        assert_eq!(d.position(), 1);
        assert_eq!(d.cause().kind(), Some(ErrorKind::CircuitOpen));
        assert_eq!(d.age(), Some(Duration::from_secs(3)));
        assert_eq!(
            d.to_string(),
            "answered by fallback `cache` for `users` (circuit_open)"
        );
        assert_eq!(Cause::FailedResponse.as_str(), "failed_response");
        assert_eq!(Cause::Error.kind(), None);
    }

    #[test]
    fn option_marks_its_content_and_plain_values_ignore_the_marker() {
        let mut some = Some(Degradable::new(1));
        some.mark_degraded(&marker());
        assert!(some.as_ref().unwrap().is_degraded());
        let mut n = 5u64;
        n.mark_degraded(&marker());
        assert_eq!(n, 5);
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_responses_carry_the_marker_in_extensions() {
        let mut res = http::Response::new(());
        assert!(res.extensions().get::<Degraded>().is_none());
        res.mark_degraded(&marker());
        assert_eq!(res.extensions().get::<Degraded>(), Some(&marker()));
    }
}
