//! The IMAP poller against a real Dovecot, on both backends: real corpus messages appended
//! over IMAP become the same tickets a file import gives, and end in the done or rejected
//! folder; a UIDVALIDITY change and two pollers at once count nothing twice; the IDLE
//! watcher. The shared helpers live here; faults are in `imap_faults`, the command line and
//! TLS in `imap_cli`.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use abuse_desk::db::mailbox_state;
use abuse_desk::db::schema::{raw_messages, tickets};
use abuse_desk::db::DbConn;
use abuse_desk::imap::{self, MailboxSettings, MailboxSummary, PollOptions};
use abuse_desk::ingest::{self, Ingestor, Origin, Summary};
use abuse_desk::settings::Settings;
use diesel::prelude::*;

use crate::dovecot::{Dovecot, Options};
/// Stored messages, quarantined ones, events.
use crate::ingest::counts;
use crate::support::{self, TestDb};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The real corpus and the extra fixtures (some of them not reports), sorted by name.
pub(crate) fn corpus() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = ["arf", "arf-extra"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(Path::new(FIXTURES).join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Copies of the corpus numbered by `copies`, each copy's bytes made distinct by a header of
/// its own (`X-Test-Copy: N`), for tests that need many messages.
pub(crate) fn copies_of_corpus(copies: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let corpus = corpus();
    copies
        .flat_map(|copy| {
            corpus.iter().map(move |m| {
                let mut out = format!("X-Test-Copy: {copy}\r\n").into_bytes();
                out.extend_from_slice(m);
                out
            })
        })
        .collect()
}

pub(crate) fn ingestor() -> Ingestor {
    Ingestor::from_settings(&Settings::default().ingest).unwrap()
}

/// Quick retries, so fault tests take milliseconds per retry, not seconds.
pub(crate) fn options() -> PollOptions {
    PollOptions {
        batch_size: 7,
        timeout: Duration::from_secs(10),
        attempts: 8,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..Default::default()
    }
}

pub(crate) fn poll(
    conn: &mut DbConn,
    mailbox: &MailboxSettings,
    options: &PollOptions,
) -> MailboxSummary {
    imap::poll(conn, &ingestor(), mailbox, options, &mut |_| {})
}

/// What a user sees of the tickets: subject, class and event count, sorted.
pub(crate) fn tickets_seen(conn: &mut DbConn) -> TicketsSeen {
    let mut seen: Vec<(String, String, i64)> = tickets::table
        .select((tickets::subject, tickets::class, tickets::event_count))
        .load(conn)
        .unwrap();
    seen.sort();
    seen
}

/// The oracle: the same messages imported as files into a fresh SQLite database.
/// Tickets as a user sees them: subject, class, event count.
pub(crate) type TicketsSeen = Vec<(String, String, i64)>;

pub(crate) fn imported(messages: &[Vec<u8>]) -> (Summary, TicketsSeen, (i64, i64, i64)) {
    let db = support::sqlite();
    let conn = &mut db.connect();
    let summary = imported_into(conn, messages);
    (summary, tickets_seen(conn), counts(conn))
}

/// The messages imported as files into `conn`'s database.
pub(crate) fn imported_into(conn: &mut DbConn, messages: &[Vec<u8>]) -> Summary {
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
    summary
}

pub(crate) fn state(conn: &mut DbConn, name: &str) -> mailbox_state::MailboxState {
    mailbox_state::get(conn, name).unwrap()
}

pub(crate) fn dovecot(test: &str) -> Option<Dovecot> {
    Dovecot::start(test)
}

pub(crate) fn check_polled_once(
    db: &TestDb,
    dovecot: &Dovecot,
    conn: &mut DbConn,
    messages: &[Vec<u8>],
) {
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
        let Some(dovecot) = Dovecot::start_with(
            name,
            Options {
                without_move: true,
                ..Options::default()
            },
        ) else {
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
        // Connected before the threads start: a thread failing before the barrier would
        // leave the other waiting for ever.
        let conns = [db.connect_bare(), db.connect_bare()];
        let summaries: Vec<MailboxSummary> = std::thread::scope(|scope| {
            let handles: Vec<_> = conns
                .into_iter()
                .map(|mut conn| {
                    let (barrier, mailbox) = (&barrier, &mailbox);
                    scope.spawn(move || {
                        let options = PollOptions {
                            batch_size: 3,
                            ..options()
                        };
                        barrier.wait();
                        poll(&mut conn, mailbox, &options)
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
