//! The queue's query string, read as `/tickets` reads it, into the page it asks for; and free
//! text into what the queue searches with. Nothing may panic, and:
//! - a cursor parsed re-encodes to one that parses to itself, a sort parses from its name;
//! - a cursor's time, the queue's or the ticket timeline's, is one both databases store;
//! - the page's own links (`QueueParams::with`) ask for the same page again;
//! - free text's LIKE pattern and FTS5 phrase hold the text literally (every wildcard
//!   escaped, every quote doubled), and an IP prefix holds only characters that are safe to
//!   write into a statement.

use abuse_desk::db::ids::UserId;
use abuse_desk::db::TIMES;
use abuse_desk::tickets::page::parse_before;
use abuse_desk::tickets::queue::{
    from_micros, Cursor, FreeText, IpPrefix, QueueParams, QueueRequest, Sort,
};
use actix_web::web::Query;

const ME: UserId = UserId(7);

fn request(query: &str) -> Option<QueueRequest> {
    Query::<QueueParams>::from_query(query)
        .ok()?
        .request(ME)
        .ok()
}

/// `pattern` with LIKE's escapes undone, or `None` where a wildcard stands unescaped.
fn unescape_like(pattern: &str) -> Option<String> {
    let inner = pattern.strip_prefix('%')?.strip_suffix('%')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '%' | '_' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// `phrase` without its quotes and with doubled quotes single, or `None` where a quote stands
/// alone.
fn unquote_phrase(phrase: &str) -> Option<String> {
    let inner = phrase.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' && chars.next()? != '"' {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

fn safe_in_a_statement(prefix: &IpPrefix) {
    let text = prefix.as_str();
    assert!(!text.is_empty());
    assert!(
        text.chars()
            .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':'),
        "{prefix:?}"
    );
}

fn check_cursor(cursor: Cursor) {
    assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
    assert!(TIMES.contains(&from_micros(cursor.key)), "{cursor:?}");
}

fn check_text(text: &str) {
    let free = FreeText::parse(text);
    assert_eq!(free.text, text.to_lowercase());
    assert_eq!(
        unescape_like(&free.pattern).as_ref(),
        Some(&free.text),
        "{free:?}"
    );
    assert_eq!(
        unquote_phrase(&free.phrase).as_ref(),
        Some(&free.text),
        "{free:?}"
    );
    if let Some(prefix) = &free.ip_prefix {
        safe_in_a_statement(prefix);
    }
    if let Some(prefix) = IpPrefix::parse(text) {
        safe_in_a_statement(&prefix);
    }
}

pub fn run(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    // The whole input as each single value, too.
    check_text(query);
    if let Some(cursor) = Cursor::parse(query) {
        check_cursor(cursor);
    }
    if let Some((at, _)) = parse_before(query) {
        assert!(TIMES.contains(&at), "{at:?}");
    }
    if let Some(sort) = Sort::parse(query) {
        assert_eq!(sort.as_str(), query);
    }
    let Ok(params) = Query::<QueueParams>::from_query(query) else {
        return;
    };
    let Ok(mut req) = params.request(ME) else {
        return;
    };
    if let Some(cursor) = req.after {
        check_cursor(cursor);
    }
    if let Some(text) = &req.text {
        check_text(text);
    }
    // The links leave the cursor out: the same page from its start.
    let link = params.with(&[]);
    let again = link
        .strip_prefix("/tickets?")
        .and_then(request)
        .unwrap_or_else(|| panic!("the page's own link {link:?} is refused"));
    req.after = None;
    assert_eq!(format!("{again:?}"), format!("{req:?}"), "{link:?}");
}
