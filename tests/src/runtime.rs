//! Runtimes for end-to-end tests, each bounded by a real-time limit.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `test` on a fresh current-thread runtime whose clock starts paused, on its own thread,
/// and fails (panics) if it has not finished within `limit` of *real* time.
///
/// The limit is a watchdog, not a timer inside the runtime, so it never moves the paused clock.
/// A panic inside `test` is re-raised with its original message.
///
/// # Panics
///
/// If `test` panics, or does not finish within `limit`.
pub fn with_paused_clock<F, Fut>(limit: Duration, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    bounded(limit, true, test)
}

/// Like [`with_paused_clock`], with the clock running in real time (for tests that must not
/// auto-advance, such as ones that wait on IO with a timer pending).
///
/// # Panics
///
/// If `test` panics, or does not finish within `limit`.
pub fn with_real_clock<F, Fut>(limit: Duration, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    bounded(limit, false, test)
}

fn bounded<F, Fut>(limit: Duration, paused: bool, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (done, finished) = mpsc::channel::<()>();
    let runner = std::thread::Builder::new()
        .name("resile-test".into())
        .spawn(move || {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            if paused {
                builder.start_paused(true);
            }
            let rt = builder
                .build()
                .unwrap_or_else(|e| panic!("test runtime: {e}"));
            rt.block_on(test());
            let _ = done.send(());
        })
        .unwrap_or_else(|e| panic!("test thread: {e}"));
    match finished.recv_timeout(limit) {
        Ok(()) => {
            let _ = runner.join();
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("test thread ended without finishing"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test did not finish within {limit:?} of real time (hung?)")
        }
    }
}
