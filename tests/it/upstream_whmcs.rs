//! The WHMCS adapter against a stand-in of its API: the customer's service suspended and
//! unsuspended by form post, with the credential in the body only; its error answers read as
//! refusals with their message; a credential it echoes masked; a customer without billing_ref left
//! to staff.

use abuse_desk::upstream::{Call, Op, TargetKind, UpstreamError};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::upstream_adapters::{execute, pairs, whmcs, SECRET};

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
