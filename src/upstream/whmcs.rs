//! WHMCS: suspends (`ModuleSuspend`) and unsuspends (`ModuleUnsuspend`) the customer's service
//! by a form POST to `{url}/includes/api.php`, the API credential in the `identifier` and
//! `secret` fields. Answers `{"result":"success"}` or `{"result":"error","message":…}`.

use std::time::Duration;

use serde_json::Value;

use super::http::Http;
use super::{Answer, Call, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings};
use crate::secret::Secret;

/// An upstream suspending accounts through the WHMCS API.
pub struct Whmcs {
    name: String,
    targets: Vec<TargetKind>,
    base: String,
    identifier: String,
    secret: Secret,
    http: Http,
}

impl Whmcs {
    /// The adapter for settings that passed `validate` (its HTTP client comes at the first call).
    pub fn new(settings: &UpstreamSettings) -> Self {
        let secret = settings.secret.clone().unwrap_or_default();
        let identifier = settings.identifier.clone().unwrap_or_default();
        Self {
            name: settings.name.clone(),
            targets: settings.targets.clone(),
            base: settings.base_url(),
            // The identifier is half of the credential: mask it in answers too.
            http: Http::new(
                Duration::from_secs(settings.timeout_secs),
                vec![secret.clone(), Secret::new(identifier.clone())],
            ),
            identifier,
            secret,
        }
    }
}

impl Upstream for Whmcs {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "whmcs"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        if call.kind != TargetKind::Account {
            return Err(UpstreamError::Unsupported(format!(
                "WHMCS suspends accounts, not an {}",
                call.kind.words()
            )));
        }
        let service = call
            .billing_ref
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| UpstreamError::Unsupported("customer has no billing_ref".into()))?;
        let mut form = vec![
            (
                "action",
                match call.op {
                    Op::Lock => "ModuleSuspend",
                    Op::Unlock => "ModuleUnsuspend",
                },
            ),
            ("serviceid", service),
        ];
        if call.op == Op::Lock {
            form.push(("suspendreason", call.reason.as_str()));
        }
        form.extend([
            ("identifier", self.identifier.as_str()),
            ("secret", self.secret.expose()),
            ("responsetype", "json"),
        ]);
        let request = self
            .http
            .client()?
            .post(format!("{}/includes/api.php", self.base))
            .form(&form);
        let reply = self.http.send(request)?;
        let body: Value = serde_json::from_str(reply.body.trim()).map_err(|_| {
            UpstreamError::permanent(
                Some(reply.status),
                format!(
                    "unexpected answer, not WHMCS JSON: {}",
                    self.http.words(&reply.body)
                ),
            )
        })?;
        let message = body.get("message").and_then(Value::as_str).unwrap_or("");
        match body.get("result").and_then(Value::as_str) {
            Some("success") => Ok(self.http.answer(reply.status, message, || {
                format!("service {service} {}", call.op.done_word())
            })),
            Some("error") => Err(UpstreamError::permanent(
                Some(reply.status),
                if message.trim().is_empty() {
                    "WHMCS answered error without a message".to_owned()
                } else {
                    self.http.words(message)
                },
            )),
            // Neither success nor error: we cannot know it went through.
            _ => Err(UpstreamError::permanent(
                Some(reply.status),
                format!(
                    "unexpected answer without result: {}",
                    self.http.words(&reply.body)
                ),
            )),
        }
    }
}
