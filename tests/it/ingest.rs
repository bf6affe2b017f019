//! The ingest path end to end: real corpus files in, tickets out, on both backends, and a re-import
//! counts nothing twice; a resolved ticket reopens and an ignored one absorbs; `parse` prints a
//! report or a JSON error. Here too the import helpers the `ingest_*` modules share.

use std::path::PathBuf;
use std::process::Command;

use abuse_desk::db::schema::{audit_log, customers, events, raw_messages, tickets};
use abuse_desk::db::DbConn;
use abuse_desk::ingest::{self, Ingestor, Origin, Summary};
use abuse_desk::settings::Settings;
use abuse_desk::tickets::Status;
use diesel::prelude::*;

use crate::support;

pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arf");

/// A ticket as a user sees it, without database ids or bookkeeping times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable)]
pub(crate) struct TicketView {
    pub(crate) customer: Option<String>,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) class: String,
    pub(crate) severity: String,
    pub(crate) status: String,
    pub(crate) events: i64,
    pub(crate) source_ips: i64,
    pub(crate) first_seen: chrono::NaiveDateTime,
    pub(crate) last_seen: chrono::NaiveDateTime,
    pub(crate) identity: Option<String>,
    pub(crate) outgoing_user: Option<String>,
    pub(crate) last_subject: Option<String>,
}

pub(crate) fn ticket_views(conn: &mut DbConn) -> Vec<TicketView> {
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

pub(crate) fn corpus_copy() -> tempfile::TempDir {
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

pub(crate) fn import_files(conn: &mut DbConn, ingestor: &Ingestor, paths: Vec<PathBuf>) -> Summary {
    let (summary, errors) = run_import(
        conn,
        ingestor,
        ingest::sources::messages(paths, ingestor.max_message_bytes).map(|m| m.map(|m| m.message)),
    );
    assert!(errors.is_empty());
    summary
}

pub(crate) fn import_bytes(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    messages: Vec<Vec<u8>>,
) -> Summary {
    run_import(
        conn,
        ingestor,
        messages.into_iter().map(Ok::<_, std::convert::Infallible>),
    )
    .0
}

/// Where the tests' messages come from.
pub(crate) const ORIGIN: Origin<'static> = Origin {
    source: "test",
    mailbox: None,
};

pub(crate) fn default_ingestor() -> Ingestor {
    Ingestor::from_settings(&Settings::default().ingest).unwrap()
}

pub(crate) const CUSTOMERS: &str = "external_id,name,email,identities,domains,netblocks
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

/// A SpamExperts report from the corpus, made into a distinct complaint arriving at `minute`.
pub(crate) fn spamexperts_report(envelope: &str, minute: u32) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/abuseio__spamexperts-1.eml")).unwrap();
    text.replace("1ZMXvl-000B9p-HH", envelope)
        .replace(
            "Arrival-Date: Tue, 04 Aug 2015 08:51:18 -0000",
            &format!("Arrival-Date: Tue, 04 Aug 2015 08:{minute:02}:00 -0000"),
        )
        .into_bytes()
}

pub(crate) fn ticket_status(conn: &mut DbConn) -> (String, i64) {
    tickets::table
        .select((tickets::status, tickets::event_count))
        .first(conn)
        .unwrap()
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
