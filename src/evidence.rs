//! The evidence of an event, from its stored raw report: the feedback fields, the original
//! message's headers and body. Everything here is text written by the sender of the spam, so
//! it is only ever handed to templates as plain strings (escaped there), and the addresses of
//! third-party recipients are masked unless an agent asks to see them.

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::arf::mime::{self, Kind};

/// How much of an original body is shown.
const BODY_LIMIT: usize = 64 * 1024;

/// What the ticket page shows of one report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Evidence {
    pub report_subject: String,
    pub report_from: String,
    /// The machine-readable `message/feedback-report` part, as text.
    pub feedback: Option<String>,
    /// The original message's header fields, unfolded, in order.
    pub headers: Vec<(String, String)>,
    /// The original body as text (decoded where mail-parser can), cut at 64 KiB.
    pub body: Option<String>,
    pub headers_only: bool,
    pub truncated: bool,
    /// How many distinct recipient addresses were masked.
    pub redacted: usize,
}

fn address_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+=\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9]")
            .unwrap_or_else(|_| unreachable!())
    })
}

/// Header fields naming the message's recipients.
const RECIPIENT_FIELDS: [&str; 8] = [
    "to",
    "cc",
    "bcc",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "original-rcpt-to",
    "removal-recipient",
];

/// Splits a header block into unfolded (name, value) fields.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        } else if !line.trim().is_empty() {
            // mbox "From " lines and other debris: kept, so nothing is hidden from the agent.
            out.push((String::new(), line.trim().to_owned()));
        }
    }
    out
}

/// Splits a message at the first empty line.
fn split_message(text: &str) -> (&str, Option<&str>) {
    for sep in ["\r\n\r\n", "\n\n", "\r\r"] {
        if let Some(at) = text.find(sep) {
            return (&text[..at], Some(&text[at + sep.len()..]));
        }
    }
    (text, None)
}

fn body_text(original: &[u8], raw_body: &str) -> String {
    let parsed = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse(original)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    })
    .ok()
    .flatten();
    parsed.unwrap_or_else(|| raw_body.to_owned())
}

impl Evidence {
    /// What the customer may see of its own report: no third-party recipient at all — the
    /// recipient fields of the original and of the report are left out, and the addresses
    /// they named are masked wherever else they appear.
    pub fn for_customer(raw: &[u8]) -> Self {
        let mut ev = evidence_of(raw, true);
        ev.headers
            .retain(|(name, _)| !RECIPIENT_FIELDS.contains(&name.to_ascii_lowercase().as_str()));
        ev.feedback = ev.feedback.map(|text| {
            text.lines()
                .filter(|line| {
                    let name = line
                        .split(':')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    !RECIPIENT_FIELDS.contains(&name.as_str())
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        ev
    }
}

/// The evidence of a stored report; `redact` masks third-party recipients.
pub fn evidence_of(raw: &[u8], redact: bool) -> Evidence {
    let mut ev = Evidence::default();
    let Some(scanned) = mime::scan(raw) else {
        ev.body = Some(String::from_utf8_lossy(&raw[..raw.len().min(BODY_LIMIT)]).into_owned());
        ev.truncated = raw.len() > BODY_LIMIT;
        return ev;
    };
    ev.report_subject = scanned.subject.clone();
    ev.report_from = scanned.from.clone();
    for leaf in &scanned.leaves {
        match leaf.kind {
            Kind::Feedback if ev.feedback.is_none() => {
                ev.feedback = Some(String::from_utf8_lossy(&leaf.bytes).into_owned());
            }
            Kind::Original(headers_only) if ev.headers.is_empty() => {
                let text = String::from_utf8_lossy(&leaf.bytes).into_owned();
                let (head, body) = split_message(&text);
                ev.headers = fields(head);
                ev.headers_only = headers_only || body.is_none();
                if let Some(body) = body.filter(|_| !headers_only) {
                    let mut body = body_text(&leaf.bytes, body);
                    if body.len() > BODY_LIMIT {
                        let mut cut = BODY_LIMIT;
                        while !body.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        body.truncate(cut);
                        ev.truncated = true;
                    }
                    ev.body = Some(body);
                }
            }
            _ => {}
        }
    }
    if redact {
        mask_recipients(&mut ev);
    }
    ev
}

/// Replaces every recipient address (from the original's recipient headers and the report's
/// Original-Rcpt-To) wherever it appears, keeping the domain for context.
fn mask_recipients(ev: &mut Evidence) {
    let mut recipients: Vec<String> = Vec::new();
    let feedback_fields = ev.feedback.as_deref().map(fields).unwrap_or_default();
    for (name, value) in ev.headers.iter().chain(&feedback_fields) {
        if RECIPIENT_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            for m in address_re().find_iter(value) {
                let addr = m.as_str().to_ascii_lowercase();
                if !recipients.contains(&addr) {
                    recipients.push(addr);
                }
            }
        }
    }
    ev.redacted = recipients.len();
    if recipients.is_empty() {
        return;
    }
    let mask = |text: &str| -> String {
        address_re()
            .replace_all(text, |c: &regex::Captures<'_>| {
                let found = &c[0];
                if recipients.contains(&found.to_ascii_lowercase()) {
                    let domain = found.rsplit_once('@').map_or("", |(_, d)| d);
                    format!("[recipient]@{domain}")
                } else {
                    found.to_owned()
                }
            })
            .into_owned()
    };
    for (_, value) in &mut ev.headers {
        *value = mask(value);
    }
    ev.feedback = ev.feedback.as_deref().map(mask);
    ev.body = ev.body.as_deref().map(mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked_everywhere_senders_are_not() {
        let raw = b"From: fbl@aol.example\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nA complaint\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\n\
Feedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\nOriginal-Rcpt-To: victim@mail.example\r\n--b\r\n\
Content-Type: message/rfc822\r\n\r\nFrom: spammer@shop.example\r\nTo: Victim <victim@mail.example>\r\n\
Received: from x by y for <victim@mail.example>;\r\nSubject: buy\r\n\r\nHello victim@mail.example\r\n--b--\r\n";
        let ev = evidence_of(raw, true);
        let all = format!("{:?}", ev);
        assert!(!all.contains("victim@"), "{all}");
        assert!(all.contains("[recipient]@mail.example"));
        assert!(all.contains("spammer@shop.example"));
        assert_eq!(ev.redacted, 1);
        let shown = evidence_of(raw, false);
        assert!(format!("{:?}", shown).contains("victim@mail.example"));
    }
}
