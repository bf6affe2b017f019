//! Merging tickets on the web: the events and counts move to the ticket merged into, the feed
//! filter follows them, merges that make no sense are refused, and a merge Postgres aborts to break
//! a deadlock is tried again.

use abuse_desk::db::schema::{audit_log, events, tickets};
use diesel::prelude::*;

use crate::support;
use crate::web::{location, spawn_app, spec};
use abuse_desk::demo::Spec;

#[actix_web::test]
async fn merge_moves_events_and_counts() {
    for db in support::backends("merge_moves_events_and_counts") {
        let app = spawn_app(db).await;
        // Ticket 2's one report comes from a third-party feed.
        let mut from_aol = bakery(3, "info", "198.51.100.6");
        from_aol.feed = abuse_desk::demo::Feed::Aol;
        app.ingest(&[
            bakery(1, "shop", "198.51.100.5"),
            bakery(2, "shop", "198.51.100.5"),
            from_aol,
        ]);
        let agent = app.login("agent").await;
        let by_feed = |html: &str| crate::web_queue::ids(html);
        assert_eq!(by_feed(&agent.text("/tickets?feed=aol").await), vec![2]);
        let res = agent.post_form("/tickets/2/merge", &[("into", "#1")]).await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/tickets/1");
        let rows = merge_state(&app);
        assert_eq!(rows[0], (1, "open".into(), 3, None));
        assert_eq!(rows[1], (2, "merged".into(), 0, Some(1)));
        let mut conn = app.conn();
        let on_one: i64 = events::table
            .filter(events::ticket_id.eq(1i64))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(on_one, 3);
        // The moved events belong to the customer of the ticket they joined, and the
        // absorbing ticket counts both source IPs.
        let (customer, source_ips): (Option<i64>, i64) = tickets::table
            .find(1i64)
            .select((tickets::customer_id, tickets::source_ip_count))
            .first(&mut conn)
            .unwrap();
        let event_customers: Vec<Option<i64>> = events::table
            .filter(events::ticket_id.eq(1i64))
            .select(events::customer_id)
            .load(&mut conn)
            .unwrap();
        assert!(event_customers.iter().all(|c| *c == customer));
        assert_eq!(source_ips, 2);
        let html = agent.text("/tickets/1").await;
        assert!(html.contains("absorbed #2") && html.contains("198.51.100.6"));
        assert!(agent.text("/tickets/2").await.contains("merged into #1"));
        // The feed filter finds the ticket the feed's report moved to.
        assert_eq!(by_feed(&agent.text("/tickets?feed=aol").await), vec![1]);
        assert_eq!(
            by_feed(&agent.text("/tickets?feed=aol&status=all").await),
            vec![1]
        );
        // Refusals: into itself, into a merged ticket, a merged one again, a missing one.
        assert_eq!(
            agent
                .post_form("/tickets/1/merge", &[("into", "1")])
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form("/tickets/1/merge", &[("into", "2")])
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form("/tickets/2/merge", &[("into", "1")])
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form("/tickets/1/merge", &[("into", "77")])
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form("/tickets/1/merge", &[("into", "x")])
                .await
                .status(),
            400
        );
    }
}

/// A merge moves events between two tickets that an import may be counting on: each holds
/// one ticket and waits for the other's, and Postgres aborts one of the two to break the
/// deadlock. When it aborts the merge, the merge is tried again and staff see it done.
#[actix_web::test]
async fn a_merge_aborted_to_break_a_deadlock_is_tried_again() {
    let Some(db) = support::postgres("a_merge_aborted_to_break_a_deadlock_is_tried_again") else {
        return;
    };
    let url = db.url.clone();
    let app = spawn_app(db).await;
    app.ingest(&[
        bakery(1, "shop", "198.51.100.5"),
        bakery(2, "info", "198.51.100.6"),
    ]);
    let agent = app.login("agent").await;
    // The other writer, as an import takes its tickets: ticket 2 first, then (once the
    // merge holds ticket 1 and waits for 2) ticket 1. It waits longer than the server's
    // deadlock timeout before looking for a deadlock itself, so the merge is the one aborted.
    let (holding, held) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        let mut watch = PgConnection::establish(&url).unwrap();
        conn.transaction(|conn| {
            diesel::sql_query("SET LOCAL deadlock_timeout = '30s'").execute(conn)?;
            let lock = |conn: &mut PgConnection, id: i64| {
                tickets::table
                    .find(id)
                    .select(tickets::id)
                    .for_update()
                    .first::<i64>(conn)
            };
            lock(conn, 2)?;
            holding.send(()).unwrap();
            let mut waiting = || -> i64 {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock')",
                ))
                .get_result(&mut watch)
                .unwrap()
            };
            let started = std::time::Instant::now();
            while waiting() == 0 {
                assert!(
                    started.elapsed().as_secs() < 20,
                    "the merge never waited for ticket 2"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Granted only once the merge's transaction is gone: it held ticket 1 until
            // Postgres aborted it.
            lock(conn, 1)
        })
    });
    held.recv().unwrap();
    let res = agent.post_form("/tickets/2/merge", &[("into", "#1")]).await;
    let status = res.status();
    let body = res.text().await.unwrap();
    other.join().unwrap().unwrap();
    assert_eq!(status, 303, "{body}");
    assert_eq!(
        merge_state(&app),
        vec![
            (1, "open".into(), 2, None),
            (2, "merged".into(), 0, Some(1))
        ]
    );
    let merged: i64 = audit_log::table
        .filter(audit_log::action.eq("merged"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(merged, 2, "the merge is on record once, on each ticket");
    assert!(agent.text("/tickets/2").await.contains("merged into #1"));
}

/// A report from the bakery's `mailbox` (its identity and sender) at `ip`.
fn bakery(serial: u64, mailbox: &str, ip: &str) -> Spec {
    let address = format!("{mailbox}@bakery-mueller.example");
    spec(serial, Some(&address), &address, ip)
}

/// Every ticket's id, status, event count and the ticket it was merged into.
fn merge_state(app: &crate::web::TestApp) -> Vec<(i64, String, i64, Option<i64>)> {
    tickets::table
        .order(tickets::id)
        .select((
            tickets::id,
            tickets::status,
            tickets::event_count,
            tickets::merged_into_id,
        ))
        .load(&mut app.conn())
        .unwrap()
}
