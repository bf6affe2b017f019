//! The IMAP poller against a real Dovecot, on both backends: real corpus messages appended
//! over IMAP become the same tickets a file import gives, and end in the done or rejected
//! folder; dropped connections, a server restart, a UIDVALIDITY change, a login failure, a
//! message the database refuses and two pollers at once lose nothing and count nothing twice.

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use abuse_desk::db::mailbox_state;
use abuse_desk::db::schema::{raw_messages, tickets};
use abuse_desk::db::DbConn;
use abuse_desk::imap::{self, MailboxSettings, MailboxSummary, PollOptions};
use abuse_desk::ingest::{self, Ingestor, Origin, Summary};
use abuse_desk::settings::Settings;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::dovecot::{Dovecot, Options};
/// Stored messages, quarantined ones, events.
use crate::ingest::counts;
use crate::proxy::CuttingProxy;
use crate::support::{self, TestDb};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The real corpus and the extra fixtures (some of them not reports), sorted by name.
fn corpus() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = ["arf", "arf-extra"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(Path::new(FIXTURES).join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn ingestor() -> Ingestor {
    Ingestor::from_settings(&Settings::default().ingest).unwrap()
}

/// Quick retries, so fault tests take milliseconds per retry, not seconds.
fn options() -> PollOptions {
    PollOptions {
        batch_size: 7,
        timeout: Duration::from_secs(10),
        attempts: 8,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..Default::default()
    }
}

fn poll(conn: &mut DbConn, mailbox: &MailboxSettings, options: &PollOptions) -> MailboxSummary {
    imap::poll(conn, &ingestor(), mailbox, options, &mut |_| {})
}

/// What a user sees of the tickets: subject, class and event count, sorted.
fn tickets_seen(conn: &mut DbConn) -> TicketsSeen {
    let mut seen: Vec<(String, String, i64)> = tickets::table
        .select((tickets::subject, tickets::class, tickets::event_count))
        .load(conn)
        .unwrap();
    seen.sort();
    seen
}

/// The oracle: the same messages imported as files into a fresh SQLite database.
/// Tickets as a user sees them: subject, class, event count.
type TicketsSeen = Vec<(String, String, i64)>;

fn imported(messages: &[Vec<u8>]) -> (Summary, TicketsSeen, (i64, i64, i64)) {
    let db = support::sqlite();
    let conn = &mut db.connect();
    let origin = Origin {
        source: "oracle",
        mailbox: None,
    };
    let (summary, _) = ingest::import(
        conn,
        &ingestor(),
        &origin,
        messages
            .iter()
            .cloned()
            .map(Ok::<_, std::convert::Infallible>),
        2,
        |_| {},
    )
    .unwrap();
    (summary, tickets_seen(conn), counts(conn))
}

fn state(conn: &mut DbConn, name: &str) -> mailbox_state::MailboxState {
    mailbox_state::get(conn, name).unwrap()
}

fn dovecot(test: &str) -> Option<Dovecot> {
    Dovecot::start(test)
}

fn check_polled_once(db: &TestDb, dovecot: &Dovecot, conn: &mut DbConn, messages: &[Vec<u8>]) {
    let (summary, tickets, stored) = imported(messages);
    assert_eq!(tickets_seen(conn), tickets, "tickets on {}", db.backend);
    assert_eq!(
        counts(conn),
        stored,
        "stored/quarantined/events on {}",
        db.backend
    );
    assert_eq!(
        dovecot.count("INBOX"),
        0,
        "INBOX left over on {}",
        db.backend
    );
    assert_eq!(
        u64::from(dovecot.count("Done")),
        summary.messages - summary.quarantined,
        "{}",
        db.backend
    );
    assert_eq!(
        u64::from(dovecot.count("Rejected")),
        summary.quarantined,
        "{}",
        db.backend
    );
}

#[test]
fn the_real_corpus_appended_by_imap_becomes_tickets_and_every_message_is_moved() {
    let name = "the_real_corpus_appended_by_imap_becomes_tickets";
    let messages = corpus();
    let (oracle, _, _) = imported(&messages);
    assert!(
        oracle.quarantined >= 2 && oracle.new_tickets > 10,
        "{oracle:?}"
    );
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let conn = &mut db.connect();
        let mailbox = dovecot.mailbox("fbl");
        let summary = poll(conn, &mailbox, &options());
        assert_eq!(summary.error, None, "{}", db.backend);
        assert_eq!(summary.ingest.messages, messages.len() as u64);
        assert_eq!(
            Summary {
                bytes: oracle.bytes,
                ..summary.ingest.clone()
            },
            oracle,
            "poll and import count alike on {}",
            db.backend
        );
        assert_eq!(summary.moved, oracle.messages - oracle.quarantined);
        assert_eq!(summary.rejected, oracle.quarantined);
        check_polled_once(&db, &dovecot, conn, &messages);
        // What the SpamExperts report of the corpus must give, whatever else changes.
        assert!(tickets_seen(conn)
            .iter()
            .any(|(subject, _, _)| subject == "172.16.10.13@example.com"));
        let source: String = raw_messages::table
            .select(raw_messages::source)
            .first(conn)
            .unwrap();
        assert_eq!(source, "fbl");

        let st = state(conn, "fbl");
        assert_eq!(st.last_uid, messages.len() as i64);
        assert_eq!(st.last_error, None);
        assert!(st.last_poll_at.is_some());

        let again = poll(conn, &mailbox, &options());
        assert_eq!((again.ingest.messages, again.error), (0, None));
    }
}

#[test]
fn without_move_the_poller_copies_and_expunges() {
    let name = "without_move_the_poller_copies_and_expunges";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = Dovecot::start_with(name, Options { without_move: true }) else {
            return;
        };
        dovecot.append("INBOX", &messages);
        let conn = &mut db.connect();
        let summary = poll(conn, &dovecot.mailbox("fbl"), &options());
        assert_eq!(summary.error, None);
        check_polled_once(&db, &dovecot, conn, &messages);
    }
}

