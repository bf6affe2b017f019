//! What a stranger on the network can try at the login: guessing passwords (huge names, parallel
//! guesses, a forged proxy header) and sending staff off-site after login. Here too `Served`,
//! `abuse-desk serve` as a process of its own, and the helpers the `web_security_*` modules share.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support;
use crate::web::{location, spawn_app, spawn_app_with, Client, PASSWORD};

/// `abuse-desk serve` as its own process (so its memory and its log are its own), killed
/// when the test lets go of it.
pub(crate) struct Served {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    pub(crate) fn start(database_url: &str, config: &str, log_filter: &str) -> Self {
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

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(crate) fn client_of(base: String) -> Client {
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

/// The session cookie a client holds (as an attacker would copy it).
pub(crate) fn cookie_header(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("abuse_desk_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
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
