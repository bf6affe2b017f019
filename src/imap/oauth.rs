//! IMAP login by OAuth 2.0 (`AUTHENTICATE XOAUTH2`), as Microsoft 365 and Gmail require: an
//! access token is had from the provider's token endpoint for the configured refresh token
//! (`grant_type=refresh_token`), kept in memory and used until shortly before it expires.
//! The tokens and the client secret never reach a log or an error message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::settings::MailboxSettings;
use super::ImapError;
use crate::secret::Secret;

/// A token this close to its expiry is replaced before use: a poll may take a while, and the
/// server checks the token at login only, but clocks and networks are not exact.
const MARGIN: Duration = Duration::from_secs(60);

/// The access token of one mailbox, shared by the clones of its settings.
#[derive(Default)]
pub struct TokenCache(Mutex<Cached>);

#[derive(Default)]
struct Cached {
    access: Option<(Secret, Instant)>,
    /// A refresh token the provider handed out in place of the configured one.
    rotated: Option<Secret>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

/// What the token endpoint answers (RFC 6749 §5.1 and §5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    error: Option<String>,
}

impl TokenCache {
    /// An access token valid for at least [`MARGIN`], fetched when the cached one is not.
    pub fn access_token(
        &self,
        mailbox: &MailboxSettings,
        timeout: Duration,
    ) -> Result<Secret, ImapError> {
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = &cached.access {
            if Instant::now() + MARGIN < *until {
                return Ok(token.clone());
            }
        }
        let refresh = cached
            .rotated
            .clone()
            .or_else(|| mailbox.refresh_token.clone())
            .unwrap_or_default();
        let answer = fetch(mailbox, &refresh, timeout)?;
        let token = Secret::new(answer.access_token.unwrap_or_default());
        // Without `expires_in` the token is used once and fetched anew next time.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(0));
        cached.access = Some((token.clone(), Instant::now() + lifetime));
        if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
            cached.rotated = Some(Secret::new(rotated));
        }
        tracing::debug!(mailbox = %mailbox.name, expires_in = lifetime.as_secs(), "OAuth access token fetched");
        Ok(token)
    }

    /// Forgets the access token (the server refused it): the next login fetches a new one.
    pub fn forget(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).access = None;
    }
}

fn fetch(
    mailbox: &MailboxSettings,
    refresh: &Secret,
    timeout: Duration,
) -> Result<TokenAnswer, ImapError> {
    let failed = |reason: String| ImapError::OAuth {
        reason,
        transient: true,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| failed(format!("cannot make an HTTP client: {e}")))?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", mailbox.client_id.as_deref().unwrap_or("")),
    ];
    if let Some(secret) = &mailbox.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    if let Some(scope) = &mailbox.scope {
        form.push(("scope", scope));
    }
    let url = mailbox.token_url.as_deref().unwrap_or("");
    // The error of a request that never got an answer names no URL: only its kind.
    let response = client.post(url).form(&form).send().map_err(|e| {
        failed(format!(
            "the token endpoint cannot be reached ({})",
            if e.is_timeout() {
                "timed out"
            } else {
                "no connection"
            }
        ))
    })?;
    let status = response.status();
    let answer: Option<TokenAnswer> = response.json().ok();
    match answer {
        Some(answer) if status.is_success() && answer.access_token.is_some() => Ok(answer),
        answer => {
            // Only the error code is shown: a word from RFC 6749 (`invalid_grant`, …), cut
            // short and to plain characters, as the endpoint's other words are its own.
            let code: String = answer
                .and_then(|a| a.error)
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            let refused = status.is_client_error();
            let reason = if refused {
                format!(
                    "the token endpoint refused the refresh token (HTTP {}{}): renew \
                     refresh_token or check client_id / client_secret",
                    status.as_u16(),
                    if code.is_empty() {
                        String::new()
                    } else {
                        format!(", {code}")
                    }
                )
            } else {
                format!(
                    "the token endpoint gave no access token (HTTP {})",
                    status.as_u16()
                )
            };
            Err(ImapError::OAuth {
                reason,
                transient: !refused,
            })
        }
    }
}

/// The XOAUTH2 initial response: `user=…^Aauth=Bearer …^A^A`. A second challenge is the
/// server's error report, which is answered with nothing so the server ends the exchange.
pub struct XOAuth2<'a> {
    pub user: &'a str,
    pub token: &'a Secret,
}

impl imap::Authenticator for XOAuth2<'_> {
    type Response = String;

    fn process(&self, challenge: &[u8]) -> String {
        if challenge.is_empty() {
            format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                self.user,
                self.token.expose()
            )
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap::Authenticator;

    #[test]
    fn the_initial_response_has_the_documented_form() {
        let token = Secret::new("ya29.token");
        let auth = XOAuth2 {
            user: "abuse@example.net",
            token: &token,
        };
        assert_eq!(
            auth.process(b""),
            "user=abuse@example.net\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(auth.process(b"{\"status\":\"401\"}"), "");
    }
}
