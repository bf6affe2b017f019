//! One `[[mailboxes]]` table of the settings file: where to read feedback reports and what
//! to do with a message once it is safely stored.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::invalid::Invalid;
use crate::secret::Secret;

/// How the connection to the IMAP server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    #[default]
    Implicit,
    /// Plain connect, then STARTTLS before login (port 143); refused if the server lacks it.
    Starttls,
    /// No encryption: only for a server on the loopback interface.
    None,
}

/// How the poller logs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// LOGIN with `password` or `password_file`.
    #[default]
    Password,
    /// AUTHENTICATE XOAUTH2 with an OAuth 2.0 access token had for `refresh_token` from
    /// `token_url` (Microsoft 365, Gmail).
    Xoauth2,
}

/// A mailbox the poller reads.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    /// Short unique name, used in logs, the `--mailbox` option and the mailbox state.
    pub name: String,
    pub host: String,
    /// Defaults to 993 for implicit TLS, 143 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password (first line), read at every connect so a rotated
    /// password is picked up without a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `password` (the default) or `xoauth2`; the latter takes the five settings below
    /// instead of a password.
    #[serde(default)]
    pub auth: AuthMethod,
    /// xoauth2: the provider's token endpoint, e.g.
    /// `https://login.microsoftonline.com/TENANT/oauth2/v2.0/token` or
    /// `https://oauth2.googleapis.com/token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// xoauth2: the application's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// xoauth2: the application's client secret (not needed by public clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// xoauth2: the refresh token granted for the mailbox's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// xoauth2: the scope to ask for, e.g. `https://outlook.office.com/IMAP.AccessAsUser.All
    /// offline_access`; without it the refresh token's own scope applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The current access token (xoauth2), shared by clones of these settings.
    #[serde(skip)]
    pub(crate) tokens: Arc<super::oauth::TokenCache>,
    /// The folder to read.
    #[serde(default = "inbox")]
    pub folder: String,
    /// Move a stored message here (created if missing) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_folder: Option<String>,
    /// … or set this flag on it instead: `\Seen`, `\Flagged`, `\Answered` or a keyword.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_flag: Option<String>,
    /// Messages that are not feedback reports (kept in the quarantine) are moved here
    /// (created if missing); without it they are treated like the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_folder: Option<String>,
    /// The source recorded on each stored message; defaults to the mailbox name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When to poll: a cron string with seconds (tokio-cron-scheduler), default every minute.
    #[serde(default = "every_minute")]
    pub schedule: String,
    /// Also wait with IMAP IDLE, so new reports arrive within seconds.
    #[serde(default)]
    pub idle: bool,
}

fn inbox() -> String {
    "INBOX".into()
}

fn every_minute() -> String {
    "0 * * * * *".into()
}

/// What happens to a message once the transaction holding it committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DoneAction<'a> {
    Move(&'a str),
    Flag(&'a str),
}

impl MailboxSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            TlsMode::Starttls | TlsMode::None => 143,
        })
    }

    pub fn source(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    pub fn done_action(&self) -> DoneAction<'_> {
        match (&self.done_folder, &self.done_flag) {
            (Some(folder), _) => DoneAction::Move(folder),
            (None, Some(flag)) => DoneAction::Flag(flag),
            // `validate` requires one of the two; \Seen is the harmless reading of neither.
            (None, None) => DoneAction::Flag("\\Seen"),
        }
    }

    /// The password, from the setting or read from `password_file` now.
    pub fn password(&self) -> std::io::Result<Secret> {
        if let Some(password) = &self.password {
            return Ok(password.clone());
        }
        let path = self
            .password_file
            .as_deref()
            .unwrap_or(std::path::Path::new(""));
        let text = std::fs::read_to_string(path)?;
        Ok(Secret::new(text.lines().next().unwrap_or("")))
    }

    /// Checks one mailbox on its own; the caller checks that names are unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key, reason: &str| {
            Err(Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return invalid("name", "must be non-empty letters, digits, '.', '_' or '-'");
        }
        if self.host.trim().is_empty() {
            return invalid("host", "must be set");
        }
        if self.port == Some(0) {
            return invalid("port", "must be between 1 and 65535");
        }
        if self.tls == TlsMode::None && !crate::net::is_loopback_host(&self.host) {
            return invalid(
                "tls",
                "none is only allowed for a loopback host (127.0.0.1, ::1, localhost); use implicit or starttls",
            );
        }
        if self.username.is_empty() {
            return invalid("username", "must be set");
        }
        if self.auth == AuthMethod::Xoauth2 {
            self.validate_oauth()?;
        } else {
            self.validate_password()?;
        }
        if self.folder.is_empty() {
            return invalid("folder", "must not be empty");
        }
        match (&self.done_folder, &self.done_flag) {
            (Some(_), Some(_)) => return invalid("done_folder", "set done_folder or done_flag, not both"),
            (None, None) => return invalid("done_folder", "set done_folder (move) or done_flag (e.g. \\Seen)"),
            (Some(folder), None) if folder.is_empty() || *folder == self.folder => {
                return invalid("done_folder", "must be a folder other than the one read")
            }
            (None, Some(flag)) if !is_flag(flag) => {
                return invalid(
                    "done_flag",
                    "must be \\Seen, \\Flagged, \\Answered or a keyword of letters, digits, '$', '_', '-', '.'",
                )
            }
            _ => {}
        }
        if let Some(folder) = &self.rejected_folder {
            if folder.is_empty() || *folder == self.folder {
                return invalid(
                    "rejected_folder",
                    "must be a folder other than the one read",
                );
            }
        }
        if self.source.as_deref() == Some("") {
            return invalid("source", "must not be empty");
        }
        if tokio_cron_scheduler::Job::new_async(self.schedule.as_str(), |_, _| Box::pin(async {}))
            .is_err()
        {
            return Err(Invalid {
                key: "schedule",
                reason: format!(
                    "'{}' is not a cron string with seconds such as \"0 * * * * *\"",
                    self.schedule
                ),
            });
        }
        Ok(())
    }
}

