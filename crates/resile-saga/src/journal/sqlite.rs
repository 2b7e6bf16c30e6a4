//! A durable journal on an embedded SQLite database (feature `sqlite`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resile_core::Name;
use rusqlite::{Connection, ErrorCode, params};

use super::{Entry, EntryKind, Journal, JournalError, JournalFuture};
use crate::id::SagaId;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resile_saga_journal (
    saga_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    saga        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    step        TEXT,
    attempt     INTEGER NOT NULL,
    data        TEXT,
    recorded_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (saga_id, seq)
);
CREATE TABLE IF NOT EXISTS resile_saga_runs (
    saga_id  TEXT PRIMARY KEY NOT NULL,
    saga     TEXT NOT NULL,
    status   TEXT
);
CREATE INDEX IF NOT EXISTS resile_saga_runs_unfinished
    ON resile_saga_runs (saga) WHERE status IS NULL;
";

/// A durable journal on an embedded SQLite database (feature `sqlite`; SQLite is bundled, so
/// nothing needs installing).
///
/// [`open`](SqliteJournal::open) puts the database in WAL mode with `synchronous = FULL`: an
/// entry is on disk before the saga moves on, so it survives a killed process and a power cut.
/// Each append is one small transaction, run on tokio's blocking pool so it never stalls the
/// runtime. Clones share the connection.
///
/// Two tables: `resile_saga_journal` (one row per [`Entry`], with a `recorded_at` UTC
/// timestamp) and `resile_saga_runs` (one row per run, `status` NULL while unfinished, else the
/// terminal entry's kind) — query them directly to find runs that need attention:
///
/// ```sql
/// SELECT saga_id FROM resile_saga_runs WHERE status = 'saga_needs_attention';
/// ```
///
/// ```
/// use resile_saga::journal::SqliteJournal;
/// use resile_saga::{Saga, Step, StepContext};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let dir = std::env::temp_dir().join(format!("resile-saga-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let journal = SqliteJournal::open(dir.join("sagas.db"))?;
/// let saga = Saga::builder("greet")
///     .journal(journal.clone())
///     .step(Step::new("hello", |_cx: StepContext<()>| async { Ok::<_, std::io::Error>(1) }))
///     .build()?;
/// // At start-up: finish what a previous process left behind.
/// for report in saga.recover().await? {
///     println!("{report}");
/// }
/// assert!(saga.run(()).await?.is_completed());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteJournal {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

fn storage(context: &'static str) -> impl Fn(rusqlite::Error) -> JournalError {
    move |e| JournalError::new(context, e)
}

impl SqliteJournal {
    /// Opens (or creates) the database file at `path`, in WAL mode with `synchronous = FULL`
    /// and a 5 s busy timeout, and creates the tables if they are missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(storage("cannot open the database"))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(storage("cannot configure the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(storage("cannot configure the database"))?;
        let mut journal = Self::from_connection(conn)?;
        journal.path = Some(path.to_owned());
        Ok(journal)
    }

    /// A journal in a private in-memory database (for tests: it does not survive the process).
    pub fn open_in_memory() -> Result<Self, JournalError> {
        let conn = Connection::open_in_memory().map_err(storage("cannot open the database"))?;
        Self::from_connection(conn)
    }

    /// A journal on a connection you opened and configured yourself; creates the tables if they
    /// are missing.
    pub fn from_connection(conn: Connection) -> Result<Self, JournalError> {
        conn.execute_batch(SCHEMA)
            .map_err(storage("cannot create the journal tables"))?;
        Ok(SqliteJournal {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    /// The database file, if opened with [`open`](SqliteJournal::open).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Deletes the entries of finished runs that ended `completed` or `compensated`, keeping the
    /// `keep` most recent ones. Runs that need attention and unfinished runs are never deleted.
    /// Returns how many runs were deleted.
    pub async fn prune(&self, keep: usize) -> Result<usize, JournalError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.blocking(move |conn| prune(conn, keep).map_err(storage("cannot prune the journal")))
            .await
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, JournalError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let task = tokio::task::spawn_blocking(move || {
            // A panic inside rusqlite cannot leave a half-written transaction behind (SQLite
            // rolls it back), so a poisoned connection is still usable.
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        });
        match task.await {
            Ok(result) => result,
            Err(e) => Err(JournalError::new("the journal task failed", e)),
        }
    }
}

fn prune(conn: &mut Connection, keep: i64) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS resile_saga_prune (saga_id TEXT PRIMARY KEY);
         DELETE FROM resile_saga_prune;",
    )?;
    tx.execute(
        "INSERT INTO resile_saga_prune (saga_id)
         SELECT saga_id FROM resile_saga_runs
         WHERE status IN ('saga_completed', 'saga_compensated')
         ORDER BY rowid DESC LIMIT -1 OFFSET ?1",
        params![keep],
    )?;
    tx.execute(
        "DELETE FROM resile_saga_journal
         WHERE saga_id IN (SELECT saga_id FROM resile_saga_prune)",
        [],
    )?;
    let n = tx.execute(
        "DELETE FROM resile_saga_runs
         WHERE saga_id IN (SELECT saga_id FROM resile_saga_prune)",
        [],
    )?;
    tx.execute("DELETE FROM resile_saga_prune", [])?;
    tx.commit()?;
    Ok(n)
}

