//! Ingest beside other writers: a message another writer stores meanwhile is counted once, two
//! writers counting on one ticket at once miss no event, and an import waiting on its input holds
//! no transaction open.

use abuse_desk::db::schema::tickets;
use abuse_desk::ingest::{self, Ingestor, Origin};
use abuse_desk::tickets::Status;
use diesel::prelude::*;

use crate::ingest::{counts, default_ingestor, spamexperts_report, ticket_status, ORIGIN};
use crate::support::{self, TestDb};

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
