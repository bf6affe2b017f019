//! Typed settings: built-in defaults, then an optional TOML file (`--config`), then the
//! environment (`ABUSE_DESK_…`, nested keys joined by `__`, and `DATABASE_URL`), the
//! environment last. `validate` stops start-up with a message naming the setting.

use std::fmt;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::db::DatabaseUrl;
use crate::housekeeping::HousekeepingSettings;
use crate::imap::MailboxSettings;
use crate::ingest::{IngestSettings, Ingestor};
pub use crate::logging::LogFormat;
use crate::notify::NotifySettings;
pub use crate::secret::{mask_url_password, Secret};
use crate::upstream::worker::ActionSettings;
use crate::upstream::{InvalidUpstream, UpstreamSettings, Upstreams};
use crate::web::WebSettings;

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
    /// Where locks and suspensions are carried out (`[[upstreams]]` tables), in order of
    /// preference; a target no upstream handles is locked by hand.
    #[serde(default)]
    pub upstreams: Vec<UpstreamSettings>,
    /// When the action worker runs and how it retries.
    #[serde(default)]
    pub actions: ActionSettings,
    /// Customer notices.
    #[serde(default)]
    pub notify: NotifySettings,
    /// Closing idle tickets and purging old raw messages, on a schedule.
    #[serde(default)]
    pub housekeeping: HousekeepingSettings,
    /// `tracing` filter, e.g. `info` or `abuse_desk=debug`.
    pub log: String,
    /// `text` (the default) or `json`: one JSON object per line, for log collectors.
    #[serde(default)]
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://abuse-desk.db".into(),
            database_pool_size: 8,
            web: WebSettings::default(),
            ingest: IngestSettings::default(),
            mailboxes: Vec::new(),
            upstreams: Vec::new(),
            actions: ActionSettings::default(),
            notify: NotifySettings::default(),
            housekeeping: HousekeepingSettings::default(),
            log: "info".into(),
            log_format: LogFormat::default(),
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
    #[error("upstreams[{}].{}: {}", .0.upstream, .0.key, .0.reason)]
    Upstream(#[from] InvalidUpstream),
    #[error("notify.{key}: {reason}")]
    Notify { key: &'static str, reason: String },
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
        self.web.validate().map_err(|e| SettingsError::Invalid {
            setting: e.key,
            reason: e.reason,
        })?;
        self.ingest.validate().map_err(|e| SettingsError::Invalid {
            setting: e.key,
            reason: e.reason,
        })?;
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
        self.upstreams()?;
        self.actions
            .validate()
            .map_err(|e| SettingsError::Invalid {
                setting: e.key,
                reason: e.reason,
            })?;
        self.notify.validate().map_err(|e| SettingsError::Notify {
            key: e.key,
            reason: e.reason,
        })?;
        self.housekeeping
            .validate()
            .map_err(|e| SettingsError::Invalid {
                setting: e.key,
                reason: e.reason,
            })?;
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

    /// The upstreams, built from their tables (each checked, names unique).
    pub fn upstreams(&self) -> Result<Upstreams, SettingsError> {
        Ok(Upstreams::from_settings(&self.upstreams)?)
    }

    /// The ingest policies, with the automatic rule's locks going to the configured upstreams,
    /// and a writer that loses its connection reconnecting to the configured database.
    pub fn ingestor(&self) -> Result<Ingestor, anyhow::Error> {
        Ok(Ingestor::from_settings(&self.ingest)?
            .routed(self.upstreams()?.routes())
            .reconnecting(self.database()?))
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
        s.upstreams = vec![toml::from_str(
            "name = \"filter\"\nkind = \"spamexperts\"\nurl = \"https://f.example\"\nusername = \"u\"\npassword = \"upstream-hunter2\"\ntargets = [\"identity\"]\n",
        )
        .unwrap()];
        s.notify.smtp_password = Some(Secret::new("smtp-hunter2"));
        let shown = s.to_masked_toml();
        assert!(
            !shown.contains("hunter2") && !shown.contains(&"k".repeat(64)),
            "{shown}"
        );
        assert!(shown.contains("[[upstreams]]") && shown.contains("name = \"filter\""));
        assert!(shown.contains("********"));
        assert!(!format!("{s:?}").contains(&"k".repeat(64)));
    }
}
