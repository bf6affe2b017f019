//! The `[notify]` table of the settings file: where customer notices are sent from, through
//! which SMTP server, and how often a customer may hear from us. Off by default, so a desk
//! that has not set up its mail yet never writes to customers by accident.

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

pub use crate::invalid::Invalid;

use crate::secret::Secret;

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No encryption (`smtp://`): only to a server on the loopback interface.
    Plain,
    /// Plain connect, then STARTTLS before anything else, refused if the server lacks it
    /// (`smtp://…?tls=required`, port 587 by default).
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Tls,
}

const OPPORTUNISTIC: &str =
    "tls=opportunistic can be stripped by anyone on the way: use tls=required or smtps://";
const SCHEMES: &str = "use smtps:// (TLS) or smtp://…?tls=required (STARTTLS)";

/// The parsed `smtp_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpEndpoint {
    pub security: SmtpSecurity,
    /// Host name or IP address, without brackets; also the name the certificate must carry.
    pub host: String,
    pub port: u16,
}

impl SmtpEndpoint {
    /// Parses lettre's URL form: `smtp://host:port` (plain, loopback only),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit TLS).
    /// Credentials in the URL are refused: they belong in `smtp_username` / `smtp_password`,
    /// which are never printed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| format!("'{text}' is not a URL ({e}): {SCHEMES}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not carry a user or password: set smtp_username and smtp_password".into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("names no host: write smtps://host:465".into()),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(
                "must be scheme://host:port with nothing after the port but ?tls=required".into(),
            );
        }
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if tls.is_none() => tls = Some(()),
                ("tls", "opportunistic") => return Err(OPPORTUNISTIC.into()),
                _ => {
                    return Err(format!(
                        "unknown parameter '{key}={value}': only tls=required is understood"
                    ))
                }
            }
        }
        let (security, default_port) = match (url.scheme(), tls) {
            // A plain relay is the local MTA, which listens on 25.
            ("smtp", None) => (SmtpSecurity::Plain, 25),
            ("smtp", Some(())) => (SmtpSecurity::StartTls, 587),
            ("smtps", None) => (SmtpSecurity::Tls, 465),
            ("smtps", Some(())) => return Err("smtps:// is TLS already: drop ?tls=required".into()),
            (scheme, _) => return Err(format!("unknown scheme '{scheme}': {SCHEMES}")),
        };
        Ok(Self {
            security,
            host,
            port: url.port().unwrap_or(default_port),
        })
    }
}

/// How long to wait before telling a customer again about a ticket, by its severity.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intervals {
    /// Hours between notices while a ticket is `info` (TOML `info_hours`, or `info`).
    #[serde(alias = "info")]
    pub info_hours: u32,
    /// Hours between notices while a ticket is `abuse`.
    #[serde(alias = "abuse")]
    pub abuse_hours: u32,
    /// Hours between notices while a ticket is `escalation`.
    #[serde(alias = "escalation")]
    pub escalation_hours: u32,
}

impl Default for Intervals {
    fn default() -> Self {
        Self {
            info_hours: 72,
            abuse_hours: 4,
            escalation_hours: 1,
        }
    }
}

impl Intervals {
    /// The interval for `severity` (`info`, `abuse`, `escalation`). An unknown severity gets
    /// the `info` interval: the quietest choice, so a new severity name never floods customers.
    pub fn for_severity(&self, severity: &str) -> chrono::Duration {
        let hours = match severity {
            "escalation" => self.escalation_hours,
            "abuse" => self.abuse_hours,
            _ => self.info_hours,
        };
        chrono::Duration::hours(i64::from(hours))
    }
}

/// The `[notify]` table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Send notices at all (off by default).
    pub enabled: bool,
    /// The SMTP server: `smtps://host:465`, `smtp://host:587?tls=required`, or
    /// `smtp://127.0.0.1:25` (plain, loopback only).
    pub smtp_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<Secret>,
    /// The sender, e.g. `Example Abuse Desk <abuse@example.net>`; required when enabled. Its
    /// address is also the envelope sender, so bounces come back to the abuse mailbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Addresses that get a copy of every notice (an archive, the team), not shown to the
    /// customer.
    pub bcc: Vec<String>,
    /// While testing: every notice goes only to this address (not to the customer, not to
    /// `bcc`); the intended recipients are named in `X-Abuse-Desk-Intended-To` and the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_to: Option<String>,
    /// Minimum time between two notices about the same ticket, by severity.
    pub intervals: Intervals,
    /// A ticket is only notified about while its last event is at most this many days old:
    /// a customer is not written to about spam that stopped long ago.
    pub min_last_seen_days: u32,
    /// Notices sent per minute at most, across all customers.
    pub rate_per_minute: u32,
    /// Days a self-service link in a notice stays valid.
    pub token_days: u32,
    /// When the planner runs: a cron string with seconds.
    pub schedule: String,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_url: "smtp://127.0.0.1:25".into(),
            smtp_username: None,
            smtp_password: None,
            from: None,
            reply_to: None,
            bcc: Vec::new(),
            override_to: None,
            intervals: Intervals::default(),
            min_last_seen_days: 7,
            rate_per_minute: 30,
            token_days: 30,
            schedule: "0 */5 * * * *".into(),
        }
    }
}

