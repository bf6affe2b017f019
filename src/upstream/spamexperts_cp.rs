//! The SpamExperts Control Panel API: `GET {url}/api/{controller}/{action}/format/json/{k}/{v}…`
//! with HTTP basic auth of an admin allowed to use it. Parameters travel as path segments,
//! each value percent-encoded like PHP's `rawurlencode` (what the vendor's own add-ons send).
//! The answer is HTTP 200 with `{"messages":{"success":[…],"error":[…]},"result":…}`: the
//! body decides, and `messages` is `[]` when there are none.
//!
//! The call paths are settings: the vendor's public documentation and add-ons name the
//! `outgoingusers` controller (`add`, `addip`, `remove`) but publish no lock or unlock action
//! for outgoing users or identities, so an operator writes the one their panel's API help
//! (`/api/help/`) lists.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::http::{Http, Reply};
use super::{Answer, Call, CpErrorKind, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings};
use crate::secret::Secret;

/// `rawurlencode`: everything but letters, digits and `-_.~` is escaped, `@` and `/` included,
/// so a value can never add a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The placeholders a path template of each target may use.
fn placeholders(target: TargetKind) -> &'static [&'static str] {
    match target {
        TargetKind::Identity => &["domain", "username", "identity"],
        _ => &["domain", "username"],
    }
}

/// The shape of a path, for the settings error that asks for one. CONTROLLER/ACTION stay
/// for the operator to fill in from the panel's API help: we publish no guessed names.
pub(crate) fn example_path(key: &str) -> &'static str {
    match key {
        "lock_identity_path" | "unlock_identity_path" => {
            "CONTROLLER/ACTION/domain/{domain}/username/{username}/identity/{identity}"
        }
        _ => "CONTROLLER/ACTION/domain/{domain}/username/{username}",
    }
}

/// Checks a path template: `controller/action` then segments, each a plain word or one
/// whole `{placeholder}` of the target's; the target itself must be among them.
pub(crate) fn check_path(path: &str, target: TargetKind) -> Result<(), String> {
    let allowed = placeholders(target);
    let names = allowed
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let segments: Vec<&str> = path.split('/').collect();
    if path.starts_with('/') || path.starts_with("api/") {
        return Err("starts with the controller, without a leading / or api/".into());
    }
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return Err(
            "must be controller/action followed by param/value segments, without empty segments"
                .into(),
        );
    }
    if segments.iter().any(|s| s.eq_ignore_ascii_case("format")) {
        return Err(
            "must not contain format/…: /format/json/ is added after controller/action".into(),
        );
    }
    for (i, segment) in segments.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if i < 2 {
                return Err("controller and action must be plain words, not placeholders".into());
            }
            if !allowed.contains(&name) {
                return Err(format!(
                    "unknown placeholder {segment}; this path may use {names}"
                ));
            }
        } else if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "segment '{segment}' must be letters, digits, '_', '-', '.' or one whole placeholder of {names}"
            ));
        }
    }
    let needed = if target == TargetKind::Identity {
        "{identity}"
    } else {
        "{username}"
    };
    if !segments.contains(&needed) {
        return Err(format!(
            "must contain {needed}, else every call would name the same target"
        ));
    }
    Ok(())
}

/// An upstream speaking the SpamExperts Control Panel API.
pub struct SpamExpertsCp {
    name: String,
    targets: Vec<TargetKind>,
    base: String,
    username: String,
    password: Secret,
    paths: [Option<String>; 4],
    http: Http,
}

impl SpamExpertsCp {
    /// The adapter for settings that passed `validate` (its HTTP client comes at the first call).
    pub fn new(settings: &UpstreamSettings) -> Self {
        let password = settings.password.clone().unwrap_or_default();
        Self {
            name: settings.name.clone(),
            targets: settings.targets.clone(),
            base: settings.base_url(),
            username: settings.username.clone().unwrap_or_default(),
            http: Http::new(
                Duration::from_secs(settings.timeout_secs),
                vec![password.clone()],
            ),
            password,
            paths: [
                settings.lock_identity_path.clone(),
                settings.unlock_identity_path.clone(),
                settings.lock_user_path.clone(),
                settings.unlock_user_path.clone(),
            ],
        }
    }