#[test]
fn connections_cut_mid_batch_lose_and_double_nothing() {
    let name = "connections_cut_mid_batch_lose_and_double_nothing";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        // The first connections are cut after so many bytes from the server: in the
        // greeting, in a FETCH, between batches.
        let proxy = CuttingProxy::start(dovecot.port, vec![40, 30_000, 90_000, 150_000, 700]);
        let conn = &mut db.connect();
        let summary = poll(conn, &dovecot.mailbox_on("fbl", proxy.port), &options());
        assert_eq!(summary.error, None, "{}", db.backend);
        assert!(summary.attempts >= 4, "the cuts happened: {summary:?}");
        check_polled_once(&db, &dovecot, conn, &messages);
    }
}

#[test]
fn a_dovecot_restart_mid_poll_loses_and_doubles_nothing() {
    let name = "a_dovecot_restart_mid_poll_loses_and_doubles_nothing";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let mailbox = dovecot.mailbox("fbl");
        let dovecot = Arc::new(Mutex::new(dovecot));
        let conn = &mut db.connect();
        let mut restarter = None;
        let summary = imap::poll(conn, &ingestor(), &mailbox, &options(), &mut |_| {
            // After the first batch is stored and moved: stop the server, back in 300 ms.
            if restarter.is_none() {
                dovecot.lock().unwrap().stop();
                let dovecot = Arc::clone(&dovecot);
                restarter = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    dovecot.lock().unwrap().restart();
                }));
            }
        });
        restarter.unwrap().join().unwrap();
        assert_eq!(summary.error, None, "{}", db.backend);
        assert!(summary.attempts > 1, "{summary:?}");
        check_polled_once(&db, &dovecot.lock().unwrap(), conn, &messages);
    }
}

#[test]
fn messages_stored_but_not_moved_are_moved_later_and_not_counted_again() {
    let name = "messages_stored_but_not_moved_are_moved_later";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let conn = &mut db.connect();
        // First only flagged: stored and committed, but still in INBOX — as after a move
        // that failed once the transaction had committed.
        let mut flagging = dovecot.mailbox("fbl");
        flagging.done_folder = None;
        flagging.rejected_folder = None;
        flagging.done_flag = Some("$Stored".into());
        let first = poll(conn, &flagging, &options());
        assert_eq!(
            (first.flagged, first.error.as_deref()),
            (messages.len() as u64, None)
        );
        assert_eq!(dovecot.count("INBOX"), messages.len() as u32);
        let tickets = tickets_seen(conn);
        let stored = counts(conn);

        let moving = dovecot.mailbox("fbl");
        let second = poll(conn, &moving, &options());
        assert_eq!(second.error, None);
        assert_eq!(
            second.ingest.duplicates,
            messages.len() as u64,
            "{second:?}"
        );
        assert_eq!(second.ingest.new_tickets + second.ingest.updated_tickets, 0);
        assert_eq!(tickets_seen(conn), tickets, "{}", db.backend);
        assert_eq!(counts(conn), stored);
        check_polled_once(&db, &dovecot, conn, &messages);
    }
}

