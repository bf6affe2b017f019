//! The database failing under the desk: SQLite held busy by another process, a Postgres
//! server restarted during an import, during IMAP polling and under the web queue. The
//! import and the poller wait and carry on by themselves, pages answer 503 with a clear
//! message while the database is away, and afterwards every report is stored exactly once.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abuse_desk::db::schema::events;
use abuse_desk::db::DatabaseUrl;
use diesel::prelude::*;

use crate::imap_poll::{check_polled_once, corpus, dovecot, imported, options, tickets_seen};
use crate::ingest::counts;
use crate::private_postgres::PrivatePostgres;
use crate::support::{self, TestDb};

/// The corpus `copies` times over, each copy's bytes made distinct by a header of its own.
fn many(copies: usize) -> Vec<Vec<u8>> {
    let corpus = corpus();
    (0..copies)
        .flat_map(|copy| {
            corpus.iter().map(move |m| {
                let mut out = format!("X-Test-Copy: {copy}\r\n").into_bytes();
                out.extend_from_slice(m);
                out
            })
        })
        .collect()
}

/// Writes the messages as files of a folder `abuse-desk import` reads (`reports/` in the
/// temporary folder, beside the settings file).
fn folder_of(messages: &[Vec<u8>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(dir.path().join(format!("reports/{i:05}.eml")), m).unwrap();
    }
    dir
}

/// `abuse-desk import` of `folder`, in small batches (a transaction every few dozen
/// messages), so a fault lands in the middle of it.
fn import(db: &TestDb, folder: &Path) -> Child {
    let config = folder.with_extension("toml");
    std::fs::write(&config, "[ingest]\nbatch_size = 8\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .arg("--config")
        .arg(&config)
        .args(["--database-url", &db.url, "import", "--json"])
        .arg(folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the import has stored some events (it is under way).
fn until_some_events(db: &TestDb, import: &mut Child) {
    let started = Instant::now();
    loop {
        assert!(
            import.try_wait().unwrap().is_none(),
            "the import ended before the fault could happen"
        );
        let stored: i64 = events::table
            .count()
            .get_result(&mut db.connect_bare())
            .unwrap_or(0);
        if stored > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The import's exit, summary and log, waited for.
fn finished(import: Child) -> (bool, serde_json::Value, String) {
    let out = import.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), summary, stderr)
}

#[test]
fn an_import_waits_for_sqlite_held_busy_by_another_process() {
    let messages = many(4);
    let folder = folder_of(&messages);
    let db = support::sqlite();
    drop(db.connect());
    let path = db.url.trim_start_matches("sqlite://").to_owned();

    // The sqlite3 shell takes the write lock and keeps it past the desk's busy timeout.
    let mut shell = match Command::new("sqlite3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(shell) => shell,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: the sqlite3 shell is missing ({e})");
            return;
        }
        Err(e) => panic!("CI=true but the sqlite3 shell is missing: {e}"),
    };
    let mut input = shell.stdin.take().unwrap();
    writeln!(input, ".timeout 30000\nBEGIN IMMEDIATE;\nSELECT 'held';").unwrap();
    let mut held = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut held)
        .unwrap();
    assert_eq!(held.trim(), "held");

    let started = Instant::now();
    let mut running = import(&db, &folder.path().join("reports"));
    let hold = Duration::from_secs(14);
    std::thread::sleep(hold);
    assert!(
        running.try_wait().unwrap().is_none(),
        "the import gave up while the database was busy"
    );
    writeln!(input, "ROLLBACK;\n.quit").unwrap();
    shell.wait().unwrap();

    let (ok, summary, log) = finished(running);
    assert!(ok, "{log}");
    assert!(started.elapsed() >= hold);
    assert!(log.contains("the database is unavailable"), "{log}");
    let (oracle, tickets, stored) = imported(&messages);
    assert_eq!(summary["messages"], oracle.messages);
    assert_eq!(summary["new_tickets"], oracle.new_tickets);
    let conn = &mut db.connect();
    assert_eq!(counts(conn), stored);
    assert_eq!(tickets_seen(conn), tickets);
}

