//! What every HTTP adapter shares: one blocking client per upstream with its timeouts, the
//! sorting of failures into transient and permanent, and the vendor's words made safe to
//! keep (trimmed, credentials masked, no URL).

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};

use super::{Answer, UpstreamError};
use crate::secret::Secret;

/// The most of a vendor's words kept in an answer or an error.
pub const MAX_WORDS: usize = 500;

/// An answer body larger than this is cut: the API answers here are a few lines, and a
/// misconfigured URL must not make us read a whole download.
const MAX_BODY: u64 = 1024 * 1024;

/// How a connection is set up, the same for every vendor.
pub(crate) fn client(timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .timeout(timeout)
        // A dead host should fail fast even when a slow vendor call is allowed longer.
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("abuse-desk/", env!("CARGO_PKG_VERSION")))
        // An API that redirects is misconfigured; following it could send the credentials
        // somewhere else, so a redirect is a failure like any other unexpected status.
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// One upstream's client and the credentials that must never appear in what it reports.
///
/// The client is built at the first call, on the caller's (blocking) thread: reqwest's
/// blocking client refuses to be built from async code, and settings are loaded there too.
pub(crate) struct Http {
    timeout: Duration,
    client: OnceLock<Client>,
    secrets: Vec<Secret>,
}

/// An HTTP answer of any status, its body read (and cut at `MAX_BODY`).
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

impl Http {
    pub fn new(timeout: Duration, secrets: Vec<Secret>) -> Self {
        Self {
            timeout,
            client: OnceLock::new(),
            secrets,
        }
    }

    /// The client, built now if this is the first call.
    pub fn client(&self) -> Result<&Client, UpstreamError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // Fails only when the TLS backend cannot start: nothing a retry would change.
        let built = client(self.timeout).map_err(|e| {
            UpstreamError::permanent(
                None,
                format!("cannot set up an HTTP client: {}", root_cause(&e)),
            )
        })?;
        // Two first calls at once: one client wins, the other is dropped here, unused.
        Ok(self.client.get_or_init(|| built))
    }

    /// Sends the request and sorts the outcome: a network failure or an HTTP status that
    /// says "later" is `Transient`, any other non-2xx status is `Permanent`; a 2xx answer is
    /// returned for the adapter to read its body.
    pub fn send(&self, request: RequestBuilder) -> Result<Reply, UpstreamError> {
        let mut response = request.send().map_err(|e| network_error(&e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        if let Err(e) = (&mut response).take(MAX_BODY).read_to_end(&mut bytes) {
            // Cut off while reading the answer: the vendor may or may not have acted.
            return Err(UpstreamError::transient(
                Some(status),
                format!("the answer broke off: {}", io_words(&e)),
            ));
        }
        let reply = Reply {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        match status {
            200..=299 => Ok(reply),
            408 | 429 | 500..=599 => Err(UpstreamError::transient(
                Some(status),
                self.status_words(&reply),
            )),
            _ => Err(UpstreamError::permanent(
                Some(status),
                self.status_words(&reply),
            )),
        }
    }

    /// Text from a vendor, safe to store and show: credentials masked, whitespace trimmed,
    /// at most `MAX_WORDS` characters.
    pub fn words(&self, text: &str) -> String {
        let mut text = text.trim().to_owned();
        for secret in &self.secrets {
            let secret = secret.expose();
            // A very short "secret" would mask ordinary letters; it protects nothing anyway.
            if secret.len() >= 4 {
                text = text.replace(secret, "********");
            }
        }
        clip(&text, MAX_WORDS)
    }

    /// An answer with the vendor's words, or `fallback` when it said nothing.
    pub fn answer(&self, status: u16, text: &str, fallback: impl FnOnce() -> String) -> Answer {
        let words = self.words(text);
        Answer {
            status: Some(status),
            message: if words.is_empty() { fallback() } else { words },
        }
    }

    /// What an error status answer says: the `message` or `reason` of a JSON body, the plain
    /// text of a short body, else the status's own name.
    fn status_words(&self, reply: &Reply) -> String {
        let body = reply.body.trim();
        let from_json = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| json_message(&v));
        let text = match from_json {
            Some(text) => text,
            // An HTML error page is markup, not words; the status says it better.
            None if body.starts_with('<') => String::new(),
            None => body.to_owned(),
        };
        let words = self.words(&text);
        if words.is_empty() {
            reqwest::StatusCode::from_u16(reply.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no explanation given")
                .to_owned()
        } else {
            words
        }
    }
}

/// The human part of a JSON error body, under the names vendors use for it.
fn json_message(value: &serde_json::Value) -> Option<String> {
    for pointer in [
        "/message",
        "/metadata/reason",
        "/reason",
        "/error",
        "/error/message",
    ] {
        if let Some(text) = value.pointer(pointer).and_then(|v| v.as_str()) {
            return Some(text.to_owned());
        }
    }
    None
}

/// Describes a failure to get an answer, without the URL reqwest would print.
pub(crate) fn network_error(error: &reqwest::Error) -> UpstreamError {
    let status = error.status().map(|s| s.as_u16());
    let cause = root_cause(error);
    if error.is_timeout() {
        UpstreamError::transient(status, "no answer within the timeout")
    } else if error.is_connect() {
        UpstreamError::transient(status, format!("cannot connect: {cause}"))
    } else if error.is_builder() {
        UpstreamError::permanent(status, format!("cannot build the request: {cause}"))
    } else {
        UpstreamError::transient(status, format!("the connection failed: {cause}"))
    }
}

/// The innermost cause of a reqwest error, which names what went wrong (refused, reset, a
/// certificate): only the outer layer, which we skip, prints the URL.
fn root_cause(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut last = None;
    let mut cause = error.source();
    while let Some(next) = cause {
        last = Some(next);
        cause = next.source();
    }
    match last {
        Some(cause) => cause.to_string(),
        None if error.is_decode() => "the answer could not be decoded".into(),
        None if error.is_body() => "the request or answer body failed".into(),
        None => "the request failed".into(),
    }
}

/// Describes a failure while reading an answer body. reqwest hands it over as an I/O error
/// wrapping its own error, whose Display would name the URL: describe that one ourselves.
fn io_words(error: &std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
    {
        Some(inner) if inner.is_timeout() => "no answer within the timeout".into(),
        Some(inner) => root_cause(inner),
        None => error.kind().to_string(),
    }
}

/// At most `max` characters, cut at a character boundary, an ellipsis marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters_not_bytes() {
        let long = "ä".repeat(600);
        let cut = clip(&long, MAX_WORDS);
        assert_eq!(cut.chars().count(), MAX_WORDS);
        assert!(cut.ends_with('…'));
        assert_eq!(clip("short", MAX_WORDS), "short");
    }

    #[test]
    fn words_mask_credentials() {
        let http = Http::new(Duration::from_secs(1), vec![Secret::new("hunter22")]);
        assert_eq!(
            http.words("  bad password hunter22 for api  "),
            "bad password ******** for api"
        );
    }
}
