//! The default journal: entries in memory.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use resile_core::Name;

use super::{Entry, Journal, JournalError, JournalFuture};
use crate::id::SagaId;

/// How many finished runs a [`MemoryJournal`] keeps by default.
pub const DEFAULT_RETENTION: usize = 1024;

/// A journal in memory: the default.
///
/// It survives a saga future that was dropped half-way (call [`Saga::recover`] to finish it), not
/// a process that died — use `SqliteJournal` (feature `sqlite`) for that. Clones share the
/// entries. Unfinished runs are kept until they finish; of the finished ones, the most recent
/// [`DEFAULT_RETENTION`] are kept (see [`with_retention`](MemoryJournal::with_retention)), so a
/// long-running process does not grow without bound (a forgotten run's id may run again).
///
/// [`Saga::recover`]: crate::Saga::recover
///
/// ```
/// use resile_saga::journal::{EntryKind, MemoryJournal};
/// use resile_saga::{Saga, Step};
///
/// # tokio_test_block_on(async {
/// let journal = MemoryJournal::new();
/// let saga = Saga::<()>::builder("noop")
///     .journal(journal.clone())
///     .step(Step::new("only", |_cx| async { Ok::<_, std::io::Error>(()) }))
///     .build()?;
/// let report = saga.run(()).await?;
/// let kinds: Vec<EntryKind> = journal.entries_of(report.saga_id()).iter().map(|e| e.kind).collect();
/// assert_eq!(
///     kinds,
///     [EntryKind::SagaStarted, EntryKind::StepStarted, EntryKind::StepCompleted, EntryKind::SagaCompleted]
/// );
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryJournal {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    runs: HashMap<SagaId, Run>,
    finished: VecDeque<SagaId>,
    retention: usize,
    next_order: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            runs: HashMap::new(),
            finished: VecDeque::new(),
            retention: DEFAULT_RETENTION,
            next_order: 0,
        }
    }
}

struct Run {
    saga: Name,
    order: u64,
    finished: bool,
    entries: Vec<Entry>,
}

impl MemoryJournal {
    /// An empty journal keeping [`DEFAULT_RETENTION`] finished runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty journal keeping the `finished` most recent finished runs (unfinished runs are
    /// always kept). `0` forgets a run as soon as it finishes.
    pub fn with_retention(finished: usize) -> Self {
        let journal = Self::default();
        journal.lock().retention = finished;
        journal
    }

    /// The entries of run `saga_id`, now (empty if unknown or forgotten).
    pub fn entries_of(&self, saga_id: &SagaId) -> Vec<Entry> {
        self.lock()
            .runs
            .get(saga_id)
            .map(|r| r.entries.clone())
            .unwrap_or_default()
    }

    /// How many runs (finished or not) the journal holds.
    pub fn len(&self) -> usize {
        self.lock().runs.len()
    }

    /// Whether the journal holds no run.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below leaves `Inner` consistent before it can panic, so a poisoned lock
        // still guards valid data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append_now(&self, entry: Entry) -> Result<(), JournalError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let terminal = entry.kind.is_terminal();
        let id = entry.saga_id.clone();
        match inner.runs.get_mut(&id) {
            None if entry.seq == 0 => {
                let order = inner.next_order;
                inner.next_order += 1;
                inner.runs.insert(
                    id.clone(),
                    Run {
                        saga: entry.saga.clone(),
                        order,
                        finished: terminal,
                        entries: vec![entry],
                    },
                );
            }
            None => {
                return Err(JournalError::msg(format!(
                    "saga `{id}` has no entry #0, cannot append #{}",
                    entry.seq
                )));
            }
            Some(run) => {
                let next = run.entries.len() as u64;
                if entry.seq < next {
                    return Err(JournalError::conflict(&id, entry.seq));
                }
                if entry.seq > next {
                    return Err(JournalError::msg(format!(
                        "saga `{id}` expects entry #{next}, got #{}",
                        entry.seq
                    )));
                }
                run.finished |= terminal;
                run.entries.push(entry);
            }
        }
        if terminal {
            inner.finished.push_back(id);
            while inner.finished.len() > inner.retention {
                if let Some(old) = inner.finished.pop_front() {
                    inner.runs.remove(&old);
                }
            }
        }
        Ok(())
    }
}

