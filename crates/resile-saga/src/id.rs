//! Saga identities and idempotency keys.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// The longest saga id accepted, in bytes.
pub const MAX_SAGA_ID_LEN: usize = 256;

/// The identity of one saga run (an order number, a request id, or a random id).
///
/// Every journal entry, event and [`IdempotencyKey`] carries it. Cloning is cheap.
///
/// ```
/// use resile_saga::SagaId;
///
/// let id = SagaId::new("order-1042")?;
/// assert_eq!(id.as_str(), "order-1042");
/// assert!(SagaId::new("").is_err());
/// assert_ne!(SagaId::random(), SagaId::random());
/// # Ok::<(), resile_saga::InvalidSagaId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SagaId(Arc<str>);

impl SagaId {
    /// A saga id from your own identifier (an order number makes the idempotency keys meaningful
    /// to the services the saga calls).
    ///
    /// It must be 1 to [`MAX_SAGA_ID_LEN`] bytes long and contain no control characters.
    pub fn new(id: impl AsRef<str>) -> Result<SagaId, InvalidSagaId> {
        let id = id.as_ref();
        if id.is_empty() {
            return Err(InvalidSagaId("must not be empty".into()));
        }
        if id.len() > MAX_SAGA_ID_LEN {
            return Err(InvalidSagaId(format!(
                "must be at most {MAX_SAGA_ID_LEN} bytes, got {}",
                id.len()
            )));
        }
        if id.chars().any(char::is_control) {
            return Err(InvalidSagaId("must not contain control characters".into()));
        }
        Ok(SagaId(Arc::from(id)))
    }

    /// A random 128-bit id, as 32 lowercase hex digits.
    pub fn random() -> SagaId {
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        SagaId(Arc::from(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SagaId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SagaId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SagaId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl TryFrom<&str> for SagaId {
    type Error = InvalidSagaId;
    fn try_from(id: &str) -> Result<Self, Self::Error> {
        SagaId::new(id)
    }
}

impl TryFrom<String> for SagaId {
    type Error = InvalidSagaId;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        SagaId::new(id)
    }
}

/// A saga id was empty, too long or contained control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSagaId(String);

impl fmt::Display for InvalidSagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid saga id: {}", self.0)
    }
}

impl StdError for InvalidSagaId {}

/// A stable key for one step (or one step's compensation) of one saga run.
///
/// The key is the same every time the step runs for this saga id — after a retry, or after a
/// crash when [`recover`](crate::Saga::recover) runs it again — so the service the step calls can
/// recognise a repeat and answer it without acting twice (send it as an `Idempotency-Key` header,
/// or use it as a unique column).
///
/// The forms are `{saga_id}:{step}` for the step and `{saga_id}:{step}:compensate` for its
/// compensation, so a service that stores keys never confuses a charge with its refund.
///
/// ```
/// use resile_saga::{IdempotencyKey, SagaId};
///
/// let id = SagaId::new("order-7")?;
/// assert_eq!(IdempotencyKey::step(&id, "charge").as_str(), "order-7:charge");
/// assert_eq!(IdempotencyKey::compensation(&id, "charge").as_str(), "order-7:charge:compensate");
/// # Ok::<(), resile_saga::InvalidSagaId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    key: Arc<str>,
    step_len: usize,
    compensation: bool,
    saga_id: SagaId,
}

impl IdempotencyKey {
    /// The key of `step`'s action in saga run `saga_id`.
    pub fn step(saga_id: &SagaId, step: &str) -> IdempotencyKey {
        IdempotencyKey {
            key: Arc::from(format!("{saga_id}:{step}")),
            step_len: step.len(),
            compensation: false,
            saga_id: saga_id.clone(),
        }
    }

    /// The key of `step`'s compensation in saga run `saga_id`.
    pub fn compensation(saga_id: &SagaId, step: &str) -> IdempotencyKey {
        IdempotencyKey {
            key: Arc::from(format!("{saga_id}:{step}:compensate")),
            step_len: step.len(),
            compensation: true,
            saga_id: saga_id.clone(),
        }
    }

    /// The key as a string slice, ready for a header or a database column.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The saga run the key belongs to.
    pub fn saga_id(&self) -> &SagaId {
        &self.saga_id
    }

    /// The step the key belongs to.
    pub fn step_name(&self) -> &str {
        let start = self.saga_id.as_str().len() + 1;
        &self.key[start..start + self.step_len]
    }

    /// Whether this is a compensation's key.
    pub fn is_compensation(&self) -> bool {
        self.compensation
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.key, f)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saga_id_rejects_empty_long_and_control_characters() {
        assert!(SagaId::new("").is_err());
        assert!(SagaId::new("a\nb").is_err());
        assert!(SagaId::new("x".repeat(MAX_SAGA_ID_LEN + 1)).is_err());
        assert!(SagaId::new("x".repeat(MAX_SAGA_ID_LEN)).is_ok());
        let err = SagaId::new("").unwrap_err().to_string();
        assert_eq!(err, "invalid saga id: must not be empty");
    }

    #[test]
    fn random_ids_are_32_hex_digits_and_differ() {
        let a = SagaId::random();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, SagaId::random());
    }

    #[test]
    fn keys_are_stable_and_tell_steps_from_compensations() {
        let id = SagaId::new("o:1").unwrap();
        let k = IdempotencyKey::step(&id, "pay");
        assert_eq!(k, IdempotencyKey::step(&id, "pay"));
        assert_eq!(k.as_str(), "o:1:pay");
        assert_eq!(k.step_name(), "pay");
        assert_eq!(k.saga_id(), &id);
        assert!(!k.is_compensation());
        let c = IdempotencyKey::compensation(&id, "pay");
        assert_ne!(k, c);
        assert!(c.is_compensation());
        assert_eq!(c.step_name(), "pay");
        assert_eq!(c.to_string(), "o:1:pay:compensate");
    }
}
