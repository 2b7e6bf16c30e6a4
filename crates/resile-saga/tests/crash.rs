//! A real crash: a child process runs a saga on a SQLite journal and is killed with SIGKILL in
//! the middle of a step (or of a compensation); a second run's `recover` compensates exactly the
//! completed steps, once each, and the journal shows it.
//!
//! The child is this very test binary, re-executed with `CHILD` set so that only
//! `child_process_runs_the_saga_until_killed` does anything. The child signals that it reached the
//! kill point by creating a marker file, then blocks; the parent polls for the marker (with a
//! timeout), kills the child and recovers.
#![cfg(feature = "sqlite")]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::shape;
use resile_core::BoxError;
use resile_retry::backoff::Backoff;
use resile_saga::journal::{EntryKind, Journal, SqliteJournal};
use resile_saga::{Compensation, Saga, SagaId, SagaStatus, Step, StepContext};

const CHILD: &str = "RESILE_SAGA_CRASH_CHILD";
const RUN_ID: &str = "order-1";

/// Where the child stops and waits to be killed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KillPoint {
    /// In the middle of step `n` (1-based).
    Step(usize),
    /// In the middle of step `n`'s compensation (step 3 fails first).
    Compensation(usize),
}

impl KillPoint {
    fn encode(self) -> String {
        match self {
            KillPoint::Step(n) => format!("step{n}"),
            KillPoint::Compensation(n) => format!("compensation{n}"),
        }
    }
    fn decode(s: &str) -> KillPoint {
        match s.strip_prefix("step") {
            Some(n) => KillPoint::Step(n.parse().unwrap()),
            None => KillPoint::Compensation(s.trim_start_matches("compensation").parse().unwrap()),
        }
    }
}

/// The files one crash scenario shares between the child and the parent.
struct Scene {
    dir: PathBuf,
    /// Whether dropping it removes the directory (the parent's handle only).
    owner: bool,
}

impl Scene {
    fn new(point: KillPoint) -> Scene {
        let dir = std::env::temp_dir().join(format!(
            "resile-saga-crash-{}-{}",
            point.encode(),
            SagaId::random()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scene { dir, owner: true }
    }
    fn at(dir: &Path) -> Scene {
        Scene {
            dir: dir.to_owned(),
            owner: false,
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.join("journal.db")
    }
    fn marker(&self) -> PathBuf {
        self.dir.join("ready")
    }
    fn effects(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("effects"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
    fn effect(&self, line: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("effects"))
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
    /// Marks the kill point as reached and blocks until the process is killed.
    async fn block_here(&self) {
        std::fs::write(self.marker(), b"ready").unwrap();
        std::future::pending::<()>().await;
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The order saga: three steps, the first two with compensations; every action and compensation
/// appends a line to the effects file. `kill` (child only) says where to block; with
/// `KillPoint::Compensation`, step 3 fails so compensation starts.
fn order_saga(dir: &Path, kill: Option<KillPoint>, journal: SqliteJournal) -> Saga<String> {
    let mut builder = Saga::builder("order")
        .journal(journal)
        .compensation_backoff(Backoff::constant(Duration::from_millis(1)).unwrap());
    for n in 1..=3usize {
        let dir_do = dir.to_owned();
        let dir_undo = dir.to_owned();
        let step = Step::new(format!("s{n}"), move |cx: StepContext<String>| {
            let dir = dir_do.clone();
            async move {
                let scene = Scene::at(&dir);
                scene.effect(&format!("do s{n}"));
                if kill == Some(KillPoint::Step(n)) {
                    scene.block_here().await;
                }
                if n == 3 && matches!(kill, Some(KillPoint::Compensation(_))) {
                    return Err::<String, BoxError>("s3 failed".into());
                }
                Ok(format!("s{n}-{}", cx.input()))
            }
        });
        let step = if n < 3 {
            step.compensate(move |c: Compensation<String, String>| {
                let dir = dir_undo.clone();
                async move {
                    let scene = Scene::at(&dir);
                    scene.effect(&format!("undo s{n} {}", c.output()));
                    if kill == Some(KillPoint::Compensation(n)) {
                        scene.block_here().await;
                    }
                    Ok::<_, BoxError>(())
                }
            })
        } else {
            step // creating the order has nothing to undo in this test
        };
        builder = builder.step(step);
    }
    builder.build().unwrap()
}

/// The child's side: only active when re-executed by a parent test with `CHILD` set.
#[test]
fn child_process_runs_the_saga_until_killed() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // an ordinary test run: nothing to do
    };
    let (dir, point) = spec.split_once('|').unwrap();
    let point = KillPoint::decode(point);
    let scene = Scene::at(Path::new(dir));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let journal = SqliteJournal::open(scene.db()).unwrap();
        let saga = order_saga(&scene.dir, Some(point), journal);
        let _ = saga
            .run_with_id(SagaId::new(RUN_ID).unwrap(), "book".to_owned())
            .await;
    });
    drop(scene);
    unreachable!("the child must be killed at its kill point");
}

/// Runs the child until it reaches `point`, then kills it with SIGKILL.
fn run_child_and_kill(scene: &Scene, point: KillPoint) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_runs_the_saga_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{}|{}", scene.dir.display(), point.encode()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !scene.marker().exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited before its kill point: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the child never reached {point:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush, no goodbye
    let status = child.wait().unwrap();
    assert!(!status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
    }
}

/// Kills a child at `point`, recovers in this process, and returns what happened.
fn crash_and_recover(point: KillPoint) -> (Vec<String>, Vec<String>, SagaStatus) {
    let scene = Scene::new(point);
    run_child_and_kill(&scene, point);
    let before_recovery = scene.effects();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let journal = SqliteJournal::open(scene.db()).unwrap();
        let id = SagaId::new(RUN_ID).unwrap();
        assert_eq!(
            journal.unfinished("order").await.unwrap(),
            std::slice::from_ref(&id)
        );
        let died_at = journal.entries(&id).await.unwrap().pop().unwrap();
        match point {
            KillPoint::Step(n) => {
                assert_eq!(
                    died_at.kind,
                    EntryKind::StepStarted,
                    "recorded before it ran"
                );
                assert_eq!(died_at.step.as_deref(), Some(format!("s{n}").as_str()));
            }
            KillPoint::Compensation(n) => {
                assert_eq!(died_at.kind, EntryKind::CompensationStarted);
                assert_eq!(died_at.step.as_deref(), Some(format!("s{n}").as_str()));
            }
        }

        let saga = order_saga(&scene.dir, None, journal.clone());
        let reports = saga.recover().await.unwrap();
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert!(report.is_recovered());
        assert!(
            saga.recover().await.unwrap().is_empty(),
            "a second recover finds nothing"
        );
        assert!(journal.unfinished("order").await.unwrap().is_empty());

        let mut effects = scene.effects();
        let recovered_effects = effects.split_off(before_recovery.len());
        assert_eq!(effects, before_recovery);
        let mut all = before_recovery;
        all.push("--- recovered ---".to_owned());
        all.extend(recovered_effects);
        let shape = shape(&journal.entries(&id).await.unwrap());
        (all, shape, report.status())
    })
}

