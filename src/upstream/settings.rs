//! One `[[upstreams]]` table of the settings file: which vendor API acts on which targets,
//! where it is and how we log in. Checked whole by `validate`, which names the wrong key.

use serde::{Deserialize, Serialize};

pub use crate::invalid::Invalid;

use super::{spamexperts_cp, TargetKind};
use crate::secret::Secret;

/// The vendor API an upstream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamKind {
    /// SpamExperts Software API (Local Cloud): `/cgi-bin/api?call=…`.
    Spamexperts,
    /// SpamExperts Control Panel API: `/api/{controller}/{action}/format/json/…`.
    SpamexpertsCp,
    /// WHMCS API: suspends and unsuspends the customer's service.
    Whmcs,
    /// cPanel WHM API 1: outgoing mail and account suspension.
    Cpanel,
    /// Our own signed JSON POST, for anything else.
    Webhook,
    /// In-process stand-in that always succeeds after a short delay (`serve --demo`).
    Demo,
}

impl UpstreamKind {
    /// The name written in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spamexperts => "spamexperts",
            Self::SpamexpertsCp => "spamexperts-cp",
            Self::Whmcs => "whmcs",
            Self::Cpanel => "cpanel",
            Self::Webhook => "webhook",
            Self::Demo => "demo",
        }
    }

    /// The targets this vendor API can act on.
    pub fn supported_targets(self) -> &'static [TargetKind] {
        use TargetKind::*;
        match self {
            // The Software API publishes identity locks only (api_lock_outgoing_identity).
            Self::Spamexperts => &[Identity],
            Self::SpamexpertsCp => &[Identity, OutgoingUser],
            Self::Whmcs => &[Account],
            Self::Cpanel => &[OutgoingUser, Account],
            Self::Webhook | Self::Demo => &TargetKind::ALL,
        }
    }
}

/// An upstream vendor API, as configured.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Short unique name, shown to staff and in the audit log: letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// Which vendor API: `spamexperts`, `spamexperts-cp`, `whmcs`, `cpanel`, `webhook`, `demo`.
    pub kind: UpstreamKind,
    /// Base URL of the API (`https://filter.example.net`; for cPanel with port 2087). Plain
    /// `http://` only to a loopback host. Not used by `demo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// API user (spamexperts, spamexperts-cp: HTTP basic auth; cpanel: the WHM user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// API password (spamexperts, spamexperts-cp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The targets this upstream acts on, of `identity`, `outgoing_user`, `account`. The first
    /// configured upstream that handles a target acts on it; none means the action is manual.
    #[serde(default)]
    pub targets: Vec<TargetKind>,
    /// How long one call may take, connect included, in seconds (1 to 300).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// spamexperts: the Software API call that unlocks an identity (the vendor publishes none;
    /// ask for it, e.g. `api_unlock_outgoing_identity`). Without it unlocks are manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_call: Option<String>,
    /// spamexperts-cp: `controller/action/param/{placeholder}/…` that locks an identity;
    /// placeholders `{domain}`, `{username}`, `{identity}`. Required for the identity target:
    /// the vendor's published documentation names no identity call for this API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_identity_path: Option<String>,
    /// spamexperts-cp: the same for unlocking an identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_identity_path: Option<String>,
    /// spamexperts-cp: `controller/action/param/{placeholder}/…` that locks an outgoing user,
    /// placeholders `{domain}` and `{username}`, e.g.
    /// `outgoingusers/ACTION/domain/{domain}/username/{username}` (the vendor's add-ons use the
    /// `outgoingusers` controller; the lock action is in the panel's `/api/help/`). Required
    /// for outgoing_user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_user_path: Option<String>,
    /// spamexperts-cp: the same for unlocking an outgoing user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_user_path: Option<String>,
    /// whmcs: the API credential's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// whmcs: the API credential's secret; webhook: the HMAC-SHA256 signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// cpanel: a WHM API token of `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

fn default_timeout() -> u64 {
    20
}

fn invalid(key: &'static str, reason: impl Into<String>) -> Result<(), Invalid> {
    Invalid::of(key, reason)
}

