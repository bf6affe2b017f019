//! The ingest path end to end: real corpus files in, tickets out, on both backends; re-import
//! and crash recovery count nothing twice; quarantine, reprocessing, the ticket lifecycle and
//! the automatic lock rule.

use std::path::{Path, PathBuf};
use std::process::Command;

use abuse_desk::db::schema::{actions, audit_log, customers, events, raw_messages, tickets};
use abuse_desk::db::DbConn;
use abuse_desk::ingest::{self, Ingestor, Origin, Summary};
use abuse_desk::settings::Settings;
use abuse_desk::tickets::Status;
use diesel::prelude::*;

use crate::support::{self, TestDb};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arf");

/// A ticket as a user sees it, without database ids or bookkeeping times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable)]
struct TicketView {
    customer: Option<String>,
    kind: String,
    subject: String,
    class: String,
    severity: String,
    status: String,
    events: i64,
    source_ips: i64,
    first_seen: chrono::NaiveDateTime,
    last_seen: chrono::NaiveDateTime,
    identity: Option<String>,
    outgoing_user: Option<String>,
    last_subject: Option<String>,
}

fn ticket_views(conn: &mut DbConn) -> Vec<TicketView> {
    let mut views: Vec<TicketView> = tickets::table
        .left_join(customers::table)
        .select((
            customers::external_id.nullable(),
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::event_count,
            tickets::source_ip_count,
            tickets::first_seen,
            tickets::last_seen,
            tickets::identity,
            tickets::outgoing_user,
            tickets::last_original_subject,
        ))
        .load(conn)
        .unwrap();
    views.sort();
    views
}

pub(crate) fn counts(conn: &mut DbConn) -> (i64, i64, i64) {
    let raw = raw_messages::table.count().get_result(conn).unwrap();
    let quarantined = raw_messages::table
        .filter(raw_messages::parse_status.eq("quarantined"))
        .count()
        .get_result(conn)
        .unwrap();
    let events = events::table.count().get_result(conn).unwrap();
    (raw, quarantined, events)
}

fn corpus_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn run_import<M: Into<ingest::Incoming>, E: Send>(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    messages: impl Iterator<Item = Result<M, E>> + Send,
) -> (Summary, Vec<E>) {
    ingest::import(conn, ingestor, &ORIGIN, messages, 2, |_| {}).unwrap()
}

fn import_files(conn: &mut DbConn, ingestor: &Ingestor, paths: Vec<PathBuf>) -> Summary {
    let (summary, errors) = run_import(
        conn,
        ingestor,
        ingest::sources::messages(paths, ingestor.max_message_bytes).map(|m| m.map(|m| m.message)),
    );
    assert!(errors.is_empty());
    summary
}

fn import_bytes(conn: &mut DbConn, ingestor: &Ingestor, messages: Vec<Vec<u8>>) -> Summary {
    run_import(
        conn,
        ingestor,
        messages.into_iter().map(Ok::<_, std::convert::Infallible>),
    )
    .0
}

/// Where the tests' messages come from.
const ORIGIN: Origin<'static> = Origin {
    source: "test",
    mailbox: None,
};

fn default_ingestor() -> Ingestor {
    Ingestor::from_settings(&Settings::default().ingest).unwrap()
}

const CUSTOMERS: &str = "external_id,name,email,identities,domains,netblocks
hoster,Example Hosting,abuse@example.com,172.16.10.13@example.com,,
shop,Shop,abuse@shop.example,,example.net,
";

