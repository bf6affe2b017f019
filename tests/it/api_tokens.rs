//! API tokens: made on the command line or on "My tokens", used as bearer tokens on `/api/`,
//! with the owner's role, until they expire or are revoked.

use diesel::prelude::*;

use abuse_desk::db::schema::{api_tokens, audit_log};
use abuse_desk::db::tokens;
use abuse_desk::db::users::Role;

use crate::support;
use crate::web::{spawn_app, spec, TestApp};

/// `GET /api/v1/tickets` with `token` as the bearer.
async fn api(app: &TestApp, token: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/tickets", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn token_list(app: &TestApp) -> (String, serde_json::Value) {
    let out = support::cli_ok(&app.db, &["token", "list", "--json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

#[actix_web::test]
async fn a_cli_token_lists_tickets_until_revoked_or_expired() {
    for db in support::backends("a_cli_token_lists_tickets_until_revoked_or_expired") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(1, None, "news@northwind.example", "198.51.100.20")]);

        let out = support::cli_ok(&app.db, &["token", "create", "agent", "--name", "script"]);
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert_eq!(token.len(), 64, "{token}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not shown again"));

        let res = api(&app, &token).await;
        assert_eq!(res.status(), 200, "{}", app.db.backend);
        let json: serde_json::Value = res.json().await.unwrap();
        assert_eq!(json["items"][0]["subject"], "news@northwind.example");

        // Listed with its use, never with the token or its hash.
        let (text, list) = token_list(&app);
        assert_eq!(list[0]["user"], "agent");
        assert_eq!(list[0]["name"], "script");
        assert!(!list[0]["last_used_at"].is_null(), "{text}");
        let hash: String = api_tokens::table
            .select(api_tokens::token_hash)
            .first(&mut app.conn())
            .unwrap();
        assert!(!text.contains(&token) && !text.contains(&hash), "{text}");
        let table = support::cli_ok(&app.db, &["token", "list", "--user", "agent"]);
        let table = String::from_utf8(table.stdout).unwrap();
        assert!(
            table.contains("script") && !table.contains(&token),
            "{table}"
        );

        // Expired: refused.
        let id = list[0]["id"].as_i64().unwrap();
        let past = abuse_desk::db::now() - chrono::Duration::minutes(1);
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::expires_at.eq(Some(past)))
            .execute(&mut app.conn())
            .unwrap();
        assert_eq!(api(&app, &token).await.status(), 401);
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::expires_at.eq(None::<chrono::NaiveDateTime>))
            .execute(&mut app.conn())
            .unwrap();
        assert_eq!(api(&app, &token).await.status(), 200);

        // Revoked: refused, and both recorded.
        support::cli_ok(&app.db, &["token", "revoke", &id.to_string()]);
        assert_eq!(api(&app, &token).await.status(), 401);
        assert_eq!(token_list(&app).1, serde_json::json!([]));
        let audited: Vec<String> = audit_log::table
            .filter(audit_log::action.like("token_%"))
            .order(audit_log::id)
            .select(audit_log::action)
            .load(&mut app.conn())
            .unwrap();
        assert_eq!(audited, ["token_created", "token_revoked"]);
        assert_eq!(api(&app, "not-a-token").await.status(), 401);
    }
}

#[actix_web::test]
async fn a_token_carries_its_owners_role_on_the_api_only() {
    for db in support::backends("a_token_carries_its_owners_role_on_the_api_only") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(1, None, "news@northwind.example", "198.51.100.20")]);
        let out = support::cli_ok(&app.db, &["token", "create", "viewer"]);
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

        let owner = tokens::check(&mut app.conn(), &token, abuse_desk::db::now())
            .unwrap()
            .unwrap();
        assert_eq!((owner.name.as_str(), owner.role), ("viewer", Role::Viewer));
        assert_eq!(api(&app, &token).await.status(), 200);

        // Outside /api/ a bearer token is no login: an agent's work stays out of reach.
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/tickets/1/claim", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"));

        // A disabled account's tokens stop working.
        support::cli_ok(&app.db, &["user", "disable", "viewer"]);
        assert_eq!(api(&app, &token).await.status(), 401);
    }
}

#[actix_web::test]
async fn my_tokens_page_makes_and_revokes_own_tokens() {
    for db in support::backends("my_tokens_page_makes_and_revokes_own_tokens") {
        let app = spawn_app(db).await;
        let viewer = app.login("viewer").await;
        let page = viewer.text("/tokens").await;
        assert!(page.contains("No tokens."), "{page}");
        assert!(viewer.text("/tickets").await.contains("href=\"/tokens\""));

        let res = viewer
            .post_form("/tokens", &[("name", "feed"), ("expires_days", "30")])
            .await;
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        let token = page
            .split("<code id=\"new-token\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap()
            .to_owned();
        assert_eq!(token.len(), 64, "{page}");
        assert_eq!(api(&app, &token).await.status(), 200);

        // Listed without the token; the expiry was kept.
        let page = viewer.text("/tokens").await;
        assert!(page.contains("feed") && !page.contains(&token), "{page}");
        let (_, list) = token_list(&app);
        let id = list[0]["id"].as_i64().unwrap();
        assert!(!list[0]["expires_at"].is_null());
        assert_eq!(
            viewer
                .post_form("/tokens", &[("expires_days", "0")])
                .await
                .status(),
            400
        );

        // Someone else's token is not found; one's own is revoked.
        let agent = app.login("agent").await;
        let path = format!("/tokens/{id}/revoke");
        assert_eq!(agent.post_form(&path, &[]).await.status(), 404);
        assert!(!agent.text("/tokens").await.contains("feed"));
        assert_eq!(api(&app, &token).await.status(), 200);
        assert_eq!(viewer.post_form(&path, &[]).await.status(), 303);
        assert_eq!(api(&app, &token).await.status(), 401);
        assert!(viewer.text("/tokens").await.contains("No tokens."));
    }
}
