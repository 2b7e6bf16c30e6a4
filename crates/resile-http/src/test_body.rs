//! A request or response body made of given frames, for this crate's unit tests.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

/// Yields its frames in order, then ends; no size hint (a streaming body).
pub(crate) struct Frames(pub(crate) VecDeque<Frame<Bytes>>);

impl Frames {
    /// Data frames, one per slice.
    pub(crate) fn data(parts: &[&'static [u8]]) -> Self {
        Frames(
            parts
                .iter()
                .map(|p| Frame::data(Bytes::from_static(p)))
                .collect(),
        )
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}
