//! What a stranger on the network can try: guessing passwords (huge names, parallel guesses,
//! a forged proxy header), sending staff off-site after login, reusing a cookie after logout or
//! after the account was disabled, and reading secrets out of the logs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support;
use crate::web::{location, spawn_app, spawn_app_with, Client, PASSWORD};

/// `abuse-desk serve` as its own process (so its memory and its log are its own), killed
/// when the test lets go of it.
struct Served {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(database_url: &str, config: &str, log_filter: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desk.toml");
        std::fs::write(&path, config).unwrap();
        let log = dir.path().join("stderr.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
            .arg("--config")
            .arg(&path)
            .args(["--database-url", database_url, "serve", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", log_filter)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let served = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while served
            .request(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"",
            )
            .is_none_or(|status| status != 200)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not start: {}",
                std::fs::read_to_string(&served.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }

    /// Sends `head` and `body`, and reads the answer's status (None when the connection
    /// failed before one came).
    fn request(&self, head: &str, body: &[u8]) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .ok()?;
        stream.write_all(head.as_bytes()).ok()?;
        // The server may answer and close before the whole body is sent: that is fine.
        let _ = stream.write_all(body);
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).ok()?;
        std::str::from_utf8(&answer[9..12]).ok()?.parse().ok()
    }

    /// Resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn client_of(base: String) -> Client {
    Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        csrf: String::new(),
    }
}

#[actix_web::test]
async fn huge_login_names_are_refused_at_once_and_cost_no_memory() {
    let db = support::sqlite();
    support::cli_ok(&db, &["migrate"]);
    let served = Served::start(
        &db.url,
        &format!("[web]\nsession_key = \"{KEY}\"\n"),
        "warn",
    );
    let warm = served.rss_kib();
    let name = "a".repeat(4 << 20);
    let body = format!("csrf_token=x&password=guess&username={name}");
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let started = std::time::Instant::now();
    for i in 0..2_000 {
        // Most attempts send the first 64 KiB only, as a client that gives up would; every
        // hundredth sends all 4 MiB.
        let sent = if i % 100 == 0 {
            body.as_bytes()
        } else {
            &body.as_bytes()[..64 << 10]
        };
        let status = served.request(&head, sent);
        assert!(
            status.is_none() || status == Some(413),
            "attempt {i}: {status:?}"
        );
    }
    let grown = served.rss_kib().saturating_sub(warm);
    eprintln!(
        "2,000 logins with 4 MiB names: {:?}, resident memory {warm} KiB → +{grown} KiB",
        started.elapsed()
    );
    assert!(
        grown < 32 << 10,
        "serve grew by {grown} KiB over 2,000 huge logins"
    );
    // Refused before any work: not a password hash each (which takes tens of ms).
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "2,000 refusals took {:?}",
        started.elapsed()
    );

    // Names within the form's size, each different, from one address: a spray. Counted by
    // the address after 30, refused without a password check, and memory stays put.
    let mut spray = client_of(served.base());
    spray.refresh_csrf("/login").await;
    let mut refused = 0;
    for i in 0..2_000 {
        let name = format!("{i}-{}", "b".repeat(6_000));
        let res = spray
            .post_form("/login", &[("username", &name), ("password", "guess")])
            .await;
        match res.status().as_u16() {
            401 => {}
            429 => refused += 1,
            other => panic!("spray attempt {i}: {other}"),
        }
    }
    assert_eq!(refused, 2_000 - 30);
    // The password checks that did run reuse a few buffers of 19 MiB (one per check at
    // once, at most four), and nothing else stays.
    let at_once = std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as u64;
    let bound = (at_once * 20 + 16) << 10;
    let grown = served.rss_kib().saturating_sub(warm);
    eprintln!("2,000-name spray: 30 checked, {refused} refused, +{grown} KiB in all");
    assert!(
        grown < bound,
        "serve grew by {grown} KiB after the spray (bound {bound})"
    );
}

/// Posts `n` wrong passwords for `user` at once, as if from `from` (behind the proxy).
async fn guesses_at_once(client: &Client, user: &str, from: &str, n: usize) -> Vec<u16> {
    let guesses: Vec<_> = (0..n)
        .map(|_| {
            let guess = client
                .http
                .post(format!("{}/login", client.base))
                .header("x-forwarded-for", from)
                .form(&[
                    ("csrf_token", client.csrf.as_str()),
                    ("username", user),
                    ("password", "a wrong password"),
                ])
                .send();
            actix_web::rt::spawn(guess)
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap().unwrap().status().as_u16());
    }
    statuses.sort_unstable();
    statuses
}

