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

use crate::imap_poll::{
    check_polled_once, copies_of_corpus, corpus, dovecot, imported, imported_into, options,
    tickets_seen,
};
use crate::ingest::counts;
use crate::private_postgres::PrivatePostgres;
use crate::support::{self, TestDb};

/// The corpus `copies` times over (see [`copies_of_corpus`]).
fn many(copies: usize) -> Vec<Vec<u8>> {
    copies_of_corpus(0..copies)
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

/// A small filesystem of its own (tmpfs), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(test: &str, megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            Ok(out) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "CI=true but a tmpfs cannot be mounted here: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            other => {
                eprintln!("SKIPPED: '{test}' mounts a small tmpfs, which needs root: {other:?}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk up to its last `left` bytes with a file of its own.
    fn fill_leaving(&self, left: u64) -> std::path::PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let mut to_write = fs_free(self.path()).saturating_sub(left);
        while to_write > 0 {
            let n = to_write.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n]).unwrap();
            to_write -= n as u64;
        }
        file.sync_all().unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// Free bytes on the filesystem holding `path`, as `df` reports them.
fn fs_free(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// The bytes a fresh SQLite database grows by when the messages are polled into it.
fn space_taken(messages: &[Vec<u8>]) -> u64 {
    let db = support::sqlite();
    let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let files = |p: &Path| size(p) + size(&p.with_extension("db-wal"));
    let conn = &mut db.connect();
    let before = files(&path);
    imported_into(conn, messages);
    files(&path) - before
}

#[test]
fn a_full_disk_stops_the_poll_cleanly_and_the_next_poll_stores_the_rest() {
    let name = "a_full_disk_stops_the_poll_cleanly_and_the_next_poll_stores_the_rest";
    let messages = many(12);
    // A disk with room for them all and for SQLite's write-ahead log (which grows up to
    // 128 MB between checkpoints), filled up to about half of what storing them takes.
    let needed = space_taken(&messages);
    let Some(disk) = SmallDisk::mount(name, 160 + (needed * 2).div_ceil(1 << 20) as u32) else {
        return;
    };
    let Some(dovecot) = dovecot(name) else { return };
    let db = TestDb::on_file(disk.path().join("desk.db"));
    drop(db.connect());
    dovecot.append("INBOX", &messages);
    let filler = disk.fill_leaving(needed / 2);

    let conn = &mut db.connect();
    let full = crate::imap_poll::poll(conn, &dovecot.mailbox("fbl"), &options());
    let error = full.error.clone().expect("the poll fails on a full disk");
    assert!(error.contains("full"), "{error}");
    // What was not stored is still in the mailbox; what was stored is whole.
    let stored: i64 = abuse_desk::db::schema::raw_messages::table
        .count()
        .get_result(conn)
        .unwrap();
    assert!(
        u64::from(dovecot.count("INBOX")) + stored as u64 >= messages.len() as u64,
        "messages left the mailbox without being stored"
    );
    assert!(
        dovecot.count("INBOX") > 0,
        "the disk filled up before the end"
    );
    assert!(
        stored > 0,
        "the disk filled up while messages were stored: {error}"
    );
    std::fs::remove_file(filler).unwrap();
    let after = crate::imap_poll::poll(conn, &dovecot.mailbox("fbl"), &options());
    assert_eq!(after.error, None);
    check_polled_once(&db, &dovecot, conn, &messages);
}
