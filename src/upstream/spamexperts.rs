//! The SpamExperts Software API (Local Cloud): `GET {url}/cgi-bin/api?call=…` with HTTP basic
//! auth, answering plain text with HTTP 200 even when the call failed — a body starting with
//! `ERROR` is the failure. Identity locks as the vendor documents them in "Outbound Spam
//! Monitoring": `api_lock_outgoing_identity` and `api_list_locked_identities`.

use std::time::Duration;

use super::http::{Http, Reply};
use super::{Answer, Call, Op, TargetKind, Upstream, UpstreamError, UpstreamSettings};
use crate::secret::Secret;

/// An upstream speaking the SpamExperts Software API.
pub struct SpamExperts {
    name: String,
    targets: Vec<TargetKind>,
    base: String,
    username: String,
    password: Secret,
    unlock_call: Option<String>,
    http: Http,
}

impl SpamExperts {
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
            unlock_call: settings.unlock_call.clone(),
        }
    }

    /// The domain and user of the documented calls: the outgoing user's domain where known,
    /// else the identity's own domain; the outgoing user where known, else `*` (every user of
    /// the domain).
    fn domain_and_user<'a>(&self, call: &'a Call) -> Result<(&'a str, &'a str), UpstreamError> {
        if call.kind != TargetKind::Identity {
            return Err(UpstreamError::Unsupported(format!(
                "the Software API locks identities, not an {}",
                call.kind.words()
            )));
        }
        let domain = match call.domain.as_deref() {
            Some(domain) if !domain.is_empty() => domain,
            _ => match call.target.rsplit_once('@') {
                Some((_, domain)) if !domain.is_empty() => domain,
                _ => {
                    return Err(UpstreamError::Unsupported(format!(
                        "identity {} has no domain and its outgoing user's domain is not known",
                        call.target
                    )))
                }
            },
        };
        let user = call
            .outgoing_user
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or("*");
        Ok((domain, user))
    }

    fn get(&self, query: &[(&str, &str)]) -> Result<Reply, UpstreamError> {
        let request = self
            .http
            .client()?
            .get(format!("{}/cgi-bin/api", self.base))
            .query(query)
            .basic_auth(&self.username, Some(self.password.expose()));
        let reply = self.http.send(request)?;
        let text = reply.body.trim();
        // The vendor writes "ERROR" in capitals; a 200 answer starting so is a refusal.
        if text.starts_with("ERROR") {
            return Err(UpstreamError::permanent(
                Some(reply.status),
                self.http.words(text),
            ));
        }
        // A login or error page of a proxy in front of the API is not the API's answer.
        if text.starts_with('<') {
            return Err(UpstreamError::permanent(
                Some(reply.status),
                "unexpected answer: an HTML page instead of the Software API's plain text",
            ));
        }
        Ok(reply)
    }
}

/// Whether the plain-text list of locked identities holds `identity`. The vendor documents no
/// exact format, so any line or any whitespace-, comma- or quote-separated token counts,
/// compared without regard to case (mail domains are case-insensitive; so is the filter).
pub(crate) fn list_holds(list: &str, identity: &str) -> bool {
    let wanted = identity.trim();
    list.lines()
        .any(|line| line.trim().eq_ignore_ascii_case(wanted))
        || list
            .split(|c: char| c.is_whitespace() || ",;'\"[](){}".contains(c))
            .any(|token| !token.is_empty() && token.eq_ignore_ascii_case(wanted))
}

impl Upstream for SpamExperts {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "spamexperts"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        let (domain, user) = self.domain_and_user(call)?;
        let api_call = match call.op {
            Op::Lock => "api_lock_outgoing_identity",
            Op::Unlock => self.unlock_call.as_deref().ok_or_else(|| {
                UpstreamError::Unsupported(
                    "the Software API publishes no unlock call; set unlock_call to the one your filter has"
                        .into(),
                )
            })?,
        };
        let reply = self.get(&[
            ("call", api_call),
            ("domain", domain),
            ("identity", &call.target),
            ("username", user),
        ])?;
        Ok(self.http.answer(reply.status, &reply.body, || {
            format!("identity {} {}", call.target, call.op.done_word())
        }))
    }

    fn is_locked(&self, call: &Call) -> Result<Option<bool>, UpstreamError> {
        let (domain, user) = self.domain_and_user(call)?;
        let reply = self.get(&[
            ("call", "api_list_locked_identities"),
            ("domain", domain),
            ("username", user),
        ])?;
        Ok(Some(list_holds(&reply.body, &call.target)))
    }
}

#[cfg(test)]
mod tests {
    use super::list_holds;

    #[test]
    fn locked_list_is_read_tolerantly() {
        assert!(list_holds(
            "alice@example.net\nBob@Example.NET\n",
            "bob@example.net"
        ));
        assert!(list_holds(
            "['alice@example.net', 'bob@example.net']",
            "bob@example.net"
        ));
        assert!(list_holds(
            "alice@example.net, bob@example.net",
            "bob@example.net"
        ));
        assert!(!list_holds("bobby@example.net\n", "bob@example.net"));
        assert!(!list_holds("", "bob@example.net"));
    }
}
