//! Typed settings: built-in defaults, then an optional TOML file (`--config`), then the
//! environment (`ABUSE_DESK_…`, nested keys joined by `__`, and `DATABASE_URL`), the
//! environment last. `validate` stops start-up with a message naming the setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::arf::{IdentityRule, IdentityRules};
pub use crate::secret::Secret;
use crate::db::customers::ResolveStep;
use crate::db::DatabaseUrl;
use crate::imap::MailboxSettings;
use crate::ingest::rules::{AutoLock, SeverityPolicy};

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://PATH` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Connections in the pool.
    pub database_pool_size: u32,
    pub web: WebSettings,
    pub ingest: IngestSettings,
    /// IMAP mailboxes to poll (`[[mailboxes]]` tables), any number.
    #[serde(default)]
    pub mailboxes: Vec<MailboxSettings>,
    /// `tracing` filter, e.g. `info` or `abuse_desk=debug`.
    pub log: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Address the web queue listens on.
    pub bind: String,
    /// Public base URL, used in links sent to customers.
    pub public_url: String,
    /// Key for signing and encrypting session cookies (at least 64 characters); a random
    /// key is made at start when empty, which logs everyone out on restart.
    pub session_key: Secret,
    /// How long a login lasts, in hours (fractions allowed).
    pub session_hours: f64,
    /// Directory of templates overriding the built-in ones.
    pub templates_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Order of the customer resolution chain.
    pub resolve_order: Vec<ResolveStep>,
    /// Identification rules, tried in order: a header name and an optional regex with one
    /// capture group, like the filter's "identification header" setting.
    pub identification: Vec<IdentityRule>,
    /// User-Agent prefixes of our own outgoing filter's reports (they start at severity abuse).
    pub own_filter_user_agents: Vec<String>,
    /// Severity thresholds by event count, with per-class overrides.
    pub severity: SeverityPolicy,
    /// The automatic temporary lock rule (off by default).
    pub auto_lock: AutoLock,
    /// Messages per write batch: one transaction for IMAP and HTTP; an import commits every
    /// few batches.
    pub batch_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://abuse-desk.db".into(),
            database_pool_size: 8,
            web: WebSettings {
                bind: "127.0.0.1:8080".into(),
                public_url: "http://127.0.0.1:8080".into(),
                session_key: Secret::default(),
                session_hours: 12.0,
                templates_dir: None,
            },
            ingest: IngestSettings {
                resolve_order: ResolveStep::DEFAULT_ORDER.to_vec(),
                identification: IdentityRules::default_rules(),
                own_filter_user_agents: vec!["SpamExperts".into()],
                severity: SeverityPolicy::default(),
                auto_lock: AutoLock::default(),
                batch_size: 2000,
            },
            mailboxes: Vec::new(),
            log: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("mailboxes[{mailbox}].{key}: {reason}")]
    Mailbox {
        mailbox: String,
        key: &'static str,
        reason: String,
    },
}

impl Settings {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::from_figment(Self::figment(file))
    }

    /// The layered sources, exposed so tests can add their own on top.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("ABUSE_DESK_").split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            )
    }

    pub fn from_figment(figment: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot: the URL scheme, the address, sizes, key length.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |setting, reason: String| Err(SettingsError::Invalid { setting, reason });
        if let Err(e) = DatabaseUrl::parse(&self.database_url) {
            return invalid(
                "database_url",
                e.to_string()
                    .trim_start_matches("database_url: ")
                    .to_owned(),
            );
        }
        if self.database_pool_size == 0 {
            return invalid("database_pool_size", "must be at least 1".into());
        }
        if self.web.bind.parse::<SocketAddr>().is_err() {
            return invalid(
                "web.bind",
                format!(
                    "'{}' is not an address:port such as 127.0.0.1:8080",
                    self.web.bind
                ),
            );
        }
        if !(self.web.public_url.starts_with("http://")
            || self.web.public_url.starts_with("https://"))
        {
            return invalid(
                "web.public_url",
                format!(
                    "'{}' must start with http:// or https://",
                    self.web.public_url
                ),
            );
        }
        let key_len = self.web.session_key.expose().len();
        if key_len != 0 && key_len < 64 {
            return invalid(
                "web.session_key",
                format!("must be at least 64 characters (has {key_len})"),
            );
        }
        if !(self.web.session_hours > 0.0 && self.web.session_hours <= 24.0 * 366.0) {
            return invalid(
                "web.session_hours",
                "must be more than 0 and at most a year".into(),
            );
        }
        if self.ingest.resolve_order.is_empty() {
            return invalid("ingest.resolve_order", "must name at least one step".into());
        }
        if let Err(e) = IdentityRules::compile(&self.ingest.identification) {
            return invalid("ingest.identification", e.to_string());
        }
        let lock = &self.ingest.auto_lock;
        if lock.enabled && (lock.events < 1 || lock.within_minutes < 1 || lock.lock_hours < 1) {
            return invalid(
                "ingest.auto_lock",
                "events, within_minutes and lock_hours must each be at least 1".into(),
            );
        }
        for (class, t) in std::iter::once((&"(default)".to_owned(), &self.ingest.severity.default))
            .chain(&self.ingest.severity.classes)
        {
            if t.abuse_after < 1 || t.escalation_after < t.abuse_after {
                return invalid(
                    "ingest.severity",
                    format!("{class}: need 1 <= abuse_after <= escalation_after"),
                );
            }
        }
        if self.ingest.batch_size == 0 {
            return invalid("ingest.batch_size", "must be at least 1".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, mailbox) in self.mailboxes.iter().enumerate() {
            let named = |key, reason| SettingsError::Mailbox {
                mailbox: if mailbox.name.is_empty() {
                    i.to_string()
                } else {
                    mailbox.name.clone()
                },
                key,
                reason,
            };
            mailbox.validate().map_err(|e| named(e.key, e.reason))?;
            if !names.insert(mailbox.name.as_str()) {
                return Err(named("name", "is used by another mailbox".into()));
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return invalid(
                "log",
                format!(
                    "'{}' is not a log filter such as info or abuse_desk=debug",
                    self.log
                ),
            );
        }
        Ok(())
    }

    pub fn database(&self) -> Result<DatabaseUrl, crate::db::DbError> {
        DatabaseUrl::parse(&self.database_url)
    }

    /// The effective settings as TOML, secrets masked, for `check-config`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = mask_url_password(&self.database_url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot show settings: {e}\n"))
    }
}