fn insert(conn: &mut Connection, entry: &Entry) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO resile_saga_journal
             (saga_id, seq, saga, kind, step, attempt, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        insert.execute(params![
            entry.saga_id.as_str(),
            to_i64(entry.seq),
            entry.saga.as_str(),
            entry.kind.as_str(),
            entry.step.as_deref(),
            i64::from(entry.attempt),
            entry.data.as_deref(),
        ])?;
    }
    if entry.kind == EntryKind::SagaStarted {
        tx.execute(
            "INSERT INTO resile_saga_runs (saga_id, saga) VALUES (?1, ?2)",
            params![entry.saga_id.as_str(), entry.saga.as_str()],
        )?;
    } else if entry.kind.is_terminal() {
        tx.execute(
            "UPDATE resile_saga_runs SET status = ?2 WHERE saga_id = ?1",
            params![entry.saga_id.as_str(), entry.kind.as_str()],
        )?;
    }
    tx.commit()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Journal for SqliteJournal {
    fn append(&self, entry: Entry) -> JournalFuture<'_, ()> {
        Box::pin(async move {
            self.blocking(move |conn| {
                insert(conn, &entry).map_err(|e| {
                    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                        JournalError::conflict(&entry.saga_id, entry.seq)
                    } else {
                        JournalError::new("cannot append an entry", e)
                    }
                })
            })
            .await
        })
    }

    fn entries<'a>(&'a self, saga_id: &'a SagaId) -> JournalFuture<'a, Vec<Entry>> {
        let id = saga_id.clone();
        Box::pin(async move {
            let rows = self
                .blocking(move |conn| {
                    select_entries(conn, &id).map_err(storage("cannot read entries"))
                })
                .await?;
            rows.into_iter()
                .map(|(saga, seq, kind, step, attempt, data)| {
                    let kind = EntryKind::parse(&kind).ok_or_else(|| {
                        JournalError::msg(format!("unknown entry kind `{kind}` for `{saga_id}`"))
                    })?;
                    Ok(Entry {
                        saga: Name::from(saga),
                        saga_id: saga_id.clone(),
                        seq: u64::try_from(seq).unwrap_or(0),
                        kind,
                        step: step.map(Arc::from),
                        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                        data,
                    })
                })
                .collect()
        })
    }

    fn unfinished<'a>(&'a self, saga: &'a str) -> JournalFuture<'a, Vec<SagaId>> {
        let name = saga.to_owned();
        Box::pin(async move {
            let ids = self
                .blocking(move |conn| {
                    select_unfinished(conn, &name).map_err(storage("cannot list unfinished runs"))
                })
                .await?;
            ids.into_iter()
                .map(|id| {
                    SagaId::new(&id).map_err(|e| JournalError::new("invalid saga id stored", e))
                })
                .collect()
        })
    }
}

type Row = (String, i64, String, Option<String>, i64, Option<String>);

