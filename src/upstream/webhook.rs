//! A signed JSON POST for whatever no vendor adapter covers (an in-house panel, a ticket
//! system, a script). 2xx is done, 4xx (but 408 and 429) is refused, anything else is retried.
//!
//! # What the receiver gets
//!
//! ```text
//! POST {url}
//! Content-Type: application/json
//! Idempotency-Key: <the action's key, the same on every retry>
//! X-Abuse-Desk-Timestamp: <unix seconds when the request was signed>
//! X-Abuse-Desk-Signature: sha256=<lowercase hex HMAC-SHA256>
//!
//! {"action":"lock"|"unlock",
//!  "target":{"kind":"identity"|"outgoing_user"|"account","value":…,"domain":…|null,
//!            "outgoing_user":…|null,"billing_ref":…|null,"hosting_user":…|null},
//!  "reason":…,"until":"2026-05-01T12:00:00Z"|null,"ticket":123|null,
//!  "requested_by":…,"idempotency_key":…}
//! ```
//!
//! The signature is HMAC-SHA256 keyed with the configured `secret` (its UTF-8 bytes) over the
//! ASCII timestamp, one `.`, and the raw request body exactly as received. To verify: recompute
//! it over the raw bytes before parsing the JSON, compare in constant time, refuse timestamps
//! more than a few minutes old (replays), and treat a repeated `Idempotency-Key` as done.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::http::Http;
use super::{Answer, Call, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings};
use crate::secret::Secret;

/// An upstream that posts each call, signed, to a URL of the operator's choice.
pub struct Webhook {
    name: String,
    targets: Vec<TargetKind>,
    url: String,
    secret: Secret,
    http: Http,
}

#[derive(Serialize)]
struct Body<'a> {
    action: Op,
    target: Target<'a>,
    reason: &'a str,
    until: Option<String>,
    ticket: Option<i64>,
    requested_by: &'a str,
    idempotency_key: &'a str,
}

#[derive(Serialize)]
struct Target<'a> {
    kind: TargetKind,
    value: &'a str,
    domain: Option<&'a str>,
    outgoing_user: Option<&'a str>,
    billing_ref: Option<&'a str>,
    hosting_user: Option<&'a str>,
}

/// The JSON body sent for a call.
pub(crate) fn body(call: &Call) -> Vec<u8> {
    let body = Body {
        action: call.op,
        target: Target {
            kind: call.kind,
            value: &call.target,
            domain: call.domain.as_deref(),
            outgoing_user: call.outgoing_user.as_deref(),
            billing_ref: call.billing_ref.as_deref(),
            hosting_user: call.hosting_user.as_deref(),
        },
        reason: &call.reason,
        until: call
            .until
            .map(|t| t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)),
        ticket: call.ticket,
        requested_by: &call.requested_by,
        idempotency_key: &call.idempotency_key,
    };
    // Plain structs of strings and numbers always serialise.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body).
pub(crate) fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl Webhook {
    /// The adapter for settings that passed `validate` (its HTTP client comes at the first call).
    pub fn new(settings: &UpstreamSettings) -> Self {
        let secret = settings.secret.clone().unwrap_or_default();
        Self {
            name: settings.name.clone(),
            targets: settings.targets.clone(),
            url: settings.url.clone().unwrap_or_default(),
            http: Http::new(
                Duration::from_secs(settings.timeout_secs),
                vec![secret.clone()],
            ),
            secret,
        }
    }
}

impl Upstream for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        let body = body(call);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let signature = signature(self.secret.expose().as_bytes(), &timestamp, &body);
        let request = self
            .http
            .client()?
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &call.idempotency_key)
            .header("X-Abuse-Desk-Timestamp", &timestamp)
            .header("X-Abuse-Desk-Signature", signature)
            .body(body);
        let reply = self.http.send(request)?;
        Ok(self.http.answer(reply.status, &reply.body, || {
            format!(
                "{} {} {}",
                call.kind.words(),
                call.target,
                call.op.done_word()
            )
        }))
    }
}
