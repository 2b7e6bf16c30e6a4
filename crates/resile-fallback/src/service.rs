//! [`Fallback`]: the service.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::degraded::MarkDegraded;
use crate::future::ResponseFuture;
use crate::handle::FallbackHandle;
use crate::layer::{FallbackLayer, Shared};
use crate::stripe::Holder;

/// Wraps a service and answers from a chain of fallbacks when it fails. Built by
/// [`FallbackLayer`].
///
/// Keeps the inner error type: a fallback adds no failure mode. `poll_ready` is the inner
/// service's (an error there is passed on: with no request there is nothing to fall back
/// for). Clones share the layer's counters and cache.
pub struct Fallback<S, Req, Res, E, K = ()>
where
    Req: 'static,
    Res: 'static,
    E: 'static,
    K: 'static,
{
    inner: S,
    shared: Holder<Shared<Req, Res, E, K>>,
}

impl<S, Req: 'static, Res: 'static, E: 'static, K: 'static> Fallback<S, Req, Res, E, K> {
    /// Wraps `inner` with the fallbacks configured in `layer`.
    pub fn new(inner: S, layer: &FallbackLayer<Req, Res, E, K>) -> Self {
        Self {
            inner,
            shared: layer.shared.clone(),
        }
    }

    /// Counters and cache control, shared with the layer and every clone.
    pub fn handle(&self) -> FallbackHandle {
        self.shared.handle()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, Req: 'static, Res: 'static, E: 'static, K: 'static> Clone
    for Fallback<S, Req, Res, E, K>
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, Req: 'static, Res: 'static, E: 'static, K: 'static> fmt::Debug
    for Fallback<S, Req, Res, E, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("name", &self.shared.name)
            .field("chain", &self.shared.labels)
            .finish()
    }
}

impl<S, Req, Res, E, K> Service<Req> for Fallback<S, Req, Res, E, K>
where
    S: Service<Req, Response = Res, Error = E>,
    Req: 'static,
    Res: MarkDegraded + 'static,
    E: 'static,
    K: 'static,
{
    type Response = Res;
    type Error = E;
    type Future = ResponseFuture<S::Future, Req, Res, E, K>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        // The key is taken before the primary consumes the request; the future never needs the
        // inner service, so it is not moved out.
        let key = self.shared.key_of(&req);
        let future = self.inner.call(req);
        ResponseFuture::new(future, key, self.shared.ticket())
    }
}