#[test]
fn an_import_carries_on_after_a_postgres_restart() {
    let name = "an_import_carries_on_after_a_postgres_restart";
    let Some(server) = PrivatePostgres::start(name) else {
        return;
    };
    let db = server.test_db();
    drop(db.connect());
    let messages = many(40);
    let folder = folder_of(&messages);

    let mut running = import(&db, &folder.path().join("reports"));
    until_some_events(&db, &mut running);
    server.stop();
    if running.try_wait().unwrap().is_some() {
        let (ok, summary, log) = finished(running);
        panic!("the import ended (success: {ok}) as the server stopped: {summary} {log}");
    }
    std::thread::sleep(Duration::from_secs(2));
    server.start_again();

    let (ok, summary, log) = finished(running);
    assert!(ok, "{log}");
    assert!(log.contains("the database is unavailable"), "{log}");
    let (oracle, tickets, stored) = imported(&messages);
    assert_eq!(summary["messages"], oracle.messages, "{summary}");
    assert_eq!(summary["new_tickets"], oracle.new_tickets, "{summary}");
    let conn = &mut db.connect();
    assert_eq!(counts(conn), stored);
    assert_eq!(tickets_seen(conn), tickets);
}

#[test]
fn a_poll_carries_on_after_a_postgres_restart() {
    let name = "a_poll_carries_on_after_a_postgres_restart";
    let Some(server) = PrivatePostgres::start(name) else {
        return;
    };
    let Some(dovecot) = dovecot(name) else { return };
    let db = server.test_db();
    let messages = corpus();
    dovecot.append("INBOX", &messages);
    let ingestor = abuse_desk::ingest::Ingestor::from_settings(
        &abuse_desk::settings::Settings::default().ingest,
    )
    .unwrap()
    .reconnecting(DatabaseUrl::parse(&db.url).unwrap());
    let conn = &mut db.connect();
    let server = std::sync::Arc::new(server);
    let mut restarter = None;
    let summary = abuse_desk::imap::poll(
        conn,
        &ingestor,
        &dovecot.mailbox("fbl"),
        &abuse_desk::imap::PollOptions {
            attempts: 30,
            ..options()
        },
        &mut |_| {
            // After the first batch is stored: the server goes away, back in a second.
            if restarter.is_none() {
                server.stop();
                let server = std::sync::Arc::clone(&server);
                restarter = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(1));
                    server.start_again();
                }));
            }
        },
    );
    restarter.unwrap().join().unwrap();
    assert_eq!(summary.error, None, "{summary:?}");
    assert!(summary.attempts > 1, "{summary:?}");
    check_polled_once(&db, &dovecot, &mut db.connect(), &messages);
}

#[actix_web::test]
async fn pages_answer_503_while_postgres_is_down_and_recover_after() {
    let name = "pages_answer_503_while_postgres_is_down_and_recover_after";
    let Some(server) = PrivatePostgres::start(name) else {
        return;
    };
    let app = crate::web::spawn_app(server.test_db()).await;
    let agent = app.login("agent").await;
    assert_eq!(agent.get("/tickets").await.status(), 200);

    server.stop();
    for path in ["/tickets", "/reports/outgoing", "/api/v1/tickets"] {
        let asked = Instant::now();
        let res = agent.get(path).await;
        assert_eq!(res.status(), 503, "{path}");
        assert_eq!(res.headers()["retry-after"], "5");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("the database cannot be reached at the moment"),
            "{path}: {body}"
        );
        assert!(asked.elapsed() < Duration::from_secs(15), "{path}");
    }

    server.start_again();
    let mut status = 0;
    for _ in 0..50 {
        status = agent.get("/tickets").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status, 200,
        "the queue answers again once the server is back"
    );
}
