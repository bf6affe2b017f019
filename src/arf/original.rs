//! The attached original message (`message/rfc822`) or its headers (`text/rfc822-headers`).
//!
//! Headers are split by our own tolerant block parser rather than taken from mail-parser's
//! nested parse: reporters prepend mbox `From `/`>From ` lines and stray blank lines that make a
//! strict parser drop headers, and the identification rules need every raw header in order.

use mail_parser::parsers::MessageStream;
use mail_parser::HeaderValue;
use serde::{Deserialize, Serialize};

use super::header::{first, parse_header_block, Field};

/// What the report tells about the reported message.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct OriginalMessage {
    /// `Message-ID` as written.
    pub message_id: Option<String>,
    /// Decoded `Subject`.
    pub subject: Option<String>,
    /// Decoded `From`.
    pub from: Option<String>,
    /// Decoded `To`.
    pub to: Option<String>,
    /// `Date` as written.
    pub date: Option<String>,
    /// Unfolded `Received` headers, topmost (newest) first.
    pub received: Vec<String>,
    /// True when the report attached only the headers (`text/rfc822-headers`).
    pub headers_only: bool,
}

/// Parsed attachment: the summary plus every header for the identification rules.
pub(crate) struct Attached {
    pub message: OriginalMessage,
    pub headers: Vec<Field>,
}

/// Reads the header block of the attached message.
pub(crate) fn read(bytes: &[u8], headers_only: bool) -> Attached {
    let (headers, _) = parse_header_block(bytes);
    let message = OriginalMessage {
        message_id: first(&headers, "message-id").and_then(non_empty),
        subject: first(&headers, "subject").and_then(decode),
        from: first(&headers, "from").and_then(decode),
        to: first(&headers, "to").and_then(decode),
        date: first(&headers, "date").and_then(non_empty),
        received: headers
            .iter()
            .filter(|f| f.is("received"))
            .map(|f| f.value.clone())
            .collect(),
        headers_only,
    };
    Attached { message, headers }
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// Decodes RFC 2047 encoded-words (any charset mail-parser knows, ISO-2022-JP included).
pub(crate) fn decode(value: &str) -> Option<String> {
    if !value.contains("=?") {
        return non_empty(value);
    }
    let mut line = String::with_capacity(value.len() + 1);
    line.push_str(value);
    line.push('\n');
    let decoded = match MessageStream::new(line.as_bytes()).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => value.to_string(),
    };
    non_empty(&decoded)
}
