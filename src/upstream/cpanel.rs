//! cPanel WHM API 1: `suspend_outgoing_email` / `unsuspend_outgoing_email` for an outgoing
//! user (all outgoing mail of one cPanel account), `suspendacct` / `unsuspendacct` for the
//! whole account. Authorised by the header `Authorization: whm USER:TOKEN`; answers
//! `{"metadata":{"result":1|0,"reason":…}}`.

use std::time::Duration;

use serde_json::Value;

use super::http::Http;
use super::{Answer, Call, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings};
use crate::secret::Secret;

/// An upstream suspending mail and accounts through cPanel's WHM API.
pub struct Cpanel {
    name: String,
    targets: Vec<TargetKind>,
    base: String,
    /// `whm USER:TOKEN`, kept as a secret so no Debug output shows it.
    authorization: Secret,
    http: Http,
}

impl Cpanel {
    /// The adapter for settings that passed `validate` (its HTTP client comes at the first call).
    pub fn new(settings: &UpstreamSettings) -> Self {
        let token = settings.token.clone().unwrap_or_default();
        let user = settings.username.clone().unwrap_or_default();
        Self {
            name: settings.name.clone(),
            targets: settings.targets.clone(),
            base: settings.base_url(),
            authorization: Secret::new(format!("whm {user}:{}", token.expose())),
            http: Http::new(Duration::from_secs(settings.timeout_secs), vec![token]),
        }
    }
}

impl Upstream for Cpanel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "cpanel"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        let hosting_user = call
            .hosting_user
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let (function, user) = match (call.kind, call.op) {
            // An outgoing user of a cPanel server is the account's own user name.
            (TargetKind::OutgoingUser, op) => (
                match op {
                    Op::Lock => "suspend_outgoing_email",
                    Op::Unlock => "unsuspend_outgoing_email",
                },
                hosting_user.unwrap_or(&call.target),
            ),
            (TargetKind::Account, op) => (
                match op {
                    Op::Lock => "suspendacct",
                    Op::Unlock => "unsuspendacct",
                },
                hosting_user.ok_or_else(|| {
                    UpstreamError::Unsupported("customer has no hosting_user".into())
                })?,
            ),
            (TargetKind::Identity, _) => {
                return Err(UpstreamError::Unsupported(
                    "cPanel suspends accounts and their outgoing mail, not a single identity"
                        .into(),
                ))
            }
        };
        let mut query = vec![("api.version", "1"), ("user", user)];
        if function == "suspendacct" {
            query.push(("reason", call.reason.as_str()));
        }
        let request = self
            .http
            .client()?
            .get(format!("{}/json-api/{function}", self.base))
            .query(&query)
            .header(reqwest::header::AUTHORIZATION, self.authorization.expose());
        let reply = self.http.send(request)?;
        let body: Value = serde_json::from_str(reply.body.trim()).map_err(|_| {
            UpstreamError::permanent(
                Some(reply.status),
                format!(
                    "unexpected answer, not WHM API JSON: {}",
                    self.http.words(&reply.body)
                ),
            )
        })?;
        let reason = body
            .pointer("/metadata/reason")
            .and_then(Value::as_str)
            .unwrap_or("");
        match body.pointer("/metadata/result").and_then(Value::as_i64) {
            Some(1) => Ok(self.http.answer(reply.status, reason, || {
                format!("{} {user} {}", call.kind.words(), call.op.done_word())
            })),
            Some(_) => Err(UpstreamError::permanent(
                Some(reply.status),
                if reason.trim().is_empty() {
                    "WHM answered result 0 without a reason".to_owned()
                } else {
                    self.http.words(reason)
                },
            )),
            None => Err(UpstreamError::permanent(
                Some(reply.status),
                format!(
                    "unexpected answer without metadata.result: {}",
                    self.http.words(&reply.body)
                ),
            )),
        }
    }
}
