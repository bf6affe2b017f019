//! Customers through the API (create, change, bulk upsert, delete), roles (a viewer's token
//! reads only, a session cookie alone never writes), the outgoing report, and errors that
//! are JSON with the right status whatever produced them.

use reqwest::Method as M;
use serde_json::{json, Value};

use crate::api_tickets::{error, Api};
use crate::support;
use crate::web::{spawn_app, spec};

#[actix_web::test]
async fn an_admin_script_keeps_customers_in_step() {
    for db in support::backends("an_admin_script_keeps_customers_in_step") {
        let app = spawn_app(db).await;
        let api = Api::of(&app, "admin");

        let (status, created) = api
            .json(
                M::POST,
                "/customers",
                json!({
                    "external_id": "cust-api-1",
                    "name": "Api <Customer>",
                    "email": "ops@api.example",
                    "identities": ["mailer@api.example"],
                    "domains": ["api.example"],
                    "netblocks": ["192.0.2.0/28"],
                    "notify": false
                }),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["customer"]["name"], "Api <Customer>");
        assert_eq!(created["customer"]["notify"], false);
        assert_eq!(created["children"]["netblocks"], json!(["192.0.2.0/28"]));
        let id = created["customer"]["id"].as_i64().unwrap();
        error(
            &api.json(
                M::POST,
                "/customers",
                json!({"external_id": "cust-api-1", "name": "Again", "email": "a@api.example"}),
            )
            .await,
            409,
            "conflict",
        );
        error(
            &api.json(
                M::POST,
                "/customers",
                json!({"external_id": "cust-api-2", "name": "Bad", "email": "a@api.example", "netblocks": ["not-a-net"]}),
            )
            .await,
            422,
            "invalid",
        );

        let (status, changed) = api
            .json(
                M::PUT,
                &format!("/customers/{id}"),
                json!({"name": "Api Customer", "email": "abuse@api.example", "identities": ["other@api.example"]}),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["customer"]["email"], "abuse@api.example");
        assert_eq!(
            changed["children"]["identities"],
            json!(["other@api.example"])
        );
        assert_eq!(changed["children"]["domains"], json!([]));

        // Bulk: one updated, one created; all or nothing when two claim the same identity.
        let (status, summary) = api
            .json(
                M::POST,
                "/customers/bulk",
                json!([
                    {"external_id": "cust-api-1", "name": "Api Customer", "email": "abuse@api.example", "identities": ["third@api.example"]},
                    {"external_id": "cust-api-3", "name": "Third", "email": "t@third.example"}
                ]),
            )
            .await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(summary, json!({"created": 1, "updated": 1, "unchanged": 0}));
        let twice = api
            .json(
                M::POST,
                "/customers/bulk",
                json!([
                    {"external_id": "cust-api-4", "name": "Four", "email": "f@four.example", "identities": ["same@x.example"]},
                    {"external_id": "cust-api-5", "name": "Five", "email": "f@five.example", "identities": ["same@x.example"]}
                ]),
            )
            .await;
        error(&twice, 422, "invalid");
        let (_, found) = api.get("/customers?q=cust-api").await;
        let ids: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["external_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["cust-api-1", "cust-api-3"]);

        let (status, _) = api
            .send(api.request(M::DELETE, &format!("/customers/{id}")))
            .await;
        assert_eq!(status, 204);
        error(
            &api.get(&format!("/customers/{id}")).await,
            404,
            "not_found",
        );
        error(
            &api.send(api.request(M::DELETE, &format!("/customers/{id}")))
                .await,
            404,
            "not_found",
        );

        // A customer with tickets stays.
        app.ingest(&[spec(1, None, "news@northwind.example", "198.51.100.20")]);
        let (_, page) = api.get("/tickets").await;
        let owner = page["items"][0]["customer_id"].as_i64().unwrap();
        error(
            &api.send(api.request(M::DELETE, &format!("/customers/{owner}")))
                .await,
            409,
            "conflict",
        );
        let (status, report) = api
            .get("/reports/outgoing?group=customer&period=today")
            .await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["rows"][0]["events"], 1, "{report}");
        error(
            &api.get("/reports/outgoing?period=custom&from=2026-01-01")
                .await,
            422,
            "invalid",
        );
    }
}

