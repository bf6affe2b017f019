//! Acting upstream, end to end: a lock asked for on the command line is carried out by the action
//! worker through a stand-in of the filter's Software API (wiremock, the vendor's documented wire
//! format) — exactly once; refusals fail with the vendor's words, passing failures are retried with
//! a later next attempt. Here too the stand-in's settings and the worker helpers the `actions_*`
//! modules share.

use std::time::Duration;

use abuse_desk::db::actions::{self, Action, ActionKind, ActionRequest, ActionState};
use abuse_desk::db::schema::action_attempts;
use abuse_desk::db::DbConn;
use abuse_desk::upstream::worker::{ActionSettings, Ran, Worker};
use abuse_desk::upstream::{UpstreamSettings, Upstreams};
use diesel::prelude::*;
use wiremock::matchers::{basic_auth, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, TestDb};

const PASSWORD: &str = "api-Pa55word";

/// The `[[upstreams]]` table of a Software API stand-in at `url`.
pub(crate) fn filter_table(url: &str, extra: &str) -> String {
    format!(
        "[[upstreams]]\nname = \"filter\"\nkind = \"spamexperts\"\nurl = \"{url}\"\nusername = \"api-user\"\npassword = \"{PASSWORD}\"\ntargets = [\"identity\"]\ntimeout_secs = 2\n{extra}"
    )
}

pub(crate) fn filter(url: &str, extra: &str) -> UpstreamSettings {
    let table = filter_table(url, extra);
    toml::from_str(table.trim_start_matches("[[upstreams]]\n")).unwrap()
}

/// Runs the real binary with a settings file holding `toml`; returns stdout.
pub(crate) fn cli(db: &TestDb, toml: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, toml).unwrap();
    let mut full = vec!["--config", file.to_str().unwrap()];
    full.extend_from_slice(args);
    String::from_utf8(support::cli_ok(db, &full).stdout).unwrap()
}

pub(crate) fn actions_json(db: &TestDb, toml: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&cli(db, toml, &["actions", "list", "--json"])).unwrap()
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A worker over `upstreams`, retrying after five seconds (give or take a fifth).
pub(crate) fn worker(upstreams: Vec<UpstreamSettings>) -> Worker {
    let settings = ActionSettings {
        retry_after_secs: 5,
        retry_max_secs: 10,
        max_attempts: 3,
        ..ActionSettings::default()
    };
    Worker::new(Upstreams::from_settings(&upstreams).unwrap(), settings)
}

