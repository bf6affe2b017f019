//! Acting upstream from the web: a lock asked for on the ticket page is carried out by the
//! worker beside the app (a demo upstream here) and shown as done — since when, by whom,
//! through which upstream — then unlocked; a target no upstream handles is left to staff, who
//! mark it done; a refused action is retried from the page; the outgoing log search lists
//! events and locks from a line.

use std::time::Duration;

use abuse_desk::db::schema::actions;
use diesel::prelude::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support;
use crate::web::{location, spawn_app_with, spec, Client};

/// A demo upstream for identities and outgoing users; accounts stay manual.
fn demo_upstream(settings: &mut abuse_desk::settings::Settings) {
    settings.upstreams = vec![toml::from_str(
        "name = \"filter\"\nkind = \"demo\"\ntargets = [\"identity\", \"outgoing_user\"]\n",
    )
    .unwrap()];
}

/// Reloads `path` until it shows `needle` (the worker answers within a second or two).
async fn eventually(client: &Client, path: &str, needle: &str) -> String {
    let mut html = String::new();
    for _ in 0..100 {
        html = client.text(path).await;
        if html.contains(needle) {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never showed {needle:?}:\n{html}");
}

#[actix_web::test]
async fn a_lock_from_the_ticket_page_is_carried_out_shown_and_undone() {
    for db in support::backends("a_lock_from_the_ticket_page_is_carried_out_shown_and_undone") {
        let app = spawn_app_with(db, demo_upstream).await;
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
                    ("reason", "compromised mailbox"),
                    ("hours", "24"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/tickets/1");
        let html = eventually(
            &agent,
            "/tickets/1",
            "id=\"lock-words-lock_identity\">locked<",
        )
        .await;
        assert!(html.contains("by agent through filter, until"), "{html}");
        assert!(html.contains("compromised mailbox"));
        assert!(
            html.contains("demo: identity shop@bakery-mueller.example locked"),
            "the upstream's words: {html}"
        );
        // The queue row and the actions page tell the same.
        let queue = agent.text("/tickets").await;
        assert!(queue.contains("title=\"locked until"), "{queue}");
        let list = agent.text("/actions?state=succeeded").await;
        assert!(
            list.contains("shop@bakery-mueller.example") && list.contains("filter"),
            "{list}"
        );

        agent
            .post_form(
                "/tickets/1/actions",
                &[("kind", "unlock_identity"), ("reason", "password changed")],
            )
            .await;
        eventually(
            &agent,
            "/tickets/1",
            "id=\"lock-words-lock_identity\">not locked<",
        )
        .await;
        let states: Vec<(String, String)> = actions::table
            .order(actions::id)
            .select((actions::kind, actions::state))
            .load(&mut app.conn())
            .unwrap();
        assert_eq!(
            states,
            vec![
                ("lock_identity".to_owned(), "succeeded".to_owned()),
                ("unlock_identity".to_owned(), "succeeded".to_owned())
            ],
            "{}",
            app.db.backend
        );
    }
}

#[actix_web::test]
async fn staff_do_by_hand_what_no_upstream_handles_and_retry_what_was_refused() {
    for db in
        support::backends("staff_do_by_hand_what_no_upstream_handles_and_retry_what_was_refused")
    {
        let hook = MockServer::start().await;
        // The first call is refused, the next ones go through.
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(422).set_body_string(r#"{"message":"target unknown here"}"#),
            )
            .up_to_n_times(1)
            .mount(&hook)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&hook)
            .await;
        let url = hook.uri();
        let app = spawn_app_with(db, move |s| {
            s.upstreams = vec![toml::from_str(&format!(
                "name = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"hook-secret-0123\"\ntargets = [\"outgoing_user\"]\n"
            ))
            .unwrap()];
        })
        .await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let agent = app.login("agent").await;

        // No upstream suspends accounts: the action waits for staff.
        agent
            .post_form(
                "/tickets/1/actions",
                &[("kind", "suspend_account"), ("reason", "third run")],
            )
            .await;
        let html = eventually(
            &agent,
            "/tickets/1",
            "id=\"lock-words-suspend_account\">to suspend by hand<",
        )
        .await;
        assert!(
            html.contains("manual: no upstream handles it"),
            "the audit trail says why: {html}"
        );
        let suspend: i64 = actions::table
            .filter(actions::kind.eq("suspend_account"))
            .select(actions::id)
            .first(&mut app.conn())
            .unwrap();
        let viewer = app.login("viewer").await;
        assert_eq!(
            viewer
                .post_form(&format!("/actions/{suspend}/done"), &[("note", "x")])
                .await
                .status(),
            403
        );
        let res = agent
            .post_form(
                &format!("/actions/{suspend}/done"),
                &[("note", "suspended in WHMCS"), ("back", "/tickets/1")],
            )
            .await;
        assert_eq!(location(&res), "/tickets/1");
        let html = agent.text("/tickets/1").await;
        assert!(
            html.contains("id=\"lock-words-suspend_account\">suspended<")
                && html.contains("done by hand: suspended in WHMCS"),
            "{html}"
        );

        // The webhook refuses the first lock of the outgoing user; staff try it again.
        agent
            .post_form(
                "/tickets/1/actions",
                &[("kind", "lock_outgoing_user"), ("reason", "spam run")],
            )
            .await;
        let html = eventually(&agent, "/actions?state=failed", "target unknown here").await;
        assert!(html.contains("HTTP 422"), "{html}");
        let lock: i64 = actions::table
            .filter(actions::kind.eq("lock_outgoing_user"))
            .select(actions::id)
            .first(&mut app.conn())
            .unwrap();
        agent
            .post_form(&format!("/actions/{lock}/retry"), &[("back", "/actions")])
            .await;
        eventually(
            &agent,
            "/tickets/1",
            "id=\"lock-words-lock_outgoing_user\">locked<",
        )
        .await;
        let html = eventually(&agent, "/actions?state=succeeded", "lock outgoing user").await;
        assert!(html.contains("hook"), "{html}");
        assert_eq!(hook.received_requests().await.unwrap().len(), 2);
        // Nothing more to retry: a succeeded action is refused.
        assert_eq!(
            agent
                .post_form(&format!("/actions/{lock}/retry"), &[])
                .await
                .status(),
            409
        );
    }
}

#[actix_web::test]
async fn the_outgoing_log_search_finds_events_and_locks_from_a_line() {
    for db in support::backends("the_outgoing_log_search_finds_events_and_locks_from_a_line") {
        let app = spawn_app_with(db, demo_upstream).await;
        app.ingest(&[
            spec(
                1,
                Some("shop@bakery-mueller.example"),
                "shop@bakery-mueller.example",
                "198.51.100.5",
            ),
            spec(
                2,
                Some("news@other.example"),
                "news@other.example",
                "203.0.113.9",
            ),
        ]);
        let agent = app.login("agent").await;
        let all = agent.text("/events").await;
        assert!(all.contains("shop@bakery-mueller.example") && all.contains("news@other.example"));
        let one = agent
            .text("/events?identity=SHOP%40bakery-mueller.example")
            .await;
        assert!(
            one.contains("shop@bakery-mueller.example") && !one.contains("news@other.example"),
            "{one}"
        );
        let by_ip = agent.text("/events?source_ip=203.0.113.").await;
        assert!(
            by_ip.contains("news@other.example") && !by_ip.contains("shop@bakery"),
            "{by_ip}"
        );
        assert!(agent
            .text("/events?customer=nobody")
            .await
            .contains("No events match"));
        assert_eq!(agent.get("/events?from=yesterday").await.status(), 400);
        let res = agent
            .post_form(
                "/locks",
                &[
                    ("kind", "lock_identity"),
                    ("target", "news@other.example"),
                    ("reason", "from the log"),
                    ("back", "/events?source_ip=203.0.113."),
                ],
            )
            .await;
        assert_eq!(location(&res), "/events?source_ip=203.0.113.");
        eventually(&agent, "/actions?state=succeeded", "news@other.example").await;
        // A `back` elsewhere is not followed.
        let res = agent
            .post_form(
                "/locks",
                &[
                    ("kind", "unlock_identity"),
                    ("target", "news@other.example"),
                    ("reason", "ok"),
                    ("back", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/reports/outgoing");
    }
}
