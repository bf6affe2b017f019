//! Working a ticket on the web: claim, notes, status changes, lock requests (actions with their
//! audit entries), evidence with recipients masked, and hostile report content shown as text
//! everywhere.

use abuse_desk::db::schema::{actions, audit_log, tickets};
use diesel::prelude::*;

use crate::support;
use crate::web::{location, spawn_app, spec};
use abuse_desk::demo::Spec;

#[actix_web::test]
async fn actions_become_rows_with_audit_entries() {
    for db in support::backends("actions_become_rows_with_audit_entries") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let agent = app.login("agent").await;
        let res = agent
            .post_form(
                "/tickets/1/actions",
                &[
                    ("kind", "lock_identity"),
                    ("reason", "spam run <b>today</b>"),
                    ("hours", "24"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/tickets/1");
        let mut conn = app.conn();
        let (kind, target, reason, state, expires): (
            String,
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
        ) = actions::table
            .select((
                actions::kind,
                actions::target,
                actions::reason,
                actions::state,
                actions::expires_at,
            ))
            .first(&mut conn)
            .unwrap();
        assert_eq!(
            (kind.as_str(), target.as_str(), state.as_str()),
            ("lock_identity", "shop@bakery-mueller.example", "manual")
        );
        assert_eq!(reason, "spam run <b>today</b>");
        let hours = (expires.unwrap() - abuse_desk::db::now()).num_minutes();
        assert!((23 * 60..=24 * 60).contains(&hours), "{hours}");
        let (actor, detail): (String, String) = audit_log::table
            .filter(audit_log::action.eq("lock_identity"))
            .select((audit_log::actor, audit_log::detail))
            .first(&mut conn)
            .unwrap();
        assert_eq!(actor, "agent");
        assert!(
            detail.contains("shop@bakery-mueller.example") && detail.contains("spam run"),
            "{detail}"
        );
        let html = agent.text("/tickets/1").await;
        assert!(html.contains("to lock by hand"), "lock state shown");
        assert!(
            html.contains("spam run &lt;b&gt;today&lt;&#x2f;b&gt;"),
            "reason escaped"
        );
        // No reason, no lock; an unknown kind or a silly duration is refused.
        assert_eq!(
            agent
                .post_form(
                    "/tickets/1/actions",
                    &[("kind", "lock_outgoing_user"), ("reason", " ")]
                )
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form(
                    "/tickets/1/actions",
                    &[("kind", "drop_table"), ("reason", "x")]
                )
                .await
                .status(),
            400
        );
        assert_eq!(
            agent
                .post_form(
                    "/tickets/1/actions",
                    &[("kind", "lock_identity"), ("reason", "x"), ("hours", "-3")]
                )
                .await
                .status(),
            400
        );
        // Unlock, suspend: recorded the same way.
        agent
            .post_form(
                "/tickets/1/actions",
                &[
                    ("kind", "unlock_identity"),
                    ("reason", "customer cleaned up"),
                ],
            )
            .await;
        agent
            .post_form(
                "/tickets/1/actions",
                &[("kind", "suspend_account"), ("reason", "repeat offender")],
            )
            .await;
        let kinds: Vec<(String, String)> = actions::table
            .order(actions::id)
            .select((actions::kind, actions::target))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            kinds[1],
            (
                "unlock_identity".into(),
                "shop@bakery-mueller.example".into()
            )
        );
        assert_eq!(kinds[2], ("suspend_account".into(), "cust-1001".into()));
        // The queue shows the account's lock state.
        let queue = agent.text("/tickets").await;
        assert!(queue.contains("class=\"lock on\""), "{queue}");
    }
}

#[actix_web::test]
async fn notes_claims_status_and_audit_trail() {
    for db in support::backends("notes_claims_status_and_audit_trail") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let agent = app.login("agent").await;
        let admin = app.login("admin").await;
        agent.post_form("/tickets/1/claim", &[]).await;
        let html = admin.text("/tickets/1").await;
        assert!(
            html.contains("agent <strong>is on it</strong>"),
            "others see who is on it"
        );
        let res = agent
            .post_form(
                "/tickets/1/notes",
                &[("body", "Called the customer.\n<script>alert(1)</script>")],
            )
            .await;
        assert_eq!(res.status(), 303);
        agent
            .post_form("/tickets/1/status", &[("status", "resolved")])
            .await;
        let html = agent.text("/tickets/1").await;
        assert!(
            html.contains("Called the customer.")
                && html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
        );
        assert!(html.contains("id=\"status\">resolved"));
        for entry in ["assigned to agent", "added a note", "open → resolved"] {
            assert!(html.contains(entry), "audit trail has {entry}");
        }
        agent.post_form("/tickets/1/unclaim", &[]).await;
        agent
            .post_form("/tickets/1/status", &[("status", "open")])
            .await;
        let mut conn = app.conn();
        let status: String = tickets::table
            .find(1i64)
            .select(tickets::status)
            .first(&mut conn)
            .unwrap();
        assert_eq!(status, "open");
        assert_eq!(
            agent
                .post_form("/tickets/1/status", &[("status", "merged")])
                .await
                .status(),
            409
        );
        assert_eq!(
            agent
                .post_form("/tickets/1/notes", &[("body", "  ")])
                .await
                .status(),
            400
        );
        assert_eq!(agent.get("/tickets/999").await.status(), 404);
        // A viewer reads but sees no forms to work the ticket.
        let viewer = app.login("viewer").await;
        let html = viewer.text("/tickets/1").await;
        assert!(!html.contains("id=\"claim\"") && !html.contains("id=\"add-note\""));
    }
}

/// A report whose every field a spammer controls carries markup and script.
pub fn hostile() -> Spec {
    let mut s = spec(
        1,
        Some("\"><img src=x onerror=alert(1)>@evil.example"),
        "<script>alert('from')</script>@evil.example",
        "192.0.2.66",
    );
    s.subject = "<script>alert('subject')</script>\"><img src=x onerror=alert(2)>".into();
    s.body = "<script>alert('body')</script>\n<a href=\"javascript:alert(3)\">click</a>\njavascript:alert(4)\n\"><img src=x onerror=alert(5)>".into();
    s.recipient = "victim@mailbox.example.org".into();
    s
}

/// Markup that must never reach a page unescaped.
pub const INJECTED: [&str; 4] = [
    "<script>",
    "<img src=x",
    "href=\"javascript:",
    "onerror=alert(1)>",
];

#[actix_web::test]
async fn report_content_is_shown_as_text_everywhere() {
    for db in support::backends("report_content_is_shown_as_text_everywhere") {
        let app = spawn_app(db).await;
        app.ingest(&[hostile()]);
        let agent = app.login("agent").await;
        let pages = [
            "/tickets",
            "/tickets?q=evil",
            "/tickets/1",
            "/tickets/1?show=recipients",
        ];
        for page in pages {
            let html = agent.text(page).await;
            for bad in INJECTED {
                assert!(!html.contains(bad), "{page} contains {bad}");
            }
        }
        let html = agent.text("/tickets/1").await;
        assert!(
            html.contains("&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;")
                || html.contains("&lt;script&gt;alert("),
            "subject shown as text"
        );
        assert!(html.contains("javascript:alert(4)"), "text stays readable");
        assert!(
            !html.contains("victim@mailbox"),
            "recipient masked by default"
        );
        assert!(agent
            .text("/tickets/1?show=recipients")
            .await
            .contains("victim@mailbox.example.org"));
        // The raw download is an attachment, never rendered.
        let res = agent.get("/tickets/1/raw/1").await;
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/octet-stream"
        );
        assert!(res
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment"));
    }
}
