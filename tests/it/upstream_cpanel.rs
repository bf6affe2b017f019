//! The cPanel (WHM) adapter against a stand-in of its JSON API: outgoing mail and accounts
//! suspended with the API token, the outgoing user itself as the target without a hosting user,
//! `result: 0` read as a refusal with its reason, and an account without hosting user left to
//! staff.

use abuse_desk::upstream::{Call, Op, TargetKind, UpstreamError};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::upstream_adapters::{cpanel, execute, only_request, pairs, query, TOKEN};

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