#[test]
fn a_new_uidvalidity_rereads_the_folder_and_counts_nothing_twice() {
    let name = "a_new_uidvalidity_rereads_the_folder";
    let messages = corpus();
    let (first_part, rest) = messages.split_at(10);
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        let mut mailbox = dovecot.mailbox("feedback");
        mailbox.folder = "Feedback".into();
        mailbox.done_folder = None;
        mailbox.rejected_folder = None;
        mailbox.done_flag = Some("\\Seen".into());
        dovecot.append("Feedback", first_part);
        let conn = &mut db.connect();
        let first = poll(conn, &mailbox, &options());
        assert_eq!(first.ingest.messages, 10);
        let before = state(conn, "feedback");

        // The folder is recreated: new UIDVALIDITY, UIDs start again at 1.
        let mut session = dovecot.session();
        session.delete("Feedback").unwrap();
        session.create("Feedback").unwrap();
        session.logout().unwrap();
        let mut again: Vec<Vec<u8>> = first_part[..3].to_vec();
        again.extend_from_slice(rest);
        dovecot.append("Feedback", &again);

        let second = poll(conn, &mailbox, &options());
        assert_eq!(second.error, None);
        assert_eq!(second.ingest.messages, again.len() as u64);
        assert!(second.ingest.duplicates >= 3, "{second:?}");
        let after = state(conn, "feedback");
        assert_ne!(after.uid_validity, before.uid_validity);
        assert_eq!(after.last_uid, again.len() as i64);
        let (_, tickets, stored) = imported(&messages);
        assert_eq!(tickets_seen(conn), tickets, "{}", db.backend);
        assert_eq!(counts(conn), stored);
        assert_eq!(poll(conn, &mailbox, &options()).ingest.messages, 0);
    }
}

#[test]
fn a_refused_login_is_retried_recorded_and_then_recovers() {
    let name = "a_refused_login_is_retried_recorded_and_then_recovers";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages[..5]);
        let conn = &mut db.connect();
        let mut wrong = dovecot.mailbox("fbl");
        wrong.password = Some(abuse_desk::settings::Secret::new("wrong"));
        let options = PollOptions {
            attempts: 3,
            ..options()
        };
        let failed = poll(conn, &wrong, &options);
        let error = failed.error.clone().unwrap();
        assert!(error.starts_with("login failed"), "{error}");
        assert!(!error.contains("wrong"), "no password in errors: {error}");
        assert_eq!(failed.attempts, 3);
        assert_eq!(
            state(conn, "fbl").last_error.as_deref(),
            Some(error.as_str())
        );
        assert_eq!(dovecot.count("INBOX"), 5);

        let ok = poll(conn, &dovecot.mailbox("fbl"), &options);
        assert_eq!((ok.ingest.messages, ok.error), (5, None));
        assert_eq!(state(conn, "fbl").last_error, None);
    }
}

/// A trigger makes the database refuse one particular report, as a constraint or a
/// backend limit would.
fn refuse_source_ip(conn: &mut DbConn, ip: &str) {
    let sql = match conn {
        DbConn::Sqlite(_) => format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.source_ip = '{ip}'
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
        ),
        DbConn::Postgres(_) => format!(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.source_ip = '{ip}' THEN RAISE EXCEPTION 'refused by test'; END IF;
             RETURN NEW; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse();"
        ),
    };
    conn.batch_execute(&sql).unwrap();
}

#[test]
fn a_message_the_database_refuses_ends_in_the_quarantine_and_the_rest_is_stored() {
    let name = "a_message_the_database_refuses_ends_in_the_quarantine";
    let mut messages = corpus();
    let poison = String::from_utf8_lossy(&messages[0])
        .replace("Source-IP: 10.17.18.1", "Source-IP: 192.0.2.66")
        .into_bytes();
    assert_ne!(poison, messages[0], "the fixture has the Source-IP line");
    messages[0] = poison;
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let conn = &mut db.connect();
        refuse_source_ip(conn, "192.0.2.66");
        let summary = poll(conn, &dovecot.mailbox("fbl"), &options());
        assert_eq!(summary.error, None, "{}", db.backend);
        let (_, oracle_tickets, (raw, quarantined, events)) = imported(&messages[1..]);
        assert_eq!(
            counts(conn),
            (raw + 1, quarantined + 1, events),
            "{}",
            db.backend
        );
        assert_eq!(tickets_seen(conn), oracle_tickets);
        let (kind, reason): (Option<String>, Option<String>) = raw_messages::table
            .filter(raw_messages::parse_error_kind.eq("store_failed"))
            .select((raw_messages::parse_error_kind, raw_messages::parse_error))
            .first(conn)
            .unwrap();
        assert_eq!(kind.as_deref(), Some("store_failed"));
        assert!(reason.unwrap().contains("refused by test"));
        assert_eq!(u64::from(dovecot.count("Rejected")), quarantined as u64 + 1);
        assert_eq!(dovecot.count("INBOX"), 0);
        // Not retried: the next poll has nothing to do.
        assert_eq!(
            poll(conn, &dovecot.mailbox("fbl"), &options())
                .ingest
                .messages,
            0
        );
    }
}