/// Records a lock of `identity` (as staff would ask for it), for `upstream`.
pub(crate) fn ask_lock(
    conn: &mut DbConn,
    identity: &str,
    upstream: Option<&str>,
    hours: Option<i64>,
) -> Action {
    let at = abuse_desk::db::now();
    let key = actions::fresh_key("test", at);
    let id = actions::request(
        conn,
        &ActionRequest {
            ticket_id: None,
            customer_id: None,
            kind: ActionKind::LockIdentity,
            target: identity,
            target_domain: None,
            target_user: None,
            reason: "spam run",
            expires_at: hours.map(|h| at + chrono::Duration::hours(h)),
            idempotency_key: &key,
            requested_by: None,
            upstream,
        },
        at,
    )
    .unwrap()
    .unwrap();
    actions::get(conn, id).unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_from_the_command_line_is_carried_out_once_with_the_documented_call() {
    for db in support::backends(
        "a_lock_from_the_command_line_is_carried_out_once_with_the_documented_call",
    ) {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/cgi-bin/api"))
            .and(query_param("call", "api_lock_outgoing_identity"))
            .and(basic_auth("api-user", PASSWORD))
            .respond_with(ResponseTemplate::new(200).set_body_string(""))
            .expect(1)
            .mount(&server)
            .await;
        let toml = filter_table(&server.uri(), "");
        let db = blocking(move || {
            let said = cli(
                &db,
                &toml,
                &[
                    "lock",
                    "identity",
                    "Bob@Acme.example",
                    "--reason",
                    "spam run",
                ],
            );
            assert!(said.contains("pending for filter"), "{said}");
            let ran = cli(&db, &toml, &["actions", "run", "--once", "--json"]);
            let ran: Ran = serde_json::from_str(ran.trim()).unwrap();
            assert_eq!(ran.succeeded, 1, "{ran:?}");
            let listed = actions_json(&db, &toml);
            assert_eq!(listed.len(), 1);
            let a = &listed[0];
            assert_eq!(a["kind"], "lock_identity");
            assert_eq!(a["target"], "Bob@Acme.example");
            assert_eq!(a["state"], "succeeded", "{a}");
            assert_eq!(a["attempts"], 1);
            assert_eq!(a["upstream"], "filter");
            assert!(a["last_error"].is_null());
            // A second run finds nothing due: the call is not repeated.
            cli(&db, &toml, &["actions", "run", "--once"]);
            db
        })
        .await;
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1, "exactly one call on {}", db.backend);
        let query: Vec<(String, String)> = requests[0].url.query_pairs().into_owned().collect();
        let expect = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            query,
            vec![
                expect("call", "api_lock_outgoing_identity"),
                expect("domain", "Acme.example"),
                expect("identity", "Bob@Acme.example"),
                expect("username", "*"),
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_answer_fails_with_its_text_and_a_503_is_tried_again_later() {
    for db in
        support::backends("an_error_answer_fails_with_its_text_and_a_503_is_tried_again_later")
    {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("identity", "refused@acme.example"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("ERROR: Domain acme.example is not in the outgoing filter"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(query_param("identity", "busy@acme.example"))
            .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
            .mount(&server)
            .await;
        let toml = filter_table(&server.uri(), "");
        blocking(move || {
            let started = chrono::Utc::now().naive_utc();
            cli(
                &db,
                &toml,
                &[
                    "lock",
                    "identity",
                    "refused@acme.example",
                    "--reason",
                    "spam",
                ],
            );
            cli(
                &db,
                &toml,
                &["lock", "identity", "busy@acme.example", "--reason", "spam"],
            );
            cli(&db, &toml, &["actions", "run", "--once"]);
            let listed = actions_json(&db, &toml);
            let by = |t: &str| listed.iter().find(|a| a["target"] == t).unwrap().clone();
            let refused = by("refused@acme.example");
            assert_eq!(refused["state"], "failed", "{refused}");
            assert!(
                refused["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("ERROR: Domain acme.example is not in the outgoing filter"),
                "{refused}"
            );
            let busy = by("busy@acme.example");
            assert_eq!(busy["state"], "pending", "{busy} on {}", db.backend);
            assert_eq!(busy["attempts"], 1);
            assert!(
                busy["last_error"].as_str().unwrap().contains("503"),
                "{busy}"
            );
            let next: chrono::NaiveDateTime =
                serde_json::from_value(busy["next_attempt_at"].clone()).unwrap();
            assert!(
                next > started + chrono::Duration::seconds(20),
                "the next attempt waits: {next}"
            );
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_failure_is_retried_until_it_succeeds_and_a_timeout_counts_as_passing() {
    for db in support::backends(
        "a_passing_failure_is_retried_until_it_succeeds_and_a_timeout_counts_as_passing",
    ) {
        let server = MockServer::start().await;
        // The first call of each identity fails: a 503, or an answer slower than the timeout.
        Mock::given(method("GET"))
            .and(query_param("identity", "flaky@acme.example"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(query_param("identity", "slow@acme.example"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(""))
            .mount(&server)
            .await;
        let upstream = filter(&server.uri(), "");
        let (db, attempts) = blocking(move || {
            let mut conn = db.connect();
            let worker = worker(vec![upstream]);
            let flaky = ask_lock(&mut conn, "flaky@acme.example", Some("filter"), None);
            let slow = ask_lock(&mut conn, "slow@acme.example", Some("filter"), None);
            let first = worker.run_once(&mut conn).unwrap();
            assert_eq!((first.retried, first.succeeded), (2, 0), "{first:?}");
            std::thread::sleep(Duration::from_millis(6_300));
            let second = worker.run_once(&mut conn).unwrap();
            assert_eq!(second.succeeded, 2, "{second:?}");
            for a in [&flaky, &slow] {
                let now = actions::get(&mut conn, a.id).unwrap().unwrap();
                assert_eq!(
                    (now.state, now.attempts),
                    (ActionState::Succeeded, 2),
                    "{}",
                    db.backend
                );
            }
            let attempts: Vec<(String, Option<i32>, String)> = action_attempts::table
                .filter(action_attempts::action_id.eq(slow.id))
                .order(action_attempts::id)
                .select((
                    action_attempts::outcome,
                    action_attempts::http_status,
                    action_attempts::message,
                ))
                .load(&mut conn)
                .unwrap();
            (db, attempts)
        })
        .await;
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert_eq!(attempts[0].0, "retry");
        assert!(
            attempts[0].2.contains("timed out") || attempts[0].2.contains("timeout"),
            "{attempts:?}"
        );
        assert_eq!(attempts[1].0, "succeeded");
        assert!(!attempts[0].2.contains(PASSWORD) && !attempts[0].2.contains("http://"));
        drop(db);
    }
}
