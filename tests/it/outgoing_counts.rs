//! The Outgoing Reports read counts kept as events arrive. These tests hold them to the events
//! themselves: the counts equal a grouping of the events after ingest, merging and forgetting,
//! and the report's biggest groups are the biggest, for every grouping, class and period.

use std::collections::HashMap;

use abuse_desk::db::audit::Actor;
use abuse_desk::db::ids::TicketId;
use abuse_desk::db::outgoing::{self, counts, GroupBy};
use abuse_desk::db::schema::{customers, events, outgoing_counts as oc, outgoing_periods, tickets};
use abuse_desk::db::DbConn;
use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::support;
use crate::web::{spawn_app, spec};

type Row = (String, String, String, i32, i64);
/// An event's class, identity, customer and outgoing user.
type EventGroups = (String, Option<String>, Option<String>, Option<String>);

fn snapshot(conn: &mut DbConn) -> Vec<Row> {
    oc::table
        .select((oc::kind, oc::class, oc::key, oc::day, oc::events))
        .order((oc::kind, oc::class, oc::key, oc::day))
        .load(conn)
        .unwrap()
}

/// The counts as they are, and as counting every event again makes them.
fn assert_counts_match_events(conn: &mut DbConn, when: &str) {
    let kept = snapshot(conn);
    assert!(!kept.is_empty(), "{when}: no counts");
    let mut rebuilt = Vec::new();
    // Rolled back: what follows goes on with the counts as the desk kept them.
    let _ = conn.transaction::<(), _, _>(|conn| {
        counts::rebuild(conn)?;
        rebuilt = snapshot(conn);
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert_eq!(kept, rebuilt, "{when}: kept counts differ from the events");
}

/// Every event of the period and class, grouped the plain way.
fn brute_force(
    conn: &mut DbConn,
    by: GroupBy,
    (from, to): (NaiveDateTime, NaiveDateTime),
    class: Option<&str>,
) -> HashMap<String, i64> {
    let rows: Vec<EventGroups> = events::table
        .left_join(customers::table.on(events::customer_id.eq(customers::id.nullable())))
        .filter(events::arrival_at.ge(from))
        .filter(events::arrival_at.lt(to))
        .select((
            events::feedback_type,
            events::identity,
            customers::external_id.nullable(),
            events::outgoing_user,
        ))
        .load(conn)
        .unwrap();
    let mut groups = HashMap::new();
    for (feedback_type, identity, customer, user) in rows {
        if class.is_some_and(|c| c != feedback_type) {
            continue;
        }
        let key = match by {
            GroupBy::Identity => identity,
            GroupBy::Customer => customer,
            GroupBy::OutgoingUser => user,
        };
        if let Some(key) = key {
            *groups.entry(key).or_default() += 1;
        }
    }
    groups
}

fn assert_biggest_are_biggest(conn: &mut DbConn, today: NaiveDate, backend: &str) {
    let periods = [
        (today, 1),
        (today - Duration::days(6), 7),
        (today - Duration::days(29), 30),
        (today - Duration::days(89), 90),
    ];
    let mut compared = 0;
    for by in GroupBy::ALL {
        for class in [None, Some("fraud")] {
            for (first, days) in periods {
                let from = first.and_hms_opt(0, 0, 0).unwrap();
                let truth = brute_force(conn, by, (from, from + Duration::days(days)), class);
                for limit in [3, 200] {
                    let got = outgoing::groups(conn, by, (first, days), class, limit).unwrap();
                    let what = format!("{backend}: {by:?} {class:?} {days} days, top {limit}");
                    for g in &got {
                        assert_eq!(Some(&g.events), truth.get(&g.key), "{what}: {}", g.key);
                    }
                    let mut sizes: Vec<i64> = truth.values().copied().collect();
                    sizes.sort_unstable_by(|a, b| b.cmp(a));
                    sizes.truncate(limit);
                    let got_sizes: Vec<i64> = got.iter().map(|g| g.events).collect();
                    assert_eq!(got_sizes, sizes, "{what}");
                    compared += got.len();
                }
            }
        }
    }
    assert!(
        compared > 200,
        "{backend}: too few groups compared ({compared})"
    );
}

#[actix_web::test]
async fn counts_follow_the_events_and_the_biggest_groups_are_the_biggest() {
    for db in support::backends("outgoing_counts_follow_the_events") {
        let backend = db.backend;
        let app = spawn_app(db).await;
        // A desk's spread: a few identities send most, many send a little, over 40 days, in
        // three classes, some of known customers (the demo's), most not.
        let known = [
            "shop@bakery-mueller.example",
            "sales@northwind.example",
            "orders@fabrikam.example",
        ];
        let now = Utc::now();
        let mut specs = Vec::new();
        for n in 0..600_u64 {
            let rank = (n * n * 7919 % 997) as usize % 60;
            let identity = match rank {
                0..=2 => known[rank].to_owned(),
                r => format!("user{}@sender{}.example", r % 37, r % 5),
            };
            let mut s = spec(n, Some(&identity), &identity, "192.0.2.200");
            s.feedback_type = ["abuse", "abuse", "fraud", "virus"][(n % 4) as usize].into();
            s.arrival = now
                - Duration::hours(((n * 37) % (40 * 24)) as i64)
                - Duration::minutes(n as i64 % 60);
            specs.push(s);
        }
        app.ingest(&specs);
        let mut conn = app.conn();
        let stored: i64 = events::table.count().get_result(&mut conn).unwrap();
        assert_eq!(stored, 600, "{backend}");
        assert_counts_match_events(&mut conn, "after ingest");
        let today = Utc::now().date_naive();
        // Housekeeping makes the standard periods' totals (every grouping, all classes; today,
        // 7 and 30 days) ahead of any view, once; the first look makes the others.
        assert_eq!(
            outgoing::prepare_standard(&mut conn, today).unwrap(),
            9,
            "{backend}"
        );
        assert_eq!(
            outgoing::prepare_standard(&mut conn, today).unwrap(),
            0,
            "{backend}"
        );
        assert_biggest_are_biggest(&mut conn, today, backend);
        let made: i64 = outgoing_periods::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(
            made,
            3 * 2 * 4,
            "{backend}: one set of totals per grouping, class and period"
        );

        // Events arriving later go into the totals already made, as they go into the counts.
        let later: Vec<_> = specs
            .iter()
            .take(150)
            .map(|s| {
                let mut s = s.clone();
                s.serial += 1000;
                s.recipient = format!("late{}@mailbox.example.org", s.serial);
                s
            })
            .collect();
        app.ingest(&later);
        assert_counts_match_events(&mut conn, "after more events");
        assert_biggest_are_biggest(&mut conn, today, backend);

        // Merging moves events to another customer's ticket: the customer counts follow.
        let ticket_of = |conn: &mut DbConn, subject: &str| -> TicketId {
            tickets::table
                .filter(tickets::subject.eq(subject))
                .select(tickets::id)
                .first(conn)
                .unwrap()
        };
        let from = ticket_of(&mut conn, "shop@bakery-mueller.example");
        let into = ticket_of(&mut conn, "sales@northwind.example");
        abuse_desk::tickets::merge::merge(&mut conn, from, into, Actor::System, now.naive_utc())
            .unwrap();
        assert_counts_match_events(&mut conn, "after a merge");

        // Forgetting a customer takes its people's identities and accounts out of the counts.
        abuse_desk::housekeeping::forget::forget(
            &mut conn,
            "cust-1002",
            Actor::System,
            now.naive_utc(),
        )
        .unwrap();
        assert_counts_match_events(&mut conn, "after forgetting a customer");
        assert_biggest_are_biggest(&mut conn, today, backend);
        // Housekeeping drops the totals of periods that have ended; shown again, they are
        // made again.
        let tomorrow = counts::day_number(today) + 1;
        assert_eq!(
            conn.transaction(|conn| outgoing::drop_ended(conn, tomorrow))
                .unwrap(),
            24,
            "{backend}"
        );
        assert_biggest_are_biggest(&mut conn, today, backend);
        let html = app
            .login("agent")
            .await
            .text("/reports/outgoing?period=30d")
            .await;
        assert!(
            !html.contains("sales@northwind.example"),
            "{backend}: forgotten identity shown"
        );
    }
}