#[test]
fn two_pollers_at_once_ingest_each_message_exactly_once() {
    let name = "two_pollers_at_once_ingest_each_message_exactly_once";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let mailbox = dovecot.mailbox("fbl");
        // Migrated once here: two migration runs at once would race each other.
        drop(db.connect());
        let barrier = Barrier::new(2);
        let summaries: Vec<MailboxSummary> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut conn = db.connect_bare();
                        let options = PollOptions {
                            batch_size: 3,
                            ..options()
                        };
                        barrier.wait();
                        poll(&mut conn, &mailbox, &options)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total: u64 = summaries.iter().map(|s| s.ingest.messages).sum();
        let duplicates: u64 = summaries.iter().map(|s| s.ingest.duplicates).sum();
        let (oracle, _, _) = imported(&messages);
        assert_eq!(total, messages.len() as u64, "{summaries:?}");
        assert_eq!(duplicates, oracle.duplicates, "{summaries:?}");
        assert!(
            summaries.iter().any(|s| s.skipped),
            "they overlapped: {summaries:?}"
        );
        let conn = &mut db.connect();
        check_polled_once(&db, &dovecot, conn, &messages);
    }
}

#[test]
fn with_idle_a_new_report_is_stored_and_moved_within_seconds() {
    let name = "with_idle_a_new_report_is_stored_and_moved_within_seconds";
    let messages = corpus();
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        let mut mailbox = dovecot.mailbox("fbl");
        mailbox.idle = true;
        // Once a year: only IDLE can bring the report in during the test.
        mailbox.schedule = "0 0 0 1 1 *".into();
        let settings = Settings {
            database_url: db.url.clone(),
            mailboxes: vec![mailbox],
            ..Settings::default()
        };
        drop(db.connect());
        let pool = abuse_desk::db::connect_pool(&settings.database().unwrap(), 4).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let jobs = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(abuse_desk::jobs::run_until(
                Arc::new(settings),
                pool,
                None,
                async {
                    let _ = stopped.await;
                },
            ))
        });
        // Let the watcher do its first poll and start idling.
        std::thread::sleep(Duration::from_secs(1));
        dovecot.append("INBOX", &messages[..3]);
        let appended = std::time::Instant::now();
        let conn = &mut db.connect();
        while dovecot.count("Done") < 3 {
            assert!(
                appended.elapsed() < Duration::from_secs(10),
                "not stored and moved within 10 s on {}",
                db.backend
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(counts(conn).0, 3, "{}", db.backend);
        stop.send(()).unwrap();
        jobs.join().unwrap().unwrap();
    }
}

#[test]
fn poll_once_on_the_command_line_prints_the_summary() {
    let name = "poll_once_on_the_command_line_prints_the_summary";
    let messages = corpus();
    let (oracle, _, _) = imported(&messages);
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("desk.toml");
        let mailbox = toml::to_string(&dovecot.mailbox("fbl"))
            .unwrap()
            .replace("********", crate::dovecot::PASSWORD);
        std::fs::write(&config, format!("[[mailboxes]]\n{mailbox}")).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
                .arg("--config")
                .arg(&config)
                .args(["--database-url", &db.url])
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["poll", "--once", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fbl = &json["mailboxes"][0];
        assert_eq!(fbl["mailbox"], "fbl");
        assert_eq!(fbl["messages"], messages.len());
        assert_eq!(fbl["new_tickets"], oracle.new_tickets);
        assert_eq!(fbl["quarantined"], oracle.quarantined);
        assert_eq!(fbl["moved"], oracle.messages - oracle.quarantined);
        assert_eq!(fbl["rejected"], oracle.quarantined);
        assert_eq!(fbl["error"], serde_json::Value::Null);
        assert_eq!(dovecot.count("INBOX"), 0);

        let table = run(&["poll", "--once"]);
        assert!(String::from_utf8_lossy(&table.stdout).contains("MAILBOX"));
        let unknown = run(&["poll", "--once", "--mailbox", "nope"]);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no mailbox named 'nope'"));
    }
}
