//! The evidence of an event, from its stored raw report: the feedback fields, the original
//! message's headers and body. Everything here is text written by the sender of the spam, so
//! it is only ever handed to templates as plain strings (escaped there), and the addresses of
//! third-party recipients are masked unless an agent asks to see them.

mod recipients;

use serde::Serialize;

use crate::arf::mime::{self, Kind};
use recipients::{is_address_char, is_recipient_field, Recipients};

/// How much of an original body is shown.
const BODY_LIMIT: usize = 64 * 1024;

/// How much of the raw original body is decoded: enough for [`BODY_LIMIT`] of text in any
/// transfer encoding (base64 grows text by a third, quoted-printable at most threefold).
const RAW_BODY_LIMIT: usize = 4 * BODY_LIMIT;

/// How much of the feedback report part is shown.
const FEEDBACK_LIMIT: usize = 64 * 1024;

/// How many header fields of the original are shown, how much of each name and value, and
/// how much of them all.
const FIELDS_LIMIT: usize = 500;
const NAME_LIMIT: usize = 256;
const VALUE_LIMIT: usize = 8 * 1024;
const HEADERS_LIMIT: usize = 128 * 1024;

/// What the ticket page shows of one report. Every part is bounded, whatever the report's
/// size: a report naming tens of thousands of recipients costs no more than a few to show.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Evidence {
    pub report_subject: String,
    pub report_from: String,
    /// The machine-readable `message/feedback-report` part, as text, cut at 64 KiB.
    pub feedback: Option<String>,
    /// The original message's header fields, unfolded, in order; at most 500, each value
    /// cut at 8 KiB.
    pub headers: Vec<(String, String)>,
    /// The original body as text (decoded where mail-parser can), cut at 64 KiB.
    pub body: Option<String>,
    pub headers_only: bool,
    pub truncated: bool,
    /// How many distinct recipient addresses were masked.
    pub redacted: usize,
}

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
fn split_message(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    for sep in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
        if let Some(at) = memchr::memmem::find(bytes, sep) {
            return (&bytes[..at], Some(&bytes[at + sep.len()..]));
        }
    }
    (bytes, None)
}

