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

/// A URL as it may be shown: the password of its user part and the values of query
/// parameters that hold one (`password`, `sslpassword`, `pass`, `secret`, `token`…) masked.
/// A URL too broken to parse is masked by its shape (`scheme://user:…@`), so a mistyped
/// database URL never shows its password in an error.
pub fn mask_url_password(url: &str) -> String {
    const MASK: &str = "********";
    let secretish = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["pass", "secret", "token", "key"]
            .iter()
            .any(|s| key.contains(s))
    };
    let parsed = url
        .contains("://")
        .then(|| url::Url::parse(url).ok())
        .flatten();
    let Some(mut parsed) = parsed else {
        return mask_by_shape(url);
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query_pairs().any(|(k, _)| secretish(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secretish(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if parsed.password().is_none() && !url.contains('@') && parsed.query().is_none() {
        return url.to_owned();
    }
    parsed.to_string()
}

/// `x://user:pw@rest` → `x://user:********@rest` without parsing; anything after a `?` is
/// dropped (it may hold a password too).
fn mask_by_shape(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let shown = match rest.rsplit_once('@') {
        Some((user, host)) => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{name}:********@{host}")
        }
        None => rest.to_owned(),
    };
    if scheme.is_empty() {
        shown
    } else {
        format!("{scheme}://{shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::mask_url_password as mask;

    #[test]
    fn passwords_in_urls_are_masked_wherever_they_are() {
        assert_eq!(mask("postgres://u:pw@h/db"), "postgres://u:********@h/db");
        let q = mask("postgres://h/db?user=u&password=hunter2&sslmode=disable");
        assert!(
            !q.contains("hunter2") && q.contains("sslmode=disable"),
            "{q}"
        );
        assert!(!mask("postgres://h/db?sslpassword=hunter2").contains("hunter2"));
        assert_eq!(mask("sqlite://abuse-desk.db"), "sqlite://abuse-desk.db");
        // Too broken to parse, and still masked.
        let broken = mask("postgress://u:hunter2@h:99999/db?password=x");
        assert!(
            !broken.contains("hunter2") && !broken.contains("=x"),
            "{broken}"
        );
        assert!(!mask("u:hunter2@h/db").contains("hunter2"));
    }
}
