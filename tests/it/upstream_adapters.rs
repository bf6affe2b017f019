//! The upstream adapters against stand-ins of the vendor APIs (wiremock), each stand-in matching
//! the vendor's documented wire format. Here what every adapter shares: how HTTP errors, a timeout
//! and a closed port are read (retried or refused, and never naming a credential or the URL), the
//! demo upstream, and which upstream acts on a target; and the settings and helpers the
//! `upstream_*` modules use. Adapters are blocking, so every call runs on a blocking thread, as the
//! action worker runs them.

use std::time::{Duration, Instant};

use abuse_desk::upstream::{
    Answer, Call, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings, Upstreams,
};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub(crate) const PASSWORD: &str = "s3cret-Pa55word";
pub(crate) const TOKEN: &str = "WHMTOKEN0123456789ABCDEF";
pub(crate) const SECRET: &str = "whmcs-or-hook-secret-42";

pub(crate) fn settings(toml: &str) -> UpstreamSettings {
    toml::from_str(toml).unwrap()
}

pub(crate) fn spamexperts(url: &str, extra: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"filter\"\nkind = \"spamexperts\"\nurl = \"{url}\"\nusername = \"api-user\"\npassword = \"{PASSWORD}\"\ntargets = [\"identity\"]\n{extra}"
    ))
}

pub(crate) fn spamexperts_cp(url: &str) -> UpstreamSettings {
    settings(&format!(
        r#"name = "panel"
kind = "spamexperts-cp"
url = "{url}"
username = "admin@isp.example"
password = "{PASSWORD}"
targets = ["identity", "outgoing_user"]
lock_identity_path = "outgoingidentity/lock/domain/{{domain}}/username/{{username}}/identity/{{identity}}"
unlock_identity_path = "outgoingidentity/unlock/domain/{{domain}}/username/{{username}}/identity/{{identity}}"
lock_user_path = "outgoingusers/lock/domain/{{domain}}/username/{{username}}"
unlock_user_path = "outgoingusers/unlock/domain/{{domain}}/username/{{username}}"
"#
    ))
}

pub(crate) fn whmcs(url: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"billing\"\nkind = \"whmcs\"\nurl = \"{url}\"\nidentifier = \"ident-1\"\nsecret = \"{SECRET}\"\ntargets = [\"account\"]\n"
    ))
}

pub(crate) fn cpanel(url: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"whm\"\nkind = \"cpanel\"\nurl = \"{url}\"\nusername = \"root\"\ntoken = \"{TOKEN}\"\ntargets = [\"outgoing_user\", \"account\"]\n"
    ))
}

pub(crate) fn webhook(url: &str, timeout: u64) -> UpstreamSettings {
    settings(&format!(
        "name = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntargets = [\"identity\", \"outgoing_user\", \"account\"]\ntimeout_secs = {timeout}\n"
    ))
}

pub(crate) fn identity_lock() -> Call {
    Call {
        reason: "spam run, ticket 7".into(),
        ..Call::new(
            Op::Lock,
            TargetKind::Identity,
            "bob@customer.example",
            "act-1",
        )
    }
}

/// Builds the upstream from settings and runs `f` on it, on a blocking thread (building and
/// dropping a blocking client included).
pub(crate) async fn with_upstream<T: Send + 'static>(
    settings: UpstreamSettings,
    f: impl FnOnce(&dyn Upstream) -> T + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || {
        let upstreams = Upstreams::from_settings(std::slice::from_ref(&settings)).unwrap();
        f(upstreams.by_name(&settings.name).unwrap())
    })
    .await
    .unwrap()
}

pub(crate) async fn execute(
    settings: UpstreamSettings,
    call: Call,
) -> Result<Answer, UpstreamError> {
    with_upstream(settings, move |u| u.execute(&call)).await
}

pub(crate) async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "exactly one request is sent");
    requests.remove(0)
}

pub(crate) fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

pub(crate) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

/// Neither a credential nor the call's URL may reach a message staff or the log will see.
pub(crate) fn assert_clean(text: &str) {
    for secret in [PASSWORD, TOKEN, SECRET] {
        assert!(!text.contains(secret), "credential in: {text}");
    }
    for url_part in ["http://", "/cgi-bin", "call=", "/api/", "json-api"] {
        assert!(!text.contains(url_part), "URL in: {text}");
    }
}

