//! Values that must never reach a log or a terminal (passwords, API keys, session keys).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must never reach a log or a terminal: `Debug`, `Display` and serialisation
/// all print a mask.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"********\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// 32 random bytes as lower-case hex: session CSRF tokens, API tokens, passwords made for
/// the demo.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    crate::hex::hex(&bytes)
}
