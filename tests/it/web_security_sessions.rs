//! What a stranger can try with sessions: reusing a copied cookie after logout or once the account
//! is disabled, a session kept past its idle time or its end, a server without a session key beyond
//! loopback, and cookies that must be secure and kept to https once the desk is served over https.

use crate::support;
use crate::web::{spawn_app, spawn_app_with, PASSWORD};
use crate::web_security::cookie_header;

/// Logs `user` in with a client that keeps no cookies: the cookie is returned to be replayed.
async fn copied_cookie(base: &str, user: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = cookie_header(&res);
    let csrf = crate::web::csrf_of(&res.text().await.unwrap()).unwrap();
    let res = http
        .post(format!("{base}/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", user),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    cookie_header(&res)
}

async fn status_with(base: &str, cookie: &str, path: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_copied_cookie_opens_nothing_after_logout_or_once_the_account_is_disabled() {
    for db in support::backends("a_copied_cookie_opens_nothing_after_logout") {
        let app = spawn_app(db).await;
        // Logout: the browser's copy and any other copy of the cookie are done.
        let copy = copied_cookie(&app.base, "agent").await;
        assert_eq!(status_with(&app.base, &copy, "/tickets").await, 200);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = http
            .get(format!("{}/tickets", app.base))
            .header("cookie", &copy)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = crate::web::csrf_of(&page).unwrap();
        let res = http
            .post(format!("{}/logout", app.base))
            .header("cookie", &copy)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        for path in [
            "/tickets",
            "/reports/outgoing",
            "/customers",
            "/api/v1/tickets",
        ] {
            let status = status_with(&app.base, &copy, path).await;
            assert!(
                status == 303 || status == 401,
                "{path} after logout: {status}"
            );
        }

        // Disabling: the agent's live session ends at once, in the browser and on the
        // command line alike.
        let agent = copied_cookie(&app.base, "agent").await;
        let viewer = copied_cookie(&app.base, "viewer").await;
        let admin = app.login("admin").await;
        let res = admin.post_form("/admin/users/agent/disable", &[]).await;
        assert_eq!(res.status(), 303);
        assert_eq!(status_with(&app.base, &agent, "/tickets").await, 303);
        let users = admin.text("/admin/users").await;
        assert!(users.contains("disabled"), "{users}");
        let mut again = app.anonymous();
        again.refresh_csrf("/login").await;
        let res = again
            .post_form("/login", &[("username", "agent"), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), 401, "a disabled account cannot log in");
        assert_eq!(status_with(&app.base, &viewer, "/tickets").await, 200);
        let out = support::cli_ok(&app.db, &["user", "disable", "viewer"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("'viewer' disabled"));
        assert_eq!(status_with(&app.base, &viewer, "/tickets").await, 303);
        support::cli_ok(&app.db, &["user", "enable", "agent"]);
        app.login("agent").await;
        // Both are on the record.
        let mut conn = app.conn();
        use diesel::prelude::*;
        let actions: Vec<String> = abuse_desk::db::schema::audit_log::table
            .select(abuse_desk::db::schema::audit_log::action)
            .order(abuse_desk::db::schema::audit_log::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            actions,
            ["user_disabled", "user_disabled", "user_enabled"],
            "{}",
            app.db.backend
        );
    }
}

#[test]
fn a_session_ends_after_its_idle_time_and_at_its_end() {
    use abuse_desk::db::sessions::{self, Lifetime};
    use chrono::Duration as D;
    for db in support::backends("a_session_ends_after_its_idle_time_and_at_its_end") {
        let mut conn = db.connect();
        let user = abuse_desk::db::users::add(
            &mut conn,
            "agent",
            abuse_desk::db::users::Role::Agent,
            PASSWORD,
        )
        .unwrap();
        let life = Lifetime {
            absolute: D::hours(12),
            idle: D::minutes(30),
        };
        let t0 = abuse_desk::db::now();
        let token = sessions::start(&mut conn, user, t0, life).unwrap();
        let at = |m: i64| t0 + D::minutes(m);
        // Used every 20 minutes, the session lives on…
        for m in [20, 40, 60, 80] {
            assert!(sessions::check(&mut conn, &token, at(m), life)
                .unwrap()
                .is_some());
        }
        // …idle for 31 minutes, it is over.
        assert!(sessions::check(&mut conn, &token, at(111), life)
            .unwrap()
            .is_none());
        // However busy, it ends after `absolute`.
        let token = sessions::start(&mut conn, user, t0, life).unwrap();
        for m in (20..12 * 60).step_by(20) {
            assert!(sessions::check(&mut conn, &token, at(m), life)
                .unwrap()
                .is_some());
        }
        assert!(sessions::check(&mut conn, &token, t0 + D::hours(12), life)
            .unwrap()
            .is_none());
        assert!(sessions::check(&mut conn, "not-a-token", t0, life)
            .unwrap()
            .is_none());
    }
}

#[test]
fn an_empty_session_key_is_refused_beyond_loopback() {
    let db = support::sqlite();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["--database-url", &db.url, "serve", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.session_key") && err.contains("not a loopback address"),
        "{err}"
    );
    // Too short is refused with the length it has.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["--database-url", &db.url, "check-config"])
        .env("ABUSE_DESK_WEB__SESSION_KEY", "x".repeat(40))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 64 characters (has 40)"), "{err}");
}

#[actix_web::test]
async fn over_https_cookies_are_secure_and_browsers_keep_to_https() {
    let app = spawn_app_with(support::sqlite(), |s| {
        s.web.public_url = "https://abuse.example.net".into();
    })
    .await;
    let res = app.anonymous().get("/login").await;
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert_eq!(
        res.headers().get("strict-transport-security").unwrap(),
        "max-age=31536000"
    );
    // Plain http on loopback (the demo, tests): no HSTS, and the cookie still works.
    let app = spawn_app(support::sqlite()).await;
    let res = app.anonymous().get("/login").await;
    assert!(res.headers().get("strict-transport-security").is_none());
}
