//! The IMAP poller's faults against a real Dovecot, on both backends: connections cut
//! mid-batch, a server restart mid-poll, a move that failed after the commit, a refused
//! login, a message the database refuses. Nothing is lost, nothing is counted twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use abuse_desk::db::schema::raw_messages;
use abuse_desk::db::DbConn;
use abuse_desk::imap::{self, PollOptions};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::imap_poll::{
    check_polled_once, corpus, dovecot, imported, ingestor, options, poll, state, tickets_seen,
};
use crate::ingest::counts;
use crate::proxy::CuttingProxy;
use crate::support;

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
