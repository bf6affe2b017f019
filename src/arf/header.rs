//! Tolerant splitter for blocks of `Name: value` fields.
//!
//! Used for the `message/feedback-report` body, for the headers of the attached original message
//! and for X-ARF 0.2 `report.txt` parts. Real reports break the RFCs in many small ways, so this
//! accepts LF, CRLF and lone CR line ends, folded values, any field order and repetition, and a
//! last field with no line end at all (SpamExperts writes the MIME boundary right after it).

use std::borrow::Cow;

/// One field with its value unfolded (folding whitespace collapsed to one space, ends trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name as written (case kept for display; compare with `eq_ignore_ascii_case`).
    pub name: String,
    /// The unfolded value.
    pub value: String,
}

impl Field {
    /// Whether this field has the given name, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Splits `bytes` into lines, accepting `\r\n`, `\n` and lone `\r` as line ends.
/// Yields each line without its terminator, together with the offset just past the terminator.
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let rest = bytes.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = pos;
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                let line = rest.get(..i).unwrap_or_default();
                let crlf = rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n');
                pos = start + i + if crlf { 2 } else { 1 };
                Some((line, pos))
            }
            None => {
                pos = bytes.len();
                Some((rest, pos))
            }
        }
    })
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// Splits a `Name: value` line; `None` when the line is not a field (no colon, bad name).
fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let name = trim_end(name);
    // RFC 5322 field names are printable ASCII without space; be strict here so that body text
    // like "Hello world: ..." is not taken for a field.
    if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
        return None;
    }
    Some((name, line.get(colon + 1..).unwrap_or_default()))
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    b.get(..end).unwrap_or_default()
}

fn trim_start(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// `b` as text, invalid UTF-8 replaced. Valid text (nearly every header line) is checked by
/// `str::from_utf8`, which skips ASCII a word at a time; `from_utf8_lossy` looks at each byte.
pub(crate) fn lossy(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn text(b: &[u8]) -> String {
    lossy(b).trim().to_string()
}

fn append_folded(value: &mut String, cont: &[u8]) {
    let cont = lossy(cont);
    let cont = cont.trim();
    if cont.is_empty() {
        return;
    }
    if !value.is_empty() {
        value.push(' ');
    }
    value.push_str(cont);
}

/// Parses the body of a `message/feedback-report` part: blank lines are skipped (some reporters
/// put them between or after fields) and lines that are not fields are ignored.
pub fn parse_report_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut in_field = false;
    for (line, _) in lines(bytes) {
        if is_blank(line) {
            in_field = false;
            continue;
        }
        let indented = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        fold_or_start(&mut fields, &mut in_field, line, line, indented);
    }
    fields
}

/// One non-blank line of a field block: a continuation folds into the field being read (if
/// any); any other line starts a new field when `field_line` is one.
fn fold_or_start(
    fields: &mut Vec<Field>,
    in_field: &mut bool,
    line: &[u8],
    field_line: &[u8],
    continuation: bool,
) {
    if continuation {
        if *in_field {
            if let Some(f) = fields.last_mut() {
                append_folded(&mut f.value, line);
            }
        }
        return;
    }
    match split_field(field_line) {
        Some((name, value)) => {
            fields.push(Field {
                name: text(name),
                value: text(value),
            });
            *in_field = true;
        }
        None => *in_field = false,
    }
}

/// Names after which a header block may resume past a stray blank line (see [`parse_header_block`]).
const RESUMABLE: &[&str] = &[
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "from",
];

/// Parses a message header block and returns the fields and the offset where the body starts.
///
/// An mbox `From ` or `>From ` first line is skipped (Yahoo and AOL attach messages with it).
/// A blank line normally ends the block; but when the block so far has neither `Subject` nor
/// `Date` and the next line is one of the standard header fields, the blank line is taken for a
/// copy-and-paste artefact and parsing goes on (RFC 5965 B.2's own example has one).
pub fn parse_header_block(bytes: &[u8]) -> (Vec<Field>, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut in_field = false;
    let body = walk_header_block(bytes, |line| match line {
        HeaderLine::Field(field_line) => {
            fold_or_start(&mut fields, &mut in_field, field_line, field_line, false)
        }
        HeaderLine::Folded(line) => fold_or_start(&mut fields, &mut in_field, line, line, true),
        HeaderLine::Blank => in_field = false,
    });
    (fields, body)
}

/// Where the body after a message header block starts, as [`parse_header_block`] finds it,
/// without collecting the fields.
pub fn header_block_end(bytes: &[u8]) -> usize {
    walk_header_block(bytes, |_| {})
}

/// A line of a header block, as [`walk_header_block`] hands it on.
enum HeaderLine<'a> {
    /// A line that starts a field if it is one (leading whitespace trimmed).
    Field(&'a [u8]),
    /// A continuation of the field before it.
    Folded(&'a [u8]),
    /// A blank line inside the block.
    Blank,
}

/// Walks a header block line by line (the rules of [`parse_header_block`]) and returns the
/// offset where the body starts.
fn walk_header_block<'a>(bytes: &'a [u8], mut each: impl FnMut(HeaderLine<'a>)) -> usize {
    let mut any_field = false;
    let mut has_core = false;
    let mut first = true;
    let mut pending_blank: Option<usize> = None;
    for (line, next) in lines(bytes) {
        if std::mem::take(&mut first) && (line.starts_with(b"From ") || line.starts_with(b">From "))
        {
            continue;
        }
        if is_blank(line) {
            if !any_field {
                return next;
            }
            if let Some(body_start) = pending_blank {
                return body_start;
            }
            pending_blank = Some(next);
            each(HeaderLine::Blank);
            continue;
        }
        if let Some(body_start) = pending_blank.take() {
            let resumes = !has_core
                && split_field(line).is_some_and(|(n, _)| {
                    RESUMABLE
                        .iter()
                        .any(|r| n.eq_ignore_ascii_case(r.as_bytes()))
                });
            if !resumes {
                return body_start;
            }
        }
        let indented = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        // An indented "Received:" is a new hop that was pasted with indentation (RFC 6591's
        // example does this); folding it into the previous hop would hide it.
        let pasted_hop = indented
            && trim_start(line)
                .get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"received:"));
        if indented && !pasted_hop {
            each(HeaderLine::Folded(line));
            continue;
        }
        let field_line = trim_start(line);
        if let Some((name, _)) = split_field(field_line) {
            any_field = true;
            has_core |= name.eq_ignore_ascii_case(b"subject") || name.eq_ignore_ascii_case(b"date");
        }
        each(HeaderLine::Field(field_line));
    }
    pending_blank.unwrap_or(bytes.len())
}