// The database URL may carry a password, so even debug output shows the masked form.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_masked_toml())
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:********@host/db`.
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("********"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::result_large_err)] // figment::Jail's closures return its own large error type

    use super::*;
    use figment::Jail;

    #[test]
    fn env_wins_over_file_and_file_over_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file("a.toml", "database_url = \"sqlite://from-file.db\"\nlog = \"debug\"\n[web]\nbind = \"127.0.0.1:9000\"\n")?;
            jail.set_env("DATABASE_URL", "postgres://u:pw@127.0.0.1/x");
            jail.set_env("ABUSE_DESK_WEB__BIND", "127.0.0.1:9100");
            let s = Settings::load(Some(Path::new("a.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.database_url, "postgres://u:pw@127.0.0.1/x");
            assert_eq!(s.web.bind, "127.0.0.1:9100");
            assert_eq!(s.log, "debug");
            assert_eq!(s.web.public_url, "http://127.0.0.1:8080");
            Ok(())
        });
    }

    #[test]
    fn invalid_settings_are_named() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "mysql://x");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.starts_with("database_url: unknown scheme"), "{err}");
            jail.set_env("DATABASE_URL", "sqlite://ok.db");
            jail.set_env("ABUSE_DESK_WEB__BIND", "nowhere");
            assert!(Settings::load(None)
                .unwrap_err()
                .to_string()
                .starts_with("web.bind:"));
            jail.set_env("ABUSE_DESK_WEB__BIND", "127.0.0.1:8080");
            jail.set_env("ABUSE_DESK_WEB__SESSION_KEY", "short");
            assert!(Settings::load(None)
                .unwrap_err()
                .to_string()
                .starts_with("web.session_key:"));
            Ok(())
        });
    }

    #[test]
    fn mailboxes_are_read_and_checked() {
        Jail::expect_with(|jail| {
            let table = "[[mailboxes]]\nname = \"fbl\"\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\npassword = \"hunter2\"\ndone_folder = \"Done\"\n";
            jail.create_file("a.toml", table)?;
            let s = Settings::load(Some(Path::new("a.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.mailboxes.len(), 1);
            assert!(!s.to_masked_toml().contains("hunter2"));
            jail.create_file("b.toml", &format!("{table}{table}"))?;
            let err = Settings::load(Some(Path::new("b.toml")))
                .unwrap_err()
                .to_string();
            assert_eq!(err, "mailboxes[fbl].name: is used by another mailbox");
            jail.create_file("c.toml", &table.replace("127.0.0.1", "imap.example.net"))?;
            let err = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("mailboxes[fbl].tls: none is only allowed"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_are_masked() {
        let mut s = Settings {
            database_url: "postgres://u:hunter2@127.0.0.1/x".into(),
            ..Default::default()
        };
        s.web.session_key = Secret::new("k".repeat(64));
        let shown = s.to_masked_toml();
        assert!(
            !shown.contains("hunter2") && !shown.contains(&"k".repeat(64)),
            "{shown}"
        );
        assert!(shown.contains("********"));
        assert!(!format!("{s:?}").contains(&"k".repeat(64)));
    }
}
