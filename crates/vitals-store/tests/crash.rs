//! `kill -9` in the middle of writing leaves a readable, consistent store.
//!
//! The test re-runs its own binary as a child that writes minutes in a loop, printing each
//! committed minute; the parent kills it with SIGKILL after a few, then opens the store,
//! checks SQLite's integrity and that every tier holds exactly the committed minutes (a
//! batch is one transaction: all of it or none of it).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{T0, batch, point, route};
use vitals_store::{Step, Store, StoreConfig};

const CHILD: &str = "VITALS_STORE_CRASH_CHILD";
const ROUTES: usize = 200;

#[test]
fn kill_9_mid_write_leaves_a_readable_store() {
    if let Ok(path) = std::env::var(CHILD) {
        let store = Store::open(&path, StoreConfig::default()).unwrap();
        let values: Vec<u64> = (1..=20).collect();
        for m in 0.. {
            let points = (0..ROUTES)
                .map(|r| point(route(&format!("/r{r}")), &values, 1))
                .collect();
            store.write_minute(&batch(T0 + m, points)).unwrap();
            println!("committed {m}");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_9_mid_write_leaves_a_readable_store",
            "--nocapture",
        ])
        .env(CHILD, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut committed = 0;
    for line in lines.by_ref() {
        if let Some(m) = line.unwrap().strip_prefix("committed ") {
            committed = m.parse::<i64>().unwrap() + 1;
            if committed >= 5 {
                break;
            }
        }
    }
    assert!(committed >= 5, "the child stopped early");
    child.kill().unwrap(); // SIGKILL, while it writes the next minutes
    child.wait().unwrap();

    let check = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(check);

    let store = Store::open(&path, StoreConfig::default()).unwrap();
    let minutes = store
        .query(&route("/r0"), T0 * 60, (T0 + 9_000) * 60, Step::Minute)
        .unwrap();
    let written = minutes.len() as i64;
    assert!(
        written >= committed,
        "{written} minutes read, {committed} committed"
    );
    for r in [0, ROUTES / 2, ROUTES - 1] {
        let key = route(&format!("/r{r}"));
        let minutes = store
            .query(&key, T0 * 60, (T0 + 9_000) * 60, Step::Minute)
            .unwrap();
        assert_eq!(
            minutes.len() as i64,
            written,
            "route {r}: a batch was half written"
        );
        assert!(minutes.iter().all(|p| p.count == 20 && p.errors_5xx == 1));
        let total: u64 = store
            .query(&key, T0 * 60, (T0 + 9_000) * 60, Step::Hour)
            .unwrap()
            .iter()
            .map(|h| h.count)
            .sum();
        assert_eq!(
            total,
            20 * written as u64,
            "route {r}: hour tier disagrees with minutes"
        );
    }
    // And the store keeps working.
    store
        .write_minute(&batch(T0 + written, vec![point(route("/r0"), &[1], 0)]))
        .unwrap();
}
