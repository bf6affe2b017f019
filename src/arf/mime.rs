//! MIME layer: runs mail-parser and finds the parts a feedback report is made of.
//!
//! Only the top-level message's parts are searched (multipart/mixed re-wraps included, since
//! mail-parser lists nested multipart children flat); parts inside the attached original are
//! not, so a report about a report is not mistaken for the report itself.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use mail_parser::parsers::MessageStream;
use mail_parser::{
    Encoding, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::header::{header_block_end, lines, lossy};

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
        // A single-part plain mail is its own body: kept only when it is a JSON object (an
        // X-ARF v4 report written inline rather than attached); else an empty leaf, so that
        // refusals can still describe the mail.
        if single && kind == Kind::Other {
            // Looked at in place first: most such bodies are not JSON and need no copy.
            let json = part.contents().iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
            let bytes = json
                .then(|| part_bytes(part, raw))
                .flatten()
                .unwrap_or(Cow::Borrowed(&[]));
            leaves.push(Leaf {
                kind,
                mime,
                filename: None,
                bytes,
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
        Some(ct) => unquote(ct.ctype(), ct.subtype().unwrap_or_default()),
        None => ("text".to_string(), "plain".to_string()),
    };
    if (ctype.as_str(), sub.as_str()) == CUT_ORIGINAL {
        return ("message/rfc822".to_string(), Kind::Original(false));
    }
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

/// Type and subtype, lowercased, from a Content-Type some reporters write quoted:
/// `"message/feedback-report"`, `"text"/"plain"`, `'application/json'`.
fn unquote(ctype: &str, subtype: &str) -> (String, String) {
    let strip = |s: &str| {
        s.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .trim()
            .to_ascii_lowercase()
    };
    let ctype = strip(ctype);
    match ctype.split_once('/') {
        Some((t, s)) if subtype.trim().is_empty() => (strip(t), strip(s)),
        _ => (ctype, strip(subtype)),
    }
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

/// The content type an attached original is relabelled with once its body is cut off (see
/// [`cut_original_bodies`]): a plain leaf to mail-parser, the original again to [`classify`].
const CUT_ORIGINAL: (&str, &str) = ("application", "x-abuse-desk-original");

/// A copy of `raw` in which every attached original message (a top-level `message/rfc822`
/// part sent without transfer encoding) keeps only its header block; `None` when there is
/// nothing to cut. Only the original's headers are ever read, while decoding its body (the
/// spam's text in its charset, base64 attachments) was most of mail-parser's work per report.
/// An original whose body holds a feedback report is left whole: it may be a forwarded report.
pub(crate) fn cut_original_bodies(raw: &[u8]) -> Option<Vec<u8>> {
    let (top, body) = header_block(raw);
    let (ctype, _, boundary) = content_type(top)?;
    let boundary = boundary.filter(|b| ctype == "multipart" && !b.is_empty())?;
    // Delimiters are found the way mail-parser finds them: `--boundary` anywhere.
    let delimiter = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = body + finder.find(raw.get(body..)?)?;
    loop {
        let after = at + delimiter.len();
        let rest = raw.get(after..).unwrap_or_default();
        if rest.starts_with(b"--") {
            break;
        }
        let Some(next) = finder.find(rest).map(|i| after + i) else {
            break;
        };
        let content = lines(rest).next().map_or(raw.len(), |(_, end)| after + end);
        if let Some(keep) = raw.get(content..next).and_then(original_headers) {
            let out = out.get_or_insert_with(|| Vec::with_capacity(raw.len()));
            out.extend_from_slice(raw.get(copied..content).unwrap_or_default());
            out.extend_from_slice(
                format!(
                    "Content-Type: {}/{}\r\n\r\n",
                    CUT_ORIGINAL.0, CUT_ORIGINAL.1
                )
                .as_bytes(),
            );
            out.extend_from_slice(keep);
            copied = next;
        }
        at = next;
    }
    let mut out = out?;
    out.extend_from_slice(raw.get(copied..).unwrap_or_default());
    Some(out)
}

/// The header block of the original message in a MIME part, blank line included, when the
/// part is an original sent as is whose body can go.
fn original_headers(part: &[u8]) -> Option<&[u8]> {
    let (headers, start) = header_block(part);
    let (ctype, subtype, _) = content_type(headers)?;
    if ctype != "message" || !matches!(subtype.as_str(), "rfc822" | "global") {
        return None;
    }
    if let Some(encoding) = field(headers, "content-transfer-encoding") {
        let encoding = encoding.trim().to_ascii_lowercase();
        if !matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
            return None;
        }
    }
    let original = part.get(start..)?;
    let body = header_block_end(original);
    let rest = original.get(body..).filter(|rest| !rest.is_empty())?;
    if contains_ignore_case(rest, b"feedback-report") {
        return None;
    }
    original.get(..body)
}

/// A header block up to its first blank line, and where the body after it starts.
fn header_block(bytes: &[u8]) -> (&[u8], usize) {
    for (line, next) in lines(bytes) {
        if line.is_empty() {
            return (bytes.get(..next).unwrap_or_default(), next);
        }
    }
    (bytes, bytes.len())
}

/// The unfolded value of the first field `name` in a header block.
fn field(block: &[u8], name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for (line, _) in lines(block) {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match value.as_mut() {
            Some(v) if folded => v.push_str(&lossy(line)),
            Some(_) => break,
            None => {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let head = line.get(..colon).unwrap_or_default();
                if head.trim_ascii_end().eq_ignore_ascii_case(name.as_bytes()) {
                    value = Some(lossy(line.get(colon + 1..)?).into_owned());
                }
            }
        }
    }
    value
}

/// Type, subtype (lowercased) and boundary of a header block's Content-Type, read by
/// mail-parser's own field parser so that the boundary is the one it will split on.
fn content_type(block: &[u8]) -> Option<(String, String, Option<String>)> {
    let mut value = field(block, "content-type")?.into_bytes();
    value.push(b'\n');
    match MessageStream::new(&value).parse_content_type() {
        HeaderValue::ContentType(ct) => Some((
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase(),
            ct.attribute("boundary").map(str::to_string),
        )),
        _ => None,
    }
}

/// Whether `needle` occurs in `haystack`, ignoring ASCII case. The search is anchored on the
/// needle's first byte that case cannot change (the `-` of `feedback-report`): such bytes are
/// far rarer in text than any letter.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let matches_at = |start: usize| {
        haystack
            .get(start..start + needle.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    };
    match needle.iter().position(|b| !b.is_ascii_alphabetic()) {
        Some(anchor) => memchr::memchr_iter(needle[anchor], haystack)
            .any(|i| i.checked_sub(anchor).is_some_and(matches_at)),
        None => {
            let Some(&first) = needle.first() else {
                return true;
            };
            memchr::memchr2_iter(
                first.to_ascii_lowercase(),
                first.to_ascii_uppercase(),
                haystack,
            )
            .any(matches_at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_ignore_case;

    #[test]
    fn finds_a_needle_in_any_case_wherever_its_anchor_falls() {
        let needle = b"feedback-report";
        assert!(contains_ignore_case(
            b"Content-Type: message/Feedback-Report\r\n",
            needle
        ));
        assert!(contains_ignore_case(b"FEEDBACK-REPORT", needle));
        assert!(contains_ignore_case(b"- -feedback-report-", needle));
        // The anchor `-` at the very start, and a match cut short by the end of the text.
        assert!(!contains_ignore_case(b"-report and more", needle));
        assert!(!contains_ignore_case(b"a feedback-repor", needle));
        assert!(!contains_ignore_case(b"feedback report", needle));
        // Needles without a caseless byte take the letter path.
        assert!(contains_ignore_case(b"xx AbC", b"abc"));
        assert!(!contains_ignore_case(b"xx AbD", b"abc"));
        assert!(contains_ignore_case(b"anything", b""));
    }
}
