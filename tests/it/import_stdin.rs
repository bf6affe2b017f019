//! `import -`: one message from an MTA's pipe. Stored → exit 0; the database out of reach →
//! exit 75 (EX_TEMPFAIL) and nothing stored, so the MTA keeps the message and retries.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support;

const REPORT: &str = "tests/fixtures/arf/email-arf__example1.eml";
const NOT_A_REPORT: &str = "tests/fixtures/arf/email-arf-report-aol__SampleNonARFReport1.eml";

/// `abuse-desk import - --json` on `url` with the file `message` piped in.
fn pipe(url: &str, message: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["import", "-", "--json"])
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(message).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_piped_message_is_stored_or_left_to_the_mta() {
    for db in support::backends("a_piped_message_is_stored_or_left_to_the_mta") {
        let dir = tempfile::tempdir().unwrap();
        let down = match db.backend {
            "sqlite" => format!("sqlite://{}/missing/desk.db", dir.path().display()),
            _ => "postgres://127.0.0.1:1/desk?sslmode=disable".to_owned(),
        };
        let out = pipe(&down, REPORT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(75), "{}: {stderr}", db.backend);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("try again later"), "{stderr}");

        // Nothing was stored; the MTA's next try is.
        let tickets = support::cli_ok(&db, &["tickets", "list", "--json"]);
        let tickets: serde_json::Value = serde_json::from_slice(&tickets.stdout).unwrap();
        assert_eq!(tickets, serde_json::json!([]));
        let done = summary(&pipe(&db.url, REPORT));
        assert_eq!(done["messages"], 1, "{done}");
        assert_eq!(done["reports"], 1, "{done}");
        let tickets = support::cli_ok(&db, &["tickets", "list", "--json"]);
        let tickets: serde_json::Value = serde_json::from_slice(&tickets.stdout).unwrap();
        assert_eq!(tickets[0]["event_count"], 1, "{tickets}");

        // Delivered twice: one event still. Not a report: quarantined, and success too.
        assert_eq!(summary(&pipe(&db.url, REPORT))["duplicates"], 1);
        assert_eq!(summary(&pipe(&db.url, NOT_A_REPORT))["quarantined"], 1);
    }
}
