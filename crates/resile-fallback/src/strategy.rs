//! The kinds of fallback: a fixed value, a function of the request key and the primary's
//! outcome (sync, fallible, or async), a backup tower service, or the last known good answer.
//!
//! A fallback that answers at once (value, function, cache) costs no allocation; an async
//! function or a backup service is boxed once each time it runs — only on the degraded path.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use resile_core::{BoxError, Name};
use tower_service::Service;

use crate::call::Call;
use crate::last_good::Memory;

/// A fallback's answer still to come.
pub(crate) type BoxAnswer<Res> = Pin<Box<dyn Future<Output = Result<Res, BoxError>> + Send>>;

/// What starting a fallback gives.
pub(crate) enum Step<Res> {
    /// Answered (or failed) at once; a cached answer has an age.
    Ready(Result<(Res, Option<Duration>), BoxError>),
    /// Answers later.
    Pending(BoxAnswer<Res>),
}

/// One kind of fallback.
pub(crate) trait Strategy<K, Res, E>: Send + Sync {
    fn start(&self, key: &K, primary: &Result<Res, E>) -> Step<Res>;
}

/// One fallback in the chain, with its label.
pub(crate) struct Link<K, Res, E> {
    pub(crate) label: Name,
    pub(crate) strategy: Box<dyn Strategy<K, Res, E>>,
}

pub(crate) struct Value<Res>(pub(crate) Res);

impl<K, Res, E> Strategy<K, Res, E> for Value<Res>
where
    Res: Clone + Send + Sync,
{
    fn start(&self, _: &K, _: &Result<Res, E>) -> Step<Res> {
        Step::Ready(Ok((self.0.clone(), None)))
    }
}

pub(crate) struct Function<F>(pub(crate) F);

impl<K, Res, E, F> Strategy<K, Res, E> for Function<F>
where
    F: Fn(&K, &Result<Res, E>) -> Res + Send + Sync,
{
    fn start(&self, key: &K, primary: &Result<Res, E>) -> Step<Res> {
        Step::Ready(Ok(((self.0)(key, primary), None)))
    }
}

pub(crate) struct TryFunction<F, E2>(pub(crate) F, pub(crate) PhantomData<fn() -> E2>);

impl<K, Res, E, F, E2> Strategy<K, Res, E> for TryFunction<F, E2>
where
    F: Fn(&K, &Result<Res, E>) -> Result<Res, E2> + Send + Sync,
    E2: Into<BoxError>,
{
    fn start(&self, key: &K, primary: &Result<Res, E>) -> Step<Res> {
        Step::Ready(
            (self.0)(key, primary)
                .map(|r| (r, None))
                .map_err(Into::into),
        )
    }
}

pub(crate) struct AsyncFunction<F, Fut>(pub(crate) F, pub(crate) PhantomData<fn() -> Fut>);

impl<K, Res, E, F, Fut, E2> Strategy<K, Res, E> for AsyncFunction<F, Fut>
where
    F: Fn(&K, &Result<Res, E>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Res, E2>> + Send + 'static,
    E2: Into<BoxError>,
    Res: Send + 'static,
{
    fn start(&self, key: &K, primary: &Result<Res, E>) -> Step<Res> {
        let fut = (self.0)(key, primary);
        Step::Pending(Box::pin(async move { fut.await.map_err(Into::into) }))
    }
}

pub(crate) struct Backup<S>(pub(crate) S);

impl<K, Res, E, S> Strategy<K, Res, E> for Backup<S>
where
    S: Service<K, Response = Res> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    K: Clone + Send + 'static,
    Res: Send + 'static,
{
    fn start(&self, key: &K, _: &Result<Res, E>) -> Step<Res> {
        let call = Call::new(self.0.clone(), key.clone());
        Step::Pending(Box::pin(async move { call.await.map_err(Into::into) }))
    }
}

pub(crate) struct Remembered<K, Res>(pub(crate) Arc<dyn Memory<K, Res>>);

impl<K, Res, E> Strategy<K, Res, E> for Remembered<K, Res>
where
    K: 'static,
    Res: 'static,
{
    fn start(&self, key: &K, _: &Result<Res, E>) -> Step<Res> {
        Step::Ready(self.0.recall(key).map(|(r, age)| (r, Some(age))))
    }
}
