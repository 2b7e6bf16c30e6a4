//! Body replay: retry requests whose body streams.
//!
//! A retry needs the request again, but a streaming body can be read only once. [`ReplayBody`]
//! captures the body *as the first attempt sends it*, up to a cap (default 64 KiB, like
//! Linkerd); a retry then sends the captured bytes, followed by whatever the first attempt had not
//! read yet. A body larger than the cap is sent once and not retried; the capture is dropped the
//! moment the cap is passed, so memory stays bounded.
//!
//! [`ReplayBodyLayer`] wraps every request body; only requests that may be retried (see
//! [`RetryableRequests`]) are captured — others pass
//! through untouched and nothing is buffered. The retry layer gets each next attempt from
//! [`ReplayHandle::replay`].
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use resile_http::replay::ReplayBody;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let first = ReplayBody::new(Full::new(Bytes::from_static(b"order=42")), 64 * 1024);
//! let handle = first.handle().unwrap();
//! // The first attempt sends the body...
//! assert_eq!(first.collect().await.unwrap().to_bytes(), "order=42");
//! // ...and a retry sends the same bytes again.
//! let retry = handle.replay().unwrap();
//! assert_eq!(retry.collect().await.unwrap().to_bytes(), "order=42");
//! # }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use resile_core::ConfigError;
use tower_layer::Layer;
use tower_service::Service;

use crate::idempotency::RetryableRequests;

/// The default cap on a captured body: 64 KiB.
pub const DEFAULT_REPLAY_CAP: usize = 64 * 1024;

/// Why a request body cannot be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotReplayable {
    /// The request may not be retried (not idempotent, no idempotency key): nothing was captured.
    NotRetryable,
    /// The body was larger than the cap; it was sent once.
    TooLarge {
        /// The cap in bytes.
        cap: usize,
    },
    /// The body failed while being read, or an earlier attempt is still sending it.
    Unavailable,
}

impl fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReplayable::NotRetryable => f.write_str("request is not retryable"),
            NotReplayable::TooLarge { cap } => {
                write!(f, "request body is larger than the {cap}-byte replay cap")
            }
            NotReplayable::Unavailable => f.write_str("request body is not available to replay"),
        }
    }
}

impl std::error::Error for NotReplayable {}

struct Capture<B> {
    chunks: Vec<Bytes>,
    len: usize,
    cap: usize,
    overflowed: bool,
    failed: bool,
    eos: bool,
    trailers: Option<HeaderMap>,
    /// The part of the original body no attempt has read yet, while no attempt holds it.
    rest: Option<B>,
}

type Shared<B> = Arc<Mutex<Capture<B>>>;

fn lock<B>(shared: &Mutex<Capture<B>>) -> MutexGuard<'_, Capture<B>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request body that can be sent again. See the [module docs](self).
pub struct ReplayBody<B> {
    inner: Inner<B>,
}

