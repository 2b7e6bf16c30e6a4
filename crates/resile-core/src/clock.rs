//! One clock read per call: the instant a call began, shared by the layers it passes through.
//!
//! Several layers of a stack want "now" while a request is being made: the total timeout to
//! fix the deadline, the attempt timeout to check that deadline has not already passed, the
//! retry layer for its own deadline, telemetry to start its timers. Each `Instant::now()` costs
//! 25–40 ns on the machines we measure, and all of them fall within the same synchronous
//! `call`, nanoseconds apart. So the first layer that reads the clock opens a *call scope* with
//! [`scope`] around its inner `call`, and the layers inside take the instant with [`now`]
//! instead of reading the clock again.
//!
//! - A scope covers only the synchronous `call` it wraps — never a poll, never an `.await` — so
//!   the instant it hands out is at most as old as that `call` has run.
//! - [`now`] outside any scope reads the clock ([`tokio::time::Instant::now`], so a paused test
//!   clock drives it too).
//! - Scopes nest: an inner one replaces the instant until it ends, then the outer one's is back.
//!   A panic inside a scope ends it too. A stack called from inside another stack's `call` (a
//!   client whose `call` synchronously calls a second dependency) shares the outer instant.
//!
//! ```
//! use resile_core::clock;
//! use tokio::time::Instant;
//!
//! let start = Instant::now();
//! let seen = clock::scope(start, || {
//!     // A layer inside the call: no second clock read.
//!     clock::now()
//! });
//! assert_eq!(seen, start);
//! assert!(clock::scoped().is_none(), "the scope ended with the call");
//! ```

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    static CALL: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The instant of the call being made on this thread, if a layer outside opened a [`scope`].
#[inline]
pub fn scoped() -> Option<Instant> {
    CALL.try_with(Cell::get).ok().flatten()
}

/// The instant of the call being made: the [`scope`]'s, or else a fresh clock read.
#[inline]
pub fn now() -> Instant {
    scoped().unwrap_or_else(Instant::now)
}

/// Runs `call` — a layer's synchronous call of its inner service — with `instant` as the
/// instant every layer inside it gets from [`now`].
#[inline]
pub fn scope<R>(instant: Instant, call: impl FnOnce() -> R) -> R {
    let _scope = enter(instant);
    call()
}

/// Opens a call scope with `instant` until the returned guard is dropped: [`scope`] for a
/// layer that decides at run time whether it has an instant to share, and should not write its
/// inner `call` twice (`let _scope = started.map(clock::enter);`).
#[inline]
#[must_use = "the scope ends when the guard is dropped"]
pub fn enter(instant: Instant) -> Scope {
    match CALL.try_with(|c| c.replace(Some(instant))) {
        Ok(previous) => Scope(Restore::To(previous)),
        // While the thread exits there is no scope: every layer reads the clock.
        Err(_) => Scope(Restore::Nothing),
    }
}

/// An open call scope; dropping it ends the scope (see [`enter`]).
#[derive(Debug)]
pub struct Scope(Restore);

#[derive(Debug)]
enum Restore {
    /// The instant of the scope this one is inside, if any.
    To(Option<Instant>),
    /// The scope could not be opened.
    Nothing,
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        if let Restore::To(previous) = self.0 {
            let _ = CALL.try_with(|c| c.set(previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outside_a_scope_now_reads_the_clock() {
        assert!(scoped().is_none());
        let before = Instant::now();
        let read = now();
        assert!(read >= before);
    }

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Instant::now();
        let inner = outer + Duration::from_secs(5);
        scope(outer, || {
            assert_eq!(now(), outer);
            scope(inner, || assert_eq!(now(), inner));
            assert_eq!(now(), outer, "the outer scope is back");
        });
        assert!(scoped().is_none());
    }

    #[test]
    fn a_panic_inside_a_scope_ends_it() {
        let at = Instant::now() + Duration::from_secs(1);
        let caught = std::panic::catch_unwind(|| scope(at, || panic!("inner call failed")));
        assert!(caught.is_err());
        assert!(scoped().is_none());
    }

    #[test]
    fn an_entered_scope_lasts_until_its_guard_drops() {
        let at = Instant::now() + Duration::from_secs(2);
        let guard = enter(at);
        assert_eq!(scoped(), Some(at));
        drop(guard);
        assert!(scoped().is_none());
        let none: Option<Scope> = None::<Instant>.map(enter);
        assert!(none.is_none() && scoped().is_none());
    }

    #[test]
    fn a_scope_is_per_thread() {
        let at = Instant::now() + Duration::from_secs(1);
        scope(at, || {
            let other = std::thread::spawn(scoped).join().unwrap();
            assert!(other.is_none(), "another thread is not inside this call");
        });
    }
}