/// Cuts `text` to at most `limit` bytes; true when anything was cut off. `more` says the
/// text was already cut from a longer one, so its end may split an address too. A cut falls
/// before any address it would split, so that what stays shows either a whole address
/// (which masking recognises) or none of it.
fn cut(text: &mut String, limit: usize, more: bool) -> bool {
    if text.len() <= limit && !more {
        return false;
    }
    let mut at = limit.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let kept = text[..at]
        .char_indices()
        .rev()
        .find(|(_, c)| !is_address_char(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    text.truncate(kept);
    true
}

/// Bounds the header fields shown: at most [`FIELDS_LIMIT`] of them, each name cut at
/// [`NAME_LIMIT`] and each value at [`VALUE_LIMIT`], all of them together at [`HEADERS_LIMIT`].
fn bound_fields(fields: &mut Vec<(String, String)>) {
    let mut budget = HEADERS_LIMIT;
    let mut shown = 0;
    for (name, value) in fields.iter_mut() {
        if shown == FIELDS_LIMIT || budget == 0 {
            break;
        }
        cut(name, NAME_LIMIT, false);
        let length = value.len();
        if cut(value, VALUE_LIMIT.min(budget), false) {
            value.push_str(&format!(" … ({} more bytes)", length - value.len()));
        }
        budget = budget.saturating_sub(name.len() + value.len());
        shown += 1;
    }
    let hidden = fields.len() - shown;
    fields.truncate(shown);
    if hidden > 0 {
        fields.push((String::new(), format!("… ({hidden} more header fields)")));
    }
}

/// The original's body as text: only its first [`RAW_BODY_LIMIT`] bytes are decoded, with
/// the original's MIME header fields, so a huge body (or a huge header block) costs no more
/// than a small one.
fn body_text(headers: &[(String, String)], raw_body: &[u8]) -> String {
    let raw_body = &raw_body[..raw_body.len().min(RAW_BODY_LIMIT)];
    let mut message = Vec::with_capacity(raw_body.len() + 512);
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("content-") || lower == "mime-version" {
            message.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    message.extend_from_slice(b"\r\n");
    message.extend_from_slice(raw_body);
    let parsed = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse(&message)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    })
    .ok()
    .flatten();
    parsed.unwrap_or_else(|| String::from_utf8_lossy(raw_body).into_owned())
}

impl Evidence {
    /// What the customer may see of its own report: no third-party recipient at all — the
    /// recipient fields of the original and of the report are left out, and the addresses
    /// they named are masked wherever else they appear.
    pub fn for_customer(raw: &[u8]) -> Self {
        let mut ev = evidence_of(raw, true);
        ev.headers.retain(|(name, _)| !is_recipient_field(name));
        ev.feedback = ev.feedback.map(|text| {
            text.lines()
                .filter(|line| !is_recipient_field(line.split(':').next().unwrap_or("").trim()))
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
        let mut body = String::from_utf8_lossy(&raw[..raw.len().min(BODY_LIMIT)]).into_owned();
        ev.truncated = cut(&mut body, BODY_LIMIT, raw.len() > BODY_LIMIT);
        ev.body = Some(body);
        return ev;
    };
    ev.report_subject = scanned.subject.clone();
    ev.report_from = scanned.from.clone();
    // Recipients are read from the whole fields, before anything is cut for showing.
    let mut recipients = Recipients::default();
    for leaf in &scanned.leaves {
        match leaf.kind {
            Kind::Feedback if ev.feedback.is_none() => {
                let text = String::from_utf8_lossy(&leaf.bytes).into_owned();
                if redact {
                    recipients.add_fields(&text);
                }
                ev.feedback = Some(text);
            }
            Kind::Original(headers_only) if ev.headers.is_empty() => {
                let (head, body) = split_message(&leaf.bytes);
                let head = String::from_utf8_lossy(head);
                ev.headers = fields(&head);
                if redact {
                    recipients.add_fields(&head);
                }
                ev.headers_only = headers_only || body.is_none();
                if let Some(body) = body.filter(|_| !headers_only) {
                    let mut text = body_text(&ev.headers, body);
                    ev.truncated = cut(&mut text, BODY_LIMIT, body.len() > RAW_BODY_LIMIT);
                    ev.body = Some(text);
                }
            }
            _ => {}
        }
    }
    if let Some(feedback) = ev.feedback.as_mut() {
        if cut(feedback, FEEDBACK_LIMIT, false) {
            feedback.push_str("\n…");
        }
    }
    bound_fields(&mut ev.headers);
    if redact {
        recipients.mask(&mut ev);
    }
    ev
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

    #[test]
    fn a_cut_never_splits_an_address() {
        let mut text = "to: victim123@mail.example, other@mail.example".to_owned();
        assert!(cut(&mut text, 20, false));
        assert_eq!(text, "to: ");
        let mut text = "ends in victim@mail.exa".to_owned();
        assert!(
            cut(&mut text, 100, true),
            "a text cut before may end mid-address"
        );
        assert_eq!(text, "ends in ");
        let mut short = "fits".to_owned();
        assert!(!cut(&mut short, 100, false));
    }

    #[test]
    fn the_header_fields_shown_are_bounded() {
        let mut fields: Vec<(String, String)> = (0..2_000)
            .map(|i| (format!("X-{i}"), "v".repeat(100)))
            .collect();
        fields.insert(0, ("To".into(), "a@b.example, ".repeat(10_000)));
        bound_fields(&mut fields);
        assert_eq!(fields.len(), FIELDS_LIMIT + 1);
        assert!(
            fields[0].1.len() < VALUE_LIMIT + 100,
            "{}",
            fields[0].1.len()
        );
        assert!(fields[0].1.ends_with("more bytes)"));
        assert_eq!(fields[FIELDS_LIMIT].1, "… (1501 more header fields)");
    }
}
