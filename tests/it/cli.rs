//! The command line as an operator uses it: the real binary, real databases.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::support::{self, TestDb};

fn abuse_desk(db: &TestDb, args: &[&str]) -> Output {
    run(db, args, None)
}

fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn write_customers_csv(path: &std::path::Path, count: usize) {
    let mut csv = String::from("external_id,name,email,identities,domains,netblocks\n");
    for i in 0..count {
        let (a, b) = (i / 256, i % 256);
        csv.push_str(&format!(
            "cust-{i:05},Customer {i},abuse{i}@c{i}.example,user{i}@c{i}.example;{i}@out.example,c{i}.example;shop{i}.example,10.{a}.{b}.0/24;2001:db8:{i:x}::/48\n"
        ));
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn ten_thousand_customers_import_and_list() {
    for db in support::backends("ten_thousand_customers_import_and_list") {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("customers.csv");
        write_customers_csv(&csv, 10_000);
        let started = Instant::now();
        let out = stdout(&abuse_desk(
            &db,
            &["customers", "import", csv.to_str().unwrap(), "--json"],
        ));
        eprintln!(
            "{}: imported 10,000 customers in {:.2?}",
            db.backend,
            started.elapsed()
        );
        assert_eq!(
            out.trim(),
            r#"{"created":10000,"updated":0,"unchanged":0}"#,
            "{}",
            db.backend
        );
        let again = stdout(&abuse_desk(
            &db,
            &["customers", "import", csv.to_str().unwrap(), "--json"],
        ));
        assert_eq!(
            again.trim(),
            r#"{"created":0,"updated":0,"unchanged":10000}"#,
            "re-import on {}",
            db.backend
        );

        let listed: serde_json::Value =
            serde_json::from_str(&stdout(&abuse_desk(&db, &["customers", "list", "--json"])))
                .unwrap();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 10_000);
        assert_eq!(listed[42]["external_id"], "cust-00042");
        assert_eq!(
            (
                listed[42]["identities"].as_i64(),
                listed[42]["domains"].as_i64(),
                listed[42]["netblocks"].as_i64()
            ),
            (Some(2), Some(2), Some(2))
        );
        let table = stdout(&abuse_desk(&db, &["customers", "list"]));
        assert!(
            table.contains("cust-09999") && table.trim_end().ends_with("10000 customer(s)"),
            "{}",
            &table[table.len() - 200..]
        );
    }
}

#[test]
fn a_bad_row_names_its_line_and_applies_nothing() {
    for db in support::backends("a_bad_row_names_its_line_and_applies_nothing") {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("customers.csv");
        std::fs::write(&csv, "external_id,name,email,identities,domains,netblocks\nc1,One,a@one.example,,one.example,\nc2,Two,b@two.example,,,300.1.2.0/24\n").unwrap();
        let out = abuse_desk(&db, &["customers", "import", csv.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 3: customer 'c2': '300.1.2.0/24' is not a netblock"),
            "{err}"
        );
        assert!(
            stdout(&abuse_desk(&db, &["customers", "list"])).contains("0 customer(s)"),
            "{}",
            db.backend
        );
    }
}

#[test]
fn users_are_added_with_a_role_and_a_password_from_stdin() {
    let db = support::sqlite();
    let out = stdout(&run(
        &db,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "agent",
            "--password-stdin",
        ],
        Some("correct horse battery\n"),
    ));
    assert_eq!(out.trim(), "user 'alice' created with role agent");
    let again = run(
        &db,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("correct horse battery\n"),
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("user 'alice' already exists"));
    let weak = run(
        &db,
        &["user", "add", "bob", "--role", "viewer", "--password-stdin"],
        Some("short\n"),
    );
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let mut conn = db.connect();
    assert!(
        abuse_desk::db::users::verify(&mut conn, "alice", "correct horse battery")
            .unwrap()
            .is_some_and(|u| u.role == abuse_desk::db::users::Role::Agent)
    );
    assert!(
        abuse_desk::db::users::verify(&mut conn, "alice", "wrong password!!")
            .unwrap()
            .is_none()
    );
}

#[test]
fn check_config_masks_secrets_and_names_bad_settings() {
    let db = support::sqlite();
    let out = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["check-config"])
        .env(
            "DATABASE_URL",
            "postgres://desk:hunter2@127.0.0.1:5432/desk",
        )
        .env("ABUSE_DESK_WEB__SESSION_KEY", "s".repeat(64))
        .output()
        .unwrap();
    let shown = stdout(&out);
    assert!(
        shown.contains("postgres://desk:********@127.0.0.1:5432/desk"),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains(&"s".repeat(64)),
        "{shown}"
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://127.0.0.1/desk")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("database_url: unknown scheme"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("desk.toml");
    std::fs::write(&file, "database_pool_size = 0\n").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["check-config", "--config", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("database_pool_size: must be at least 1"));
}

#[test]
fn tickets_list_on_an_empty_desk() {
    let db = support::sqlite();
    // Every migration folder, however many there are by now.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(stdout(&abuse_desk(&db, &["migrate"])).contains(&format!(
        "applied {migrations} migration(s) to the sqlite database"
    )));
    assert!(stdout(&abuse_desk(&db, &["migrate"])).contains("up to date"));
    assert!(stdout(&abuse_desk(&db, &["tickets", "list"]))
        .trim_end()
        .ends_with("0 ticket(s)"));
    assert_eq!(
        stdout(&abuse_desk(
            &db,
            &["tickets", "list", "--json", "--status", "open"]
        ))
        .trim(),
        "[]"
    );
}

/// `abuse-desk customers list | head -1`: the reader stops after a line, and the command ends
/// quietly with success instead of panicking on the broken pipe.
#[test]
fn a_listing_piped_into_a_reader_that_stops_ends_quietly() {
    use std::io::BufRead;
    let db = support::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("customers.csv");
    write_customers_csv(&csv, 3000);
    stdout(&abuse_desk(
        &db,
        &["customers", "import", csv.to_str().unwrap()],
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["customers", "list"])
        .env("DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
