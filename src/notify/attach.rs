//! The evidence attached to a notice: for a ticket's latest report, its feedback fields
//! (`message/feedback-report`) and the original message's header fields
//! (`text/rfc822-headers`), both as `crate::evidence` gives them with third-party recipients
//! masked. The original body is not attached: it is the spam itself, and the customer needs
//! the headers to find the sender, not the payload.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, SinglePart};

use super::digest::DigestTicket;

/// At most this many tickets get their report attached: a digest of hundreds of tickets
/// would otherwise become a mail too large to deliver. The text says how many were left out.
pub const MAX_ATTACHED_TICKETS: usize = 20;

/// SMTP's line limit (RFC 5321 4.5.3.1.6), without the CRLF.
const MAX_LINE: usize = 998;

/// One attachment, named for the text that lists it.
pub struct EvidencePart {
    pub filename: String,
    pub part: SinglePart,
}

/// The attachments for `ticket`'s latest report (none without one, or when it is not a
/// report that evidence can read).
pub fn evidence_parts(ticket: &DigestTicket) -> Vec<EvidencePart> {
    let Some(raw) = ticket.latest_report.as_deref() else {
        return Vec::new();
    };
    let evidence = crate::evidence::evidence_of(raw, true);
    let mut parts = Vec::new();
    if let Some(feedback) = evidence.feedback.as_deref() {
        let filename = format!("ticket-{}-report.txt", ticket.id);
        parts.push(EvidencePart {
            part: feedback_part(&filename, feedback),
            filename,
        });
    }
    if !evidence.headers.is_empty() {
        let mut text = String::new();
        for (name, value) in &evidence.headers {
            if !name.is_empty() {
                text.push_str(name);
                text.push_str(": ");
            }
            text.push_str(value);
            text.push_str("\r\n");
        }
        let filename = format!("ticket-{}-headers.txt", ticket.id);
        let content_type = ContentType::parse("text/rfc822-headers; charset=utf-8")
            .unwrap_or(ContentType::TEXT_PLAIN);
        parts.push(EvidencePart {
            // lettre picks 7bit, quoted-printable or base64 as the text needs.
            part: Attachment::new(filename.clone()).body(text, content_type),
            filename,
        });
    }
    parts
}

/// `message/feedback-report` allows no transfer encoding but 7bit (RFC 5965 inherits the
/// rules of message/*), and its fields often run past the 76 characters under which lettre
/// would choose 7bit itself: so plain ASCII lines up to SMTP's limit are written as they are,
/// with CRLF line ends. Fields that are not (8-bit text, endless lines) go as text/plain,
/// which may be encoded, rather than as a report part no mail program could read.
fn feedback_part(filename: &str, feedback: &str) -> SinglePart {
    let text = feedback.trim_end().replace("\r\n", "\n");
    let seven_bit = text.is_ascii()
        && !text.contains(['\0', '\r'])
        && text.lines().all(|l| l.len() <= MAX_LINE);
    if let (true, Ok(content_type)) = (seven_bit, ContentType::parse("message/feedback-report")) {
        let mut crlf = String::with_capacity(text.len() + 64);
        for line in text.lines() {
            crlf.push_str(line);
            crlf.push_str("\r\n");
        }
        let body =
            Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit);
        return Attachment::new(filename.to_owned()).body(body, content_type);
    }
    Attachment::new(filename.to_owned()).body(text + "\n", ContentType::TEXT_PLAIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::Why;

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/arf/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn ticket(report: Option<Vec<u8>>) -> DigestTicket {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        DigestTicket {
            id: 9,
            class: "abuse".into(),
            subject_kind: "identity".into(),
            subject: "x@example.com".into(),
            identity: None,
            outgoing_user: None,
            severity: "abuse".into(),
            status: "open".into(),
            event_count: 1,
            new_events: 1,
            first_seen: t,
            last_seen: t,
            source_ips: vec![],
            why: Why::NewTicket,
            latest_report: report,
        }
    }

    #[test]
    fn the_attachments_are_redacted() {
        // SpamExperts' report names the recipient in Original-Rcpt-To, To and Received.
        let raw = fixture("abuseio__spamexperts-1.eml");
        assert!(String::from_utf8_lossy(&raw).contains("ashley@example.com"));
        let parts = evidence_parts(&ticket(Some(raw)));
        let names: Vec<_> = parts.iter().map(|p| p.filename.as_str()).collect();
        assert_eq!(names, ["ticket-9-report.txt", "ticket-9-headers.txt"]);
        let report = String::from_utf8_lossy(&parts[0].part.formatted()).into_owned();
        assert!(
            report.contains("Content-Type: message/feedback-report"),
            "{report}"
        );
        assert!(
            report.contains("Original-Rcpt-To: <[recipient]@example.com>"),
            "{report}"
        );
        assert!(report.contains("Feedback-Type: abuse"));
        let headers = String::from_utf8_lossy(&parts[1].part.formatted()).into_owned();
        assert!(headers.contains("text/rfc822-headers"), "{headers}");
        assert!(headers.contains("[recipient]@example.com"), "{headers}");
        assert!(
            headers.contains("X-SpamExperts-Username: 172.16.10.13"),
            "{headers}"
        );
        for text in [&report, &headers] {
            assert!(!text.contains("ashley@"), "{text}");
        }
    }

    #[test]
    fn nothing_without_a_report_and_odd_fields_as_text() {
        assert!(evidence_parts(&ticket(None)).is_empty());
        assert!(evidence_parts(&ticket(Some(b"not a report".to_vec()))).is_empty());
        let part = feedback_part("f.txt", "Feedback-Type: abuse\nX-Note: caf\u{e9}\n");
        let text = String::from_utf8_lossy(&part.formatted()).into_owned();
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        let long = format!("Feedback-Type: abuse\nX-Long: {}\n", "a".repeat(200));
        let text = String::from_utf8_lossy(&feedback_part("f.txt", &long).formatted()).into_owned();
        assert!(
            text.contains("message/feedback-report") && text.contains("7bit"),
            "{text}"
        );
        assert!(
            text.contains(&format!("X-Long: {}\r\n", "a".repeat(200))),
            "{text}"
        );
    }
}
