//! [`Timer`]: a tokio sleep kept out of line, its storage recycled per thread.
//!
//! A response future that may have to wait (a timeout, a retry's backoff) needs a
//! [`tokio::time::Sleep`], 112 bytes. Stored inline, it makes every future of every call that
//! much larger, whether or not the call ever waits, and a stack moves its nested futures on
//! every call. Boxed, it costs an allocation on every call that waits, which is every real
//! network call. A [`Timer`] is boxed, but its box comes from a small pool of the thread that
//! arms it and goes back to the pool of the thread that drops it: a future carries 8 bytes, and
//! in the steady state arming a timer allocates nothing.
//!
//! A pooled box holds no sleep: the sleep is dropped (and so taken off tokio's timer wheel)
//! when the timer is, and a new one is made, with the runtime current then, when the box is
//! used again. Each thread keeps at most [`POOL_SIZE`] boxes.
//!
//! ```
//! use std::time::Duration;
//! use resile_core::timer::Timer;
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let start = Instant::now();
//! Timer::new(start + Duration::from_millis(250)).await;
//! assert_eq!(start.elapsed(), Duration::from_millis(250));
//! # }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep, sleep_until};

/// How many idle boxes a thread keeps for the timers it will arm.
pub const POOL_SIZE: usize = 32;

type Slot = Pin<Box<Option<Sleep>>>;

thread_local! {
    static POOL: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

fn take_slot() -> Slot {
    POOL.try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::pin(None))
}

fn give_back(slot: Slot) {
    // While the thread exits (the pool is gone), or when the pool is full, the box is freed.
    let _ = POOL.try_with(move |pool| {
        if let Ok(mut p) = pool.try_borrow_mut()
            && p.len() < POOL_SIZE
        {
            p.push(slot);
        }
    });
}

/// A sleep until a deadline, stored out of line in a box recycled per thread (see the
/// [module](self)). A future that awaits it, or polls it with
/// [`poll_elapsed`](Timer::poll_elapsed); it is `Unpin`.
pub struct Timer {
    slot: Option<Slot>,
}

impl Timer {
    /// A timer that completes at `deadline` (at once when it has passed), on the current tokio
    /// runtime's clock.
    ///
    /// # Panics
    /// As [`tokio::time::sleep_until`]: outside a tokio runtime with the time driver enabled.
    pub fn new(deadline: Instant) -> Self {
        let mut slot = take_slot();
        slot.as_mut().set(Some(sleep_until(deadline)));
        Self { slot: Some(slot) }
    }

    fn sleep(&mut self) -> Option<Pin<&mut Sleep>> {
        self.slot.as_mut().and_then(|s| s.as_mut().as_pin_mut())
    }

    /// When the timer completes.
    pub fn deadline(&self) -> Instant {
        match self.slot.as_ref().and_then(|s| s.as_ref().as_pin_ref()) {
            Some(sleep) => sleep.deadline(),
            None => unreachable!("a Timer holds its sleep until dropped"),
        }
    }

    /// Moves the deadline, as [`Sleep::reset`] does.
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(sleep) = self.sleep() {
            sleep.reset(deadline);
        }
    }

    /// `Ready` once the deadline has passed; else `Pending`, with the task woken then.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Ready(()),
        }
    }

    /// Whether the deadline has passed (as of the last time the runtime's timer ran).
    pub fn is_elapsed(&self) -> bool {
        self.slot
            .as_ref()
            .and_then(|s| s.as_ref().as_pin_ref())
            .is_none_or(|s| s.is_elapsed())
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_elapsed(cx)
    }
}

impl Drop for Timer {
    #[inline]
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            recycle(slot);
        }
    }
}

/// Takes the sleep off the timer wheel and gives the box back for the next timer of this
/// thread.
#[inline(never)]
fn recycle(mut slot: Slot) {
    slot.as_mut().set(None);
    give_back(slot);
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// How many boxes this thread's pool holds now.
#[cfg(test)]
fn pooled() -> usize {
    POOL.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn drain_pool() {
        POOL.with(|p| p.borrow_mut().clear());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn completes_at_its_deadline_and_not_before() {
        let start = Instant::now();
        let mut t = Timer::new(start + Duration::from_millis(100));
        assert_eq!(t.deadline(), start + Duration::from_millis(100));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(t.poll_elapsed(&mut cx).is_pending());
        assert!(!t.is_elapsed());
        (&mut t).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert!(t.is_elapsed());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn reset_moves_the_deadline() {
        let start = Instant::now();
        let mut t = Timer::new(start + Duration::from_secs(10));
        t.reset(start + Duration::from_millis(5));
        t.await;
        assert_eq!(start.elapsed(), Duration::from_millis(5));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_dropped_timer_gives_its_box_to_the_next_one() {
        drain_pool();
        let first = Timer::new(Instant::now() + Duration::from_secs(1));
        let first_box = first.slot.as_ref().map(|s| &**s as *const Option<Sleep>);
        assert_eq!(pooled(), 0);
        drop(first);
        assert_eq!(pooled(), 1, "kept for the next timer");
        let second = Timer::new(Instant::now() + Duration::from_secs(2));
        assert_eq!(pooled(), 0, "taken back");
        let second_box = second.slot.as_ref().map(|s| &**s as *const Option<Sleep>);
        assert_eq!(first_box, second_box, "the same box, no new allocation");
        drop(second);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_pool_keeps_at_most_pool_size_boxes() {
        drain_pool();
        let timers: Vec<Timer> = (0..POOL_SIZE + 5)
            .map(|i| Timer::new(Instant::now() + Duration::from_millis(i as u64)))
            .collect();
        drop(timers);
        assert_eq!(pooled(), POOL_SIZE);
        drain_pool();
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_pooled_box_holds_no_sleep() {
        drain_pool();
        drop(Timer::new(Instant::now() + Duration::from_secs(1)));
        POOL.with(|p| assert!(p.borrow().iter().all(|s| s.is_none())));
    }

    #[test]
    fn a_box_from_one_runtime_serves_a_timer_on_the_next() {
        drain_pool();
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let start = Instant::now();
                Timer::new(start + Duration::from_millis(30)).await;
                assert_eq!(start.elapsed(), Duration::from_millis(30));
            });
        }
        assert_eq!(pooled(), 1);
    }
}
