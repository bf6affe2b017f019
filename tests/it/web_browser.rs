//! The web queue in a real browser: Chromium through chromedriver (fantoccini). Without a
//! chromedriver the tests say SKIPPED on stderr; with CI=true that is a failure. With
//! `UPDATE_SCREENSHOTS=1` the walk also writes `docs/screenshots/*.png`. Here an agent works a
//! ticket, and locks and unlocks from the ticket page and the outgoing report; here too the browser
//! helpers the `web_browser_*` modules share.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support;
use crate::web::{arriving_today, spawn_app, spawn_app_with, spec, TestApp, PASSWORD};

/// A chromedriver child process, stopped (by its own id) when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn chromedriver(test: &str) -> Option<Driver> {
    let found = Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but chromedriver is not installed (apt-get install chromium chromium-driver)");
        }
        let _ = writeln!(std::io::stderr(), "SKIPPED: browser test '{test}': no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Driver {
        child: Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = driver.child.kill();
    panic!("chromedriver did not start");
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"]
        }
    });
    ClientBuilder::native()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

pub(crate) async fn log_in(c: &Client, app: &TestApp, user: &str) {
    c.goto(&format!("{}/login", app.base)).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(c, |u| u.path().starts_with("/tickets")).await;
}

/// Waits up to 10 s for the browser to arrive at a URL (a click returns before the next page
/// has loaded).
pub(crate) async fn wait_url(c: &Client, arrived: impl Fn(&url::Url) -> bool) -> url::Url {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if arrived(&url) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never arrived; at {}", c.current_url().await.unwrap());
}

async fn screenshot(c: &Client, name: &str) {
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let png = c.screenshot().await.unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/screenshots");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

pub(crate) async fn body_text(c: &Client) -> String {
    wait_text(c, "body", "").await
}

/// The text of the element matching `css` once it contains `needle`, waiting up to 10 s for
/// the page a click started to load (elements of the old page go stale meanwhile).
pub(crate) async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; last: {last}");
}

