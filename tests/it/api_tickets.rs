//! The JSON API as a script uses it: tickets (list, get, status and assignee, notes, actions,
//! events and the raw report), actions (list, cancel, retry), reports posted as raw
//! messages, and the error shape.

use serde_json::{json, Value};

use crate::support;
use crate::web::{spawn_app, spec, TestApp};

/// A script's view of the API: one user's token.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A token made with `token create USER`.
    pub fn of(app: &TestApp, user: &str) -> Self {
        let out = support::cli_ok(&app.db, &["token", "create", user]);
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("{}/api/v1", app.base),
            token: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends and reads the answer: status and JSON (null for an empty body).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.send(self.request(method, path).json(&body)).await
    }
}

/// Asserts an error answer: its status and its code, with a message.
#[track_caller]
pub fn error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(
        !answer.1["error"]["message"].as_str().unwrap().is_empty(),
        "{}",
        answer.1
    );
}

#[actix_web::test]
async fn a_script_works_a_ticket_through_the_api() {
    for db in support::backends("a_script_works_a_ticket_through_the_api") {
        let app = spawn_app(db).await;
        app.ingest(&[
            spec(1, None, "news@northwind.example", "198.51.100.20"),
            spec(2, None, "news@northwind.example", "198.51.100.20"),
        ]);
        let api = Api::of(&app, "agent");
        use reqwest::Method as M;

        let (status, page) = api.get("/tickets?sort=events").await;
        assert_eq!(status, 200, "{page}");
        let ticket = &page["items"][0];
        assert_eq!(ticket["subject"], "news@northwind.example");
        assert_eq!(ticket["event_count"], 2);
        let id = ticket["id"].as_i64().unwrap();

        let (status, one) = api.get(&format!("/tickets/{id}")).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(one["ticket"]["status"], "open");
        assert_eq!(one["ticket"]["assignee"], Value::Null);

        // Status and assignee.
        let (status, changed) = api
            .json(
                M::PATCH,
                &format!("/tickets/{id}"),
                json!({"status": "resolved", "assignee": "viewer"}),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["status"], "resolved");
        assert_eq!(changed["assignee"], "viewer");
        let (_, listed) = api.get("/tickets?status=resolved&assignee=viewer").await;
        assert_eq!(listed["items"][0]["id"], id, "{listed}");
        let (_, changed) = api
            .json(
                M::PATCH,
                &format!("/tickets/{id}"),
                json!({"assignee": null}),
            )
            .await;
        assert_eq!(
            (changed["status"].as_str(), &changed["assignee"]),
            (Some("resolved"), &Value::Null)
        );
        error(
            &api.json(
                M::PATCH,
                &format!("/tickets/{id}"),
                json!({"status": "pending"}),
            )
            .await,
            422,
            "invalid",
        );
        error(
            &api.json(M::PATCH, "/tickets/999999", json!({"status": "open"}))
                .await,
            404,
            "not_found",
        );

        // Notes: written, listed, and refused when empty.
        let (status, notes) = api
            .json(
                M::POST,
                &format!("/tickets/{id}/notes"),
                json!({"body": "called the customer <b>today</b>"}),
            )
            .await;
        assert_eq!(status, 201, "{notes}");
        let (_, notes) = api.get(&format!("/tickets/{id}/notes")).await;
        assert_eq!(notes[0]["body"], "called the customer <b>today</b>");
        assert_eq!(notes[0]["author"], "agent");
        error(
            &api.json(
                M::POST,
                &format!("/tickets/{id}/notes"),
                json!({"body": "  "}),
            )
            .await,
            422,
            "invalid",
        );

        // A lock: asked for, listed on the ticket and among all actions, cancelled, retried.
        let (status, action) = api
            .json(
                M::POST,
                &format!("/tickets/{id}/actions"),
                json!({"kind": "lock_identity", "reason": "spam run", "hours": 24}),
            )
            .await;
        assert_eq!(status, 201, "{action}");
        assert_eq!(action["target"], "news@northwind.example");
        assert_eq!(action["state"], "manual");
        assert!(action["expires_at"].is_string(), "{action}");
        let action_id = action["id"].as_i64().unwrap();
        let (_, on_ticket) = api.get(&format!("/tickets/{id}/actions")).await;
        assert_eq!(on_ticket[0]["id"], action_id);
        let (_, manual) = api.get("/actions?state=manual").await;
        assert_eq!(manual["items"][0]["id"], action_id, "{manual}");
        let (status, cancelled) = api
            .json(
                M::POST,
                &format!("/actions/{action_id}/cancel"),
                json!({"note": "customer fixed it"}),
            )
            .await;
        assert_eq!((status, &cancelled["state"]), (200, &json!("cancelled")));
        error(
            &api.json(M::POST, &format!("/actions/{action_id}/cancel"), json!({}))
                .await,
            409,
            "conflict",
        );
        let (status, retried) = api
            .send(api.request(M::POST, &format!("/actions/{action_id}/retry")))
            .await;
        assert_eq!(
            (status, &retried["state"]),
            (200, &json!("manual")),
            "{retried}"
        );
        error(
            &api.json(
                M::POST,
                &format!("/tickets/{id}/actions"),
                json!({"kind": "lock_identity", "reason": "x", "hours": 0}),
            )
            .await,
            422,
            "invalid",
        );

        // Events, and the report behind one byte for byte.
        let (status, events) = api.get(&format!("/tickets/{id}/events")).await;
        assert_eq!(status, 200, "{events}");
        assert_eq!(events["items"].as_array().unwrap().len(), 2);
        assert_eq!(events["next"], Value::Null);
        let event = &events["items"][0];
        let res = api
            .request(M::GET, &format!("/tickets/{id}/events/{}/raw", event["id"]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "message/rfc822");
        let raw_id = abuse_desk::db::ids::RawMessageId(event["raw_message_id"].as_i64().unwrap());
        let stored = abuse_desk::db::raw_messages::content(&mut app.conn(), raw_id)
            .unwrap()
            .unwrap();
        assert_eq!(res.bytes().await.unwrap().as_ref(), stored.as_slice());
        error(
            &api.get(&format!("/tickets/{id}/events?before=nonsense"))
                .await,
            400,
            "bad_request",
        );
    }
}

#[actix_web::test]
async fn a_report_posted_to_the_api_becomes_an_event_once() {
    for db in support::backends("a_report_posted_to_the_api_becomes_an_event_once") {
        let app = spawn_app(db).await;
        let api = Api::of(&app, "agent");
        let message = std::fs::read("tests/fixtures/arf/abuseio__AOL_example_1.eml").unwrap();
        let post = |body: Vec<u8>, kind: &'static str| {
            api.send(
                api.request(reqwest::Method::POST, "/reports")
                    .header("content-type", kind)
                    .body(body),
            )
        };

        let (status, became) = post(message.clone(), "message/rfc822").await;
        assert_eq!(status, 201, "{became}");
        assert_eq!(became["outcome"], "new_ticket");
        let ticket = became["ticket_id"].as_i64().unwrap();
        let event = became["event_ids"][0].as_i64().unwrap();
        let (_, events) = api.get(&format!("/tickets/{ticket}/events")).await;
        assert_eq!(events["items"][0]["id"], event, "{events}");
        assert_eq!(
            events["items"][0]["raw_message_id"],
            became["raw_message_id"]
        );
        let res = api
            .request(
                reqwest::Method::GET,
                &format!("/tickets/{ticket}/events/{event}/raw"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.bytes().await.unwrap().as_ref(), message.as_slice());

        // The same bytes again: counted once.
        let (status, again) = post(message.clone(), "message/rfc822").await;
        assert_eq!((status, &again["outcome"]), (200, &json!("duplicate")));
        assert_eq!(again["raw_message_id"], became["raw_message_id"]);
        let (_, one) = api.get(&format!("/tickets/{ticket}")).await;
        assert_eq!(one["ticket"]["event_count"], 1);

        // Not a report: kept, with the reason.
        let (status, kept) = post(
            b"From: a@example.com\r\nSubject: hello\r\n\r\nnot a report\r\n".to_vec(),
            "message/rfc822",
        )
        .await;
        assert_eq!(
            (status, &kept["outcome"]),
            (201, &json!("quarantined")),
            "{kept}"
        );
        assert!(!kept["reason"].as_str().unwrap().is_empty());
        assert_eq!(kept["ticket_id"], Value::Null);

        error(
            &post(message.clone(), "text/plain").await,
            415,
            "unsupported_media_type",
        );
        error(
            &post(Vec::new(), "message/rfc822").await,
            400,
            "bad_request",
        );
        let over = vec![b'a'; app.settings.ingest.max_message_bytes() as usize + 1];
        error(
            &post(over, "message/rfc822").await,
            413,
            "payload_too_large",
        );

        // A viewer reads but does not feed.
        let viewer = Api::of(&app, "viewer");
        let refused = viewer
            .send(
                viewer
                    .request(reqwest::Method::POST, "/reports")
                    .header("content-type", "message/rfc822")
                    .body(message.clone()),
            )
            .await;
        error(&refused, 403, "forbidden");
    }
}