// ------------------------------------------------------ failures every adapter shares

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_rate_limits_are_retried_client_errors_are_not() {
    let server = MockServer::start().await;
    for (status, transient) in [(503, true), (429, true), (404, false), (401, false)] {
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string(format!("password {PASSWORD} rejected")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let err = execute(spamexperts(&server.uri(), ""), identity_lock())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.is_transient(), transient, "{status}: {err}");
        assert!(
            err.to_string().contains("password ******** rejected"),
            "{err}"
        );
        assert_clean(&err.to_string());
        server.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_slower_than_the_timeout_is_retried_later() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = execute(webhook(&server.uri(), 1), identity_lock())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        err,
        UpstreamError::Transient {
            status: None,
            message: "no answer within the timeout".into()
        }
    );
    assert_clean(&err.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_is_retried_later_and_the_error_names_no_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let outgoing = Call::new(Op::Lock, TargetKind::OutgoingUser, "custacct", "k");
    for (settings, call) in [
        (spamexperts(&url, ""), identity_lock()),
        (cpanel(&url), outgoing),
    ] {
        let err = execute(settings, call).await.unwrap_err();
        let UpstreamError::Transient {
            status: None,
            message,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert!(message.starts_with("cannot connect"), "{message}");
        assert_clean(&err.to_string());
        assert_clean(&format!("{err:?}"));
    }
}

// ---------------------------------------------------------------------------- demo

#[tokio::test(flavor = "multi_thread")]
async fn demo_locks_after_a_short_delay_and_remembers() {
    let started = Instant::now();
    let (locked, state, unlocked, after) = tokio::task::spawn_blocking(|| {
        let upstreams = Upstreams::from_settings(&[UpstreamSettings::demo("demo")]).unwrap();
        let demo = upstreams.for_target(TargetKind::Identity).unwrap();
        let locked = demo.execute(&identity_lock()).unwrap();
        let state = demo.is_locked(&identity_lock()).unwrap();
        let unlock = Call {
            op: Op::Unlock,
            ..identity_lock()
        };
        let unlocked = demo.execute(&unlock).unwrap();
        (locked, state, unlocked, demo.is_locked(&unlock).unwrap())
    })
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(locked.message, "demo: identity bob@customer.example locked");
    assert_eq!(
        unlocked.message,
        "demo: identity bob@customer.example unlocked"
    );
    assert_eq!((state, after), (Some(true), Some(false)));
}

// ------------------------------------------------------------------ choosing upstreams

#[tokio::test(flavor = "multi_thread")]
async fn the_first_upstream_handling_a_target_acts_on_it() {
    let url = "https://filter.isp.example";
    let list = vec![
        spamexperts(url, ""),
        spamexperts_cp(url),
        whmcs("https://billing.isp.example"),
    ];
    tokio::task::spawn_blocking(move || {
        let upstreams = Upstreams::from_settings(&list).unwrap();
        assert_eq!(upstreams.names(), ["filter", "panel", "billing"]);
        let name = |kind| upstreams.for_target(kind).map(|u| u.name().to_owned());
        assert_eq!(name(TargetKind::Identity).as_deref(), Some("filter"));
        assert_eq!(name(TargetKind::OutgoingUser).as_deref(), Some("panel"));
        assert_eq!(name(TargetKind::Account).as_deref(), Some("billing"));
        assert_eq!(upstreams.by_name("panel").unwrap().kind(), "spamexperts-cp");
        assert!(upstreams.by_name("nope").is_none());

        let without_billing = Upstreams::from_settings(&list[..1]).unwrap();
        // No upstream for accounts or outgoing users: those actions are manual.
        assert!(without_billing.for_target(TargetKind::Account).is_none());
        assert!(without_billing
            .for_target(TargetKind::OutgoingUser)
            .is_none());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn upstreams_can_be_loaded_and_dropped_in_async_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": "success"})))
        .expect(1)
        .mount(&server)
        .await;
    // `serve` reads its settings on the runtime; only the calls need a blocking thread.
    let upstreams = Upstreams::from_settings(&[whmcs(&server.uri())]).unwrap();
    let upstreams = std::sync::Arc::new(upstreams);
    let used = upstreams.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let call = Call {
            billing_ref: Some("1234".into()),
            ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k")
        };
        used.for_target(TargetKind::Account).unwrap().execute(&call)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answer.message, "service 1234 locked");
    // The client built by that call goes with the last reference, here on the runtime.
    drop(upstreams);
}

#[test]
fn two_upstreams_of_one_name_are_refused() {
    let list = [whmcs("https://a.example"), whmcs("https://b.example")];
    let err = Upstreams::from_settings(&list).unwrap_err();
    assert_eq!((err.upstream.as_str(), err.key), ("billing", "name"));
    assert_eq!(
        err.to_string(),
        "upstream 'billing': name is used by two upstreams"
    );
}
