//! Running the desk: `/healthz` answers without the database, `/readyz` only when the
//! database answers and holds every migration, `/metrics` shows each series (behind a login,
//! an API token or the metrics token) as valid OpenMetrics text, every response carries a
//! request id, and JSON logs carry it on the request's line.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use abuse_desk::db::{self, DbConn};
use abuse_desk::demo;
use abuse_desk::ingest::{self, Ingestor, Origin};
use abuse_desk::settings::Secret;
use diesel_migrations::MigrationHarness;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::exposition;
use crate::support;
use crate::web::{spawn_app, spawn_app_with, spec, TestApp};

fn revert_last_migration(conn: &mut DbConn) {
    match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(db::SQLITE_MIGRATIONS).map(drop),
        DbConn::Postgres(c) => c.revert_last_migration(db::POSTGRES_MIGRATIONS).map(drop),
    }
    .unwrap();
}

#[actix_web::test]
async fn probes_say_up_and_ready_and_a_pending_migration_is_not_ready() {
    for db in support::backends("probes_say_up_and_ready_and_a_pending_migration_is_not_ready") {
        let app = spawn_app(db).await;
        let anyone = app.anonymous();
        let res = anyone.get("/healthz").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "ok\n");
        let res = anyone.get("/readyz").await;
        assert_eq!(res.status(), 200, "{}", app.db.backend);
        assert_eq!(res.text().await.unwrap(), "ready\n");

        let mut conn = app.db.connect_bare();
        revert_last_migration(&mut conn);
        let res = anyone.get("/readyz").await;
        assert_eq!(res.status(), 503, "{}", app.db.backend);
        let text = res.text().await.unwrap();
        assert_eq!(
            text,
            "not ready: the database lacks migrations of this version (run abuse-desk migrate)\n"
        );
        // The process itself is still up.
        assert_eq!(anyone.get("/healthz").await.status(), 200);

        db::run_migrations(&mut conn).unwrap();
        assert_eq!(anyone.get("/readyz").await.status(), 200);
    }
}

#[actix_web::test]
async fn readyz_fails_when_the_database_is_gone() {
    let Some(db) = support::postgres("readyz_fails_when_the_database_is_gone") else {
        return;
    };
    let url = db.url.clone();
    let app = spawn_app(db).await;
    assert_eq!(app.anonymous().get("/readyz").await.status(), 200);
    // Dropping the database (its connections with it) is what a lost server looks like.
    drop(app.db.connect_bare());
    let name = url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .unwrap()
        .to_owned();
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://127.0.0.1:5432/test?sslmode=disable".into());
    let mut admin = <diesel::PgConnection as diesel::Connection>::establish(&admin).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut admin,
        &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
    )
    .unwrap();
    let res = app.anonymous().get("/readyz").await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.text().await.unwrap(),
        "not ready: the database does not answer\n"
    );
    assert_eq!(app.anonymous().get("/healthz").await.status(), 200);
}

