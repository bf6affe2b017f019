//! The automatic lock rule at ingest: enough reports within its window ask for one temporary lock,
//! for the upstream that locks identities and on record, and each report counts once across the
//! batches of one import's transaction.

use abuse_desk::db::schema::{actions, audit_log};
use abuse_desk::db::DbConn;
use abuse_desk::settings::Settings;
use diesel::prelude::*;

use crate::ingest::{import_bytes, spamexperts_report, ticket_status};
use crate::support;

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
