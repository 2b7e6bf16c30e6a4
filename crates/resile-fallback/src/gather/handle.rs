//! Typed handles: what [`Gather`](super::Gather) gives back for each source, and what
//! [`Gathered::take`] turns into the source's value.

use std::fmt;
use std::marker::PhantomData;

use super::result::Gathered;

/// Turns a handle into its source's value. Implemented by [`Required`], [`Optional`] and
/// [`OrDefault`] only.
pub trait Slot: sealed::Sealed {
    /// What [`Gathered::take`] returns for this handle.
    type Output;

    /// Takes the value out of `gathered`; see [`Gathered::take`].
    fn take_from(self, gathered: &mut Gathered) -> Self::Output;
}

mod sealed {
    pub trait Sealed {}
}

/// The handle of a required source: [`Gathered::take`] gives its value.
pub struct Required<T> {
    pub(crate) gather: u64,
    pub(crate) index: usize,
    pub(crate) _value: PhantomData<fn() -> T>,
}

/// The handle of an optional source: [`Gathered::take`] gives `Some(value)`, or `None` when it
/// failed or did not answer in time.
pub struct Optional<T> {
    pub(crate) gather: u64,
    pub(crate) index: usize,
    pub(crate) _value: PhantomData<fn() -> T>,
}

/// The handle of an optional source with a default: [`Gathered::take`] gives its value, or the
/// default when it failed or did not answer in time.
pub struct OrDefault<T> {
    pub(crate) gather: u64,
    pub(crate) index: usize,
    pub(crate) default: T,
}

impl<T> sealed::Sealed for Required<T> {}
impl<T> sealed::Sealed for Optional<T> {}
impl<T> sealed::Sealed for OrDefault<T> {}

impl<T: 'static> Slot for Required<T> {
    type Output = T;

    fn take_from(self, gathered: &mut Gathered) -> T {
        match gathered.slot::<T>(self.gather, self.index).take() {
            Some(v) => v,
            // `run` only succeeds once every required source answered, and a handle is taken
            // once (it is moved): this cannot happen.
            None => unreachable!("a required source's value is present once the gather succeeded"),
        }
    }
}

impl<T: 'static> Slot for Optional<T> {
    type Output = Option<T>;

    fn take_from(self, gathered: &mut Gathered) -> Option<T> {
        gathered.slot::<T>(self.gather, self.index).take()
    }
}

impl<T: 'static> Slot for OrDefault<T> {
    type Output = T;

    fn take_from(self, gathered: &mut Gathered) -> T {
        gathered
            .slot::<T>(self.gather, self.index)
            .take()
            .unwrap_or(self.default)
    }
}

macro_rules! debug_handle {
    ($($t:ident),*) => {
        $(
            impl<T> fmt::Debug for $t<T> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.debug_struct(stringify!($t)).field("index", &self.index).finish()
                }
            }
        )*
    };
}

debug_handle!(Required, Optional, OrDefault);
