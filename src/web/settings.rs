//! The `[web]` table: where the queue listens, its public address and its sessions.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;
use crate::secret::Secret;

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

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            session_key: Secret::default(),
            session_hours: 12.0,
            templates_dir: None,
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
        let key_len = self.session_key.expose().len();
        if key_len != 0 && key_len < 64 {
            return Invalid::of(
                "web.session_key",
                format!("must be at least 64 characters (has {key_len})"),
            );
        }
        if !(self.session_hours > 0.0 && self.session_hours <= 24.0 * 366.0) {
            return Invalid::of(
                "web.session_hours",
                "must be more than 0 and at most a year",
            );
        }
        Ok(())
    }
}