impl Journal for MemoryJournal {
    fn append(&self, entry: Entry) -> JournalFuture<'_, ()> {
        let result = self.append_now(entry);
        Box::pin(std::future::ready(result))
    }

    fn entries<'a>(&'a self, saga_id: &'a SagaId) -> JournalFuture<'a, Vec<Entry>> {
        Box::pin(std::future::ready(Ok(self.entries_of(saga_id))))
    }

    fn unfinished<'a>(&'a self, saga: &'a str) -> JournalFuture<'a, Vec<SagaId>> {
        let inner = self.lock();
        let mut runs: Vec<(u64, SagaId)> = inner
            .runs
            .iter()
            .filter(|(_, r)| !r.finished && r.saga == saga)
            .map(|(id, r)| (r.order, id.clone()))
            .collect();
        drop(inner);
        runs.sort_unstable_by_key(|(order, _)| *order);
        Box::pin(std::future::ready(Ok(runs
            .into_iter()
            .map(|(_, id)| id)
            .collect())))
    }
}

impl fmt::Debug for MemoryJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryJournal")
            .field("runs", &inner.runs.len())
            .field("retention", &inner.retention)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::EntryKind;

    fn entry(id: &str, seq: u64, kind: EntryKind) -> Entry {
        Entry {
            saga: Name::new("s"),
            saga_id: SagaId::new(id).unwrap(),
            seq,
            kind,
            step: None,
            attempt: 0,
            data: None,
        }
    }

    fn block<T>(f: JournalFuture<'_, T>) -> Result<T, JournalError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn duplicate_and_out_of_order_entries_are_refused() {
        let j = MemoryJournal::new();
        block(j.append(entry("a", 0, EntryKind::SagaStarted))).unwrap();
        let dup = block(j.append(entry("a", 0, EntryKind::SagaStarted))).unwrap_err();
        assert!(dup.is_conflict());
        let gap = block(j.append(entry("a", 2, EntryKind::StepStarted))).unwrap_err();
        assert!(!gap.is_conflict());
        let orphan = block(j.append(entry("b", 1, EntryKind::StepStarted))).unwrap_err();
        assert!(orphan.to_string().contains("no entry #0"), "{orphan}");
        block(j.append(entry("a", 1, EntryKind::StepStarted))).unwrap();
        assert_eq!(j.entries_of(&SagaId::new("a").unwrap()).len(), 2);
    }

    #[test]
    fn unfinished_lists_open_runs_of_one_saga_oldest_first() {
        let j = MemoryJournal::new();
        for id in ["c", "a", "b"] {
            block(j.append(entry(id, 0, EntryKind::SagaStarted))).unwrap();
        }
        let mut other = entry("z", 0, EntryKind::SagaStarted);
        other.saga = Name::new("other");
        block(j.append(other)).unwrap();
        block(j.append(entry("a", 1, EntryKind::SagaCompleted))).unwrap();
        let open = block(j.unfinished("s")).unwrap();
        assert_eq!(open, [SagaId::new("c").unwrap(), SagaId::new("b").unwrap()]);
    }

    #[test]
    fn finished_runs_beyond_the_retention_are_forgotten() {
        let j = MemoryJournal::with_retention(1);
        for id in ["a", "b"] {
            block(j.append(entry(id, 0, EntryKind::SagaStarted))).unwrap();
        }
        block(j.append(entry("open", 0, EntryKind::SagaStarted))).unwrap();
        block(j.append(entry("a", 1, EntryKind::SagaCompleted))).unwrap();
        assert_eq!(j.len(), 3);
        block(j.append(entry("b", 1, EntryKind::SagaCompensated))).unwrap();
        assert_eq!(j.len(), 2, "a forgotten, b and the open run kept");
        assert!(j.entries_of(&SagaId::new("a").unwrap()).is_empty());
        assert_eq!(j.entries_of(&SagaId::new("open").unwrap()).len(), 1);
        assert!(format!("{j:?}").contains("runs: 2"));
    }
}
