//! The upstream adapters against stand-ins of the vendor APIs (wiremock), each stand-in
//! matching the vendor's documented wire format: what each adapter sends (method, path, exact
//! query or form, credentials, signature) and how it reads each kind of answer — success,
//! the vendor's own error shapes, HTTP errors, a timeout, a closed port. Adapters are blocking,
//! so every call runs on a blocking thread, as the action worker runs them.

use std::time::{Duration, Instant};

use abuse_desk::upstream::{
    Answer, Call, CpErrorKind, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings, Upstreams,
};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PASSWORD: &str = "s3cret-Pa55word";
const TOKEN: &str = "WHMTOKEN0123456789ABCDEF";
const SECRET: &str = "whmcs-or-hook-secret-42";

fn settings(toml: &str) -> UpstreamSettings {
    toml::from_str(toml).unwrap()
}

fn spamexperts(url: &str, extra: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"filter\"\nkind = \"spamexperts\"\nurl = \"{url}\"\nusername = \"api-user\"\npassword = \"{PASSWORD}\"\ntargets = [\"identity\"]\n{extra}"
    ))
}

fn spamexperts_cp(url: &str) -> UpstreamSettings {
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

fn whmcs(url: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"billing\"\nkind = \"whmcs\"\nurl = \"{url}\"\nidentifier = \"ident-1\"\nsecret = \"{SECRET}\"\ntargets = [\"account\"]\n"
    ))
}

fn cpanel(url: &str) -> UpstreamSettings {
    settings(&format!(
        "name = \"whm\"\nkind = \"cpanel\"\nurl = \"{url}\"\nusername = \"root\"\ntoken = \"{TOKEN}\"\ntargets = [\"outgoing_user\", \"account\"]\n"
    ))
}

fn webhook(url: &str, timeout: u64) -> UpstreamSettings {
    settings(&format!(
        "name = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntargets = [\"identity\", \"outgoing_user\", \"account\"]\ntimeout_secs = {timeout}\n"
    ))
}

fn identity_lock() -> Call {
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
async fn with_upstream<T: Send + 'static>(
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

async fn execute(settings: UpstreamSettings, call: Call) -> Result<Answer, UpstreamError> {
    with_upstream(settings, move |u| u.execute(&call)).await
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "exactly one request is sent");
    requests.remove(0)
}

fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

/// Neither a credential nor the call's URL may reach a message staff or the log will see.
fn assert_clean(text: &str) {
    for secret in [PASSWORD, TOKEN, SECRET] {
        assert!(!text.contains(secret), "credential in: {text}");
    }
    for url_part in ["http://", "/cgi-bin", "call=", "/api/", "json-api"] {
        assert!(!text.contains(url_part), "URL in: {text}");
    }
}