impl NotifySettings {
    /// The parsed `smtp_url` (checked by `validate`).
    pub fn endpoint(&self) -> Result<SmtpEndpoint, Invalid> {
        SmtpEndpoint::parse(&self.smtp_url).map_err(|reason| Invalid {
            key: "smtp_url",
            reason,
        })
    }

    /// The sender mailbox (checked by `validate`).
    pub fn from_mailbox(&self) -> Result<Mailbox, Invalid> {
        match self.from.as_deref().map(str::trim) {
            None | Some("") => Err(Invalid {
                key: "from",
                reason: "must be set, e.g. from = \"Abuse Desk <abuse@example.net>\"".into(),
            }),
            Some(text) => parse_mailbox("from", text),
        }
    }

    /// A fresh Message-ID for notification number `n`, in the sender's domain.
    pub fn message_id(&self, n: i64) -> String {
        let from = self.from_mailbox().ok();
        let domain = from.as_ref().map_or("", |m| m.email.domain());
        super::digest::new_message_id(n, domain)
    }

    /// Checks the table. `from` is only required when `enabled`, so the disabled defaults
    /// pass; anything that is set is checked either way, so a mistake shows before the day
    /// notices are switched on.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key, reason: &str| {
            Err(Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        let endpoint = self.endpoint()?;
        if endpoint.security == SmtpSecurity::Plain && !crate::net::is_loopback_host(&endpoint.host)
        {
            return Err(Invalid {
                key: "smtp_url",
                reason: format!(
                    "plain smtp:// is only allowed to a loopback host (127.0.0.1, ::1, \
                     localhost), not '{host}': use smtps://{host}:465 or \
                     smtp://{host}:587?tls=required",
                    host = endpoint.host
                ),
            });
        }
        if endpoint.port == 0 {
            return invalid("smtp_url", "the port must be between 1 and 65535");
        }
        match (&self.smtp_username, &self.smtp_password) {
            (Some(user), _) if user.trim().is_empty() => {
                return invalid(
                    "smtp_username",
                    "must not be empty: remove it to send without login",
                )
            }
            (Some(_), None) => return invalid("smtp_password", "must be set with smtp_username"),
            (None, Some(_)) => return invalid("smtp_username", "must be set with smtp_password"),
            _ => {}
        }
        if self.enabled || self.from.is_some() {
            self.from_mailbox()?;
        }
        if let Some(reply_to) = &self.reply_to {
            parse_mailbox("reply_to", reply_to)?;
        }
        for bcc in &self.bcc {
            parse_mailbox("bcc", bcc)?;
        }
        if let Some(to) = &self.override_to {
            parse_mailbox("override_to", to)?;
        }
        let i = &self.intervals;
        for (key, hours) in [
            ("intervals.info_hours", i.info_hours),
            ("intervals.abuse_hours", i.abuse_hours),
            ("intervals.escalation_hours", i.escalation_hours),
        ] {
            if hours < 1 {
                return invalid(key, "must be at least 1 (hours between two notices)");
            }
        }
        if self.min_last_seen_days < 1 {
            return invalid("min_last_seen_days", "must be at least 1 (days)");
        }
        if self.rate_per_minute < 1 {
            return invalid(
                "rate_per_minute",
                "must be at least 1; set enabled = false to stop sending",
            );
        }
        if self.token_days < 1 {
            return invalid("token_days", "must be at least 1 (days a link stays valid)");
        }
        if tokio_cron_scheduler::Job::new_async(self.schedule.as_str(), |_, _| Box::pin(async {}))
            .is_err()
        {
            return Err(Invalid {
                key: "schedule",
                reason: format!(
                    "'{}' is not a cron string with seconds such as \"0 */5 * * * *\"",
                    self.schedule
                ),
            });
        }
        Ok(())
    }
}

/// A mailbox (`Name <addr@domain>` or `addr@domain`), or a reason naming the setting's form.
pub(crate) fn parse_mailbox(key: &'static str, text: &str) -> Result<Mailbox, Invalid> {
    text.trim().parse::<Mailbox>().map_err(|e| Invalid {
        key,
        reason: format!(
            "'{text}' is not a mail address ({e}); \
             write addr@example.net or \"Name <addr@example.net>\""
        ),
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