fn select_entries(conn: &mut Connection, id: &SagaId) -> rusqlite::Result<Vec<Row>> {
    let mut query = conn.prepare_cached(
        "SELECT saga, seq, kind, step, attempt, data FROM resile_saga_journal
         WHERE saga_id = ?1 ORDER BY seq",
    )?;
    let rows = query.query_map([id.as_str()], |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        ))
    })?;
    rows.collect()
}

fn select_unfinished(conn: &mut Connection, saga: &str) -> rusqlite::Result<Vec<String>> {
    let mut query = conn.prepare_cached(
        "SELECT saga_id FROM resile_saga_runs WHERE saga = ?1 AND status IS NULL ORDER BY rowid",
    )?;
    let rows = query.query_map([saga], |row| row.get(0))?;
    rows.collect()
}

impl fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OptionalExtension;

    fn has_run(j: &SqliteJournal, id: &str) -> bool {
        let conn = j.conn.lock().unwrap();
        conn.query_row(
            "SELECT 1 FROM resile_saga_runs WHERE saga_id = ?1",
            [id],
            |_| Ok(()),
        )
        .optional()
        .ok()
        .flatten()
        .is_some()
    }

    fn entry(id: &str, seq: u64, kind: EntryKind) -> Entry {
        Entry {
            saga: Name::new("s"),
            saga_id: SagaId::new(id).unwrap(),
            seq,
            kind,
            step: (kind == EntryKind::StepCompleted).then(|| Arc::from("pay")),
            attempt: 1,
            data: Some(format!("\"{id}-{seq}\"")),
        }
    }

    #[tokio::test]
    async fn entries_round_trip_and_duplicates_are_conflicts() {
        let j = SqliteJournal::open_in_memory().unwrap();
        j.append(entry("a", 0, EntryKind::SagaStarted))
            .await
            .unwrap();
        j.append(entry("a", 1, EntryKind::StepCompleted))
            .await
            .unwrap();
        let dup = j.append(entry("a", 1, EntryKind::StepCompleted)).await;
        assert!(dup.unwrap_err().is_conflict());
        let again = j.append(entry("a", 0, EntryKind::SagaStarted)).await;
        assert!(again.unwrap_err().is_conflict());
        let id = SagaId::new("a").unwrap();
        let back = j.entries(&id).await.unwrap();
        assert_eq!(
            back,
            [
                entry("a", 0, EntryKind::SagaStarted),
                entry("a", 1, EntryKind::StepCompleted)
            ]
        );
        assert!(
            j.entries(&SagaId::new("zz").unwrap())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn unfinished_lists_open_runs_and_prune_keeps_attention() {
        let j = SqliteJournal::open_in_memory().unwrap();
        for id in ["c", "a", "b", "d"] {
            j.append(entry(id, 0, EntryKind::SagaStarted))
                .await
                .unwrap();
        }
        j.append(entry("a", 1, EntryKind::SagaCompleted))
            .await
            .unwrap();
        j.append(entry("b", 1, EntryKind::SagaNeedsAttention))
            .await
            .unwrap();
        j.append(entry("d", 1, EntryKind::SagaCompensated))
            .await
            .unwrap();
        let open = j.unfinished("s").await.unwrap();
        assert_eq!(open, [SagaId::new("c").unwrap()]);
        assert!(j.unfinished("other").await.unwrap().is_empty());
        assert_eq!(j.prune(1).await.unwrap(), 1, "a (older) pruned, d kept");
        assert!(!has_run(&j, "a"));
        assert!(has_run(&j, "b") && has_run(&j, "c") && has_run(&j, "d"));
        assert!(
            j.entries(&SagaId::new("a").unwrap())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(j.prune(0).await.unwrap(), 1);
        assert_eq!(j.unfinished("s").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_file_journal_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("resile-saga-unit-{}", SagaId::random()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.db");
        {
            let j = SqliteJournal::open(&path).unwrap();
            assert_eq!(j.path(), Some(path.as_path()));
            j.append(entry("x", 0, EntryKind::SagaStarted))
                .await
                .unwrap();
        }
        let j = SqliteJournal::open(&path).unwrap();
        assert_eq!(
            j.unfinished("s").await.unwrap(),
            [SagaId::new("x").unwrap()]
        );
        assert!(format!("{j:?}").contains("j.db"));
        drop(j);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