impl UpstreamSettings {
    /// The settings of an in-process demo upstream that handles every target.
    pub fn demo(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: UpstreamKind::Demo,
            url: None,
            username: None,
            password: None,
            targets: TargetKind::ALL.to_vec(),
            timeout_secs: default_timeout(),
            unlock_call: None,
            lock_identity_path: None,
            unlock_identity_path: None,
            lock_user_path: None,
            unlock_user_path: None,
            identifier: None,
            secret: None,
            token: None,
        }
    }

    /// The base URL without a trailing `/`, for appending paths (`validate` made sure it is set).
    pub(crate) fn base_url(&self) -> String {
        self.url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned()
    }

    /// Checks one upstream on its own; `Upstreams::from_settings` checks that names are unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return invalid("name", "must be non-empty letters, digits, '.', '_' or '-'");
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return invalid("timeout_secs", "must be between 1 and 300 seconds");
        }
        self.validate_targets()?;
        self.validate_url()?;
        self.validate_fields()?;
        if let Some(call) = &self.unlock_call {
            if call.is_empty() || !call.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return invalid(
                    "unlock_call",
                    "must be a Software API call name of letters, digits and '_'",
                );
            }
        }
        for (key, path, target) in [
            (
                "lock_identity_path",
                &self.lock_identity_path,
                TargetKind::Identity,
            ),
            (
                "unlock_identity_path",
                &self.unlock_identity_path,
                TargetKind::Identity,
            ),
            (
                "lock_user_path",
                &self.lock_user_path,
                TargetKind::OutgoingUser,
            ),
            (
                "unlock_user_path",
                &self.unlock_user_path,
                TargetKind::OutgoingUser,
            ),
        ] {
            match path {
                Some(path) => {
                    if let Err(reason) = spamexperts_cp::check_path(path, target) {
                        return invalid(key, reason);
                    }
                }
                None if self.kind == UpstreamKind::SpamexpertsCp
                    && self.targets.contains(&target) =>
                {
                    return invalid(
                        key,
                        format!(
                            "must be set to act on the {} target: \"{}\", with the controller and action your panel's API help (/api/help/) lists",
                            target.as_str(),
                            spamexperts_cp::example_path(key)
                        ),
                    );
                }
                None => {}
            }
        }
        Ok(())
    }

    fn validate_targets(&self) -> Result<(), Invalid> {
        let supported = self.kind.supported_targets();
        let names = supported
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if self.targets.is_empty() {
            return invalid("targets", format!("must name at least one of: {names}"));
        }
        for (i, target) in self.targets.iter().enumerate() {
            if self.targets[..i].contains(target) {
                return invalid("targets", format!("names {target} twice"));
            }
            if !supported.contains(target) {
                let hint = match (self.kind, target) {
                    (UpstreamKind::Spamexperts, TargetKind::OutgoingUser) => {
                        "; the Software API locks identities only: use kind spamexperts-cp for outgoing users"
                    }
                    _ => "",
                };
                return invalid(
                    "targets",
                    format!(
                        "{target} is not possible with kind {}, which acts on: {names}{hint}",
                        self.kind.as_str()
                    ),
                );
            }
        }
        Ok(())
    }

    fn validate_url(&self) -> Result<(), Invalid> {
        let Some(text) = &self.url else {
            if self.kind == UpstreamKind::Demo {
                return Ok(());
            }
            return invalid("url", "must be set");
        };
        if self.kind == UpstreamKind::Demo {
            return invalid("url", "a demo upstream runs in-process and takes no url");
        }
        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(e) => return invalid("url", format!("is not a URL: {e}")),
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return invalid("url", "must name a host");
        }
        match url.scheme() {
            "https" => {}
            "http" if crate::net::is_loopback_host(host) => {}
            "http" => {
                return invalid(
                    "url",
                    "must use https://; plain http:// is only allowed to a loopback host (127.0.0.1, ::1, localhost), since credentials travel with every call",
                )
            }
            other => return invalid("url", format!("must be https://, not {other}://")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid(
                "url",
                "must not carry credentials: put them in username / password / token, which are never printed",
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return invalid(
                "url",
                "must be the API's base URL, without ?query or #fragment",
            );
        }
        // The adapters append the API's own path; a URL that already holds it would double it.
        let appended = match self.kind {
            UpstreamKind::Spamexperts => "/cgi-bin/api",
            UpstreamKind::SpamexpertsCp => "/api",
            UpstreamKind::Whmcs => "/includes/api.php",
            UpstreamKind::Cpanel => "/json-api",
            UpstreamKind::Webhook | UpstreamKind::Demo => "",
        };
        if !appended.is_empty() && url.path().trim_end_matches('/').ends_with(appended) {
            return invalid(
                "url",
                format!(
                    "must be the base URL, without {appended}: that part is added to each call"
                ),
            );
        }
        Ok(())
    }

    /// Credentials each kind needs, and settings that would be silently ignored.
    fn validate_fields(&self) -> Result<(), Invalid> {
        use UpstreamKind::*;
        let set = |present: bool, key: &'static str, needed: bool| match (present, needed) {
            (false, true) => invalid(key, format!("must be set for kind {}", self.kind.as_str())),
            (true, false) => invalid(key, format!("is not used by kind {}", self.kind.as_str())),
            _ => Ok(()),
        };
        let present = |s: &Option<Secret>| s.as_ref().is_some_and(|s| !s.expose().is_empty());
        let text = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
        let k = self.kind;
        set(
            text(&self.username),
            "username",
            matches!(k, Spamexperts | SpamexpertsCp | Cpanel),
        )?;
        set(
            present(&self.password),
            "password",
            matches!(k, Spamexperts | SpamexpertsCp),
        )?;
        set(text(&self.identifier), "identifier", k == Whmcs)?;
        set(
            present(&self.secret),
            "secret",
            matches!(k, Whmcs | Webhook),
        )?;
        set(present(&self.token), "token", k == Cpanel)?;
        if self.unlock_call.is_some() && k != Spamexperts {
            return invalid("unlock_call", format!("is not used by kind {}", k.as_str()));
        }
        for (key, path) in [
            ("lock_identity_path", &self.lock_identity_path),
            ("unlock_identity_path", &self.unlock_identity_path),
            ("lock_user_path", &self.lock_user_path),
            ("unlock_user_path", &self.unlock_user_path),
        ] {
            if path.is_some() && k != SpamexpertsCp {
                return invalid(key, format!("is not used by kind {}", k.as_str()));
            }
        }
        Ok(())
    }
}