    /// The request path for a call, placeholders filled and encoded.
    fn call_path(&self, call: &Call) -> Result<String, UpstreamError> {
        let (index, domain, username) = match call.kind {
            TargetKind::Identity => {
                let domain = call
                    .domain
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .or_else(|| call.target.rsplit_once('@').map(|(_, d)| d));
                // As in the Software API, `*` stands for every outgoing user of the domain.
                let user = call.outgoing_user.as_deref().filter(|u| !u.is_empty());
                (0, domain, user.unwrap_or("*"))
            }
            TargetKind::OutgoingUser => {
                let domain = call
                    .domain
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .or_else(|| call.target.rsplit_once('@').map(|(_, d)| d));
                (2, domain, call.target.as_str())
            }
            TargetKind::Account => {
                return Err(UpstreamError::Unsupported(
                    "the Control Panel API does not suspend customer accounts".into(),
                ))
            }
        };
        let index = index + usize::from(call.op == Op::Unlock);
        let template = self.paths[index].as_deref().ok_or_else(|| {
            UpstreamError::Unsupported(format!(
                "no Control Panel API path is configured to {}",
                call.describe()
            ))
        })?;
        let domain = domain.filter(|d| !d.is_empty());
        let mut segments = Vec::new();
        for segment in template.split('/') {
            let value = match segment {
                "{domain}" => domain.ok_or_else(|| {
                    UpstreamError::Unsupported(format!(
                        "the domain of {} {} is not known",
                        call.kind.words(),
                        call.target
                    ))
                })?,
                "{username}" => username,
                "{identity}" => call.target.as_str(),
                literal => literal,
            };
            segments.push(utf8_percent_encode(value, SEGMENT).to_string());
        }
        // controller/action, then the vendor's format marker, then the parameters.
        let (head, params) = segments.split_at(2.min(segments.len()));
        Ok(format!(
            "{}/format/json/{}",
            head.join("/"),
            params.join("/")
        ))
    }

    fn get(&self, path: &str) -> Result<(Reply, Value), UpstreamError> {
        let request = self
            .http
            .client()?
            .get(format!("{}/api/{path}", self.base))
            .basic_auth(&self.username, Some(self.password.expose()));
        let reply = self.http.send(request)?;
        let body: Value = serde_json::from_str(reply.body.trim()).map_err(|_| {
            UpstreamError::permanent(
                Some(reply.status),
                format!(
                    "unexpected answer, not the Control Panel API's JSON: {}",
                    self.http.words(&reply.body)
                ),
            )
        })?;
        let errors = lines(body.pointer("/messages/error"));
        if !errors.is_empty() {
            // The first error the vendor's add-ons would recognise names the kind.
            let kind = errors
                .iter()
                .map(|e| CpErrorKind::classify(e))
                .find(|k| *k != CpErrorKind::Other)
                .unwrap_or(CpErrorKind::Other);
            return Err(UpstreamError::ControlPanel {
                kind,
                message: self.http.words(&errors.join("; ")),
            });
        }
        Ok((reply, body))
    }

    /// What a successful answer says: its success messages, else its result.
    fn answer(&self, reply: &Reply, body: &Value, fallback: impl FnOnce() -> String) -> Answer {
        let success = lines(body.pointer("/messages/success"));
        let text = if success.is_empty() {
            match body.get("result") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            }
        } else {
            success.join("; ")
        };
        self.http.answer(reply.status, &text, fallback)
    }
}

/// The strings of a `messages` list; a lone string counts as one.
fn lines(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .filter(|s| !s.trim().is_empty())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl Upstream for SpamExpertsCp {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "spamexperts-cp"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        let path = self.call_path(call)?;
        let (reply, body) = self.get(&path)?;
        Ok(self.answer(&reply, &body, || {
            format!(
                "{} {} {}",
                call.kind.words(),
                call.target,
                call.op.done_word()
            )
        }))
    }

    /// The version call: proves URL, credentials and API permission without changing anything.
    fn check(&self) -> Result<Option<Answer>, UpstreamError> {
        let (reply, body) = self.get("version/get/format/json/")?;
        Ok(Some(self.answer(&reply, &body, || "reachable".into())))
    }
}