#[test]
fn the_real_corpus_gives_the_same_tickets_on_both_backends_and_reimport_changes_nothing() {
    let corpus = corpus_copy();
    let mut results = Vec::new();
    for db in support::backends("the_real_corpus_gives_the_same_tickets_on_both_backends") {
        let conn = &mut db.connect();
        abuse_desk::db::customers::import(
            conn,
            &abuse_desk::customers::parse_csv(CUSTOMERS.as_bytes()).unwrap(),
        )
        .unwrap();
        let ingestor = default_ingestor();
        let first = import_files(conn, &ingestor, vec![corpus.path().to_owned()]);
        assert_eq!(first.messages, 41, "{}", db.backend);
        assert_eq!(
            first.quarantined, 2,
            "the plain mail and the exim notice on {}",
            db.backend
        );
        assert_eq!(first.reports, 39);
        assert_eq!(
            first.new_tickets + first.updated_tickets + first.duplicates,
            39
        );
        let views = ticket_views(conn);
        let state = counts(conn);

        let again = import_files(conn, &ingestor, vec![corpus.path().to_owned()]);
        assert_eq!(
            again,
            Summary {
                messages: 41,
                duplicates: 41,
                bytes: again.bytes,
                ..Default::default()
            },
            "re-import on {}",
            db.backend
        );
        assert_eq!(
            ticket_views(conn),
            views,
            "re-import changed tickets on {}",
            db.backend
        );
        assert_eq!(counts(conn), state);

        // Our own filter's reports: one ticket per identity, for the right customer, at abuse.
        let own = views
            .iter()
            .find(|t| t.subject == "172.16.10.13@example.com")
            .expect("SpamExperts identity ticket");
        assert_eq!(
            (
                own.customer.as_deref(),
                own.kind.as_str(),
                own.severity.as_str(),
                own.status.as_str()
            ),
            (Some("hoster"), "identity", "abuse", "open")
        );
        assert_eq!(
            own.outgoing_user.as_deref(),
            Some("172.16.10.13"),
            "outgoing user kept for locking"
        );
        results.push((db.backend, first, views, state));
    }
    if let [(_, a_sum, a_views, a_counts), (_, b_sum, b_views, b_counts)] = &results[..] {
        assert_eq!(a_sum, b_sum);
        assert_eq!(a_views, b_views, "SQLite and Postgres disagree");
        assert_eq!(a_counts, b_counts);
    }
}

