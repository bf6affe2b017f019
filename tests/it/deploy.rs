//! Several instances on one Postgres, as `deploy/compose.yaml` runs them: the real binary
//! started twice with one session key. A login made on one instance works on the other (and
//! not on an instance with another key); with both running the jobs, a requested lock reaches
//! the upstream exactly once and a mailbox's messages are stored and counted once.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use abuse_desk::db::schema::{actions, tickets};

use crate::dovecot::Dovecot;
use crate::imap_cli::Killed;
use crate::support::{self, TestDb};
use crate::web::{Client, PASSWORD};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `abuse-desk serve` of `config` on a port of its own, once `/healthz` answers.
async fn serve(db: &TestDb, config: &std::path::Path, extra: &[&str]) -> (Killed, String) {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_abuse-desk"));
    serve_binary(bin, db, config, extra, Stdio::null()).await
}

/// [`serve`] with another build of the binary (the load test runs a release build) and its
/// log sent to `log`.
pub(crate) async fn serve_binary(
    bin: &std::path::Path,
    db: &TestDb,
    config: &std::path::Path,
    extra: &[&str],
    log: Stdio,
) -> (Killed, String) {
    let port = free_port();
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["--database-url", &db.url, "serve", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(res) = reqwest::get(format!("{base}/healthz")).await {
            if res.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "serve on {port} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Killed(child), base)
}

pub(crate) fn cli(db: &TestDb, config: &std::path::Path, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .arg("--config")
        .arg(config)
        .args(["--database-url", &db.url])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stand-in of the filter's Software API: every identity lock succeeds.
pub(crate) async fn filter_api() -> MockServer {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/api"))
        .and(query_param("call", "api_lock_outgoing_identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(""))
        .mount(&upstream)
        .await;
    upstream
}

/// A `[[mailboxes]]` table for `dovecot`'s INBOX, polled every second.
pub(crate) fn mailbox_every_second(dovecot: &Dovecot, name: &str) -> String {
    let mut mailbox = dovecot.mailbox(name);
    mailbox.schedule = "*/1 * * * * *".into();
    let mailbox = toml::to_string(&mailbox)
        .unwrap()
        .replace("********", crate::dovecot::PASSWORD);
    format!("[[mailboxes]]\n{mailbox}")
}

/// Settings with session key `key` repeated, the action worker running every second, identity
/// locks through the filter's API at `upstream`, and `mailbox`.
pub(crate) fn settings(
    dir: &std::path::Path,
    key: char,
    upstream: &str,
    mailbox: &str,
) -> std::path::PathBuf {
    let file = dir.join(format!("desk-{key}.toml"));
    std::fs::write(
        &file,
        format!(
            "[web]\nsession_key = \"{}\"\n[actions]\nschedule = \"*/1 * * * * *\"\n\
             [[upstreams]]\nname = \"filter\"\nkind = \"spamexperts\"\nurl = \"{upstream}\"\n\
             username = \"api-user\"\npassword = \"pw\"\ntargets = [\"identity\"]\n{mailbox}",
            key.to_string().repeat(64)
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_logins_and_run_each_job_once() {
    let Some(db) = support::postgres("two_instances_share_logins_and_run_each_job_once") else {
        return;
    };
    let upstream = filter_api().await;
    let name = "two_instances_share_logins_and_run_each_job_once";
    let Some(dovecot) = crate::imap_poll::dovecot(name) else {
        return;
    };
    let messages = crate::imap_poll::corpus();
    let (oracle, _, counts) = crate::imap_poll::imported(&messages);
    let dir = tempfile::tempdir().unwrap();
    let shared = settings(
        dir.path(),
        'k',
        &upstream.uri(),
        &mailbox_every_second(&dovecot, "fbl"),
    );
    db.connect();
    cli(
        &db,
        &shared,
        &[
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        PASSWORD,
    );
    // Asked for while no instance runs: both pick it up as soon as they start.
    cli(
        &db,
        &shared,
        &[
            "lock",
            "identity",
            "bob@acme.example",
            "--reason",
            "spam run",
        ],
        "",
    );

    let (_a, base_a) = serve(&db, &shared, &[]).await;
    let (_b, base_b) = serve(&db, &shared, &[]).await;
    // Both poll the mailbox from now on.
    dovecot.append("INBOX", &messages);
    let other = settings(dir.path(), 'z', &upstream.uri(), "");
    let (_c, base_c) = serve(&db, &other, &["--no-jobs"]).await;

    // Cookies are not kept apart by port: one browser, three instances.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let on = |base: &str| Client {
        http: http.clone(),
        base: base.to_owned(),
        csrf: String::new(),
    };
    let mut a = on(&base_a);
    a.refresh_csrf("/login").await;
    let res = a
        .post_form("/login", &[("username", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), 303, "login on A");
    let queue_b = on(&base_b).get("/tickets").await;
    assert_eq!(queue_b.status(), 200, "A's login opens B's queue");
    let queue_c = on(&base_c).get("/tickets").await;
    assert_eq!(queue_c.status(), 303, "another session key does not");

    let mut conn = db.connect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: String = actions::table
            .select(actions::state)
            .first(&mut conn)
            .unwrap();
        if state == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "the lock stayed {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both workers keep running on their one-second schedule meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = upstream.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1, "the lock reached the upstream once");

    let deadline = Instant::now() + Duration::from_secs(60);
    while dovecot.count("INBOX") > 0 {
        assert!(Instant::now() < deadline, "the mailbox was not emptied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Stored, quarantined and counted as one import of the same messages does it.
    assert_eq!(
        crate::ingest::counts(&mut conn),
        counts,
        "each message once"
    );
    let opened: i64 = tickets::table.count().get_result(&mut conn).unwrap();
    assert_eq!(opened as u64, oracle.new_tickets, "each ticket opened once");
}
