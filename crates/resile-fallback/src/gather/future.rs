//! [`GatherFuture`]: polls every source in one future until all answered or the deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use resile_core::Deadline;
use tokio::time::Sleep;

use super::error::GatherError;
use super::result::Gathered;
use super::source::{Entry, Status};

pin_project! {
    /// The future of [`Gather::run`](super::Gather::run): resolves to every source's outcome,
    /// or to the first required source's failure.
    ///
    /// The sources run concurrently inside this one future (no task is spawned); each is
    /// polled when the future is woken. At the deadline, the sources still running are dropped
    /// — cancelled — and recorded as timed out. Dropping this future drops them all.
    pub struct GatherFuture {
        #[pin]
        sleep: Sleep,
        gather: u64,
        deadline: Deadline,
        budget: Option<Duration>,
        entries: Option<Vec<Entry>>,
    }
}

impl GatherFuture {
    pub(crate) fn new(gather: u64, deadline: Deadline, entries: Vec<Entry>) -> Self {
        Self {
            sleep: tokio::time::sleep_until(deadline.instant()),
            gather,
            deadline,
            budget: Some(deadline.remaining()),
            entries: Some(entries),
        }
    }
}

impl fmt::Debug for GatherFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().flatten().map(|e| &*e.name).collect();
        f.debug_struct("GatherFuture")
            .field("deadline", &self.deadline)
            .field("sources", &names)
            .finish()
    }
}

fn cancel_running(entries: &mut [Entry], status: impl Fn() -> Status) {
    for e in entries {
        if matches!(e.status, Status::Running) {
            e.source.as_mut().cancel();
            e.status = status();
        }
    }
}

impl Future for GatherFuture {
    type Output = Result<Gathered, GatherError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(entries) = this.entries.as_mut() else {
            panic!("`GatherFuture` polled after completion");
        };

        // Sources first: one that is ready at the deadline still counts.
        let mut running = 0usize;
        for i in 0..entries.len() {
            let entry = &mut entries[i];
            if !matches!(entry.status, Status::Running) {
                continue;
            }
            match entry.source.as_mut().poll_source(cx) {
                Poll::Pending => running += 1,
                Poll::Ready(Ok(())) => entry.status = Status::Answered,
                Poll::Ready(Err(e)) if entry.required => {
                    let name = entry.name.clone();
                    entry.status = Status::Cancelled;
                    cancel_running(entries, || Status::Cancelled);
                    *this.entries = None;
                    return Poll::Ready(Err(GatherError::failed(name, e)));
                }
                Poll::Ready(Err(e)) => entry.status = Status::Failed(e),
            }
        }

        if running > 0 {
            if this.sleep.poll(cx).is_pending() {
                return Poll::Pending;
            }
            let late_required = entries
                .iter()
                .find(|e| e.required && matches!(e.status, Status::Running))
                .map(|e| e.name.clone());
            if let Some(name) = late_required {
                cancel_running(entries, || Status::Cancelled);
                *this.entries = None;
                return Poll::Ready(Err(GatherError::timed_out(name, *this.budget)));
            }
            cancel_running(entries, || Status::TimedOut);
        }

        let entries = this.entries.take().unwrap_or_default();
        Poll::Ready(Ok(Gathered {
            gather: *this.gather,
            deadline: *this.deadline,
            entries,
        }))
    }
}
