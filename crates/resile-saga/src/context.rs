//! What a step and a compensation are given: the saga's input, earlier steps' outputs, and a
//! stable idempotency key.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use resile_core::Name;
use serde::de::DeserializeOwned;

use crate::id::{IdempotencyKey, SagaId};

/// The saga run's fixed facts, shared by every context of the run.
pub(crate) struct Shared<I> {
    pub(crate) saga: Name,
    pub(crate) saga_id: SagaId,
    pub(crate) input: I,
}

/// The outputs of the completed steps, as JSON, in completion order. Cheap to clone: a context
/// holds a snapshot taken when its step starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outputs(Arc<Vec<(Arc<str>, Arc<str>)>>);

impl Outputs {
    pub(crate) fn get(&self, step: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| &**name == step)
            .map(|(_, json)| &**json)
    }

    pub(crate) fn with(&self, step: Arc<str>, json: Arc<str>) -> Outputs {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.extend(self.0.iter().cloned());
        v.push((step, json));
        Outputs(Arc::new(v))
    }

    pub(crate) fn read<T: DeserializeOwned>(&self, step: &str) -> Result<T, DataError> {
        let json = self.get(step).ok_or_else(|| DataError::missing(step))?;
        serde_json::from_str(json).map_err(|e| DataError::invalid(step, e))
    }
}

/// What a step's action receives: the saga's input, the outputs of the steps before it, and its
/// [`IdempotencyKey`]. Cheap to clone.
///
/// ```
/// use resile_saga::{Saga, Step, StepContext};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Reservation { id: u64 }
///
/// let reserve = Step::new("reserve", |_cx: StepContext<String>| async {
///     Ok::<_, std::io::Error>(Reservation { id: 7 })
/// });
/// let charge = Step::new("charge", |cx: StepContext<String>| async move {
///     let reservation: Reservation = cx.output("reserve")?;
///     let customer: &String = cx.input();
///     // Send cx.idempotency_key() along so a repeat is recognised.
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(format!("{customer}/{}", reservation.id))
/// });
/// let saga = Saga::builder("order").step(reserve).step(charge).build()?;
/// # Ok::<(), resile_core::ConfigError>(())
/// ```
pub struct StepContext<I> {
    pub(crate) shared: Arc<Shared<I>>,
    pub(crate) outputs: Outputs,
    pub(crate) key: IdempotencyKey,
    pub(crate) replay: bool,
}

impl<I> StepContext<I> {
    /// The saga's name.
    pub fn saga(&self) -> &Name {
        &self.shared.saga
    }

    /// The saga run.
    pub fn saga_id(&self) -> &SagaId {
        &self.shared.saga_id
    }

    /// This step's name.
    pub fn step(&self) -> &str {
        self.key.step_name()
    }

    /// This step's idempotency key: the same every time this step runs for this saga run.
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// The saga's input.
    pub fn input(&self) -> &I {
        &self.shared.input
    }

    /// The output of the completed step `step`, deserialized as `T`.
    pub fn output<T: DeserializeOwned>(&self, step: &str) -> Result<T, DataError> {
        self.outputs.read(step)
    }

    /// Whether this run of the step is a repeat by [`recover`](crate::Saga::recover): the
    /// process died while the step ran, so it may already have taken effect once.
    pub fn is_replay(&self) -> bool {
        self.replay
    }
}

impl<I> Clone for StepContext<I> {
    fn clone(&self) -> Self {
        StepContext {
            shared: self.shared.clone(),
            outputs: self.outputs.clone(),
            key: self.key.clone(),
            replay: self.replay,
        }
    }
}

impl<I> fmt::Debug for StepContext<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepContext")
            .field("saga", &self.shared.saga)
            .field("key", &self.key)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

/// What a compensation receives: the output of the step it undoes, the saga's input, the other
/// steps' outputs, its own [`IdempotencyKey`] and the attempt number.
///
/// The output is read back from the journal's JSON, exactly as it would be after a crash, so a
/// compensation that works in a test works in recovery too.
pub struct Compensation<I, O> {
    pub(crate) cx: StepContext<I>,
    pub(crate) output: O,
    pub(crate) attempt: u32,
}

impl<I, O> Compensation<I, O> {
    /// The output of the step being undone (the payment id a refund needs).
    pub fn output(&self) -> &O {
        &self.output
    }

    /// Takes the output of the step being undone.
    pub fn into_output(self) -> O {
        self.output
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The compensation's idempotency key (`{saga_id}:{step}:compensate`), the same on every
    /// attempt and after a crash.
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.cx.key
    }

    /// The key the step's action was given (`{saga_id}:{step}`), to find what it did.
    pub fn step_key(&self) -> IdempotencyKey {
        IdempotencyKey::step(self.cx.saga_id(), self.cx.step())
    }

    /// The saga's name.
    pub fn saga(&self) -> &Name {
        self.cx.saga()
    }

    /// The saga run.
    pub fn saga_id(&self) -> &SagaId {
        self.cx.saga_id()
    }

    /// The name of the step being undone.
    pub fn step(&self) -> &str {
        self.cx.step()
    }

    /// The saga's input.
    pub fn input(&self) -> &I {
        self.cx.input()
    }

    /// The output of another completed step, deserialized as `T`.
    pub fn step_output<T: DeserializeOwned>(&self, step: &str) -> Result<T, DataError> {
        self.cx.output(step)
    }

    /// Whether this compensation runs in [`recover`](crate::Saga::recover), after a crash.
    pub fn is_recovery(&self) -> bool {
        self.cx.replay
    }
}

impl<I, O: fmt::Debug> fmt::Debug for Compensation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compensation")
            .field("key", &self.cx.key)
            .field("output", &self.output)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// A step's output could not be read: the step has not completed, or its output is not a `T`.
#[derive(Debug)]
pub struct DataError {
    step: String,
    source: Option<serde_json::Error>,
}

impl DataError {
    pub(crate) fn missing(step: &str) -> Self {
        DataError {
            step: step.to_owned(),
            source: None,
        }
    }

    pub(crate) fn invalid(step: &str, source: serde_json::Error) -> Self {
        DataError {
            step: step.to_owned(),
            source: Some(source),
        }
    }

    /// The step whose output was asked for.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Whether the step has no output (it has not completed, or does not exist).
    pub fn is_missing(&self) -> bool {
        self.source.is_none()
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            None => write!(
                f,
                "step `{}` has no output: it has not completed",
                self.step
            ),
            Some(e) => write!(
                f,
                "output of step `{}` does not have the type asked for: {e}",
                self.step
            ),
        }
    }
}

impl StdError for DataError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_read_back_typed_and_missing_ones_say_so() {
        let o = Outputs::default()
            .with(Arc::from("a"), Arc::from("42"))
            .with(Arc::from("b"), Arc::from("\"x\""));
        assert_eq!(o.read::<u32>("a").unwrap(), 42);
        assert_eq!(o.read::<String>("b").unwrap(), "x");
        let missing = o.read::<u32>("c").unwrap_err();
        assert!(missing.is_missing());
        assert_eq!(missing.step(), "c");
        assert_eq!(
            missing.to_string(),
            "step `c` has no output: it has not completed"
        );
        let wrong = o.read::<u32>("b").unwrap_err();
        assert!(!wrong.is_missing());
        assert!(wrong.source().is_some());
        assert!(wrong.to_string().starts_with("output of step `b`"));
    }
}
