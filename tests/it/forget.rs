//! `customers forget`: after a data-protection request no page, API answer or export shows
//! the customer's personal data, while its tickets, events and counts stay.

use diesel::prelude::*;

use abuse_desk::db::schema::{actions, audit_log, events, tickets};

use crate::support;
use crate::web::{spawn_app, spec, TestApp};

/// What the desk knew of Bakery Müller (cust-1001) and must not show after forgetting it.
const REMOVED: &[&str] = &[
    "Bakery Müller",
    "bakery-mueller.example",
    "198.51.100.5",
    "Cheap offer 1",
    "Cheap offer 2",
    "Cheap offer 3",
    "Mr Miller",
    "cust-1001",
];

fn assert_clean(what: &str, text: &str, backend: &str) {
    for removed in REMOVED {
        assert!(
            !text.contains(removed),
            "{backend}: {what} still shows '{removed}'"
        );
    }
}

async fn api_tickets(app: &TestApp, token: &str) -> String {
    reqwest::Client::new()
        .get(format!("{}/api/v1/tickets?status=all", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_forgotten_customer_shows_nowhere_and_its_counts_stay() {
    for db in support::backends("a_forgotten_customer_shows_nowhere") {
        let app = spawn_app(db).await;
        let bakery = |n| {
            spec(
                n,
                Some("shop@bakery-mueller.example"),
                "x@y.example",
                "198.51.100.5",
            )
        };
        app.ingest(&[
            bakery(1),
            bakery(2),
            bakery(3),
            spec(
                4,
                Some("sales@northwind.example"),
                "x@y.example",
                "198.51.100.17",
            ),
        ]);
        let mut conn = app.conn();
        let bakery_ticket: i64 = tickets::table
            .filter(tickets::subject.eq("shop@bakery-mueller.example"))
            .select(tickets::id)
            .first(&mut conn)
            .unwrap();
        let admin = app.login("admin").await;
        let path = format!("/tickets/{bakery_ticket}");
        let res = admin
            .post_form(&format!("{path}/notes"), &[("body", "called Mr Miller")])
            .await;
        assert_eq!(res.status(), 303);
        let res = admin
            .post_form(
                &format!("{path}/actions"),
                &[
                    ("kind", "lock_identity"),
                    ("reason", "spam from shop@bakery-mueller.example"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        let token =
            String::from_utf8(support::cli_ok(&app.db, &["token", "create", "admin"]).stdout)
                .unwrap()
                .trim()
                .to_owned();
        let dashboard = admin.text("/dashboard").await;
        assert!(
            dashboard.contains("shop@bakery-mueller.example"),
            "shown before"
        );
        let events_before: i64 = events::table.count().get_result(&mut conn).unwrap();

        // A wrong confirmation forgets nobody.
        let customer_page = "/customers/1";
        assert!(admin.text(customer_page).await.contains("Bakery Müller"));
        let res = admin
            .post_form("/customers/1/forget", &[("confirm", "cust-1002")])
            .await;
        assert_eq!(res.status(), 400);
        // Nor does the right one while the customer's lock matters upstream: asked for and
        // left to staff (no upstream here), then in force, then on its way out. Forgetting
        // would blank what was to be locked or lifted.
        let refused = |holding: &'static str| {
            let admin = &admin;
            async move {
                let res = admin
                    .post_form("/customers/1/forget", &[("confirm", "cust-1001")])
                    .await;
                assert_eq!(res.status(), 409, "{holding}");
                let refusal = res.text().await.unwrap();
                assert!(
                    refusal.contains(holding) && refusal.contains("lift or cancel them first"),
                    "{refusal}"
                );
                assert!(admin.text(customer_page).await.contains("Bakery Müller"));
            }
        };
        refused("lock_identity shop@bakery-mueller.example (manual)").await;
        let done = |id: i64| {
            let admin = &admin;
            async move {
                let res = admin
                    .post_form(&format!("/actions/{id}/done"), &[("note", "in the panel")])
                    .await;
                assert_eq!(res.status(), 303);
            }
        };
        let latest = |conn: &mut abuse_desk::db::DbConn| -> i64 {
            actions::table
                .filter(actions::ticket_id.eq(bakery_ticket))
                .select(diesel::dsl::max(actions::id))
                .first::<Option<i64>>(conn)
                .unwrap()
                .unwrap()
        };
        done(latest(&mut conn)).await;
        refused("lock_identity shop@bakery-mueller.example (in force)").await;
        let res = admin
            .post_form(
                &format!("{path}/actions"),
                &[("kind", "unlock_identity"), ("reason", "customer leaving")],
            )
            .await;
        assert_eq!(res.status(), 303);
        refused("unlock_identity shop@bakery-mueller.example (manual)").await;
        done(latest(&mut conn)).await;
        let res = admin
            .post_form("/customers/1/forget", &[("confirm", "cust-1001")])
            .await;
        assert_eq!(res.status(), 303);

        let backend = app.db.backend;
        for page in [
            "/tickets?status=all",
            &path,
            "/customers",
            customer_page,
            "/events",
            "/reports/outgoing?group=identity&period=30d",
            "/reports/outgoing?group=customer&period=30d",
            "/dashboard",
            "/actions",
            "/notifications",
        ] {
            assert_clean(page, &admin.text(page).await, backend);
        }
        assert!(admin
            .text(customer_page)
            .await
            .contains("Personal data removed on"));
        assert_clean("the API", &api_tickets(&app, &token).await, backend);
        for export in [
            &["tickets", "list", "--status", "closed", "--json"][..],
            &["customers", "list", "--json"],
            &["actions", "list", "--json"],
        ] {
            let out = support::cli_ok(&app.db, export);
            assert_clean(
                &export.join(" "),
                &String::from_utf8_lossy(&out.stdout),
                backend,
            );
        }
        let event: i64 = events::table
            .filter(events::ticket_id.eq(bakery_ticket))
            .select(events::id)
            .first(&mut conn)
            .unwrap();
        let raw = admin.get(&format!("{path}/raw/{event}")).await;
        assert_eq!(raw.status(), 410);

        // The counts stay: the ticket (closed now), its three events, the other customer's.
        let (status, count): (String, i64) = tickets::table
            .find(bakery_ticket)
            .select((tickets::status, tickets::event_count))
            .first(&mut conn)
            .unwrap();
        assert_eq!((status.as_str(), count), ("closed", 3));
        assert_eq!(
            events::table.count().get_result::<i64>(&mut conn).unwrap(),
            events_before
        );
        let dashboard = admin.text("/dashboard").await;
        assert!(dashboard.contains("sales@northwind.example"));
        let trail: Vec<String> = audit_log::table
            .filter(audit_log::action.eq("customer_forgotten"))
            .select(audit_log::detail)
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            trail,
            ["personal data removed; 1 ticket(s) with 3 event(s) kept"]
        );

        // From the command line, for the other customer.
        let out = support::cli_ok(&app.db, &["customers", "forget", "cust-1002", "--json"]);
        let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(done["tickets"], 1);
        assert_eq!(done["events"], 1);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
            .args(["customers", "forget", "cust-1002"])
            .env("DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "forgotten already: no such external id"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("no customer has the external id"));
    }
}
