//! A kill -9 mid-import, on a corpus made by the benchmark's generator: a rerun ends where an
//! uninterrupted run does, and that run matches the generator's own manifest.

use std::path::Path;
use std::process::Command;

use abuse_desk::db::schema::{raw_messages, tickets};
use diesel::prelude::*;

use crate::ingest::{counts, ticket_views};
use crate::support::{self, TestDb};

/// Runs `gen_corpus.py` (the benchmark's generator) for a small realistic corpus.
fn generated_corpus(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/ingest/gen_corpus.py"
        ))
        .args([
            "--count",
            &count.to_string(),
            "--customers",
            "200",
            "--seed",
            "7",
            "--out",
        ])
        .arg(dir.path())
        .status()
        .expect("python3 runs the corpus generator");
    assert!(status.success());
    dir
}

fn cli_import(db: &TestDb, corpus: &Path, batch: usize) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["import", "--json"])
        .arg(corpus.join("mail"))
        .env("DATABASE_URL", &db.url)
        .env("ABUSE_DESK_INGEST__BATCH_SIZE", batch.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn load_customers(db: &TestDb, corpus: &Path) {
    let csv = corpus.join("customers.csv");
    support::cli_ok(db, &["customers", "import", &csv.to_string_lossy()]);
}

#[test]
fn a_kill_9_mid_import_then_a_rerun_equals_an_uninterrupted_run() {
    let corpus = generated_corpus(3000);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.path().join("manifest.json")).unwrap(),
    )
    .unwrap();
    for (reference, crashed) in support::backends("kill_9_reference")
        .into_iter()
        .zip(support::backends("kill_9_crashed"))
    {
        load_customers(&reference, corpus.path());
        load_customers(&crashed, corpus.path());
        let out = cli_import(&reference, corpus.path(), 200)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["messages"], manifest["files"]);
        assert_eq!(
            summary["quarantined"], manifest["quarantined"],
            "{}",
            reference.backend
        );
        assert_eq!(summary["reports"], manifest["reports"]);

        // The generator's manifest was computed independently of this code.
        let mut reference_conn = reference.connect();
        let tickets_made: i64 = tickets::table
            .count()
            .get_result(&mut reference_conn)
            .unwrap();
        assert_eq!(
            serde_json::json!(tickets_made),
            manifest["tickets"],
            "{}",
            reference.backend
        );
        assert_eq!(
            serde_json::json!(counts(&mut reference_conn).2),
            manifest["distinct_events"]
        );

        // Kill the importer once some batches are committed, then run it again.
        let mut child = cli_import(&crashed, corpus.path(), 200);
        let mut conn = crashed.connect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let stored: i64 = raw_messages::table
                .count()
                .get_result(&mut conn)
                .unwrap_or(0);
            if stored >= 400 || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        let _ = child.wait();
        let partial = counts(&mut conn).0;
        assert!(
            partial > 0 && partial < 3000,
            "the kill landed mid-import ({partial} stored) on {}",
            crashed.backend
        );
        let out = cli_import(&crashed, corpus.path(), 200)
            .wait_with_output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let mut reference_conn = reference.connect();
        assert_eq!(
            counts(&mut conn),
            counts(&mut reference_conn),
            "{}",
            crashed.backend
        );
        assert_eq!(
            ticket_views(&mut conn),
            ticket_views(&mut reference_conn),
            "tickets after the crash differ on {}",
            crashed.backend
        );
    }
}
