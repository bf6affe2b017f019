//! Accounts on the web: login and logout, CSRF tokens, the failed-login limit, security
//! headers, and the walk of every route as every role and as nobody.

use crate::support;
use crate::web::{csrf_of, location, spawn_app, spawn_app_with, spec, PASSWORD};

#[actix_web::test]
async fn login_logout_and_session() {
    for db in support::backends("login_logout_and_session") {
        let app = spawn_app(db).await;
        let anon = app.anonymous();
        let res = anon.get("/tickets?status=all").await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/login?next=%2Ftickets%3Fstatus%3Dall");

        let mut agent = app.login("agent").await;
        let html = agent.text("/tickets").await;
        assert!(html.contains("agent <small>(agent)</small>"), "{html}");
        // A wrong password is refused with the form again.
        let mut other = app.anonymous();
        other.refresh_csrf("/login").await;
        let res = other
            .post_form(
                "/login",
                &[("username", "agent"), ("password", "nope-nope-nope")],
            )
            .await;
        assert_eq!(res.status(), 401);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("Wrong username or password"));
        // Cookies are HttpOnly and SameSite=Lax (not Secure over plain http).
        let mut fresh = app.anonymous();
        let res = fresh.get("/login").await;
        let cookie = res
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        fresh.csrf = crate::web::csrf_of(&res.text().await.unwrap()).unwrap();
        // A logged-in session gets a new CSRF token; the old one no longer works.
        let before = fresh.csrf.clone();
        let res = fresh
            .post_form(
                "/login",
                &[
                    ("username", "viewer"),
                    ("password", PASSWORD),
                    ("next", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/tickets", "no open redirect");
        fresh.refresh_csrf("/tickets").await;
        assert_ne!(before, fresh.csrf);

        let res = agent.post_form("/logout", &[]).await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/login");
        assert_eq!(agent.get("/tickets").await.status(), 303);
        agent.refresh_csrf("/login").await;
    }
}

/// The session cookie's value from a response's `Set-Cookie`.
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("abuse_desk_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[actix_web::test]
async fn a_session_ends_when_its_time_is_up() {
    for db in support::backends("a_session_ends_when_its_time_is_up") {
        let app = spawn_app_with(db, |s| s.web.session_hours = 2.0 / 3600.0).await;
        // A client that keeps no cookies of its own: it sends the session cookie it was
        // given even after the browser would have dropped it, as a stolen cookie would be.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = |path: &str| format!("{}{path}", app.base);
        let res = http.get(url("/login")).send().await.unwrap();
        let cookie = session_cookie(&res).unwrap();
        let csrf = csrf_of(&res.text().await.unwrap()).unwrap();
        let res = http
            .post(url("/login"))
            .header("cookie", format!("abuse_desk_session={cookie}"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "agent"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set_cookie.contains("Max-Age=2"), "{set_cookie}");
        let cookie = session_cookie(&res).unwrap();
        let tickets = || {
            http.get(url("/tickets"))
                .header("cookie", format!("abuse_desk_session={cookie}"))
                .send()
        };
        assert_eq!(tickets().await.unwrap().status(), 200);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(3100)).await;
        let res = tickets().await.unwrap();
        assert_eq!(res.status(), 303, "an expired session must not be let in");
        assert!(location(&res).starts_with("/login"));
    }
}

#[actix_web::test]
async fn forms_without_the_session_token_are_refused() {
    let app = spawn_app(support::sqlite()).await;
    app.ingest(&[spec(
        1,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    )]);
    let agent = app.login("agent").await;
    let id = "1";
    for path in [
        format!("/tickets/{id}/claim"),
        format!("/tickets/{id}/notes"),
        format!("/tickets/{id}/status"),
        format!("/tickets/{id}/actions"),
        format!("/tickets/{id}/merge"),
        "/tickets/bulk".into(),
        "/logout".into(),
    ] {
        for token in ["", "0000", &"a".repeat(64)] {
            let res = agent
                .post_raw(
                    &path,
                    &[
                        ("csrf_token", token),
                        ("body", "x"),
                        ("status", "resolved"),
                        ("kind", "lock_identity"),
                        ("reason", "r"),
                        ("into", "1"),
                        ("ids", "1"),
                        ("op", "assign:me"),
                    ],
                )
                .await;
            assert_eq!(res.status(), 403, "POST {path} with token {token:?}");
        }
    }
    // The login form itself needs the token too.
    let anon = app.anonymous();
    let res = anon
        .post_raw(
            "/login",
            &[
                ("username", "agent"),
                ("password", PASSWORD),
                ("csrf_token", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    // Nothing changed.
    let html = agent.text("/tickets/1").await;
    assert!(
        html.contains("No notes yet") && html.contains(">open<")
            || html.contains("id=\"status\">open"),
        "{html}"
    );
}

#[actix_web::test]
async fn failed_logins_are_limited_per_user_and_address() {
    let app = spawn_app(support::sqlite()).await;
    let mut client = app.anonymous();
    client.refresh_csrf("/login").await;
    for _ in 0..5 {
        let res = client
            .post_form(
                "/login",
                &[("username", "agent"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    // Now even the right password is refused for a while…
    let res = client
        .post_form("/login", &[("username", "agent"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Too many failed logins"));
    // …but only for that username.
    let res = client
        .post_form("/login", &[("username", "viewer"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 303);
}

#[actix_web::test]
async fn security_headers_on_every_page() {
    let app = spawn_app(support::sqlite()).await;
    let viewer = app.login("viewer").await;
    for path in ["/login", "/tickets", "/healthz"] {
        let res = viewer.get(path).await;
        let h = res.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    }
}

/// Every route with the least role that may use it (`None`: open to anyone).
const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/login", None),
    ("GET", "/static/style.css", None),
    ("GET", "/", None),
    ("GET", "/tickets", Some("viewer")),
    ("GET", "/tickets?status=all&sort=events_24h", Some("viewer")),
    ("GET", "/tickets/1", Some("viewer")),
    ("GET", "/api/v1/tickets", Some("viewer")),
    ("GET", "/reports/outgoing", Some("viewer")),
    ("GET", "/customers", Some("viewer")),
    ("GET", "/customers/1", Some("viewer")),
    ("GET", "/tickets/1/raw/1", Some("agent")),
    ("POST", "/tickets/1/claim", Some("agent")),
    ("POST", "/tickets/1/unclaim", Some("agent")),
    ("POST", "/tickets/1/notes", Some("agent")),
    ("POST", "/tickets/1/actions", Some("agent")),
    ("POST", "/tickets/1/status", Some("agent")),
    ("POST", "/tickets/1/merge", Some("agent")),
    ("POST", "/tickets/bulk", Some("agent")),
    ("POST", "/locks", Some("agent")),
    ("GET", "/events", Some("viewer")),
    ("GET", "/actions", Some("viewer")),
    ("POST", "/actions/1/retry", Some("agent")),
    ("POST", "/actions/1/cancel", Some("agent")),
    ("POST", "/actions/1/done", Some("agent")),
    ("GET", "/notifications", Some("viewer")),
    ("GET", "/tokens", Some("viewer")),
    ("POST", "/tokens", Some("viewer")),
    ("POST", "/tokens/1/revoke", Some("viewer")),
    ("GET", "/tickets/1/notice", Some("agent")),
    ("POST", "/tickets/1/notify", Some("agent")),
    ("GET", "/self/0123456789abcdef0123456789abcdef", None),
    ("GET", "/admin/users", Some("admin")),
    ("POST", "/admin/users", Some("admin")),
    ("POST", "/admin/users/nobody/disable", Some("admin")),
    ("POST", "/admin/users/nobody/enable", Some("admin")),
    ("POST", "/customers/1", Some("admin")),
    ("POST", "/customers/import", Some("admin")),
];

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "agent" => 2,
        "admin" => 3,
        _ => 0,
    }
}

#[actix_web::test]
async fn every_route_checks_its_role() {
    for db in support::backends("every_route_checks_its_role") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let form: &[(&str, &str)] = &[
            ("body", "walk"),
            ("status", "resolved"),
            ("kind", "lock_identity"),
            ("reason", "walk"),
            ("into", "1"),
            ("ids", "1"),
            ("op", "assign:me"),
            ("target", "x@example.org"),
            ("name", "Walk"),
            ("email", "walk@example.org"),
            (
                "csv",
                "external_id,name,email,identities,domains,netblocks\n",
            ),
            ("username", "walker"),
            ("password", "a long enough password"),
            ("role", "viewer"),
            ("group", "identity"),
        ];
        for who in ["anonymous", "viewer", "agent", "admin"] {
            let client = if who == "anonymous" {
                app.anonymous()
            } else {
                app.login(who).await
            };
            for (method, path, need) in ROUTES {
                let res = if *method == "GET" {
                    client.get(path).await
                } else {
                    client.post_form(path, form).await
                };
                let status = res.status().as_u16();
                let to_login = status == 303 && location(&res).starts_with("/login");
                let allowed = match need {
                    None => true,
                    Some(need) => rank(who) >= rank(need),
                };
                if allowed {
                    assert!(
                        status != 401 && status != 403 && !to_login,
                        "{who} {method} {path}: {status}"
                    );
                    assert!(status < 500, "{who} {method} {path}: {status}");
                } else if who == "anonymous" {
                    if path.starts_with("/api/") {
                        assert_eq!(status, 401, "{who} {method} {path}");
                    } else {
                        assert!(
                            to_login,
                            "{who} {method} {path}: {status} {}",
                            location(&res)
                        );
                    }
                } else {
                    assert_eq!(status, 403, "{who} {method} {path}");
                }
            }
            if who != "anonymous" {
                assert_eq!(client.post_form("/logout", &[]).await.status(), 303);
            }
        }
    }
}
