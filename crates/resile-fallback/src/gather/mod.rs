//! Partial responses: run several named sources concurrently under one deadline and get each
//! one's outcome back — its value, its error, or "did not answer in time" — instead of
//! all-or-nothing.
//!
//! A [`Gather`] collects sources (any future of a `Result`, or a tower service call made with
//! [`Gather::call`]), each **required** or **optional**, and gives back a typed handle per
//! source. Awaiting it runs them all inside one future (no task is spawned):
//!
//! - a required source that fails, or has not answered at the deadline, fails the whole at once
//!   with a [`GatherError`] naming it, and the other sources are cancelled;
//! - an optional source that fails or runs late is left out (or replaced by its default), and
//!   the [`Gathered`] result records it in [`missing`](Gathered::missing);
//! - at the deadline every source still running is dropped (cancelled).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resile_fallback::gather::GatherError> {
//! use resile_fallback::gather::Gather;
//! use std::time::Duration;
//!
//! #[derive(Debug, PartialEq)]
//! struct User { name: String }
//!
//! let mut g = Gather::within(Duration::from_secs(2));
//! let user = g.required("user", async {
//!     Ok::<_, std::io::Error>(User { name: "ada".into() })
//! });
//! let prefs = g.optional_or("preferences", async {
//!     tokio::time::sleep(Duration::from_secs(10)).await; // too slow: cancelled at 2 s
//!     Ok::<_, std::io::Error>(vec!["dark-mode"])
//! }, vec![]);
//! let mut out = g.await?;
//!
//! let user: User = out.take(user);
//! let prefs: Vec<&str> = out.take(prefs);
//! assert_eq!(user.name, "ada");
//! assert!(prefs.is_empty());
//! let missing: Vec<String> = out.missing().map(|m| m.to_string()).collect();
//! assert_eq!(missing, ["`preferences` did not answer in time"]);
//! # Ok(()) }
//! ```

mod error;
mod future;
mod handle;
mod result;
mod source;

use std::borrow::Cow;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resile_core::{BoxError, CarryDeadline, Deadline};
use tower_service::Service;

pub use self::error::GatherError;
pub use self::future::GatherFuture;
pub use self::handle::{Optional, OrDefault, Required, Slot};
pub use self::result::{Gathered, Missing, MissingReason};
pub use crate::call::Call;

use self::source::{Entry, Source, Status};

/// Sources to run concurrently under one deadline. See the [module docs](self).
pub struct Gather {
    id: u64,
    deadline: Deadline,
    entries: Vec<Entry>,
}

impl Gather {
    /// Sources that must answer by `deadline`.
    pub fn new(deadline: Deadline) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            deadline,
            entries: Vec::new(),
        }
    }

    /// Sources that must answer within `budget` from now (on tokio's clock).
    pub fn within(budget: Duration) -> Self {
        Self::new(Deadline::after(budget))
    }

    /// The deadline, to pass on to the sources' own requests.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// How many sources were added.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no source was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn add<F, T, E>(&mut self, name: Cow<'static, str>, required: bool, source: F) -> usize
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        self.entries.push(Entry {
            name,
            required,
            source: Box::pin(Source::<F, T>::new(source)),
            status: Status::Running,
        });
        self.entries.len() - 1
    }

    /// Adds a source whose failure, or lateness, fails the whole gather.
    pub fn required<F, T, E>(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        source: F,
    ) -> Required<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let index = self.add(name.into(), true, source);
        Required {
            gather: self.id,
            index,
            _value: PhantomData,
        }
    }

    /// Adds a source that may be missing: its value is `None` if it fails or runs late.
    pub fn optional<F, T, E>(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        source: F,
    ) -> Optional<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let index = self.add(name.into(), false, source);
        Optional {
            gather: self.id,
            index,
            _value: PhantomData,
        }
    }

    /// Adds a source that may be missing: its value is `default` if it fails or runs late.
    /// It is still listed in [`Gathered::missing`].
    pub fn optional_or<F, T, E>(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        source: F,
        default: T,
    ) -> OrDefault<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Send + 'static,
    {
        let index = self.add(name.into(), false, source);
        OrDefault {
            gather: self.id,
            index,
            default,
        }
    }

    /// Like [`optional_or`](Self::optional_or) with `T::default()`.
    pub fn optional_or_default<F, T, E>(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        source: F,
    ) -> OrDefault<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
        T: Default + Send + 'static,
    {
        self.optional_or(name, source, T::default())
    }

    /// A call of a tower service as a source: the request's deadline is tightened to the
    /// gather's (so retry and timeout layers below stop in time, and HTTP layers put it on the
    /// wire), then the service is made ready and called once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), resile_fallback::gather::GatherError> {
    /// use resile_fallback::gather::Gather;
    /// use std::time::Duration;
    ///
    /// let users = tower::service_fn(|id: u64| async move { Ok::<_, std::io::Error>(id * 10) });
    /// let mut g = Gather::within(Duration::from_secs(1));
    /// let user = g.required("user", g.call(users, 4));
    /// assert_eq!(g.await?.take(user), 40);
    /// # Ok(()) }
    /// ```
    pub fn call<S, Req>(&self, service: S, mut request: Req) -> Call<S, Req>
    where
        S: Service<Req>,
        Req: CarryDeadline,
    {
        request.tighten_deadline(self.deadline);
        Call::new(service, request)
    }

    /// Runs every source until all have answered, a required one failed, or the deadline
    /// passed. `.await`ing the `Gather` does the same. Must be called inside a tokio runtime
    /// with time enabled (it arms the deadline's timer).
    pub fn run(self) -> GatherFuture {
        GatherFuture::new(self.id, self.deadline, self.entries)
    }
}

impl IntoFuture for Gather {
    type Output = Result<Gathered, GatherError>;
    type IntoFuture = GatherFuture;

    fn into_future(self) -> GatherFuture {
        self.run()
    }
}

impl fmt::Debug for Gather {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<(&str, bool)> = self
            .entries
            .iter()
            .map(|e| (&*e.name, e.required))
            .collect();
        f.debug_struct("Gather")
            .field("deadline", &self.deadline)
            .field("sources", &sources)
            .finish()
    }
}
