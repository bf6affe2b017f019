//! The `[web]` table: where the queue listens, its public address and its sessions.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;
use crate::netblock::{Netblock, NetblockError};
use crate::secret::Secret;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Address the web queue listens on.
    pub bind: String,
    /// Public base URL, used in links sent to customers.
    pub public_url: String,
    /// Key for signing and encrypting session cookies (at least 64 characters, the same on
    /// every instance). Empty only when bound to loopback: a random key is then made at
    /// start, which logs everyone out on restart.
    pub session_key: Secret,
    /// How long a login lasts at most, in hours (fractions allowed).
    pub session_hours: f64,
    /// A login ends after this many minutes without a request.
    pub idle_minutes: u32,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// Directory of templates overriding the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// When set, `/metrics` also answers a scraper sending `Authorization: Bearer <this>`
    /// (staff logins and API tokens are always accepted). Empty: no such token.
    #[serde(default)]
    pub metrics_token: Secret,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            session_key: Secret::default(),
            session_hours: 12.0,
            idle_minutes: 120,
            trusted_proxies: Vec::new(),
            templates_dir: None,
            metrics_token: Secret::default(),
        }
    }
}

impl WebSettings {
    /// Checks what types alone cannot: the address, the URL, the key length, the lifetime.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.bind.parse::<SocketAddr>().is_err() {
            return Invalid::of(
                "web.bind",
                format!(
                    "'{}' is not an address:port such as 127.0.0.1:8080",
                    self.bind
                ),
            );
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Invalid::of(
                "web.public_url",
                format!("'{}' must start with http:// or https://", self.public_url),
            );
        }
        if let Err(reason) = self.key_problem() {
            return Invalid::of("web.session_key", reason);
        }
        if self.idle_minutes == 0 {
            return Invalid::of("web.idle_minutes", "must be at least 1");
        }
        if let Err(e) = self.proxies() {
            return Invalid::of("web.trusted_proxies", e.to_string());
        }
        if !(self.session_hours > 0.0 && self.session_hours <= 24.0 * 366.0) {
            return Invalid::of(
                "web.session_hours",
                "must be more than 0 and at most a year",
            );
        }
        Ok(())
    }

    /// Why `session_key` cannot be used, if it cannot: too short, or empty while the queue
    /// listens beyond loopback (several instances would each make their own random key, and
    /// every restart would log everyone out).
    pub fn key_problem(&self) -> Result<(), String> {
        let key_len = self.session_key.expose().chars().count();
        if key_len == 0 && !self.bound_to_loopback() {
            return Err(format!(
                "is empty, and web.bind {} is not a loopback address: set a random key of at \
                 least 64 characters (the same on every instance), e.g. from `openssl rand -hex 32`",
                self.bind
            ));
        }
        if key_len != 0 && key_len < 64 {
            return Err(format!("must be at least 64 characters (has {key_len})"));
        }
        Ok(())
    }

    /// Whether the queue listens on loopback only.
    pub fn bound_to_loopback(&self) -> bool {
        self.bind
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback())
    }

    /// Whether browsers reach the queue over https (`public_url`).
    pub fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// `trusted_proxies`, parsed.
    pub fn proxies(&self) -> Result<Vec<Netblock>, NetblockError> {
        self.trusted_proxies.iter().map(|p| p.parse()).collect()
    }
}
