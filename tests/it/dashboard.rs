//! The dashboard shows the figures of known data: reports per day by feed and class, open
//! tickets by severity, the top identities of the week, and the median time to a lock; report
//! content on it is escaped.

use chrono::{Duration, Utc};
use diesel::prelude::*;

use abuse_desk::db::schema::{actions, events, tickets};
use abuse_desk::demo::Feed;

use crate::support;
use crate::web::{spawn_app, spec};

#[actix_web::test]
async fn the_dashboard_shows_the_figures_of_known_data() {
    for db in support::backends("the_dashboard_shows_the_figures") {
        let app = spawn_app(db).await;
        let midnight = Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let at = |serial: u64, identity: &str, feed: Feed, class: &str, when| {
            let mut s = spec(serial, Some(identity), "x@y.example", "198.51.100.5");
            s.feed = feed;
            s.feedback_type = class.into();
            s.arrival = when;
            s
        };
        let shop = "shop@bakery-mueller.example";
        let sales = "sales@northwind.example";
        let orders = "orders@fabrikam.example";
        let today = |m| midnight + Duration::minutes(m);
        let yesterday = midnight - Duration::hours(12);
        app.ingest(&[
            at(1, shop, Feed::OwnFilter, "abuse", today(1)),
            at(2, shop, Feed::OwnFilter, "abuse", today(2)),
            at(3, shop, Feed::OwnFilter, "abuse", today(3)),
            at(4, sales, Feed::Aol, "fraud", yesterday),
            at(
                5,
                sales,
                Feed::Aol,
                "fraud",
                yesterday + Duration::minutes(1),
            ),
            at(6, orders, Feed::Aol, "abuse", midnight - Duration::days(10)),
        ]);
        let mut conn = app.conn();
        let feed_of = |conn: &mut abuse_desk::db::DbConn, serial_identity: &str| -> String {
            events::table
                .filter(events::identity.eq(serial_identity))
                .select(events::reporter)
                .first(conn)
                .unwrap()
        };
        // As the page escapes them (the own filter's reporter holds a '/').
        let (own, aol) = (
            feed_of(&mut conn, shop).replace('/', "&#x2f;"),
            feed_of(&mut conn, sales).replace('/', "&#x2f;"),
        );
        let ticket = |conn: &mut abuse_desk::db::DbConn, subject: &str| -> i64 {
            tickets::table
                .filter(tickets::subject.eq(subject))
                .select(tickets::id)
                .first(conn)
                .unwrap()
        };
        let (t_shop, t_sales, t_orders) = (
            ticket(&mut conn, shop),
            ticket(&mut conn, sales),
            ticket(&mut conn, orders),
        );
        for (id, severity, status) in [
            (t_shop, "escalation", "open"),
            (t_sales, "abuse", "open"),
            (t_orders, "info", "resolved"),
        ] {
            diesel::update(tickets::table.find(id))
                .set((tickets::severity.eq(severity), tickets::status.eq(status)))
                .execute(&mut conn)
                .unwrap();
        }
        // Three locks, carried out 2, 4 and 9 hours after their ticket's first report.
        let agent = app.login("agent").await;
        for (id, hours) in [(t_shop, 2), (t_sales, 4), (t_orders, 9)] {
            let res = agent
                .post_form(
                    &format!("/tickets/{id}/actions"),
                    &[("kind", "lock_identity"), ("reason", "spam")],
                )
                .await;
            assert_eq!(res.status(), 303);
            let first: chrono::NaiveDateTime = tickets::table
                .find(id)
                .select(tickets::first_seen)
                .first(&mut conn)
                .unwrap();
            diesel::update(actions::table.filter(actions::ticket_id.eq(id)))
                .set((
                    actions::state.eq("succeeded"),
                    actions::completed_at.eq(first + Duration::hours(hours)),
                ))
                .execute(&mut conn)
                .unwrap();
        }

        let viewer = app.login("viewer").await;
        assert!(viewer
            .text("/tickets")
            .await
            .contains("href=\"/dashboard\""));
        let page = viewer.text("/dashboard").await;
        let backend = app.db.backend;
        let row = |feed: &str, class: &str, n: i64| {
            format!("<tr><td>{feed}</td><td>{class}</td><td class=\"num\">{n}</td></tr>")
        };
        for expected in [
            row(&own, "abuse", 3),
            row(&aol, "fraud", 2),
            row(&aol, "abuse", 1),
        ] {
            assert!(page.contains(&expected), "{backend}: {expected}\n{page}");
        }
        let day = |d: chrono::DateTime<Utc>, feed: &str, class: &str, n: i64| {
            format!(
                "<tr><td class=\"time\">{}</td><td>{feed}</td><td>{class}</td><td class=\"num\">{n}</td></tr>",
                d.date_naive()
            )
        };
        assert!(page.contains(&day(midnight, &own, "abuse", 3)), "{backend}");
        assert!(
            page.contains(&day(yesterday, &aol, "fraud", 2)),
            "{backend}"
        );
        assert!(page.contains("escalation</span> 1") && page.contains("abuse</span> 1"));
        assert!(
            !page.contains("info</span>"),
            "resolved tickets are not open"
        );
        assert!(
            page.contains("4 h 0 min <small class=\"meta\">over 3 lock(s)"),
            "{page}"
        );
        let identities = &page[page.find("id=\"identities\"").unwrap()..];
        let shop_at = identities
            .find(&format!("{shop}</td><td class=\"num\">3"))
            .unwrap();
        let sales_at = identities
            .find(&format!("{sales}</td><td class=\"num\">2"))
            .unwrap();
        assert!(shop_at < sales_at, "most first");
        assert!(
            !identities.contains(orders),
            "ten days ago is not this week"
        );
    }
}

#[actix_web::test]
async fn hostile_identities_are_escaped_on_the_dashboard() {
    let app = spawn_app(support::sqlite()).await;
    let hostile = "<img src=x onerror=alert(1)>\"'@evil.example";
    app.ingest(&[spec(1, Some(hostile), "x@y.example", "192.0.2.1")]);
    let page = app.login("viewer").await.text("/dashboard").await;
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
}