/// Runs `abuse-desk reprocess WHAT --json` on the test database; its JSON summary.
fn reprocess(db: &TestDb, what: &str) -> serde_json::Value {
    let out = support::cli_ok(db, &["reprocess", what, "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn quarantined_messages_keep_their_reason_and_can_be_reprocessed() {
    for db in support::backends("quarantined_messages_keep_their_reason_and_can_be_reprocessed") {
        let conn = &mut db.connect();
        let ingestor = default_ingestor();
        let plain = std::fs::read(format!(
            "{FIXTURES}/email-arf-report-aol__SampleNonARFReport1.eml"
        ))
        .unwrap();
        let summary = import_bytes(conn, &ingestor, vec![plain]);
        assert_eq!((summary.messages, summary.quarantined), (1, 1));
        let (kind, reason): (Option<String>, Option<String>) = raw_messages::table
            .select((raw_messages::parse_error_kind, raw_messages::parse_error))
            .first(conn)
            .unwrap();
        assert_eq!(kind.as_deref(), Some("not_a_report"));
        assert!(reason.unwrap().len() > 10);

        // A report an older parser could not read, stored as quarantined: reprocessing turns it
        // into an event and a ticket, exactly once.
        let report = std::fs::read(format!("{FIXTURES}/abuseio__spamexperts-3.eml")).unwrap();
        let compressed = zstd::bulk::compress(&report, 1).unwrap();
        diesel::insert_into(raw_messages::table)
            .values((
                raw_messages::sha256.eq("0".repeat(64)),
                raw_messages::compression.eq("zstd"),
                raw_messages::content.eq(compressed),
                raw_messages::size_bytes.eq(report.len() as i64),
                raw_messages::source.eq("imap"),
                raw_messages::received_at.eq(abuse_desk::db::now()),
                raw_messages::parse_status.eq("quarantined"),
                raw_messages::parse_error_kind.eq("malformed"),
                raw_messages::parse_error.eq("an old parser's complaint"),
            ))
            .execute(conn)
            .unwrap();
        let summary = reprocess(&db, "--quarantined");
        assert_eq!(
            (
                summary["messages"].as_u64(),
                summary["new_tickets"].as_u64(),
                summary["quarantined"].as_u64()
            ),
            (Some(2), Some(1), Some(1)),
            "{}",
            db.backend
        );
        assert_eq!(counts(conn), (2, 1, 1));
        let again = reprocess(&db, "--quarantined");
        assert_eq!(
            (again["messages"].as_u64(), again["new_tickets"].as_u64()),
            (Some(1), Some(0)),
            "only the plain mail is left"
        );
    }
}

/// A SpamExperts report from the corpus, made into a distinct complaint arriving at `minute`.
fn spamexperts_report(envelope: &str, minute: u32) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/abuseio__spamexperts-1.eml")).unwrap();
    text.replace("1ZMXvl-000B9p-HH", envelope)
        .replace(
            "Arrival-Date: Tue, 04 Aug 2015 08:51:18 -0000",
            &format!("Arrival-Date: Tue, 04 Aug 2015 08:{minute:02}:00 -0000"),
        )
        .into_bytes()
}

fn ticket_status(conn: &mut DbConn) -> (String, i64) {
    tickets::table
        .select((tickets::status, tickets::event_count))
        .first(conn)
        .unwrap()
}

/// Postgres stores a batch's new raw messages by COPY, which cannot skip a message stored
/// since it looked: here another writer stores one of them in a transaction that commits only
/// while the COPY waits on it. The message is still counted once, and the rest of the batch
/// is stored.
#[test]
fn a_message_another_writer_stores_meanwhile_is_counted_once() {
    let Some(db) = support::postgres("a_message_another_writer_stores_meanwhile_is_counted_once")
    else {
        return;
    };
    let ingestor = default_ingestor();
    let origin = ORIGIN;
    let first = ingestor.prepare(&spamexperts_report("1AAAAA-000001-AA", 1));
    let second = ingestor.prepare(&spamexperts_report("1AAAAA-000002-AA", 2));
    let theirs = ingestor.prepare(&spamexperts_report("1AAAAA-000001-AA", 1));
    let conn = &mut db.connect();
    let ours = beside_an_open_transaction(&db, &ingestor, &origin, theirs, |theirs| {
        assert!(
            matches!(theirs[..], [ingest::Outcome::NewTicket(_)]),
            "{theirs:?}"
        );
        ingest::store(conn, &ingestor, &origin, &[first, second]).unwrap()
    });
    assert!(
        matches!(
            ours[..],
            [
                ingest::Outcome::Duplicate,
                ingest::Outcome::UpdatedTicket(_)
            ]
        ),
        "{ours:?}"
    );
    assert_eq!(counts(conn), (2, 0, 2));
    assert_eq!(ticket_status(conn), ("open".into(), 2));
}

/// Stores `theirs` from a connection of its own, in a transaction it holds open for 700 ms
/// after the store; meanwhile runs `ours`, given the outcomes of that uncommitted store, and
/// returns what it returns.
fn beside_an_open_transaction<T>(
    db: &TestDb,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    theirs: ingest::Prepared,
    ours: impl FnOnce(Vec<ingest::Outcome>) -> T,
) -> T {
    let (stored, uncommitted) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let conn = &mut db.connect();
            conn.transaction(|conn| {
                let outcomes = ingest::store(conn, ingestor, origin, &[theirs]).unwrap();
                stored.send(outcomes).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(700));
                diesel::QueryResult::Ok(())
            })
            .unwrap();
        });
        ours(uncommitted.recv().unwrap())
    })
}

/// Two writers counting on one ticket at once on Postgres (two mailboxes polled together, an
/// import beside the poller): the second waits for the first's transaction and counts on what
/// it wrote, so the ticket's count misses no event.
#[test]
fn two_writers_counting_on_one_ticket_at_once_miss_no_event() {
    let Some(db) = support::postgres("two_writers_counting_on_one_ticket_at_once_miss_no_event")
    else {
        return;
    };
    let ingestor = default_ingestor();
    let origin = ORIGIN;
    let conn = &mut db.connect();
    let opening = ingestor.prepare(&spamexperts_report("1DDDDD-000000-DD", 0));
    ingest::store(conn, &ingestor, &origin, &[opening]).unwrap();
    let theirs = ingestor.prepare(&spamexperts_report("1DDDDD-000001-DD", 1));
    let ours = ingestor.prepare(&spamexperts_report("1DDDDD-000002-DD", 2));
    let outcome = beside_an_open_transaction(&db, &ingestor, &origin, theirs, |_| {
        ingest::store(conn, &ingestor, &origin, &[ours]).unwrap()
    });
    assert!(
        matches!(outcome[..], [ingest::Outcome::UpdatedTicket(_)]),
        "{outcome:?}"
    );
    assert_eq!(counts(conn), (3, 0, 3));
    assert_eq!(ticket_status(conn), ("open".into(), 3));
}

