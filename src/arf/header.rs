//! Tolerant splitter for blocks of `Name: value` fields.
//!
//! Used for the `message/feedback-report` body, for the headers of the attached original message
//! and for X-ARF 0.2 `report.txt` parts. Real reports break the RFCs in many small ways, so this
//! accepts LF, CRLF and lone CR line ends, folded values, any field order and repetition, and a
//! last field with no line end at all (SpamExperts writes the MIME boundary right after it).

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

fn append_folded(value: &mut String, cont: &[u8]) {
    let cont = String::from_utf8_lossy(cont);
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
    let mut first = true;
    let mut pending_blank: Option<usize> = None;
    for (line, next) in lines(bytes) {
        if std::mem::take(&mut first) && (line.starts_with(b"From ") || line.starts_with(b">From "))
        {
            continue;
        }
        if is_blank(line) {
            if fields.is_empty() {
                return (fields, next);
            }
            if let Some(body_start) = pending_blank {
                return (fields, body_start);
            }
            pending_blank = Some(next);
            in_field = false;
            continue;
        }
        if let Some(body_start) = pending_blank.take() {
            let has_core = fields.iter().any(|f| f.is("subject") || f.is("date"));
            let resumes = !has_core
                && split_field(line).is_some_and(|(n, _)| {
                    let n = String::from_utf8_lossy(n);
                    RESUMABLE.iter().any(|r| n.eq_ignore_ascii_case(r))
                });
            if !resumes {
                return (fields, body_start);
            }
        }
        let indented = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        // An indented "Received:" is a new hop that was pasted with indentation (RFC 6591's
        // example does this); folding it into the previous hop would hide it.
        let pasted_hop = indented
            && trim_start(line)
                .get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"received:"));
        fold_or_start(
            &mut fields,
            &mut in_field,
            line,
            trim_start(line),
            indented && !pasted_hop,
        );
    }
    (fields, pending_blank.unwrap_or(bytes.len()))
}

/// First value of the named field, if any.
pub fn first<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.is(name)).map(|f| f.value.as_str())
}
