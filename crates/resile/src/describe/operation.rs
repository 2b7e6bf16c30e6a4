//! What operation a request is: `GET /users/7`, `/shop.Orders/Place`, or a name you choose.

use std::fmt;

use resile_core::Name;

/// The longest operation text kept (longer paths are cut, with `…`).
const CAP: usize = 62;

/// Which operation a failed request was: method and path for HTTP, the method for gRPC, or a
/// name set on the request. Kept inline (no allocation) and cut at 62 bytes.
///
/// Put one in an `http::Request`'s extensions to name the operation yourself — a route
/// template such as `GET /users/{id}` keeps logs and errors free of ids:
///
/// ```
/// # #[cfg(feature = "http")] {
/// use resile::Operation;
///
/// let mut req = http::Request::get("http://users/users/7").body(()).unwrap();
/// req.extensions_mut().insert(Operation::new("GET /users/{id}"));
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    len: u8,
    text: [u8; CAP],
}

impl Operation {
    /// An operation called `text` (cut at 62 bytes).
    pub fn new(text: &str) -> Self {
        let mut op = Operation {
            len: 0,
            text: [0; CAP],
        };
        op.push(text);
        op
    }

    /// `METHOD path`, as for an HTTP request.
    pub fn http(method: &str, path: &str) -> Self {
        let mut op = Operation::new(method);
        op.push(" ");
        op.push(path);
        op
    }

    fn push(&mut self, s: &str) {
        let at = usize::from(self.len);
        let room = CAP - at;
        if s.len() <= room {
            self.text[at..at + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len() as u8;
            return;
        }
        // Cut at a char boundary, leaving room for the 3-byte ellipsis.
        let mut end = room.saturating_sub(3);
        while end > 0 && !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text[at..at + end].copy_from_slice(&s.as_bytes()[..end]);
        let dots = "…".as_bytes();
        self.text[at + end..at + end + dots.len()].copy_from_slice(dots);
        self.len = (at + end + dots.len()) as u8;
    }

    /// The operation's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operation({:?})", self.as_str())
    }
}

/// What the outermost layer keeps of a request, for its error: the operation and, when the
/// request carries one, a trace id.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub(crate) operation: Option<Operation>,
    pub(crate) trace_id: Option<Name>,
}

/// What a request's error will need, kept in the response future until the call ends.
pub trait Kept {
    /// Gives up what was kept.
    fn into_captured(self) -> Captured;
}

impl Kept for Captured {
    fn into_captured(self) -> Captured {
        self
    }
}

impl Kept for () {
    #[inline]
    fn into_captured(self) -> Captured {
        Captured::default()
    }
}

/// Takes what a [`DependencyError`](crate::DependencyError) will say about a request, before the
/// request is sent. Runs on every call: keep it cheap.
pub trait DescribeRequest<Req> {
    /// What is kept ([`Captured`], or `()` for nothing).
    type Kept: Kept;
    /// What to keep of `req`.
    fn describe(&self, req: &Req) -> Self::Kept;
}

/// Keeps nothing: errors name the dependency only (the default for non-HTTP services).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOperation;

impl<Req> DescribeRequest<Req> for NoOperation {
    type Kept = ();
    #[inline]
    fn describe(&self, _req: &Req) {}
}

/// Keeps `METHOD /path` of an `http::Request` (never the query, which may hold secrets), or the
/// [`Operation`] found in its extensions, and the trace id of a
/// [`resile_http::TraceId`] extension.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpOperation;

#[cfg(feature = "http")]
fn trace_of<B>(req: &http::Request<B>) -> Option<Name> {
    req.extensions()
        .get::<resile_http::TraceId>()
        .map(|t| Name::new(t.as_str()))
}

#[cfg(feature = "http")]
impl<B> DescribeRequest<http::Request<B>> for HttpOperation {
    type Kept = Captured;
    #[inline]
    fn describe(&self, req: &http::Request<B>) -> Captured {
        let ext = req.extensions();
        if ext.is_empty() {
            return Captured {
                operation: Some(Operation::http(req.method().as_str(), req.uri().path())),
                trace_id: None,
            };
        }
        let operation = ext
            .get::<Operation>()
            .copied()
            .unwrap_or_else(|| Operation::http(req.method().as_str(), req.uri().path()));
        Captured {
            operation: Some(operation),
            trace_id: trace_of(req),
        }
    }
}

/// Keeps the gRPC method (`/package.Service/Method`, the request's path), or the
/// [`Operation`] found in its extensions.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcOperation;

#[cfg(feature = "http")]
impl<B> DescribeRequest<http::Request<B>> for GrpcOperation {
    type Kept = Captured;
    #[inline]
    fn describe(&self, req: &http::Request<B>) -> Captured {
        let ext = req.extensions();
        let operation = ext
            .get::<Operation>()
            .copied()
            .unwrap_or_else(|| Operation::new(req.uri().path()));
        Captured {
            operation: Some(operation),
            trace_id: if ext.is_empty() { None } else { trace_of(req) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let op = Operation::new(&long);
        assert!(op.as_str().ends_with('…'));
        assert!(op.as_str().len() <= CAP);
        assert_eq!(Operation::http("GET", "/users/7").as_str(), "GET /users/7");
        assert_eq!(Operation::new("x").to_string(), "x");
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_requests_are_described_without_their_query() {
        let req = http::Request::get("http://h/users/7?token=secret")
            .body(())
            .unwrap();
        let c = HttpOperation.describe(&req);
        assert_eq!(c.operation.unwrap().as_str(), "GET /users/7");
        let mut named = http::Request::post("/users/7").body(()).unwrap();
        named
            .extensions_mut()
            .insert(Operation::new("POST /users/{id}"));
        assert_eq!(
            HttpOperation.describe(&named).operation.unwrap().as_str(),
            "POST /users/{id}"
        );
        let grpc = http::Request::post("http://h/shop.Orders/Place")
            .body(())
            .unwrap();
        assert_eq!(
            GrpcOperation.describe(&grpc).operation.unwrap().as_str(),
            "/shop.Orders/Place"
        );
    }
}