#[actix_web::test]
async fn roles_and_cookies_are_held_to_what_the_pages_allow() {
    for db in support::backends("roles_and_cookies_are_held_to_what_the_pages_allow") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(1, None, "news@northwind.example", "198.51.100.20")]);
        let viewer = Api::of(&app, "viewer");
        let (status, page) = viewer.get("/tickets").await;
        assert_eq!(status, 200);
        let id = page["items"][0]["id"].as_i64().unwrap();
        error(
            &viewer
                .json(
                    M::PATCH,
                    &format!("/tickets/{id}"),
                    json!({"status": "closed"}),
                )
                .await,
            403,
            "forbidden",
        );
        error(
            &viewer
                .json(
                    M::POST,
                    "/customers",
                    json!({"external_id": "x", "name": "x", "email": "x@x.example"}),
                )
                .await,
            403,
            "forbidden",
        );
        // Agents work tickets, not customers.
        let agent = Api::of(&app, "agent");
        error(
            &agent.send(agent.request(M::DELETE, "/customers/1")).await,
            403,
            "forbidden",
        );

        // A logged-in browser reads the API, but its cookie alone writes nothing.
        let browser = app.login("admin").await;
        let res = browser.get("/api/v1/tickets").await;
        assert_eq!(res.status(), 200);
        let res = browser
            .http
            .patch(format!("{}/api/v1/tickets/{id}", app.base))
            .json(&json!({"status": "closed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "token_required");
        let (_, one) = viewer.get(&format!("/tickets/{id}")).await;
        assert_eq!(one["ticket"]["status"], "open");
    }
}

#[actix_web::test]
async fn every_api_error_is_json_with_its_status() {
    let app = spawn_app(support::sqlite()).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/api/v1{p}", app.base);
    let read = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let www = res.headers().get("www-authenticate").cloned();
        let allow = res.headers().get("allow").cloned();
        (status, res.json::<Value>().await.unwrap(), www, allow)
    };

    // No token, a wrong one: 401, on known and unknown routes alike.
    for path in ["/tickets", "/no-such-route", "/customers/1"] {
        let (status, body, www, _) = read(http.get(url(path)).send().await.unwrap()).await;
        error(&(status, body), 401, "unauthorized");
        assert_eq!(www.unwrap(), "Bearer");
    }
    let (status, body, ..) = read(
        http.get(url("/tickets"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    error(&(status, body), 401, "unauthorized");

    let api = Api::of(&app, "admin");
    error(&api.get("/no-such-route").await, 404, "no_such_route");
    error(&api.get("/tickets/abc").await, 404, "not_found");
    error(&api.get("/tickets/424242").await, 404, "not_found");
    error(
        &api.get("/tickets?status=nonsense").await,
        400,
        "bad_request",
    );
    error(&api.get("/actions?limit=x").await, 400, "bad_query");
    let (status, body, _, allow) =
        read(api.request(M::DELETE, "/tickets/1").send().await.unwrap()).await;
    error(&(status, body), 405, "method_not_allowed");
    assert_eq!(allow.unwrap(), "GET, PATCH");
    error(
        &api.send(
            api.request(M::POST, "/customers")
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await,
        415,
        "unsupported_media_type",
    );
    error(
        &api.send(
            api.request(M::POST, "/customers")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await,
        400,
        "bad_json",
    );
    error(
        &api.json(M::POST, "/customers", json!({"external_id": 5}))
            .await,
        422,
        "invalid",
    );
    let huge = json!([{"external_id": "x".repeat(9 << 20)}]);
    error(
        &api.json(M::POST, "/customers/bulk", huge).await,
        413,
        "payload_too_large",
    );
}