/// An import commits what it has stored before it waits on its input: while the input stalls
/// (a slow disk, a stalled network mount), every whole batch read so far is on the ticket, and
/// staff can work the ticket without waiting for the import (on SQLite, for the database's
/// write lock; on Postgres, for the ticket's row). 48 reports fill the reader's runs of 16;
/// in batches of 5 that is 9 whole batches, 45 reports, and 3 waiting for more.
#[test]
fn an_import_waiting_on_its_input_holds_no_transaction_open() {
    for db in support::backends("an_import_waiting_on_its_input_holds_no_transaction_open") {
        let mut ingestor = default_ingestor();
        ingestor.batch_size = 5;
        let origin = ORIGIN;
        let (stalled, stall) = std::sync::mpsc::channel();
        let (resume, resumed) = std::sync::mpsc::channel::<()>();
        let mut reports = (1..=52).map(|i| spamexperts_report(&format!("1AAAAA-{i:06}-AA"), i));
        let mut read = 0;
        let messages = std::iter::from_fn(move || {
            if read == 48 {
                stalled.send(()).unwrap();
                resumed
                    .recv_timeout(std::time::Duration::from_secs(30))
                    .unwrap();
            }
            read += 1;
            reports.next().map(Ok::<_, std::convert::Infallible>)
        });
        std::thread::scope(|scope| {
            let importer = scope.spawn(|| {
                let conn = &mut db.connect();
                ingest::import(conn, &ingestor, &origin, messages, 2, |_| {}).unwrap()
            });
            stall.recv().unwrap();
            let conn = &mut db.connect();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while tickets::table
                .select(tickets::event_count)
                .first::<i64>(conn)
                .optional()
                .unwrap()
                != Some(45)
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{}: the whole batches read never showed while the input stalled",
                    db.backend
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let id = tickets::table.select(tickets::id).first(conn).unwrap();
            abuse_desk::tickets::store::set_status(
                conn,
                id,
                Status::Resolved,
                abuse_desk::db::now(),
            )
            .unwrap();
            resume.send(()).unwrap();
            let (summary, _) = importer.join().unwrap();
            assert_eq!((summary.new_tickets, summary.updated_tickets), (1, 51));
            assert_eq!(ticket_status(conn), ("open".into(), 52), "{}", db.backend);
        });
    }
}

#[test]
fn a_resolved_ticket_reopens_and_an_ignored_one_absorbs() {
    for db in support::backends("a_resolved_ticket_reopens_and_an_ignored_one_absorbs") {
        let conn = &mut db.connect();
        let ingestor = default_ingestor();
        let first = import_bytes(
            conn,
            &ingestor,
            vec![spamexperts_report("1AAAAA-000001-AA", 1)],
        );
        assert_eq!(first.new_tickets, 1);
        let id = tickets::table.select(tickets::id).first(conn).unwrap();
        abuse_desk::tickets::store::set_status(conn, id, Status::Resolved, abuse_desk::db::now())
            .unwrap();
        let second = import_bytes(
            conn,
            &ingestor,
            vec![spamexperts_report("1AAAAA-000002-AA", 2)],
        );
        assert_eq!(second.updated_tickets, 1);
        assert_eq!(ticket_status(conn), ("open".into(), 2), "{}", db.backend);
        let trail: Vec<String> = audit_log::table
            .filter(audit_log::ticket_id.eq(id))
            .order(audit_log::id)
            .select(audit_log::action)
            .load(conn)
            .unwrap();
        assert_eq!(trail, ["opened", "reopened"]);

        abuse_desk::tickets::store::set_status(conn, id, Status::Ignored, abuse_desk::db::now())
            .unwrap();
        import_bytes(
            conn,
            &ingestor,
            vec![spamexperts_report("1AAAAA-000003-AA", 3)],
        );
        assert_eq!(ticket_status(conn), ("ignored".into(), 3), "{}", db.backend);
        assert_eq!(tickets::table.count().get_result::<i64>(conn).unwrap(), 1);
    }
}

