//! What a stranger can try to read: raw reports and API answers out of caches (and unmasking the
//! recipients is on record), and secrets out of the log, even at debug, or off staff's pages.

use std::io::Write;
use std::time::Duration;

use crate::support;
use crate::web::{spawn_app, PASSWORD};
use crate::web_security::{client_of, cookie_header, Served, KEY};

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
