//! Steps: a named action, with an optional compensation, each a closure or any tower service.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use resile_core::BoxError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use tower_service::Service;

use crate::context::{Compensation, StepContext};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why an action produced no recordable output.
pub(crate) enum ActionError {
    /// The action failed: it took no effect (or undid its own).
    Failed(BoxError),
    /// The action succeeded but its output could not be serialized: it took effect and cannot be
    /// compensated.
    Unrecordable(BoxError),
}

/// Why a compensation attempt failed.
pub(crate) struct CompensationError {
    pub(crate) error: BoxError,
    /// Retrying cannot help (the recorded output does not decode).
    pub(crate) permanent: bool,
}

pub(crate) trait RunAction<I>: Send + Sync + 'static {
    fn run(&self, cx: StepContext<I>) -> BoxFuture<Result<String, ActionError>>;
}

pub(crate) trait RunCompensation<I>: Send + Sync + 'static {
    fn run(
        &self,
        cx: StepContext<I>,
        output: &str,
        attempt: u32,
    ) -> BoxFuture<Result<(), CompensationError>>;
}

/// One step of a saga: a named action producing an output `O`, and optionally the compensation
/// that undoes it.
///
/// The action is a closure (`Step::new`) or any tower [`Service`] taking a [`StepContext`]
/// (`Step::service`), so a step can run through a resile stack (timeout, retry, circuit breaker)
/// like any other dependency call. Its output must be serde-serializable: it is recorded in the
/// journal, read by later steps ([`StepContext::output`]) and handed back to the compensation
/// ([`Compensation::output`]) — after a crash, too.
///
/// ```
/// use resile_saga::{Compensation, Step, StepContext};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct PaymentId(String);
///
/// let charge = Step::new("charge", |cx: StepContext<u64>| async move {
///     let cents = *cx.input();
///     // ... call the payment service with cx.idempotency_key() ...
///     Ok::<_, std::io::Error>(PaymentId(format!("pay-{cents}")))
/// })
/// .compensate(|c: Compensation<u64, PaymentId>| async move {
///     let _refund_this: &PaymentId = c.output();
///     Ok::<_, std::io::Error>(())
/// });
/// assert_eq!(charge.name(), "charge");
/// assert!(charge.has_compensation());
/// ```
pub struct Step<I, O> {
    pub(crate) name: Arc<str>,
    pub(crate) action: Arc<dyn RunAction<I>>,
    pub(crate) compensation: Option<Arc<dyn RunCompensation<I>>>,
    pub(crate) idempotent: bool,
    output: PhantomData<fn() -> O>,
}

impl<I, O> Step<I, O>
where
    I: Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    /// A step named `name` whose action is the async closure `action`.
    ///
    /// The action's error is anything that converts into a `BoxError`.
    pub fn new<F, Fut, E>(name: impl Into<Arc<str>>, action: F) -> Self
    where
        F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self::from_action(name.into(), Arc::new(FnAction(action, PhantomData)))
    }

    /// A step named `name` whose action is a call to `service` — any tower service taking a
    /// [`StepContext`], such as a resile stack around a client with `map_request` in front.
    ///
    /// Each run calls a clone of `service`, readied first.
    pub fn service<S>(name: impl Into<Arc<str>>, service: S) -> Self
    where
        S: Service<StepContext<I>, Response = O> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        Self::from_action(name.into(), Arc::new(ServiceAction(Mutex::new(service))))
    }

    fn from_action(name: Arc<str>, action: Arc<dyn RunAction<I>>) -> Self {
        Step {
            name,
            action,
            compensation: None,
            idempotent: false,
            output: PhantomData,
        }
    }

    /// Undoes the step with the async closure `compensation`, which receives the step's output.
    ///
    /// A compensation must be idempotent (it may run more than once: it is retried, and run again
    /// after a crash) — use [`Compensation::idempotency_key`] — and should succeed even when
    /// the world moved on (commutative where possible). See the crate docs.
    pub fn compensate<F, Fut, E>(mut self, compensation: F) -> Self
    where
        F: Fn(Compensation<I, O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.compensation = Some(Arc::new(FnCompensation(compensation, PhantomData)));
        self
    }

    /// Undoes the step with a call to `service`, any tower service taking a [`Compensation`]
    /// (wrap it in a timeout so a hung compensation cannot stall the saga).
    pub fn compensate_service<S>(mut self, service: S) -> Self
    where
        S: Service<Compensation<I, O>, Response = ()> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        self.compensation = Some(Arc::new(ServiceCompensation(
            Mutex::new(service),
            PhantomData,
        )));
        self
    }

    /// Declares the action idempotent: running it twice with the same
    /// [`idempotency key`](StepContext::idempotency_key) has the effect of running it once, and
    /// returns the same output.
    ///
    /// When the process died while this step ran, [`recover`](crate::Saga::recover) runs it
    /// again to learn its outcome (and its output), so it can be compensated — instead of
    /// reporting it in doubt.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