#[test]
fn the_automatic_rule_requests_one_temporary_lock() {
    for db in support::backends("the_automatic_rule_requests_one_temporary_lock") {
        let conn = &mut db.connect();
        let mut settings = Settings::default();
        settings.ingest.auto_lock = abuse_desk::tickets::AutoLock {
            enabled: true,
            events: 3,
            within_minutes: 10,
            lock_hours: 6,
        };
        settings.upstreams =
            vec![
                toml::from_str("name = \"filter\"\nkind = \"demo\"\ntargets = [\"identity\"]\n")
                    .unwrap(),
            ];
        let ingestor = settings.ingestor().unwrap();
        // Two reports 30 minutes apart, then five within ten minutes (the third reaches the
        // rule; the two after it find the lock it asked for), then one more.
        let spread = vec![
            spamexperts_report("1BBBBB-000001-BB", 0),
            spamexperts_report("1BBBBB-000002-BB", 30),
        ];
        import_bytes(conn, &ingestor, spread);
        assert_eq!(
            actions::table.count().get_result::<i64>(conn).unwrap(),
            0,
            "two reports are below the rule"
        );
        let run: Vec<_> = (0..5)
            .map(|i| spamexperts_report(&format!("1BBBBB-00001{i}-BB"), 40 + i))
            .collect();
        import_bytes(conn, &ingestor, run);
        import_bytes(
            conn,
            &ingestor,
            vec![spamexperts_report("1BBBBB-000020-BB", 45)],
        );
        type Lock = (
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            String,
        );
        let locks: Vec<(Lock, Option<String>)> = actions::table
            .select((
                (
                    actions::kind,
                    actions::target,
                    actions::state,
                    actions::expires_at,
                    actions::reason,
                ),
                actions::upstream,
            ))
            .load(conn)
            .unwrap();
        assert_eq!(
            locks.len(),
            1,
            "one lock, not one per report, on {}",
            db.backend
        );
        let ((kind, target, state, expires, reason), upstream) = &locks[0];
        assert_eq!(
            upstream.as_deref(),
            Some("filter"),
            "for the upstream that locks identities"
        );
        assert_eq!(
            (kind.as_str(), target.as_str(), state.as_str()),
            ("lock_identity", "172.16.10.13@example.com", "pending")
        );
        let hours = (expires.unwrap() - abuse_desk::db::now()).num_minutes();
        assert!(
            (355..=360).contains(&hours),
            "expires in about 6 hours, not {hours} minutes"
        );
        assert_eq!(reason, "automatic: 3 reports within 10 minutes");
        let audited: i64 = audit_log::table
            .filter(audit_log::action.eq("lock_identity"))
            .count()
            .get_result(conn)
            .unwrap();
        assert_eq!(audited, 1);
    }
}

/// One import's transaction takes in several batches while its input keeps coming, and the
/// tickets they touch are written once at its end: the automatic rule still counts every
/// report of the transaction once — two reports in two batches stay below a rule of three,
/// the third asks for the lock — and the ticket holds every event.
#[test]
fn the_automatic_rule_counts_each_report_once_across_the_batches_of_a_transaction() {
    for db in support::backends(
        "the_automatic_rule_counts_each_report_once_across_the_batches_of_a_transaction",
    ) {
        let conn = &mut db.connect();
        let mut settings = Settings::default();
        settings.ingest.batch_size = 1;
        settings.ingest.auto_lock = abuse_desk::tickets::AutoLock {
            enabled: true,
            events: 3,
            within_minutes: 10,
            lock_hours: 6,
        };
        let ingestor = settings.ingestor().unwrap();
        let reports = |from: usize, to: usize| -> Vec<Vec<u8>> {
            (from..to)
                .map(|i| spamexperts_report(&format!("1CCCCC-00000{i}-CC"), i as u32))
                .collect()
        };
        let lock_reasons = |conn: &mut DbConn| -> Vec<String> {
            actions::table.select(actions::reason).load(conn).unwrap()
        };
        let two = import_bytes(conn, &ingestor, reports(0, 2));
        assert_eq!((two.new_tickets, two.updated_tickets), (1, 1));
        assert_eq!(
            lock_reasons(conn),
            Vec::<String>::new(),
            "two reports are below the rule on {}",
            db.backend
        );
        assert_eq!(ticket_status(conn), ("open".into(), 2), "{}", db.backend);
        import_bytes(conn, &ingestor, reports(2, 5));
        assert_eq!(
            lock_reasons(conn),
            vec!["automatic: 3 reports within 10 minutes".to_owned()],
            "{}",
            db.backend
        );
        assert_eq!(ticket_status(conn), ("open".into(), 5), "{}", db.backend);
    }
}

