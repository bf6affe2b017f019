//! Housekeeping: idle tickets closed once (by the system, audited) even with two instances
//! at it, a later report opening a new ticket; raw messages past their retention purged while
//! events, tickets and counts stay, and the ticket page and the raw download saying so.

use std::process::Command;

use abuse_desk::db::schema::{audit_log, events, raw_messages, tickets};
use abuse_desk::housekeeping::{self, HousekeepingSettings, Swept};
use chrono::Duration;
use diesel::prelude::*;

use crate::support;
use crate::web::{spawn_app, spec};

fn days_ago(days: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - Duration::days(days)
}

fn ticket_of(conn: &mut abuse_desk::db::DbConn, identity: &str) -> (i64, String) {
    tickets::table
        .filter(tickets::subject.eq(identity))
        .order(tickets::id.desc())
        .select((tickets::id, tickets::status))
        .first(conn)
        .unwrap()
}

#[actix_web::test]
async fn idle_tickets_are_closed_once_and_a_new_report_opens_a_new_ticket() {
    for db in support::backends("idle_tickets_are_closed_once") {
        let app = spawn_app(db).await;
        let mut old = spec(
            1,
            Some("shop@bakery-mueller.example"),
            "x@y.example",
            "198.51.100.5",
        );
        old.arrival = days_ago(40);
        let recent = spec(
            2,
            Some("sales@northwind.example"),
            "x@y.example",
            "198.51.100.17",
        );
        let mut ignored = spec(
            3,
            Some("orders@fabrikam.example"),
            "x@y.example",
            "192.0.2.9",
        );
        ignored.arrival = days_ago(40);
        app.ingest(&[old.clone(), recent, ignored]);
        let mut conn = app.conn();
        let (ignored_id, _) = ticket_of(&mut conn, "orders@fabrikam.example");
        diesel::update(tickets::table.find(ignored_id))
            .set(tickets::status.eq("ignored"))
            .execute(&mut conn)
            .unwrap();
        // Forty days pass without anyone touching the tickets.
        diesel::update(tickets::table)
            .set(tickets::updated_at.eq(days_ago(40).naive_utc()))
            .execute(&mut conn)
            .unwrap();

        // Two instances run housekeeping at the same moment.
        let settings = HousekeepingSettings::default();
        let url = app.db.url.clone();
        let runs: Vec<Option<Swept>> = (0..2)
            .map(|_| {
                let (url, settings) = (url.clone(), settings.clone());
                std::thread::spawn(move || {
                    let mut conn = abuse_desk::db::DatabaseUrl::parse(&url)
                        .unwrap()
                        .connect()
                        .unwrap();
                    housekeeping::run_once(&mut conn, &settings, abuse_desk::db::now()).unwrap()
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        let closed: usize = runs.iter().flatten().map(|s| s.closed).sum();
        assert_eq!(closed, 1, "{}: {runs:?}", app.db.backend);

        let (old_id, status) = ticket_of(&mut conn, "shop@bakery-mueller.example");
        assert_eq!(status, "closed");
        assert_eq!(ticket_of(&mut conn, "sales@northwind.example").1, "open");
        assert_eq!(ticket_of(&mut conn, "orders@fabrikam.example").1, "ignored");
        let trail: Vec<(String, String)> = audit_log::table
            .filter(audit_log::ticket_id.eq(old_id))
            .filter(audit_log::action.eq("status"))
            .select((audit_log::actor, audit_log::detail))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            trail,
            vec![(
                "system".to_owned(),
                "open → closed after 30 idle days".to_owned()
            )]
        );
        let viewer = app.login("viewer").await;
        let page = viewer.text(&format!("/tickets/{old_id}")).await;
        assert!(
            page.contains("closed after 30 idle days"),
            "audit on the page"
        );

        // A later run finds nothing more to do; a new report opens a new ticket.
        let again = housekeeping::run_once(&mut conn, &settings, abuse_desk::db::now()).unwrap();
        assert_eq!(again, Some(Swept::default()));
        let mut new = old.clone();
        new.serial = 10;
        new.recipient = "victim10@mailbox.example.org".into();
        new.arrival = chrono::Utc::now();
        app.ingest(&[new]);
        let (new_id, status) = ticket_of(&mut conn, "shop@bakery-mueller.example");
        assert!(new_id > old_id && status == "open", "{new_id} {status}");
        assert_eq!(
            tickets::table
                .find(old_id)
                .select(tickets::status)
                .first::<String>(&mut conn)
                .unwrap(),
            "closed"
        );
    }
}

#[actix_web::test]
async fn purged_raw_messages_keep_their_events_and_the_pages_say_so() {
    for db in support::backends("purged_raw_messages_keep_their_events") {
        let app = spawn_app(db).await;
        app.ingest(&[
            spec(
                1,
                Some("shop@bakery-mueller.example"),
                "x@y.example",
                "198.51.100.5",
            ),
            spec(
                2,
                Some("sales@northwind.example"),
                "x@y.example",
                "198.51.100.17",
            ),
        ]);
        let mut conn = app.conn();
        let (old_id, _) = ticket_of(&mut conn, "shop@bakery-mueller.example");
        let (kept_id, _) = ticket_of(&mut conn, "sales@northwind.example");
        let old_raw: i64 = events::table
            .filter(events::ticket_id.eq(old_id))
            .select(events::raw_message_id)
            .first(&mut conn)
            .unwrap();
        diesel::update(raw_messages::table.find(old_raw))
            .set(raw_messages::received_at.eq(days_ago(100).naive_utc()))
            .execute(&mut conn)
            .unwrap();
        let counts_before: Vec<(i64, i64)> = tickets::table
            .order(tickets::id)
            .select((tickets::id, tickets::event_count))
            .load(&mut conn)
            .unwrap();

        // As an operator runs it from cron, twice: the second run has nothing left to do. The
        // first also makes today's standard Outgoing Reports periods (3 groupings × today,
        // 7 and 30 days), the second finds them made.
        for (expected, periods) in [(1, 9), (0, 0)] {
            let out = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
                .args(["housekeeping", "run", "--once", "--json"])
                .env("DATABASE_URL", &app.db.url)
                .env("ABUSE_DESK_HOUSEKEEPING__PURGE_RAW_DAYS", "90")
                .env("ABUSE_DESK_HOUSEKEEPING__CLOSE_IDLE_DAYS", "0")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                summary,
                serde_json::json!({"closed": 0, "purged": expected, "periods": periods})
            );
        }

        assert_eq!(
            events::table.count().get_result::<i64>(&mut conn).unwrap(),
            2
        );
        let counts_after: Vec<(i64, i64)> = tickets::table
            .order(tickets::id)
            .select((tickets::id, tickets::event_count))
            .load(&mut conn)
            .unwrap();
        assert_eq!(counts_before, counts_after);
        let (size, content): (i64, Vec<u8>) = raw_messages::table
            .find(old_raw)
            .select((raw_messages::size_bytes, raw_messages::content))
            .first(&mut conn)
            .unwrap();
        assert!(size > 0 && content.is_empty(), "size kept, content gone");

        let agent = app.login("agent").await;
        let page = agent.text(&format!("/tickets/{old_id}")).await;
        assert!(page.contains("was purged on"), "purge said plainly");
        assert!(
            page.contains("shop@bakery-mueller.example"),
            "parsed fields stay"
        );
        let kept = agent.text(&format!("/tickets/{kept_id}")).await;
        assert!(kept.contains("Original headers") && !kept.contains("was purged on"));
        let event_id: i64 = events::table
            .filter(events::ticket_id.eq(old_id))
            .select(events::id)
            .first(&mut conn)
            .unwrap();
        // The timeline offers no download of a purged message; a kept one's is offered.
        assert!(!page.contains(&format!("/tickets/{old_id}/raw/{event_id}")));
        assert!(page.contains("raw purged"));
        let kept_event: i64 = events::table
            .filter(events::ticket_id.eq(kept_id))
            .select(events::id)
            .first(&mut conn)
            .unwrap();
        assert!(kept.contains(&format!("/tickets/{kept_id}/raw/{kept_event}")));
        assert!(!kept.contains("raw purged"));
        let raw = agent
            .get(&format!("/tickets/{old_id}/raw/{event_id}"))
            .await;
        assert_eq!(raw.status(), 410);
        assert!(raw.text().await.unwrap().contains("was purged on"));
        // The API's download says the same, in its error shape.
        let api = crate::api_tickets::Api::of(&app, "agent");
        let (status, body) = api
            .get(&format!("/tickets/{old_id}/events/{event_id}/raw"))
            .await;
        assert_eq!(status, 410, "{body}");
        assert_eq!(body["error"]["code"], "gone");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was purged on"));
    }
}
