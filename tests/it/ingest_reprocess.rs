//! `reprocess`: quarantined messages keep their reason and become tickets, exactly once, when
//! reprocessed; tickets of reports that arrived before their customer was known find it after a
//! customer import.

use abuse_desk::db::schema::{audit_log, raw_messages};
use diesel::prelude::*;

use crate::ingest::{
    corpus_copy, counts, default_ingestor, import_bytes, import_files, ticket_views, TicketView,
    CUSTOMERS, FIXTURES,
};
use crate::support::{self, TestDb};

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