#[actix_web::test]
async fn an_agent_works_a_ticket_in_the_browser() {
    let Some(driver) = chromedriver("an_agent_works_a_ticket_in_the_browser") else {
        return;
    };
    let app = spawn_app(support::sqlite()).await;
    app.ingest_raw(abuse_desk::demo::sample_reports(chrono::Utc::now(), 400));
    let c = browser(&driver).await;
    log_in(&c, &app, "agent").await;
    screenshot(&c, "queue").await;

    // Filter the queue; the filter lands in the URL.
    c.find(Locator::Id("q"))
        .await
        .unwrap()
        .send_keys("bakery")
        .await
        .unwrap();
    c.find(Locator::Id("apply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, |u| u.query().is_some_and(|q| q.contains("q=bakery"))).await;
    let first = c.find(Locator::Css("td.subject a")).await.unwrap();
    let subject = first.text().await.unwrap();
    assert!(subject.contains("bakery-mueller.example"), "{subject}");
    first.click().await.unwrap();
    wait_url(&c, |u| u.path().starts_with("/tickets/")).await;

    // A note, then a temporary identity lock with a reason.
    c.find(Locator::Id("note-body"))
        .await
        .unwrap()
        .send_keys("Customer called, password reset done.")
        .await
        .unwrap();
    c.find(Locator::Id("add-note"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, ".notes", "Customer called, password reset done.").await;
    c.find(Locator::Id("reason-lock_identity"))
        .await
        .unwrap()
        .send_keys("compromised mailbox, spam run")
        .await
        .unwrap();
    c.find(Locator::Id("hours-lock_identity"))
        .await
        .unwrap()
        .send_keys("24")
        .await
        .unwrap();
    c.find(Locator::Id("do-lock_identity"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let audit = wait_text(&c, "#audit", "compromised mailbox, spam run").await;
    assert!(
        audit.contains("lock identity") && audit.contains("compromised mailbox, spam run"),
        "{audit}"
    );
    assert!(audit.contains("added a note"), "{audit}");
    screenshot(&c, "ticket").await;

    c.goto(&format!("{}/reports/outgoing?period=30d", app.base))
        .await
        .unwrap();
    assert!(body_text(&c).await.contains("Outgoing Reports"));
    screenshot(&c, "outgoing").await;

    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, |u| u.path() == "/login").await;
    c.goto(&format!("{}/tickets", app.base)).await.unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/login",
        "logged out for real"
    );
    c.close().await.unwrap();
}

/// Reloads the page until the element matching `css` shows exactly `needle` (the action worker
/// beside the app answers within a second or two); with `needle` empty, until no element
/// matches. Exactly: "not locked" and "locked (unlocking)" are not "locked".
pub(crate) async fn reload_until(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..60 {
        match c.find(Locator::Css(css)).await {
            Ok(element) => {
                let text = element.text().await.unwrap_or_default();
                if !needle.is_empty() && text.trim() == needle {
                    return text;
                }
                last = text;
            }
            Err(_) if needle.is_empty() => return String::new(),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        c.refresh().await.unwrap();
    }
    panic!("{css} never showed {needle:?}; last: {last}");
}

pub(crate) async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

pub(crate) async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[actix_web::test]
async fn an_agent_locks_and_unlocks_from_the_ticket_page_and_the_outgoing_report() {
    let Some(driver) =
        chromedriver("an_agent_locks_and_unlocks_from_the_ticket_page_and_the_outgoing_report")
    else {
        return;
    };
    let app = spawn_app_with(support::sqlite(), |s| {
        s.upstreams = vec![toml::from_str(
            "name = \"filter\"\nkind = \"demo\"\ntargets = [\"identity\", \"outgoing_user\"]\n",
        )
        .unwrap()];
    })
    .await;
    let mut specs = vec![
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
    ];
    arriving_today(&mut specs);
    app.ingest(&specs);
    let c = browser(&driver).await;
    log_in(&c, &app, "agent").await;

    // From the ticket page: lock, see it done through the upstream, unlock.
    c.goto(&format!("{}/tickets/1", app.base)).await.unwrap();
    type_into(&c, "reason-lock_identity", "compromised mailbox").await;
    click(&c, "do-lock_identity").await;
    wait_url(&c, |u| u.path() == "/tickets/1").await;
    let state = reload_until(&c, "#lock-words-lock_identity", "locked").await;
    assert_eq!(state, "locked");
    let info = body_text(&c).await;
    assert!(
        info.contains("through filter") && info.contains("compromised mailbox"),
        "{info}"
    );
    type_into(&c, "reason-unlock_identity", "password changed").await;
    click(&c, "do-unlock_identity").await;
    reload_until(&c, "#lock-words-lock_identity", "not locked").await;

    // From the Outgoing Reports: the lock icon locks, asking for a reason; clicked again, it
    // unlocks.
    c.goto(&format!("{}/reports/outgoing?period=today", app.base))
        .await
        .unwrap();
    let row = c.find(Locator::Css("#outgoing tbody tr")).await.unwrap();
    let first = row.text().await.unwrap();
    click(&c, "toggle-1").await;
    type_into(&c, "reason-1", "top sender today").await;
    click(&c, "confirm-1").await;
    wait_url(&c, |u| u.path() == "/reports/outgoing").await;
    reload_until(&c, "#lock-words-1", "locked").await;
    click(&c, "toggle-1").await;
    type_into(&c, "reason-1", "customer cleaned up").await;
    click(&c, "confirm-1").await;
    reload_until(&c, "#lock-words-1", "").await;
    let row = c.find(Locator::Css("#outgoing tbody tr")).await.unwrap();
    assert_eq!(
        row.text().await.unwrap(),
        first,
        "the same row, unlocked again"
    );
    c.close().await.unwrap();
}