#[test]
fn parse_prints_the_report_or_a_json_error() {
    let ok = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args([
            "parse",
            &format!("{FIXTURES}/abuseio__spamexperts-11.eml"),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["format"], "arf");
    assert_eq!(report["feedback_type"], "abuse");
    assert!(report["identity"]["value"].as_str().unwrap().contains('@'));

    let refused = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args([
            "parse",
            &format!("{FIXTURES}/parsedmarc__exim_plain_text_only_no_arf_part.eml"),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let error: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "not_a_report");
    assert!(!error["error"]["reason"].as_str().unwrap().is_empty());

    let text = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["parse", &format!("{FIXTURES}/abuseio__spamexperts-1.eml")])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("identity.value: 172.16.10.13@example.com")
            && text.contains("source_ip: 172.16.10.13"),
        "{text}"
    );
}

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

/// Reports that arrived before their customer was known end on the same tickets as if the
/// customer had been known all along, once `reprocess --unresolved` runs after the import.
#[test]
fn unresolved_tickets_find_their_customer_after_a_customer_import() {
    let corpus = corpus_copy();
    for db in support::backends("unresolved_tickets_find_their_customer_after_a_customer_import") {
        let customers = abuse_desk::customers::parse_csv(CUSTOMERS.as_bytes()).unwrap();
        let ingestor = default_ingestor();
        // What the tickets look like when the customers are known first.
        let expected = {
            let known_first = if db.backend == "sqlite" {
                support::sqlite()
            } else {
                support::postgres("unresolved_tickets_find_their_customer (reference)").unwrap()
            };
            let conn = &mut known_first.connect();
            abuse_desk::db::customers::import(conn, &customers).unwrap();
            import_files(conn, &ingestor, vec![corpus.path().to_owned()]);
            ticket_views(conn)
        };

        let conn = &mut db.connect();
        import_files(conn, &ingestor, vec![corpus.path().to_owned()]);
        let before = ticket_views(conn);
        assert!(
            before.iter().all(|t| t.customer.is_none()),
            "no customers yet on {}",
            db.backend
        );
        abuse_desk::db::customers::import(conn, &customers).unwrap();
        let done = reprocess(&db, "--unresolved");
        let moved_tickets = expected.iter().filter(|t| t.customer.is_some()).count() as u64;
        let moved_events: i64 = expected
            .iter()
            .filter(|t| t.customer.is_some())
            .map(|t| t.events)
            .sum();
        assert_eq!(
            (
                done["tickets_checked"].as_u64(),
                done["events_moved"].as_u64(),
                done["tickets_merged"].as_u64()
            ),
            (
                Some(before.len() as u64),
                Some(moved_events as u64),
                Some(moved_tickets)
            ),
            "{}",
            db.backend
        );
        let (merged, live): (Vec<TicketView>, Vec<TicketView>) = ticket_views(conn)
            .into_iter()
            .partition(|t| t.status == "merged");
        assert_eq!(live, expected, "re-resolved tickets on {}", db.backend);
        assert!(merged.iter().all(|t| t.events == 0 && t.customer.is_none()));
        let trail: Vec<String> = audit_log::table
            .filter(audit_log::action.eq("moved_in"))
            .select(audit_log::detail)
            .load(conn)
            .unwrap();
        assert_eq!(trail.len() as u64, moved_tickets);

        // Nothing left to move: a second run changes nothing.
        let again = reprocess(&db, "--unresolved");
        assert_eq!(again["events_moved"].as_u64(), Some(0));
        assert_eq!(ticket_views(conn).len(), live.len() + merged.len());
    }
}
