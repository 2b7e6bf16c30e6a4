//! Helpers shared by the saga tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use resile_core::BoxError;
use resile_saga::journal::{Entry, MemoryJournal};
use resile_saga::{Compensation, SagaId, Step, StepContext};

/// An ordered record of what steps and compensations did.
#[derive(Clone, Default, Debug)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A step that logs `do NAME`, outputs `NAME-out` (or fails when `fail`), and whose compensation
/// logs `undo NAME <output>`.
pub fn step(name: &'static str, log: &Log, fail: bool) -> Step<(), String> {
    let (l, l2) = (log.clone(), log.clone());
    Step::new(name, move |_cx: StepContext<()>| {
        let l = l.clone();
        async move {
            l.push(format!("do {name}"));
            if fail {
                Err::<String, BoxError>(format!("{name} exploded").into())
            } else {
                Ok(format!("{name}-out"))
            }
        }
    })
    .compensate(move |c: Compensation<(), String>| {
        let l = l2.clone();
        async move {
            l.push(format!("undo {name} {}", c.output()));
            Ok::<_, BoxError>(())
        }
    })
}

/// `kind[:step[#attempt]]` for each entry of a run.
pub fn shape(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match &e.step {
            None => e.kind.to_string(),
            Some(s) if e.attempt > 1 || e.kind.as_str().starts_with("compensation") => {
                format!("{}:{s}#{}", e.kind, e.attempt)
            }
            Some(s) => format!("{}:{s}", e.kind),
        })
        .collect()
}

pub fn journal_shape(j: &MemoryJournal, id: &SagaId) -> Vec<String> {
    shape(&j.entries_of(id))
}
