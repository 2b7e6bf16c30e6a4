//! The fair queue of callers waiting for a permit: first come, first served.
//!
//! Only the waiting modes use it, and only when the bulkhead is full, so a lock here is off the
//! hot path. Entries are kept in arrival order; a released permit is *granted* to the oldest
//! entry not yet granted, which takes it on its next poll. The deque keeps its capacity, so a
//! steady queue allocates nothing per call.

use std::collections::VecDeque;
use std::task::Waker;

#[derive(Debug)]
struct Entry {
    ticket: u64,
    waker: Option<Waker>,
    granted: bool,
}

/// The waiting callers, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    next_ticket: u64,
    entries: VecDeque<Entry>,
    granted: usize,
}

/// What a waiter finds when it looks at its entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Look {
    Granted,
    Waiting,
}

impl Queue {
    /// Adds a waiter at the back; returns its ticket.
    pub(crate) fn push(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.entries.push_back(Entry {
            ticket,
            waker: None,
            granted: false,
        });
        ticket
    }

    fn position(&self, ticket: u64) -> Option<usize> {
        self.entries
            .binary_search_by_key(&ticket, |e| e.ticket)
            .ok()
    }

    /// Grants one permit to the oldest waiter not yet granted; returns its waker to wake once
    /// the lock is released, or `Err(())` when nobody is waiting for a grant.
    pub(crate) fn grant_one(&mut self) -> Result<Option<Waker>, ()> {
        let entry = self.entries.iter_mut().find(|e| !e.granted).ok_or(())?;
        entry.granted = true;
        self.granted += 1;
        Ok(entry.waker.take())
    }

    /// A waiter looks at its entry: a granted entry is removed (the waiter now holds the
    /// permit); otherwise its waker is stored.
    pub(crate) fn look(&mut self, ticket: u64, waker: &Waker) -> Look {
        let Some(i) = self.position(ticket) else {
            // Unreachable while the ticket's `Waiter` is alive; treat as still waiting.
            return Look::Waiting;
        };
        if self.entries[i].granted {
            self.entries.remove(i);
            self.granted -= 1;
            return Look::Granted;
        }
        match &mut self.entries[i].waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Look::Waiting
    }

    /// Removes a waiter that gives up; returns whether it had been granted a permit (which the
    /// caller must hand on).
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<bool> {
        let i = self.position(ticket)?;
        let entry = self.entries.remove(i)?;
        if entry.granted {
            self.granted -= 1;
        }
        Some(entry.granted)
    }

    /// Permits granted and not yet taken.
    #[cfg(test)]
    pub(crate) fn granted(&self) -> usize {
        self.granted
    }

    /// Waiters in the queue (granted or not).
    #[cfg(all(test, not(resile_loom)))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(all(test, not(resile_loom)))]
mod tests {
    use super::*;

    #[test]
    fn grants_go_oldest_first_and_removal_keeps_order() {
        let mut q = Queue::default();
        let (a, b, c) = (q.push(), q.push(), q.push());
        let w = Waker::noop();
        assert_eq!(q.look(b, w), Look::Waiting);
        assert_eq!(q.remove(a), Some(false));
        assert!(q.grant_one().is_ok());
        assert_eq!(q.granted(), 1);
        assert_eq!(q.look(c, w), Look::Waiting);
        assert_eq!(q.look(b, w), Look::Granted);
        assert!(q.grant_one().is_ok());
        assert_eq!(q.remove(c), Some(true));
        assert!(q.grant_one().is_err());
        assert_eq!((q.len(), q.granted()), (0, 0));
        assert_eq!(q.remove(c), None);
    }
}