fn request_id(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-request-id")
        .expect("an X-Request-Id header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn every_response_has_a_request_id_and_only_a_trusted_proxy_hands_one_on() {
    let app = spawn_app(support::sqlite()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, id: Option<&str>| {
        let mut req = http.get(format!("{}{path}", app.base));
        if let Some(id) = id {
            req = req.header("X-Request-Id", id);
        }
        req.send()
    };
    let mut seen = std::collections::HashSet::new();
    for path in ["/healthz", "/tickets", "/no/such/page", "/login"] {
        let res = get(path, Some("chosen-by-client")).await.unwrap();
        let id = request_id(&res);
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}: {id}"
        );
        assert!(seen.insert(id), "ids differ per request");
    }

    let behind_proxy = spawn_app_with(support::sqlite(), |s| {
        s.web.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let get = |id: &str| {
        http.get(format!("{}/healthz", behind_proxy.base))
            .header("X-Request-Id", id)
            .send()
    };
    let res = get("lb-7f3a.92_x").await.unwrap();
    assert_eq!(request_id(&res), "lb-7f3a.92_x");
    for unsafe_id in ["two words", "<script>", &"a".repeat(65)] {
        let res = get(unsafe_id).await.unwrap();
        assert_ne!(request_id(&res), unsafe_id);
        assert_eq!(request_id(&res).len(), 16);
    }
}

/// A webhook upstream that takes every call.
async fn hook() -> MockServer {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    hook
}

const SCRAPE_TOKEN: &str = "scrape-0123456789abcdef";

async fn scrape(app: &TestApp) -> String {
    let res = reqwest::Client::new()
        .get(format!("{}/metrics", app.base))
        .bearer_auth(SCRAPE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    res.text().await.unwrap()
}

#[actix_web::test]
async fn metrics_count_ingest_tickets_actions_and_requests() {
    for db in support::backends("metrics_count_ingest_tickets_actions_and_requests") {
        let hook = hook().await;
        let url = hook.uri();
        let app = spawn_app_with(db, move |s| {
            s.web.metrics_token = Secret::new(SCRAPE_TOKEN);
            s.upstreams = vec![toml::from_str(&format!(
                "name = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"hook-secret-0123\"\ntargets = [\"outgoing_user\"]\n"
            ))
            .unwrap()];
        })
        .await;

        // Who may read them: staff of any role, or the scraper's token; nobody else.
        let http = reqwest::Client::new();
        let metrics = format!("{}/metrics", app.base);
        assert_eq!(http.get(&metrics).send().await.unwrap().status(), 401);
        let wrong = http.get(&metrics).bearer_auth("scrape-wrong").send();
        assert_eq!(wrong.await.unwrap().status(), 401);
        let viewer = app.login("viewer").await;
        assert_eq!(viewer.get("/metrics").await.status(), 200);
        let out = support::cli_ok(&app.db, &["token", "create", "viewer", "--name", "grafana"]);
        let api_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let by_token = http.get(&metrics).bearer_auth(&api_token).send();
        assert_eq!(by_token.await.unwrap().status(), 200);

        // Two messages through the path mail and the API take, then the same two again.
        let mut conn = app.conn();
        let records = abuse_desk::customers::parse_csv(demo::CUSTOMERS_CSV.as_bytes()).unwrap();
        abuse_desk::db::customers::import(&mut conn, &records).unwrap();
        let ingestor = Ingestor::from_settings(&app.settings.ingest)
            .unwrap()
            .measured(app.metrics.clone());
        let report = demo::report(&spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        ));
        let batch = [
            ingestor.prepare(&report),
            ingestor.prepare(b"Subject: <script>hello</script>\r\n\r\nnot a report\r\n"),
        ];
        let origin = Origin {
            source: "api",
            mailbox: None,
        };
        ingest::store(&mut conn, &ingestor, &origin, &batch).unwrap();
        ingest::store(&mut conn, &ingestor, &origin, &batch).unwrap();

        // One lock through the webhook.
        let agent = app.login("agent").await;
        let res = agent
            .post_form(
                "/tickets/1/actions",
                &[("kind", "lock_outgoing_user"), ("reason", "spam run")],
            )
            .await;
        assert_eq!(res.status(), 303);
        for _ in 0..100 {
            if !hook
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Requests: a matched route with an id in it, and strangers' paths.
        assert_eq!(agent.get("/tickets/1").await.status(), 200);
        assert_eq!(agent.get("/tickets/1").await.status(), 200);
        for junk in ["/no/such/page", "/x%3Cscript%3E", "/wp-login.php?a=<b>"] {
            assert_eq!(agent.get(junk).await.status(), 404);
        }

        let mut text = String::new();
        // The worker records its call just after the upstream answers.
        for _ in 0..50 {
            text = scrape(&app).await;
            if text.contains("abuse_desk_actions_total{") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let samples = exposition::parse(&text);
        let value = |key: &str| -> f64 {
            *samples
                .get(key)
                .unwrap_or_else(|| panic!("no {key} in\n{text}"))
        };
        let backend = app.db.backend;
        let ingested = |outcome: &str| {
            value(&format!(
                "abuse_desk_messages_ingested_total{{source=\"api\",outcome=\"{outcome}\"}}"
            ))
        };
        assert_eq!(ingested("new_ticket"), 1.0, "{backend}");
        assert_eq!(ingested("quarantined"), 1.0);
        assert_eq!(ingested("duplicate"), 2.0);
        assert_eq!(
            value("abuse_desk_parse_failures_total{kind=\"not_a_report\"}"),
            1.0
        );
        assert_eq!(value("abuse_desk_ingest_seconds_count"), 2.0);
        assert!(value("abuse_desk_ingest_seconds_sum") > 0.0);
        assert_eq!(value("abuse_desk_tickets{status=\"open\"}"), 1.0);
        assert_eq!(value("abuse_desk_tickets{status=\"closed\"}"), 0.0);
        assert_eq!(
            value("abuse_desk_actions_total{upstream=\"hook\",outcome=\"succeeded\"}"),
            1.0
        );
        assert_eq!(
            value("abuse_desk_http_requests_total{route=\"/tickets/{id}\",status=\"200\"}"),
            2.0
        );
        assert_eq!(
            value("abuse_desk_http_requests_total{route=\"unmatched\",status=\"404\"}"),
            3.0
        );
        assert_eq!(
            value("abuse_desk_http_requests_total{route=\"/metrics\",status=\"401\"}"),
            2.0
        );
        // Nothing a stranger or a report wrote became a label.
        assert!(!text.contains("script") && !text.contains("wp-login") && !text.contains("/no/"));
    }
}

/// Stops the server when the test ends, whichever way.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn json_logs_carry_the_request_id_on_the_request_line() {
    let db = support::sqlite();
    drop(db.connect());
    let port = crate::smtp::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(["serve", "--no-jobs", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("ABUSE_DESK_LOG_FORMAT", "json")
        .env("ABUSE_DESK_LOG", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let mut child = Killed(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(res) = client.get(format!("{base}/login")).send() {
            answered = Some(res);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let res = answered.expect("the server answers");
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    // The log line is written once the answer went out; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    child.0.kill().unwrap();
    let mut stderr = String::new();
    stderr_pipe.read_to_string(&mut stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(!lines.is_empty());
    let line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no line with request id {id} in\n{stderr}"));
    assert_eq!(line["fields"]["message"], "answered");
    assert_eq!(line["fields"]["route"], "/login");
    assert_eq!(line["fields"]["status"], 200);
    assert_eq!(line["level"], "INFO");
}

#[actix_web::test]
async fn metrics_count_notices_sent() {
    let Some(smtp) = crate::smtp::SmtpServer::start("metrics_count_notices_sent") else {
        return;
    };
    let url = smtp.url();
    let app = spawn_app_with(support::sqlite(), move |s| {
        s.web.metrics_token = Secret::new(SCRAPE_TOKEN);
        s.notify = toml::from_str(&format!(
            "enabled = true\nsmtp_url = \"{url}\"\nfrom = \"Abuse Desk <abuse@isp.example>\"\n"
        ))
        .unwrap();
    })
    .await;
    app.ingest(&[spec(
        1,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    )]);
    let agent = app.login("agent").await;
    assert_eq!(
        agent.post_form("/tickets/1/notify", &[]).await.status(),
        303
    );
    let sent = "abuse_desk_notifications_total{outcome=\"sent\"}";
    let mut samples = Default::default();
    for _ in 0..100 {
        samples = exposition::parse(&scrape(&app).await);
        if samples.contains_key(sent) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(samples.get(sent), Some(&1.0));
    assert_eq!(smtp.received().len(), 1);
    assert!(!samples.contains_key("abuse_desk_notifications_total{outcome=\"failed\"}"));
}