impl<I, O> Step<I, O> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the step has a compensation.
    pub fn has_compensation(&self) -> bool {
        self.compensation.is_some()
    }

    /// Whether the step was declared [idempotent](Step::idempotent).
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

impl<I, O> fmt::Debug for Step<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("compensation", &self.compensation.is_some())
            .field("idempotent", &self.idempotent)
            .finish()
    }
}

struct FnAction<F, O>(F, PhantomData<fn() -> O>);

impl<I, O, F, Fut, E> RunAction<I> for FnAction<F, O>
where
    I: Send + Sync + 'static,
    O: Serialize + 'static,
    F: Fn(StepContext<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn run(&self, cx: StepContext<I>) -> BoxFuture<Result<String, ActionError>> {
        let fut = (self.0)(cx);
        Box::pin(async move { record(fut.await.map_err(Into::into)) })
    }
}

struct ServiceAction<S>(Mutex<S>);

impl<I, S> RunAction<I> for ServiceAction<S>
where
    I: Send + Sync + 'static,
    S: Service<StepContext<I>> + Clone + Send + 'static,
    S::Response: Serialize,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn run(&self, cx: StepContext<I>) -> BoxFuture<Result<String, ActionError>> {
        let service = clone_service(&self.0);
        Box::pin(async move { record(service.oneshot(cx).await.map_err(Into::into)) })
    }
}

fn clone_service<S: Clone>(cell: &Mutex<S>) -> S {
    // Cloning cannot leave the service half-updated, so a poisoned lock still holds a good one.
    cell.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn record<O: Serialize>(result: Result<O, BoxError>) -> Result<String, ActionError> {
    let output = result.map_err(ActionError::Failed)?;
    serde_json::to_string(&output).map_err(|e| ActionError::Unrecordable(Box::new(e)))
}

fn decode<I, O: DeserializeOwned>(
    cx: StepContext<I>,
    output: &str,
    attempt: u32,
) -> Result<Compensation<I, O>, CompensationError> {
    match serde_json::from_str(output) {
        Ok(output) => Ok(Compensation {
            cx,
            output,
            attempt,
        }),
        Err(e) => Err(CompensationError {
            error: Box::new(crate::context::DataError::invalid(cx.key.step_name(), e)),
            permanent: true,
        }),
    }
}

fn transient(error: BoxError) -> CompensationError {
    CompensationError {
        error,
        permanent: false,
    }
}

struct FnCompensation<F, O>(F, PhantomData<fn() -> O>);

impl<I, O, F, Fut, E> RunCompensation<I> for FnCompensation<F, O>
where
    I: Send + Sync + 'static,
    O: DeserializeOwned + Send + 'static,
    F: Fn(Compensation<I, O>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn run(
        &self,
        cx: StepContext<I>,
        output: &str,
        attempt: u32,
    ) -> BoxFuture<Result<(), CompensationError>> {
        match decode::<I, O>(cx, output, attempt) {
            Ok(c) => {
                let fut = (self.0)(c);
                Box::pin(async move { fut.await.map_err(|e| transient(e.into())) })
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

struct ServiceCompensation<S, O>(Mutex<S>, PhantomData<fn() -> O>);

impl<I, O, S> RunCompensation<I> for ServiceCompensation<S, O>
where
    I: Send + Sync + 'static,
    O: DeserializeOwned + Send + 'static,
    S: Service<Compensation<I, O>, Response = ()> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn run(
        &self,
        cx: StepContext<I>,
        output: &str,
        attempt: u32,
    ) -> BoxFuture<Result<(), CompensationError>> {
        match decode::<I, O>(cx, output, attempt) {
            Ok(c) => {
                let service = clone_service(&self.0);
                Box::pin(async move { service.oneshot(c).await.map_err(|e| transient(e.into())) })
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}