async fn right_password_from(client: &Client, from: &str) -> u16 {
    client
        .http
        .post(format!("{}/login", client.base))
        .header("x-forwarded-for", from)
        .form(&[
            ("csrf_token", client.csrf.as_str()),
            ("username", "agent"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn parallel_guesses_stop_at_five_and_only_for_that_address() {
    let app = spawn_app_with(support::sqlite(), |s| {
        s.web.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut guesser = app.anonymous();
    guesser.refresh_csrf("/login").await;
    let statuses = guesses_at_once(&guesser, "agent", "198.51.100.1", 12).await;
    assert_eq!(statuses, [[401; 5].as_slice(), &[429; 7]].concat());
    // Even the right password is refused from there for a while…
    assert_eq!(right_password_from(&guesser, "198.51.100.1").await, 429);
    // …but the same user from another address (as the proxy names it) is not locked out.
    let mut elsewhere = app.anonymous();
    elsewhere.refresh_csrf("/login").await;
    assert_eq!(right_password_from(&elsewhere, "198.51.100.2").await, 303);

    // Without the proxy trusted, the header is anybody's word: ignored.
    let app = spawn_app(support::sqlite()).await;
    let mut guesser = app.anonymous();
    guesser.refresh_csrf("/login").await;
    let statuses = guesses_at_once(&guesser, "agent", "198.51.100.1", 5).await;
    assert_eq!(statuses, [401; 5]);
    let mut forger = app.anonymous();
    forger.refresh_csrf("/login").await;
    assert_eq!(right_password_from(&forger, "203.0.113.9").await, 429);
}

#[actix_web::test]
async fn after_login_next_never_leads_off_site() {
    let app = spawn_app(support::sqlite()).await;
    let next_field = regex::Regex::new(r#"name="next" value="([^"]*)""#).unwrap();
    for next in [
        "/%09/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "/\\evil.example",
        "/%0d%0a/evil.example",
        "/%0a/evil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "https://evil.example",
        "/.//evil.example",
        "/%2e//evil.example",
        "///evil.example",
        "/%20/evil.example",
    ] {
        let mut client = app.anonymous();
        // The form carries `next` on to the login post, as a browser would.
        let form = client.get(&format!("/login?next={next}")).await;
        let html = form.text().await.unwrap();
        let carried = next_field
            .captures(&html)
            .map(|c| c[1].replace("&amp;", "&").replace("&#x2f;", "/"))
            .unwrap_or_default();
        client.csrf = crate::web::csrf_of(&html).unwrap();
        let res = client
            .post_form(
                "/login",
                &[
                    ("username", "viewer"),
                    ("password", PASSWORD),
                    ("next", &carried),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "{next}");
        let to = location(&res);
        let mut chars = to.chars();
        assert_eq!(chars.next(), Some('/'), "{next} → {to}");
        assert!(
            !matches!(chars.next(), Some('/' | '\\')) && !to.chars().any(|c| c.is_control()),
            "{next} → {to}"
        );
        // The raw query, unresolved, too.
        client.refresh_csrf("/login").await;
        let res = client
            .post_form(
                "/login",
                &[
                    ("username", "viewer"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        let to = location(&res);
        assert!(
            to.starts_with('/') && !to.starts_with("//") && !to.starts_with("/\\"),
            "{next} → {to}"
        );
    }
    // A path of the site is still followed.
    let mut client = app.anonymous();
    client.refresh_csrf("/login?next=/tickets/1").await;
    let res = client
        .post_form(
            "/login",
            &[
                ("username", "viewer"),
                ("password", PASSWORD),
                ("next", "/reports/outgoing?period=7d"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/reports/outgoing?period=7d");
}

/// The session cookie a client holds (as an attacker would copy it).
fn cookie_header(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("abuse_desk_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

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

#[actix_web::test]
async fn raw_reports_and_api_answers_are_not_kept_in_caches_and_unmasking_is_on_record() {
    let app = spawn_app(support::sqlite()).await;
    app.ingest(&[crate::web::spec(
        1,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    )]);
    let agent = app.login("agent").await;
    for path in ["/tickets/1/raw/1", "/api/v1/tickets", "/tickets/1"] {
        let res = agent.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            res.headers().get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
    }
    agent.text("/tickets/1?event=1&show=recipients").await;
    let page = agent.text("/tickets/1").await;
    assert!(
        page.contains("showed the recipients of event 1 unmasked"),
        "the ticket's audit trail shows who unmasked the recipients"
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn no_secret_reaches_the_log_even_at_debug() {
    // On Postgres, a password in the database URL (trusted locally, so accepted and unused:
    // just what is needed to see whether it shows up).
    let db = support::postgres("no_secret_reaches_the_log_even_at_debug")
        .unwrap_or_else(support::sqlite);
    let db_password = "pg-pass-3f9a1c";
    let database_url = if db.backend == "postgres" {
        format!("{}&password={db_password}", db.url)
    } else {
        db.url.clone()
    };
    support::cli_ok(
        &db,
        &["customers", "import", "tests/fixtures/customers-demo.csv"],
    );
    support::cli_ok(&db, &["import", "tests/fixtures/arf"]);
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args([
            "user",
            "add",
            "agent",
            "--role",
            "agent",
            "--password-stdin",
        ])
        .env("DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());

    let (upstream_pw, imap_pw, smtp_pw) =
        ("up-pass-77d2e0", "imap-pass-19be4f", "smtp-pass-c0ffee");
    let config = format!(
        r#"[web]
session_key = "{KEY}"
[[upstreams]]
name = "filter"
kind = "spamexperts"
url = "http://127.0.0.1:{up}"
username = "api-user"
password = "{upstream_pw}"
targets = ["identity"]
unlock_call = "api_unlock_outgoing_identity"
[[mailboxes]]
name = "fbl"
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "fbl"
done_folder = "Processed"
password = "{imap_pw}"
schedule = "*/2 * * * * *"
idle = false
[notify]
enabled = true
smtp_url = "smtp://127.0.0.1:{smtp}"
smtp_username = "abuse"
smtp_password = "{smtp_pw}"
from = "Abuse Desk <abuse@example.net>"
min_last_seen_days = 100000
schedule = "*/2 * * * * *"
"#,
        up = closed_port(),
        imap = closed_port(),
        smtp = closed_port(),
    );
    let served = Served::start(&database_url, &config, "debug");
    let mut staff = client_of(served.base());
    staff.refresh_csrf("/login").await;
    // A password typed into the name field, then the right login.
    let typed = "Tr0ub4dor&3-in-the-name-field";
    let res = staff
        .post_form("/login", &[("username", typed), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 401);
    let res = staff
        .post_form("/login", &[("username", "agent"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 303);
    let cookie = cookie_header(&res);
    staff.refresh_csrf("/tickets").await;
    assert!(staff.text("/tickets/1").await.contains("Ticket"));
    let res = staff
        .post_form(
            "/locks",
            &[
                ("kind", "lock_identity"),
                ("target", "172.16.10.13@example.com"),
                ("reason", "spam run"),
                ("back", "/reports/outgoing"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);

    // Every part that holds a secret has had its turn: the mailbox, the upstream and the
    // mail server were all tried (and all refused the connection).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let tried = |log: &str| {
        log.contains("poll failed mailbox=fbl")
            && log.contains("actions carried out")
            && log.contains("notices sent")
    };
    while !tried(&served.log()) {
        assert!(
            std::time::Instant::now() < deadline,
            "not every part was tried:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = served.log();
    assert!(log.contains("DEBUG"), "a debug log: {log}");
    assert!(log.contains("login failed: no such account"), "{log}");
    // What staff see of the failures names no secret either.
    let pages = staff.text("/actions").await + &staff.text("/notifications").await;
    assert!(pages.contains("filter"), "{pages}");
    let session = cookie.trim_start_matches("abuse_desk_session=");
    for secret in [
        KEY,
        db_password,
        upstream_pw,
        imap_pw,
        smtp_pw,
        typed,
        PASSWORD,
        session,
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
        assert!(!pages.contains(secret), "{secret} is shown to staff");
    }
}
