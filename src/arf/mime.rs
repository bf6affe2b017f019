//! MIME layer: runs mail-parser and finds the parts a feedback report is made of.
//!
//! Only the top-level message's parts are searched (multipart/mixed re-wraps included, since
//! mail-parser lists nested multipart children flat); parts inside the attached original are
//! not, so a report about a report is not mistaken for the report itself.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// What a part is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `message/feedback-report`.
    Feedback,
    /// The attached original; `true` when it is headers only.
    Original(bool),
    /// A JSON attachment (X-ARF v4 candidate).
    Json,
    /// Any other leaf part.
    Other,
}

/// One leaf part with its decoded content.
pub(crate) struct Leaf<'a> {
    pub kind: Kind,
    /// `type/subtype`, lowercased.
    pub mime: String,
    pub filename: Option<String>,
    pub bytes: Cow<'a, [u8]>,
}

/// The top-level message, reduced to what classification needs.
pub(crate) struct Scanned<'a> {
    /// `type/subtype` of the whole message, lowercased.
    pub mime: String,
    /// The `report-type` parameter of a multipart/report.
    pub report_type: Option<String>,
    /// Raw top-level Subject and From.
    pub subject: String,
    pub from: String,
    pub leaves: Vec<Leaf<'a>>,
}

fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    // Raw headers are enough: we read values ourselves, and skipping mail-parser's structured
    // header decoding is measurably faster.
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .default_header_raw()
    })
}

/// Parses `raw` and collects its leaf parts; `None` if mail-parser finds no message at all.
pub(crate) fn scan<'a>(raw: &'a [u8]) -> Option<Scanned<'a>> {
    // mail-parser is a third-party state machine over hostile input; a panic in it (its debug
    // assertions fire on some broken multiparts) must become a refusal, not a dead ingest thread.
    let message = std::panic::catch_unwind(AssertUnwindSafe(|| parser().parse(raw))).ok()??;
    let root = message.parts.first()?;
    let (mime, report_type) = match root.content_type() {
        Some(ct) => (
            format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("plain").to_ascii_lowercase()
            ),
            ct.attribute("report-type").map(|s| s.to_ascii_lowercase()),
        ),
        None => ("text/plain".to_string(), None),
    };
    let subject = header_text(&message, "Subject");
    let from = header_text(&message, "From");
    let leaves = collect(&message, raw);
    Some(Scanned {
        mime,
        report_type,
        subject,
        from,
        leaves,
    })
}

fn header_text(message: &Message<'_>, name: &str) -> String {
    message
        .header_raw(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn collect<'a>(message: &Message<'a>, raw: &'a [u8]) -> Vec<Leaf<'a>> {
    let mut leaves = Vec::new();
    let single = message.parts.len() == 1;
    for part in &message.parts {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let (mime, kind) = classify(part);
        // A single-part plain mail is its own body; keep it so refusals can describe it.
        if single && kind == Kind::Other {
            leaves.push(Leaf {
                kind,
                mime,
                filename: None,
                bytes: Cow::Borrowed(&[]),
            });
            continue;
        }
        let Some(bytes) = part_bytes(part, raw) else {
            continue;
        };
        leaves.push(Leaf {
            kind,
            mime,
            filename: part.attachment_name().map(str::to_string),
            bytes,
        });
    }
    leaves
}

fn classify(part: &MessagePart<'_>) -> (String, Kind) {
    let (ctype, sub) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
        ),
        None => ("text".to_string(), "plain".to_string()),
    };
    let kind = match (ctype.as_str(), sub.as_str()) {
        ("message", "feedback-report") => Kind::Feedback,
        ("message", "rfc822" | "global") | ("text", "rfc822") => Kind::Original(false),
        ("text" | "message", "rfc822-headers" | "rfc822-header") => Kind::Original(true),
        (_, "json") => Kind::Json,
        _ if part
            .attachment_name()
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".json")) =>
        {
            Kind::Json
        }
        _ => Kind::Other,
    };
    (format!("{ctype}/{sub}"), kind)
}

/// The decoded content of a leaf part. A nested message that was not transfer-encoded is
/// sliced from the raw input (mail-parser keeps the outer buffer for it).
fn part_bytes<'a>(part: &MessagePart<'a>, raw: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    match &part.body {
        PartType::Message(nested) => {
            if part.encoding == Encoding::None {
                let start = usize::try_from(part.offset_body).ok()?;
                let end = usize::try_from(part.offset_end).ok()?;
                raw.get(start..end)
                    .filter(|_| end > start)
                    .or_else(|| raw.get(start..))
                    .map(Cow::Borrowed)
            } else {
                Some(Cow::Owned(nested.raw_message.to_vec()))
            }
        }
        PartType::Text(t) | PartType::Html(t) => Some(match t {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.clone().into_bytes()),
        }),
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(match b {
            Cow::Borrowed(s) => Cow::Borrowed(*s),
            Cow::Owned(s) => Cow::Owned(s.clone()),
        }),
        PartType::Multipart(_) => None,
    }
}
