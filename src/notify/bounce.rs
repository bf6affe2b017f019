//! Bounces of our own notices: a delivery status notification (RFC 3464) that comes back to
//! the abuse mailbox names the notice it returns (our Message-ID in the returned headers) and
//! the addresses that failed. Read from the raw message alone, so the ingest path can tell
//! one in passing; it is still kept in the quarantine like any other message that is not a
//! feedback report.

use std::sync::OnceLock;

use regex::Regex;

/// A returned notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounce {
    /// The notice's Message-ID, `<notify-…>`.
    pub message_id: String,
    /// The recipients whose delivery failed.
    pub failed: Vec<String>,
}

fn notice_id_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"<notify-[0-9]+\.[0-9a-f]+@[A-Za-z0-9.\-]+>").unwrap_or_else(|_| unreachable!())
    })
}

/// The bounce in `raw`, if it is a delivery status notification about one of our notices
/// with at least one failed recipient.
pub fn read(raw: &[u8]) -> Option<Bounce> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(256 * 1024)]);
    let lower = text.to_ascii_lowercase();
    if !lower.contains("delivery-status") {
        return None;
    }
    let message_id = notice_id_re().find(&text)?.as_str().to_owned();
    // Per-recipient blocks of the status part: a Final-Recipient, and its Action.
    let mut failed = Vec::new();
    let mut recipient: Option<String> = None;
    for line in text.lines() {
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), v.trim()),
            None => continue,
        };
        match name.as_str() {
            "final-recipient" => {
                recipient = value
                    .split_once(';')
                    .map_or(value, |(_, a)| a)
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_ascii_lowercase()
                    .into();
            }
            "action" if value.eq_ignore_ascii_case("failed") => {
                if let Some(r) = recipient.take().filter(|r| r.contains('@')) {
                    if !failed.contains(&r) {
                        failed.push(r);
                    }
                }
            }
            _ => {}
        }
    }
    (!failed.is_empty()).then_some(Bounce { message_id, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = include_str!("../../tests/fixtures/arf-extra/bounce-dsn.eml");

    #[test]
    fn a_bounce_of_a_notice_names_it_and_the_failed_address() {
        assert_eq!(read(DSN.as_bytes()), None, "not about one of our notices");
        let ours = DSN.replace(
            "Subject: hello",
            "Subject: hello\nMessage-ID: <notify-42.00ff00ff00ff00ff@isp.example>",
        );
        assert_eq!(
            read(ours.as_bytes()),
            Some(Bounce {
                message_id: "<notify-42.00ff00ff00ff00ff@isp.example>".into(),
                failed: vec!["nobody@elsewhere.example".into()],
            })
        );
        let delayed = ours.replace("Action: failed", "Action: delayed");
        assert_eq!(read(delayed.as_bytes()), None, "only failures count");
    }
}
