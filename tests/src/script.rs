//! What the test server does with each request: an [`Action`] per request, chosen by a
//! [`Script`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

/// What the server does with one request, after reading it whole.
///
/// First it waits out the [delay](Action::delay) (on `tokio::time`, so a paused clock drives it),
/// then, for a [held](Action::held) action, it waits until the test calls
/// [`HttpServer::release`](crate::HttpServer::release); then it answers, hangs, or closes the
/// connection.
///
/// ```
/// use resile_tests::Action;
/// use std::time::Duration;
///
/// let unavailable = Action::status(503).retry_after(2).body("try later");
/// let slow_ok = Action::ok().delay(Duration::from_millis(300));
/// let dead = Action::hang();
/// let reset = Action::close();
/// # let _ = (unavailable, slow_ok, dead, reset);
/// ```
#[derive(Debug, Clone)]
pub struct Action {
    pub(crate) then: Then,
    pub(crate) delay: Duration,
    pub(crate) held: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Then {
    Respond {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Hang,
    Close,
}

impl Action {
    /// Answer with `status` and an empty body.
    ///
    /// # Panics
    ///
    /// If `status` is not in `100..=999` (a bug in the test, not in the code under test).
    pub fn status(status: u16) -> Self {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("test script: {status} is not an HTTP status code"));
        Self::respond(status)
    }

    /// Answer `200 OK` with an empty body.
    pub fn ok() -> Self {
        Self::respond(StatusCode::OK)
    }

    fn respond(status: StatusCode) -> Self {
        Self {
            then: Then::Respond {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            delay: Duration::ZERO,
            held: false,
        }
    }

    /// Never answer: the request stays in flight until the client gives up or the server is
    /// dropped.
    pub fn hang() -> Self {
        Self {
            then: Then::Hang,
            delay: Duration::ZERO,
            held: false,
        }
    }

    /// Close the connection without answering (the client sees the connection end mid-request).
    /// Over HTTP/2 this ends every stream on the connection.
    pub fn close() -> Self {
        Self {
            then: Then::Close,
            delay: Duration::ZERO,
            held: false,
        }
    }

    /// Wait `delay` (on `tokio::time`) before acting.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Hold the request (after any delay) until the test calls
    /// [`HttpServer::release`](crate::HttpServer::release): deterministic concurrency without
    /// timers.
    #[must_use]
    pub fn held(mut self) -> Self {
        self.held = true;
        self
    }

    /// Add a response header (ignored by [`hang`](Action::hang) and [`close`](Action::close)).
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not a valid header (a bug in the test).
    #[must_use]
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        if let Then::Respond { headers, .. } = &mut self.then {
            let name = HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|_| panic!("test script: {name:?} is not a header name"));
            let value = HeaderValue::from_str(value.as_ref()).unwrap_or_else(|_| {
                panic!("test script: {:?} is not a header value", value.as_ref())
            });
            headers.append(name, value);
        }
        self
    }

    /// Add `Retry-After: <seconds>`.
    #[must_use]
    pub fn retry_after(self, seconds: u64) -> Self {
        self.header("retry-after", seconds.to_string())
    }

    /// Set the response body (ignored by [`hang`](Action::hang) and [`close`](Action::close)).
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        if let Then::Respond { body: b, .. } = &mut self.then {
            *b = body.into();
        }
        self
    }
}

/// One request as the server received it, recorded in arrival order.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// 0 for the first request this server received, 1 for the next, ...
    pub index: usize,
    /// 0 for the first connection this server accepted, 1 for the next, ...
    pub connection: usize,
    /// The request method.
    pub method: Method,
    /// The request target as sent (usually a path and query).
    pub uri: Uri,
    /// The HTTP version the request came over.
    pub version: Version,
    /// The request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

/// Chooses the [`Action`] for each request the server receives.
///
/// ```
/// use resile_tests::{Action, Script};
///
/// // 503, 503, then 200 for every later request.
/// let recovering = Script::sequence([Action::status(503), Action::status(503), Action::ok()]);
/// // Fail twice, then answer 200 — but after the list, always 500.
/// let flaky = Script::sequence([Action::status(500), Action::ok()]).then(Action::status(500));
/// // Decide from the request itself.
/// let by_path = Script::from_fn(|req| match req.uri.path() {
///     "/slow" => Action::hang(),
///     _ => Action::ok(),
/// });
/// # let _ = (recovering, flaky, by_path);
/// ```
#[derive(Clone)]
pub struct Script {
    plan: Plan,
}

#[derive(Clone)]
enum Plan {
    Sequence { steps: Vec<Action>, then: Action },
    Function(Arc<dyn Fn(&RecordedRequest) -> Action + Send + Sync>),
}

impl Script {
    /// The same action for every request.
    pub fn always(action: Action) -> Self {
        Self {
            plan: Plan::Sequence {
                steps: Vec::new(),
                then: action,
            },
        }
    }

    /// The n-th request gets the n-th action; once the list runs out, the last action repeats
    /// (change that with [`then`](Script::then)). An empty list answers `200 OK`.
    pub fn sequence(actions: impl IntoIterator<Item = Action>) -> Self {
        let steps: Vec<Action> = actions.into_iter().collect();
        let then = steps.last().cloned().unwrap_or_else(Action::ok);
        Self {
            plan: Plan::Sequence { steps, then },
        }
    }

    /// What every request after the sequence gets (no effect on [`from_fn`](Script::from_fn)).
    #[must_use]
    pub fn then(mut self, action: Action) -> Self {
        if let Plan::Sequence { then, .. } = &mut self.plan {
            *then = action;
        }
        self
    }

    /// Decides each request's action from the request (its
    /// [`index`](RecordedRequest::index) counts from when the script was installed).
    pub fn from_fn(f: impl Fn(&RecordedRequest) -> Action + Send + Sync + 'static) -> Self {
        Self {
            plan: Plan::Function(Arc::new(f)),
        }
    }

    /// The action for `request`, the `nth` request since this script was installed.
    pub(crate) fn action(&self, nth: usize, request: &RecordedRequest) -> Action {
        match &self.plan {
            Plan::Sequence { steps, then } => steps.get(nth).unwrap_or(then).clone(),
            Plan::Function(f) => {
                let mut relative = request.clone();
                relative.index = nth;
                f(&relative)
            }
        }
    }
}

impl From<Action> for Script {
    fn from(action: Action) -> Self {
        Script::always(action)
    }
}

impl Default for Script {
    /// `200 OK` for every request.
    fn default() -> Self {
        Script::always(Action::ok())
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plan {
            Plan::Sequence { steps, then } => f
                .debug_struct("Script")
                .field("steps", steps)
                .field("then", then)
                .finish(),
            Plan::Function(_) => f.debug_struct("Script").finish_non_exhaustive(),
        }
    }
}
