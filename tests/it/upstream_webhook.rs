//! The webhook adapter against a stand-in receiver: a signed JSON body that a receiver can verify
//! with its own HMAC, and which HTTP statuses are retried later and which are refusals.

use abuse_desk::upstream::{Answer, Call, Op, TargetKind, UpstreamError};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::upstream_adapters::{execute, header_of, identity_lock, only_request, webhook, SECRET};

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