// ---------------------------------------------------------------- SpamExperts Software API

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_lock_sends_the_documented_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/api"))
        .and(basic_auth("api-user", PASSWORD))
        .respond_with(ResponseTemplate::new(200).set_body_string(""))
        .expect(1)
        .mount(&server)
        .await;
    let call = Call {
        domain: Some("out.isp.example".into()),
        outgoing_user: Some("smtp-7".into()),
        ..identity_lock()
    };
    let answer = execute(spamexperts(&server.uri(), ""), call).await.unwrap();
    assert_eq!(answer.status, Some(200));
    assert_eq!(answer.message, "identity bob@customer.example locked");
    let request = only_request(&server).await;
    assert_eq!(
        query(&request),
        pairs(&[
            ("call", "api_lock_outgoing_identity"),
            ("domain", "out.isp.example"),
            ("identity", "bob@customer.example"),
            ("username", "smtp-7"),
        ])
    );
    assert!(header_of(&request, "user-agent").starts_with("abuse-desk/"));
}

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_without_outgoing_user_locks_in_the_identitys_domain_for_all_users() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK\n"))
        .expect(1)
        .mount(&server)
        .await;
    let answer = execute(spamexperts(&server.uri(), ""), identity_lock())
        .await
        .unwrap();
    assert_eq!(answer.message, "OK");
    assert_eq!(
        query(&only_request(&server).await),
        pairs(&[
            ("call", "api_lock_outgoing_identity"),
            ("domain", "customer.example"),
            ("identity", "bob@customer.example"),
            ("username", "*"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_error_text_in_a_200_answer_is_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ERROR: Identity 'bob@customer.example' is unknown\n"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = execute(spamexperts(&server.uri(), ""), identity_lock())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Permanent {
            status: Some(200),
            message: "ERROR: Identity 'bob@customer.example' is unknown".into()
        }
    );
    assert!(!err.is_transient());
}

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_unlock_needs_the_configured_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let unlock = Call {
        op: Op::Unlock,
        ..identity_lock()
    };
    let err = execute(spamexperts(&server.uri(), ""), unlock.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Unsupported(m) if m.contains("unlock_call")),
        "{err}"
    );

    let configured = spamexperts(
        &server.uri(),
        "unlock_call = \"api_unlock_outgoing_identity\"\n",
    );
    let answer = execute(configured, unlock).await.unwrap();
    assert_eq!(answer.message, "identity bob@customer.example unlocked");
    // Only the configured unlock reached the filter.
    assert_eq!(
        query(&only_request(&server).await)[0],
        ("call".into(), "api_unlock_outgoing_identity".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_reads_the_list_of_locked_identities() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(basic_auth("api-user", PASSWORD))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("alice@customer.example\nBOB@Customer.Example\n"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let (bob, carol) = with_upstream(spamexperts(&server.uri(), ""), |u| {
        let carol = Call::new(
            Op::Lock,
            TargetKind::Identity,
            "carol@customer.example",
            "k",
        );
        (u.is_locked(&identity_lock()), u.is_locked(&carol))
    })
    .await;
    assert_eq!(bob, Ok(Some(true)));
    assert_eq!(carol, Ok(Some(false)));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        query(&requests[0]),
        pairs(&[
            ("call", "api_list_locked_identities"),
            ("domain", "customer.example"),
            ("username", "*"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spamexperts_state_call_refused_is_an_error_not_unlocked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ERROR: no such domain"))
        .mount(&server)
        .await;
    let state = with_upstream(spamexperts(&server.uri(), ""), |u| {
        u.is_locked(&identity_lock())
    })
    .await;
    assert!(
        matches!(state, Err(UpstreamError::Permanent { .. })),
        "{state:?}"
    );
}

// ------------------------------------------------------ SpamExperts Control Panel API

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_locks_an_outgoing_user_by_path_segments() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/outgoingusers/lock/format/json/domain/out.isp.example/username/smtp%40client%2F1"))
        .and(basic_auth("admin@isp.example", PASSWORD))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"messages": {"success": ["Outgoing user smtp@client/1 locked"]}, "result": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let call = Call {
        domain: Some("out.isp.example".into()),
        ..Call::new(Op::Lock, TargetKind::OutgoingUser, "smtp@client/1", "act-2")
    };
    let answer = execute(spamexperts_cp(&server.uri()), call).await.unwrap();
    assert_eq!(answer.message, "Outgoing user smtp@client/1 locked");
    assert_eq!(only_request(&server).await.url.query(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_unlocks_an_identity_with_its_configured_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/outgoingidentity/unlock/format/json/domain/out.isp.example/username/smtp-7/identity/bob%40customer.example"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": [], "result": true})))
        .expect(1)
        .mount(&server)
        .await;
    let call = Call {
        op: Op::Unlock,
        domain: Some("out.isp.example".into()),
        outgoing_user: Some("smtp-7".into()),
        ..identity_lock()
    };
    let answer = execute(spamexperts_cp(&server.uri()), call).await.unwrap();
    assert_eq!(answer.message, "true");
}

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_errors_are_told_apart() {
    let cases = [
        (
            "Supplied credential is invalid.",
            CpErrorKind::BadCredentials,
        ),
        (
            "You have no permissions to lock this user",
            CpErrorKind::NoPermission,
        ),
        (
            "No such domain 'out.isp.example'",
            CpErrorKind::NoSuchDomain,
        ),
        (
            "Domain out.isp.example is not registered on this cluster",
            CpErrorKind::NotRegistered,
        ),
        (
            "You don't have permissions to access the API.",
            CpErrorKind::ApiNotAllowed,
        ),
        (
            "You have no access to this API, current IP address '192.0.2.7' is not allowed",
            CpErrorKind::IpNotAllowed,
        ),
        ("Unexpected failure", CpErrorKind::Other),
    ];
    let server = MockServer::start().await;
    for (text, kind) in cases {
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"messages": {"error": [text]}, "result": null})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let call = Call {
            domain: Some("out.isp.example".into()),
            ..Call::new(Op::Lock, TargetKind::OutgoingUser, "smtp-7", "k")
        };
        let err = execute(spamexperts_cp(&server.uri()), call)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            UpstreamError::ControlPanel {
                kind,
                message: text.into()
            }
        );
        assert_eq!(err.to_string(), format!("{}: {text}", kind.explain()));
        assert!(!err.is_transient());
        server.verify().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_answer_that_is_not_its_json_is_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>Log in</html>"))
        .mount(&server)
        .await;
    let call = Call {
        domain: Some("out.isp.example".into()),
        ..Call::new(Op::Lock, TargetKind::OutgoingUser, "smtp-7", "k")
    };
    let err = execute(spamexperts_cp(&server.uri()), call)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Permanent { status: Some(200), message } if message.starts_with("unexpected answer")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_outgoing_user_without_domain_is_manual() {
    let server = MockServer::start().await;
    let call = Call::new(Op::Lock, TargetKind::OutgoingUser, "smtp-7", "k");
    let err = execute(spamexperts_cp(&server.uri()), call)
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn control_panel_health_check_asks_for_the_version() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/version/get/format/json/"))
        .and(basic_auth("admin@isp.example", PASSWORD))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [], "result": "5.3.1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let answer = with_upstream(spamexperts_cp(&server.uri()), |u| u.check()).await;
    assert_eq!(answer.unwrap().unwrap().message, "5.3.1");
}

// ------------------------------------------------------------------------------- WHMCS

#[tokio::test(flavor = "multi_thread")]
async fn whmcs_suspends_the_customers_service() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/includes/api.php"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": "success"})))
        .expect(2)
        .mount(&server)
        .await;
    let lock = Call {
        billing_ref: Some("1234".into()),
        reason: "outgoing spam & phishing".into(),
        ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "act-3")
    };
    let unlock = Call {
        op: Op::Unlock,
        ..lock.clone()
    };
    let answer = execute(whmcs(&server.uri()), lock).await.unwrap();
    assert_eq!(answer.message, "service 1234 locked");
    execute(whmcs(&server.uri()), unlock).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let form = |r: &Request| -> Vec<(String, String)> {
        url::form_urlencoded::parse(&r.body).into_owned().collect()
    };
    assert_eq!(
        form(&requests[0]),
        pairs(&[
            ("action", "ModuleSuspend"),
            ("serviceid", "1234"),
            ("suspendreason", "outgoing spam & phishing"),
            ("identifier", "ident-1"),
            ("secret", SECRET),
            ("responsetype", "json"),
        ])
    );
    assert_eq!(
        form(&requests[1]),
        pairs(&[
            ("action", "ModuleUnsuspend"),
            ("serviceid", "1234"),
            ("identifier", "ident-1"),
            ("secret", SECRET),
            ("responsetype", "json"),
        ])
    );
    // The credential travels in the body only, never in the URL.
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn whmcs_error_answer_is_a_refusal_with_its_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": "error", "message": "Service ID Not Found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let call = Call {
        billing_ref: Some("999".into()),
        ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k")
    };
    let err = execute(whmcs(&server.uri()), call).await.unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Permanent {
            status: Some(200),
            message: "Service ID Not Found".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn whmcs_echoing_the_credential_has_it_masked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "result": "error",
            "message": format!("Authentication Failed for secret {SECRET}")
        })))
        .mount(&server)
        .await;
    let call = Call {
        billing_ref: Some("1".into()),
        ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k")
    };
    let err = execute(whmcs(&server.uri()), call).await.unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Permanent {
            status: Some(403),
            message: "Authentication Failed for secret ********".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn whmcs_without_billing_ref_is_manual() {
    let server = MockServer::start().await;
    let call = Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k");
    let err = execute(whmcs(&server.uri()), call).await.unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Unsupported("customer has no billing_ref".into())
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ------------------------------------------------------------------------------ cPanel

#[tokio::test(flavor = "multi_thread")]
async fn cpanel_suspends_outgoing_mail_and_accounts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("whm root:{TOKEN}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"metadata": {"result": 1, "reason": "OK", "version": 1}})),
        )
        .expect(3)
        .mount(&server)
        .await;
    let outgoing = Call {
        hosting_user: Some("custacct".into()),
        ..Call::new(Op::Lock, TargetKind::OutgoingUser, "smtp-7", "k1")
    };
    let account = Call {
        hosting_user: Some("custacct".into()),
        reason: "spam run".into(),
        ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k2")
    };
    let reopen = Call {
        op: Op::Unlock,
        ..account.clone()
    };
    for call in [outgoing, account, reopen] {
        let answer = execute(cpanel(&server.uri()), call).await.unwrap();
        assert_eq!(answer.message, "OK");
    }
    let requests = server.received_requests().await.unwrap();
    let seen: Vec<(String, Vec<(String, String)>)> = requests
        .iter()
        .map(|r| (r.url.path().to_owned(), query(r)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "/json-api/suspend_outgoing_email".into(),
                pairs(&[("api.version", "1"), ("user", "custacct")])
            ),
            (
                "/json-api/suspendacct".into(),
                pairs(&[
                    ("api.version", "1"),
                    ("user", "custacct"),
                    ("reason", "spam run")
                ])
            ),
            (
                "/json-api/unsuspendacct".into(),
                pairs(&[("api.version", "1"), ("user", "custacct")])
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cpanel_outgoing_user_without_hosting_user_is_the_target() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/json-api/unsuspend_outgoing_email"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"metadata": {"result": 1, "reason": "OK"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let call = Call::new(Op::Unlock, TargetKind::OutgoingUser, "custacct", "k");
    execute(cpanel(&server.uri()), call).await.unwrap();
    assert_eq!(
        query(&only_request(&server).await),
        pairs(&[("api.version", "1"), ("user", "custacct")])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cpanel_result_zero_is_a_refusal_with_the_reason() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "metadata": {"result": 0, "reason": "The user “nobody” does not exist.", "version": 1}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let call = Call {
        hosting_user: Some("nobody".into()),
        ..Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k")
    };
    let err = execute(cpanel(&server.uri()), call).await.unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Permanent {
            status: Some(200),
            message: "The user “nobody” does not exist.".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cpanel_account_without_hosting_user_is_manual() {
    let server = MockServer::start().await;
    let call = Call::new(Op::Lock, TargetKind::Account, "CUST-9", "k");
    let err = execute(cpanel(&server.uri()), call).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ----------------------------------------------------------------------------- webhook

#[tokio::test(flavor = "multi_thread")]
async fn webhook_posts_a_signed_body_a_receiver_can_verify() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/abuse"))
        .and(header("content-type", "application/json"))
        .and(header("idempotency-key", "act-42"))
        .respond_with(ResponseTemplate::new(202).set_body_string("queued as 17"))
        .expect(1)
        .mount(&server)
        .await;
    let until = chrono::NaiveDate::from_ymd_opt(2026, 5, 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let call = Call {
        domain: Some("out.isp.example".into()),
        outgoing_user: Some("smtp-7".into()),
        until: Some(until),
        ticket: Some(17),
        requested_by: "alice".into(),
        ..Call::new(
            Op::Lock,
            TargetKind::Identity,
            "bob@customer.example",
            "act-42",
        )
    };
    let answer = execute(webhook(&format!("{}/hooks/abuse", server.uri()), 20), call)
        .await
        .unwrap();
    assert_eq!(
        answer,
        Answer {
            status: Some(202),
            message: "queued as 17".into()
        }
    );

    let request = only_request(&server).await;
    let body: serde_json::Value = request.body_json().unwrap();
    assert_eq!(
        body,
        json!({
            "action": "lock",
            "target": {
                "kind": "identity",
                "value": "bob@customer.example",
                "domain": "out.isp.example",
                "outgoing_user": "smtp-7",
                "billing_ref": null,
                "hosting_user": null
            },
            "reason": "",
            "until": "2026-05-01T12:00:00Z",
            "ticket": 17,
            "requested_by": "alice",
            "idempotency_key": "act-42"
        })
    );
    // Verify as a receiver would: over the raw body, with our own HMAC.
    let timestamp = header_of(&request, "x-abuse-desk-timestamp");
    let sent: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent).abs() < 60);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        header_of(&request, "x-abuse-desk-signature"),
        format!("sha256={expected}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_statuses_sort_into_retry_and_refusal() {
    let server = MockServer::start().await;
    let cases = [
        (503, "maintenance", true, "maintenance"),
        (500, "", true, "Internal Server Error"),
        (429, "", true, "Too Many Requests"),
        (408, "", true, "Request Timeout"),
        (
            404,
            "<html><body>nothing here</body></html>",
            false,
            "Not Found",
        ),
        (
            422,
            r#"{"message":"unknown target"}"#,
            false,
            "unknown target",
        ),
        (301, "", false, "Moved Permanently"),
    ];
    for (status, body, transient, words) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string(body.to_owned())
                    .insert_header("location", "https://elsewhere.example/"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let err = execute(webhook(&server.uri(), 20), identity_lock())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{err}");
        assert_eq!(err.is_transient(), transient, "{status}: {err}");
        let message = match &err {
            UpstreamError::Transient { message, .. } | UpstreamError::Permanent { message, .. } => {
                message.as_str()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(message, words, "{status}");
        server.verify().await;
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

// ----------------------------------------------------------------------------- settings

fn key_and_reason(settings: &UpstreamSettings) -> (&'static str, String) {
    let invalid = settings.validate().unwrap_err();
    (invalid.key, invalid.reason)
}

#[test]
fn valid_settings_of_each_kind_pass() {
    for s in [
        spamexperts("https://filter.isp.example", ""),
        spamexperts_cp("https://filter.isp.example/"),
        whmcs("https://billing.isp.example"),
        cpanel("https://server.isp.example:2087"),
        webhook("http://127.0.0.1:8080/hook", 20),
        UpstreamSettings::demo("demo"),
    ] {
        assert_eq!(s.validate(), Ok(()), "{}", s.name);
    }
    assert_eq!(spamexperts("https://f.example", "").timeout_secs, 20);
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    let (key, reason) = key_and_reason(&spamexperts("http://filter.isp.example", ""));
    assert_eq!(key, "url");
    assert!(
        reason.contains("https://") && reason.contains("loopback"),
        "{reason}"
    );
    for host in ["127.0.0.1:8080", "localhost", "[::1]:8443"] {
        assert_eq!(
            spamexperts(&format!("http://{host}"), "").validate(),
            Ok(()),
            "{host}"
        );
    }
    let (key, reason) = key_and_reason(&spamexperts("https://api-user:pw@filter.isp.example", ""));
    assert_eq!(key, "url");
    assert!(reason.contains("credentials"), "{reason}");
    assert_eq!(
        key_and_reason(&spamexperts("filter.isp.example", "")).0,
        "url"
    );
    let (key, reason) = key_and_reason(&whmcs("https://billing.isp.example/includes/api.php"));
    assert_eq!(key, "url");
    assert!(reason.contains("without /includes/api.php"), "{reason}");
}

#[test]
fn targets_must_suit_the_kind() {
    let mut s = whmcs("https://billing.isp.example");
    s.targets = vec![TargetKind::Identity];
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "targets");
    assert_eq!(
        reason,
        "identity is not possible with kind whmcs, which acts on: account"
    );

    let mut s = spamexperts("https://filter.isp.example", "");
    s.targets = vec![TargetKind::Identity, TargetKind::OutgoingUser];
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "targets");
    assert!(reason.contains("spamexperts-cp"), "{reason}");

    s.targets.clear();
    assert_eq!(key_and_reason(&s).0, "targets");

    let err = toml::from_str::<UpstreamSettings>(
        "name = \"x\"\nkind = \"webhook\"\nurl = \"https://h.example\"\nsecret = \"k\"\ntargets = [\"mailbox\"]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("mailbox"), "{err}");
}

#[test]
fn missing_or_misplaced_credentials_are_named() {
    let check = |toml: &str| {
        let (key, reason) = key_and_reason(&settings(toml));
        (key, reason)
    };
    let (key, reason) = check("name = \"f\"\nkind = \"spamexperts\"\nurl = \"https://f.example\"\nusername = \"u\"\ntargets = [\"identity\"]\n");
    assert_eq!(
        (key, reason.as_str()),
        ("password", "must be set for kind spamexperts")
    );
    let (key, _) = check("name = \"w\"\nkind = \"cpanel\"\nurl = \"https://w.example:2087\"\nusername = \"root\"\ntargets = [\"account\"]\n");
    assert_eq!(key, "token");
    let (key, _) = check("name = \"b\"\nkind = \"whmcs\"\nurl = \"https://b.example\"\nsecret = \"s\"\ntargets = [\"account\"]\n");
    assert_eq!(key, "identifier");
    let (key, _) = check(
        "name = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example\"\ntargets = [\"account\"]\n",
    );
    assert_eq!(key, "secret");
    let (key, reason) = check("name = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example\"\nsecret = \"s\"\ntoken = \"t\"\ntargets = [\"account\"]\n");
    assert_eq!(
        (key, reason.as_str()),
        ("token", "is not used by kind webhook")
    );
}

#[test]
fn control_panel_paths_are_checked() {
    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = None;
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "lock_user_path");
    assert!(reason.contains("outgoing_user"), "{reason}");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = Some("outgoingusers/lock/domain/{domain}/username/{user}".into());
    let (key, reason) = key_and_reason(&s);
    assert_eq!(key, "lock_user_path");
    assert!(reason.contains("unknown placeholder {user}"), "{reason}");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.unlock_identity_path = Some("outgoingidentity/unlock/domain/{domain}".into());
    assert_eq!(key_and_reason(&s).0, "unlock_identity_path");

    let mut s = spamexperts_cp("https://filter.isp.example");
    s.lock_user_path = Some("/api/outgoingusers/lock/format/json/username/{username}".into());
    assert_eq!(key_and_reason(&s).0, "lock_user_path");
}

#[test]
fn other_settings_are_checked() {
    let mut s = whmcs("https://billing.isp.example");
    s.name = "billing system".into();
    assert_eq!(key_and_reason(&s).0, "name");
    let mut s = whmcs("https://billing.isp.example");
    s.timeout_secs = 0;
    assert_eq!(key_and_reason(&s).0, "timeout_secs");
    let mut s = UpstreamSettings::demo("demo");
    s.url = Some("https://demo.example".into());
    assert_eq!(key_and_reason(&s).0, "url");
    let err = toml::from_str::<UpstreamSettings>(
        "name = \"x\"\nkind = \"demo\"\ntargets = [\"account\"]\npasword = \"typo\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("pasword"), "{err}");
}

#[test]
fn credentials_are_masked_when_settings_are_printed() {
    for s in [
        spamexperts("https://filter.isp.example", ""),
        whmcs("https://billing.isp.example"),
        cpanel("https://server.isp.example:2087"),
    ] {
        let printed = toml::to_string(&s).unwrap();
        assert!(printed.contains("\"********\""), "{printed}");
        assert_clean(&printed.replace("https://", ""));
        assert_clean(&format!("{s:?}").replace("https://", ""));
    }
}

#[test]
fn target_kinds_read_and_print_as_in_the_settings() {
    for kind in TargetKind::ALL {
        assert_eq!(kind.as_str().parse::<TargetKind>(), Ok(kind));
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            format!("\"{}\"", kind.as_str())
        );
    }
    assert_eq!(TargetKind::OutgoingUser.as_str(), "outgoing_user");
    assert!("mailbox".parse::<TargetKind>().is_err());
}