impl MailboxSettings {
    fn validate_password(&self) -> Result<(), Invalid> {
        let invalid = |key, reason: &str| {
            Err(Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => invalid("password", "set password or password_file, not both"),
            (None, None) => invalid("password", "set password or password_file"),
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(_) => Ok(()),
                Err(e) => Err(Invalid {
                    key: "password_file",
                    reason: format!("cannot read {}: {e}", path.display()),
                }),
            },
            (Some(_), None) => Ok(()),
        }
    }

    fn validate_oauth(&self) -> Result<(), Invalid> {
        let invalid = |key, reason: &str| {
            Err(Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.password.is_some() || self.password_file.is_some() {
            return invalid(
                "password",
                "auth = xoauth2 logs in with a token: remove password / password_file",
            );
        }
        let url = self.token_url.as_deref().unwrap_or("");
        let https = url.starts_with("https://");
        let loopback_http = url
            .strip_prefix("http://")
            .and_then(|rest| url::Url::parse(&format!("http://{rest}")).ok())
            .and_then(|u| u.host_str().map(crate::net::is_loopback_host))
            .unwrap_or(false);
        if !(https || loopback_http) {
            return invalid(
                "token_url",
                "set the provider's https:// token endpoint (plain http only on loopback)",
            );
        }
        if self.client_id.as_deref().unwrap_or("").is_empty() {
            return invalid("client_id", "must be set for auth = xoauth2");
        }
        if self
            .refresh_token
            .as_ref()
            .is_none_or(|t| t.expose().is_empty())
        {
            return invalid("refresh_token", "must be set for auth = xoauth2");
        }
        Ok(())
    }

    /// The access token for an XOAUTH2 login: the cached one, or a fresh one.
    pub(crate) fn access_token(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Secret, super::ImapError> {
        self.tokens.access_token(self, timeout)
    }
}

fn is_flag(flag: &str) -> bool {
    matches!(flag, "\\Seen" | "\\Flagged" | "\\Answered")
        || (!flag.is_empty()
            && flag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "$_-.".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox() -> MailboxSettings {
        toml::from_str(
            "name = \"fbl\"\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\ndone_folder = \"Done\"\n",
        )
        .unwrap()
    }

    #[test]
    fn defaults() {
        let m = mailbox();
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.folder, "INBOX");
        assert_eq!(m.port(), 143);
        assert_eq!(m.source(), "fbl");
        assert_eq!(m.done_action(), DoneAction::Move("Done"));
        assert!(!m.idle);
    }

    #[test]
    fn each_wrong_setting_is_named() {
        let key = |f: fn(&mut MailboxSettings)| {
            let mut m = mailbox();
            f(&mut m);
            m.validate().unwrap_err().key
        };
        assert_eq!(key(|m| m.host = "imap.example.net".into()), "tls");
        assert_eq!(key(|m| m.password = None), "password");
        assert_eq!(
            key(|m| m.password_file = Some("/nonexistent".into())),
            "password"
        );
        assert_eq!(
            key(|m| {
                m.password = None;
                m.password_file = Some("/nonexistent/pw".into())
            }),
            "password_file"
        );
        assert_eq!(key(|m| m.done_flag = Some("\\Seen".into())), "done_folder");
        assert_eq!(key(|m| m.done_folder = None), "done_folder");
        assert_eq!(
            key(|m| {
                m.done_folder = None;
                m.done_flag = Some("two words".into())
            }),
            "done_flag"
        );
        assert_eq!(
            key(|m| m.rejected_folder = Some("INBOX".into())),
            "rejected_folder"
        );
        assert_eq!(key(|m| m.schedule = "every minute".into()), "schedule");
        assert_eq!(key(|m| m.name = "a b".into()), "name");
    }

    #[test]
    fn xoauth2_needs_its_endpoint_client_and_refresh_token_and_no_password() {
        let oauth = || {
            let mut m = mailbox();
            m.password = None;
            m.auth = AuthMethod::Xoauth2;
            m.token_url = Some("https://login.example.net/token".into());
            m.client_id = Some("desk".into());
            m.refresh_token = Some(Secret::new("r"));
            m
        };
        assert_eq!(oauth().validate(), Ok(()));
        let key = |f: fn(&mut MailboxSettings)| {
            let mut m = oauth();
            f(&mut m);
            m.validate().unwrap_err().key
        };
        assert_eq!(key(|m| m.password = Some(Secret::new("p"))), "password");
        assert_eq!(key(|m| m.token_url = None), "token_url");
        assert_eq!(
            key(|m| m.token_url = Some("http://login.example.net/token".into())),
            "token_url"
        );
        assert_eq!(key(|m| m.client_id = Some(String::new())), "client_id");
        assert_eq!(key(|m| m.refresh_token = None), "refresh_token");
        let mut local = oauth();
        local.token_url = Some("http://127.0.0.1:8081/token".into());
        assert_eq!(local.validate(), Ok(()));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.1.2.3"] {
            assert!(crate::net::is_loopback_host(host), "{host}");
        }
        for host in ["10.0.0.1", "imap.example.net", "localhost.example.net"] {
            assert!(!crate::net::is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<MailboxSettings>(
            "name = \"x\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\npasword = \"typo\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("pasword"), "{err}");
    }
}