enum Inner<B> {
    /// Not captured: sent once.
    PassThrough { body: B, reason: NotReplayable },
    /// Captured: this attempt reads the capture from `pos`, then the rest of the original.
    Replay {
        shared: Shared<B>,
        pos: usize,
        rest: Option<B>,
        trailers_sent: bool,
    },
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::PassThrough { reason, .. } => f
                .debug_struct("ReplayBody")
                .field("replayable", &false)
                .field("reason", reason)
                .finish(),
            Inner::Replay { pos, .. } => f
                .debug_struct("ReplayBody")
                .field("replayable", &true)
                .field("pos", pos)
                .finish(),
        }
    }
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body` for capture up to `cap` bytes. A body whose size hint already exceeds the cap
    /// is not captured.
    pub fn new(body: B, cap: usize) -> Self {
        if body.size_hint().lower() > cap as u64 {
            return Self::pass_through(body, NotReplayable::TooLarge { cap });
        }
        let shared = Arc::new(Mutex::new(Capture {
            chunks: Vec::new(),
            len: 0,
            cap,
            overflowed: false,
            failed: false,
            eos: false,
            trailers: None,
            rest: None,
        }));
        Self {
            inner: Inner::Replay {
                shared,
                pos: 0,
                rest: Some(body),
                trailers_sent: false,
            },
        }
    }

    /// Wraps `body` without capturing it: it is sent once, and [`handle`](Self::handle) says why.
    pub fn pass_through(body: B, reason: NotReplayable) -> Self {
        Self {
            inner: Inner::PassThrough { body, reason },
        }
    }

    /// A handle the retry layer keeps to build the next attempt's body.
    pub fn handle(&self) -> Result<ReplayHandle<B>, NotReplayable> {
        match &self.inner {
            Inner::PassThrough { reason, .. } => Err(*reason),
            Inner::Replay { shared, .. } => Ok(ReplayHandle {
                shared: shared.clone(),
            }),
        }
    }
}

/// Builds replays of one captured body. Cheap to clone.
pub struct ReplayHandle<B> {
    shared: Shared<B>,
}

impl<B> Clone for ReplayHandle<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<B> fmt::Debug for ReplayHandle<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = lock(&self.shared);
        f.debug_struct("ReplayHandle")
            .field("captured", &c.len)
            .field("cap", &c.cap)
            .field("complete", &c.eos)
            .finish()
    }
}

impl<B> ReplayHandle<B> {
    /// A body for the next attempt: the captured bytes, then whatever the earlier attempts did
    /// not read. Fails when the body outgrew the cap, failed, or an earlier attempt still holds
    /// its unread rest.
    pub fn replay(&self) -> Result<ReplayBody<B>, NotReplayable> {
        let mut c = lock(&self.shared);
        if c.overflowed {
            return Err(NotReplayable::TooLarge { cap: c.cap });
        }
        if c.failed {
            return Err(NotReplayable::Unavailable);
        }
        let rest = if c.eos {
            None
        } else {
            Some(c.rest.take().ok_or(NotReplayable::Unavailable)?)
        };
        drop(c);
        Ok(ReplayBody {
            inner: Inner::Replay {
                shared: self.shared.clone(),
                pos: 0,
                rest,
                trailers_sent: false,
            },
        })
    }

    /// Bytes captured so far.
    pub fn captured(&self) -> usize {
        lock(&self.shared).len
    }
}

impl<B> Drop for ReplayBody<B> {
    fn drop(&mut self) {
        // Give the unread rest back so the next attempt can continue from it.
        if let Inner::Replay { shared, rest, .. } = &mut self.inner
            && let Some(rest) = rest.take()
        {
            let mut c = lock(shared);
            if !c.eos && !c.failed {
                c.rest = Some(rest);
            }
        }
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body + Unpin,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let (shared, pos, rest, trailers_sent) = match &mut this.inner {
            Inner::PassThrough { body, .. } => {
                return Pin::new(body).poll_frame(cx).map(|f| {
                    f.map(|r| r.map(|frame| frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))))
                });
            }
            Inner::Replay {
                shared,
                pos,
                rest,
                trailers_sent,
            } => (shared, pos, rest, trailers_sent),
        };
        {
            let c = lock(shared);
            if let Some(chunk) = c.chunks.get(*pos) {
                *pos += 1;
                return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
            }
            if c.eos {
                if !*trailers_sent {
                    *trailers_sent = true;
                    if let Some(t) = c.trailers.clone() {
                        return Poll::Ready(Some(Ok(Frame::trailers(t))));
                    }
                }
                return Poll::Ready(None);
            }
        }
        // Past the capture: read on from the original body.
        let Some(body) = rest.as_mut() else {
            // Unreachable by construction: `replay` hands out the rest or refuses.
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        let mut c = lock(shared);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                c.eos = true;
                *rest = None;
                *trailers_sent = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                c.failed = true;
                *rest = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    if !c.overflowed {
                        if c.len + bytes.len() <= c.cap {
                            c.len += bytes.len();
                            c.chunks.push(bytes.clone());
                            *pos += 1;
                        } else {
                            // Past the cap: this attempt is the only one; free the capture.
                            c.overflowed = true;
                            c.chunks = Vec::new();
                        }
                    }
                    Poll::Ready(Some(Ok(Frame::data(bytes))))
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => {
                        c.trailers = Some(trailers.clone());
                        *trailers_sent = true;
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    // An unknown frame kind: nothing to forward.
                    Err(_) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                },
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::PassThrough { body, .. } => body.is_end_stream(),
            Inner::Replay {
                shared,
                pos,
                rest,
                trailers_sent,
            } => {
                let c = lock(shared);
                *pos >= c.chunks.len()
                    && c.eos
                    && (*trailers_sent || c.trailers.is_none())
                    && rest.is_none()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::PassThrough { body, .. } => body.size_hint(),
            Inner::Replay { shared, pos, .. } => {
                let c = lock(shared);
                if c.eos {
                    let left: usize = c.chunks.iter().skip(*pos).map(Bytes::len).sum();
                    SizeHint::with_exact(left as u64)
                } else {
                    SizeHint::default()
                }
            }
        }
    }
}

/// Wraps request bodies in [`ReplayBody`]: retryable requests are captured up to the cap,
/// others pass through.
#[derive(Debug, Clone)]
pub struct ReplayBodyLayer {
    cap: usize,
    policy: RetryableRequests,
}

impl Default for ReplayBodyLayer {
    fn default() -> Self {
        Self {
            cap: DEFAULT_REPLAY_CAP,
            policy: RetryableRequests::default(),
        }
    }
}

impl ReplayBodyLayer {
    /// Captures up to 64 KiB of idempotent (or idempotency-keyed) requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// For gRPC: every call may be retried (gRPC retries by status code, and an UNAVAILABLE
    /// call was not processed), captured up to 64 KiB.
    pub fn grpc() -> Self {
        Self {
            cap: DEFAULT_REPLAY_CAP,
            policy: RetryableRequests::allow_all(),
        }
    }

    /// Captures up to `cap` bytes. Zero is refused (turn retries off instead).
    pub fn cap(mut self, cap: usize) -> Result<Self, ConfigError> {
        if cap == 0 {
            return Err(ConfigError::new(
                "body replay",
                "cap",
                "must be at least 1 byte, got 0",
            ));
        }
        self.cap = cap;
        Ok(self)
    }

    /// Which requests are captured (and so may be retried).
    #[must_use]
    pub fn retryable(mut self, policy: RetryableRequests) -> Self {
        self.policy = policy;
        self
    }
}

impl<S> Layer<S> for ReplayBodyLayer {
    type Service = ReplayBodyService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ReplayBodyService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`ReplayBodyLayer`].
#[derive(Debug, Clone)]
pub struct ReplayBodyService<S> {
    inner: S,
    layer: ReplayBodyLayer,
}

impl<S, B> Service<Request<B>> for ReplayBodyService<S>
where
    S: Service<Request<ReplayBody<B>>>,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let retryable = self.layer.policy.may_retry(&req);
        let cap = self.layer.cap;
        let req = req.map(|body| {
            if retryable {
                ReplayBody::new(body, cap)
            } else {
                ReplayBody::pass_through(body, NotReplayable::NotRetryable)
            }
        });
        self.inner.call(req)
    }
}

/// Builds the next attempt of a request whose body is a [`ReplayBody`]: same head (method, URI,
/// headers, extensions), replayed body. `Err` says why it cannot be sent again.
pub fn next_attempt<B>(
    req: &Request<ReplayBody<B>>,
) -> Result<Request<ReplayBody<B>>, NotReplayable>
where
    B: Body,
{
    let body = req.body().handle()?.replay()?;
    Ok(Request::from_parts(head_of(req), body))
}

/// A copy of a request's head (method, URI, version, headers, extensions), to rebuild the
/// request around a replayed body.
pub(crate) fn head_of<B>(req: &Request<B>) -> http::request::Parts {
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = req.method().clone();
    parts.uri = req.uri().clone();
    parts.version = req.version();
    parts.headers = req.headers().clone();
    parts.extensions = req.extensions().clone();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_body::Frames;
    use http_body_util::{BodyExt, Full};
    use std::collections::VecDeque;

    async fn read_all<B: Body<Data = Bytes> + Unpin>(b: B) -> Vec<u8>
    where
        B::Error: fmt::Debug,
    {
        b.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_streamed_body_is_replayed_byte_for_byte() {
        let body = ReplayBody::new(Frames::data(&[b"ab", b"cd", b"ef"]), 1024);
        let h = body.handle().unwrap();
        assert_eq!(read_all(body).await, b"abcdef");
        assert_eq!(h.captured(), 6);
        for _ in 0..3 {
            assert_eq!(read_all(h.replay().unwrap()).await, b"abcdef");
        }
    }

    #[tokio::test]
    async fn a_partly_sent_body_is_completed_from_the_original() {
        let mut body = ReplayBody::new(Frames::data(&[b"ab", b"cd", b"ef"]), 1024);
        let h = body.handle().unwrap();
        // The first attempt sends one frame, then the server answers and the body is dropped.
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        drop(body);
        assert_eq!(read_all(h.replay().unwrap()).await, b"abcdef");
        assert_eq!(read_all(h.replay().unwrap()).await, b"abcdef");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_sent_once_and_not_replayed() {
        let body = ReplayBody::new(Frames::data(&[b"12345", b"67890"]), 8);
        let h = body.handle().unwrap();
        assert_eq!(read_all(body).await, b"1234567890");
        assert_eq!(h.replay().unwrap_err(), NotReplayable::TooLarge { cap: 8 });
        // The capture was freed.
        assert_eq!(lock(&h.shared).chunks.len(), 0);
    }

    #[tokio::test]
    async fn a_body_whose_size_is_known_too_large_is_never_captured() {
        let body = ReplayBody::new(Full::new(Bytes::from(vec![0u8; 100])), 10);
        assert_eq!(
            body.handle().unwrap_err(),
            NotReplayable::TooLarge { cap: 10 }
        );
        assert_eq!(read_all(body).await.len(), 100);
    }

    #[tokio::test]
    async fn trailers_are_replayed_too() {
        let mut t = HeaderMap::new();
        t.insert("x-sum", "9".parse().unwrap());
        let frames = Frames(VecDeque::from([
            Frame::data(Bytes::from_static(b"x")),
            Frame::trailers(t.clone()),
        ]));
        let body = ReplayBody::new(frames, 64);
        let h = body.handle().unwrap();
        let first = body.collect().await.unwrap();
        assert_eq!(first.trailers(), Some(&t));
        let again = h.replay().unwrap().collect().await.unwrap();
        assert_eq!(again.trailers(), Some(&t));
        assert_eq!(again.to_bytes(), "x");
    }

    #[tokio::test]
    async fn an_in_use_rest_cannot_be_replayed_twice() {
        let mut body = ReplayBody::new(Frames::data(&[b"a", b"b"]), 64);
        let h = body.handle().unwrap();
        let _ = body.frame().await;
        // `body` still holds the unread rest: a replay now would race it.
        assert_eq!(h.replay().unwrap_err(), NotReplayable::Unavailable);
        drop(body);
        assert_eq!(read_all(h.replay().unwrap()).await, b"ab");
    }

    #[tokio::test]
    async fn the_layer_captures_only_retryable_requests() {
        use tower::{ServiceExt, service_fn};
        let svc = ReplayBodyLayer::new().layer(service_fn(
            |req: Request<ReplayBody<Full<Bytes>>>| async move {
                Ok::<_, std::convert::Infallible>(next_attempt(&req).err())
            },
        ));
        let get = Request::get("/")
            .body(Full::new(Bytes::from_static(b"q")))
            .unwrap();
        assert_eq!(
            svc.clone().oneshot(get).await.unwrap(),
            Some(NotReplayable::Unavailable)
        );
        let post = Request::post("/")
            .body(Full::new(Bytes::from_static(b"q")))
            .unwrap();
        assert_eq!(
            svc.oneshot(post).await.unwrap(),
            Some(NotReplayable::NotRetryable)
        );
        assert_eq!(ReplayBodyLayer::new().cap(0).unwrap_err().field(), "cap");
    }
}