/// First value of the named field, if any.
pub fn first<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.is(name)).map(|f| f.value.as_str())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{header_block_end, lossy, parse_header_block};

    #[test]
    fn text_is_borrowed_when_valid_and_repaired_when_not() {
        assert!(matches!(
            lossy("Subject: café".as_bytes()),
            Cow::Borrowed("Subject: café")
        ));
        assert_eq!(
            lossy(b"Subject: caf\xe9 \xff!"),
            "Subject: caf\u{fffd} \u{fffd}!"
        );
        let (fields, _) = parse_header_block(b"Subject: caf\xe9\r\n folded\r\n\r\nbody");
        assert_eq!(fields[0].value, "caf\u{fffd} folded");
    }

    #[test]
    fn the_body_starts_where_the_parser_says_it_does() {
        let blocks: &[&[u8]] = &[
            b"Subject: a\r\nFrom: b\r\n\r\nbody\r\n",
            b"From x@y Thu Jan 1 00:00:00 2015\nSubject: s\n\nbody\n",
            // A stray blank line before the core fields: parsing resumes after it.
            b"Received: from a\n\nFrom: b\nSubject: c\n\nbody\n",
            // Once Subject is read, a blank line ends the block for good.
            b"Subject: a\n\nFrom: b\n\nbody\n",
            b"Received: from a\n  Received: from b\n\tfolded\nDate: now\n\nbody",
            b"\nbody first",
            b"not a header\n\nbody",
            b"Subject: no body at all",
            b"",
        ];
        for block in blocks {
            let (_, body) = parse_header_block(block);
            assert_eq!(
                header_block_end(block),
                body,
                "{}",
                String::from_utf8_lossy(block)
            );
        }
        assert_eq!(
            header_block_end(b"Received: from a\n\nFrom: b\nSubject: c\n\nbody\n"),
            38
        );
    }
}
