//! Body wrappers.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use resile_core::Verdict;

use crate::classify::GrpcClassifier;

pin_project! {
    /// A response body that classifies the gRPC status in its trailers when the stream ends and
    /// hands the verdict to a callback, once.
    ///
    /// Retry and the breaker judge a response when its head arrives; a gRPC status that only
    /// comes in the trailers of a streamed body is known later. Wrap the body to feed that
    /// verdict to telemetry or to your own accounting.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use resile_http::body::ClassifyTrailers;
    /// use resile_http::classify::GrpcClassifier;
    /// use std::sync::{Arc, Mutex};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let seen = Arc::new(Mutex::new(None));
    /// let sink = seen.clone();
    /// let body = ClassifyTrailers::new(Full::new(Bytes::from_static(b"msg")), GrpcClassifier::new(),
    ///     move |v| *sink.lock().unwrap() = Some(v));
    /// let _ = body.collect().await;
    /// // No trailers at all: gRPC treats that as UNKNOWN, a failure.
    /// assert!(seen.lock().unwrap().unwrap().is_failure());
    /// # }
    /// ```
    pub struct ClassifyTrailers<B, F> {
        #[pin]
        inner: B,
        classifier: GrpcClassifier,
        on_verdict: Option<F>,
    }
}

impl<B, F> ClassifyTrailers<B, F>
where
    F: FnOnce(Verdict),
{
    /// Wraps `inner`; `on_verdict` runs once, at the trailers or at the end of the stream.
    pub fn new(inner: B, classifier: GrpcClassifier, on_verdict: F) -> Self {
        Self {
            inner,
            classifier,
            on_verdict: Some(on_verdict),
        }
    }
}

impl<B: fmt::Debug, F> fmt::Debug for ClassifyTrailers<B, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifyTrailers")
            .field("inner", &self.inner)
            .field("done", &self.on_verdict.is_none())
            .finish()
    }
}

impl<B, F> Body for ClassifyTrailers<B, F>
where
    B: Body,
    F: FnOnce(Verdict),
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    report(this.on_verdict, this.classifier, Some(trailers));
                }
            }
            Poll::Ready(None) => report(this.on_verdict, this.classifier, None),
            Poll::Ready(Some(Err(_))) => {
                if let Some(f) = this.on_verdict.take() {
                    f(Verdict::retryable_failure());
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn report<F: FnOnce(Verdict)>(
    slot: &mut Option<F>,
    classifier: &GrpcClassifier,
    trailers: Option<&HeaderMap>,
) {
    if let Some(f) = slot.take() {
        f(classifier.classify_trailers(trailers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_body::Frames;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn trailers_status_is_reported_once() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        let frames = Frames(VecDeque::from([
            Frame::data(Bytes::from_static(b"a")),
            Frame::trailers(trailers),
        ]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let body = ClassifyTrailers::new(frames, GrpcClassifier::new(), move |v| {
            sink.lock().unwrap().push(v)
        });
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"a"));
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            1,
            "reported exactly once, though the stream also ended"
        );
        assert!(seen[0].is_retryable());
    }

    #[tokio::test]
    async fn ok_trailers_are_a_success() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let body = ClassifyTrailers::new(
            Frames(VecDeque::from([Frame::trailers(trailers)])),
            GrpcClassifier::new(),
            move |v| *sink.lock().unwrap() = Some(v),
        );
        body.collect().await.unwrap();
        assert_eq!(*seen.lock().unwrap(), Some(Verdict::Success));
    }
}
