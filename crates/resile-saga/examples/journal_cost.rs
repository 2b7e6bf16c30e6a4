//! What the journal costs per saga: a 3-step saga whose steps and compensations do nothing, run
//! back to back with each journal.
//!
//! ```text
//! cargo run --release -p resile-saga --features sqlite --example journal_cost
//! ```

use resile_saga::journal::{MemoryJournal, SqliteJournal};
use resile_saga::{Compensation, Saga, Step, StepContext, journal::Journal};
use std::time::Instant;

fn saga(j: impl Journal) -> Saga<u64> {
    let mut b = Saga::builder("cost").journal(j);
    for n in 0..3 {
        b = b.step(
            Step::new(format!("s{n}"), |cx: StepContext<u64>| async move {
                Ok::<_, std::io::Error>(*cx.input() + 1)
            })
            .compensate(|_c: Compensation<u64, u64>| async { Ok::<_, std::io::Error>(()) }),
        );
    }
    b.build().unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = 20_000;
    let s = saga(MemoryJournal::with_retention(0));
    let t = Instant::now();
    for i in 0..n {
        s.run(i).await.unwrap();
    }
    let per = t.elapsed() / n as u32;
    println!(
        "memory journal: {per:?} per 3-step saga ({:?} per step)",
        per / 3
    );
    let dir = std::env::temp_dir().join("resile-saga-cost");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("c.db"));
    let s = saga(SqliteJournal::open(dir.join("c.db")).unwrap());
    let n = 300;
    let t = Instant::now();
    for i in 0..n {
        s.run(i).await.unwrap();
    }
    let per = t.elapsed() / n as u32;
    println!(
        "sqlite FULL file journal: {per:?} per 3-step saga (8 appends; {:?} per append)",
        per / 8
    );
    let conn = rusqlite::Connection::open(dir.join("n.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .unwrap();
    let s = saga(SqliteJournal::from_connection(conn).unwrap());
    let n = 2000;
    let t = Instant::now();
    for i in 0..n {
        s.run(i).await.unwrap();
    }
    let per = t.elapsed() / n as u32;
    println!(
        "sqlite NORMAL file journal: {per:?} per 3-step saga ({:?} per append)",
        per / 8
    );
    let s = saga(SqliteJournal::open_in_memory().unwrap());
    let n = 5000;
    let t = Instant::now();
    for i in 0..n {
        s.run(i).await.unwrap();
    }
    let per = t.elapsed() / n as u32;
    println!("sqlite in-memory journal: {per:?} per 3-step saga");
    std::fs::remove_dir_all(&dir).unwrap();
}
