//! The SpamExperts adapters against stand-ins of their two APIs: the Software API (the documented
//! lock call, the identity's domain for all users, error text in a 200 answer, unlock only when
//! configured, the list of locked identities) and the Control Panel API (locks by path segments,
//! its error kinds told apart, an answer that is not its JSON, its health check).

use abuse_desk::upstream::{Call, CpErrorKind, Op, TargetKind, UpstreamError};
use serde_json::json;
use wiremock::matchers::{basic_auth, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::upstream_adapters::{
    execute, header_of, identity_lock, only_request, pairs, query, spamexperts, spamexperts_cp,
    with_upstream, PASSWORD,
};

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