#[test]
fn killed_during_step_1_recover_has_nothing_to_compensate() {
    let (effects, journal, status) = crash_and_recover(KillPoint::Step(1));
    assert_eq!(effects, ["do s1", "--- recovered ---"]);
    assert_eq!(
        journal,
        [
            "saga_started",
            "step_started:s1",
            "saga_aborted",
            "saga_needs_attention"
        ]
    );
    assert_eq!(
        status,
        SagaStatus::NeedsAttention,
        "s1 may have reserved stock"
    );
}

#[test]
fn killed_during_step_2_recover_compensates_step_1_once() {
    let (effects, journal, status) = crash_and_recover(KillPoint::Step(2));
    assert_eq!(
        effects,
        ["do s1", "do s2", "--- recovered ---", "undo s1 s1-book"]
    );
    assert_eq!(
        journal,
        [
            "saga_started",
            "step_started:s1",
            "step_completed:s1",
            "step_started:s2",
            "saga_aborted",
            "compensation_started:s1#1",
            "compensation_completed:s1#1",
            "saga_needs_attention"
        ]
    );
    assert_eq!(status, SagaStatus::NeedsAttention, "s2 is in doubt");
}

#[test]
fn killed_during_step_3_recover_compensates_steps_2_and_1_once_each() {
    let (effects, journal, status) = crash_and_recover(KillPoint::Step(3));
    assert_eq!(
        effects,
        [
            "do s1",
            "do s2",
            "do s3",
            "--- recovered ---",
            "undo s2 s2-book",
            "undo s1 s1-book"
        ]
    );
    assert_eq!(
        journal,
        [
            "saga_started",
            "step_started:s1",
            "step_completed:s1",
            "step_started:s2",
            "step_completed:s2",
            "step_started:s3",
            "saga_aborted",
            "compensation_started:s2#1",
            "compensation_completed:s2#1",
            "compensation_started:s1#1",
            "compensation_completed:s1#1",
            "saga_compensated"
        ]
    );
    assert_eq!(status, SagaStatus::Compensated, "s3 has nothing to undo");
}

#[test]
fn killed_during_a_compensation_recover_finishes_compensating_once_each() {
    let (effects, journal, status) = crash_and_recover(KillPoint::Compensation(2));
    assert_eq!(
        effects,
        [
            "do s1",
            "do s2",
            "do s3",
            "undo s2 s2-book",
            "--- recovered ---",
            "undo s2 s2-book",
            "undo s1 s1-book"
        ],
        "the interrupted compensation runs again (once), the other once"
    );
    assert_eq!(
        journal,
        [
            "saga_started",
            "step_started:s1",
            "step_completed:s1",
            "step_started:s2",
            "step_completed:s2",
            "step_started:s3",
            "step_failed:s3",
            "compensation_started:s2#1",
            "compensation_started:s2#2",
            "compensation_completed:s2#2",
            "compensation_started:s1#1",
            "compensation_completed:s1#1",
            "saga_compensated"
        ]
    );
    assert_eq!(status, SagaStatus::Compensated);
}

#[test]
fn killed_during_the_last_compensation_recover_does_not_repeat_the_first() {
    let (effects, journal, status) = crash_and_recover(KillPoint::Compensation(1));
    assert_eq!(
        effects,
        [
            "do s1",
            "do s2",
            "do s3",
            "undo s2 s2-book",
            "undo s1 s1-book",
            "--- recovered ---",
            "undo s1 s1-book"
        ]
    );
    assert_eq!(
        journal[7..],
        [
            "compensation_started:s2#1",
            "compensation_completed:s2#1",
            "compensation_started:s1#1",
            "compensation_started:s1#2",
            "compensation_completed:s1#2",
            "saga_compensated"
        ]
    );
    assert_eq!(status, SagaStatus::Compensated);
}
