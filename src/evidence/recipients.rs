//! The recipients of a report: where addresses are in a text, which of them the report's
//! recipient fields name, and masking those wherever they appear. Linear in the text however
//! many recipients a report names.

use std::ops::Range;

use super::Evidence;

/// Where the addresses in `text` are, left to right: exactly what the pattern
/// `[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+[A-Za-z0-9]` finds, in one pass over the text (every byte
/// is looked at a bounded number of times), without a regex engine's cost per match — a
/// report may name tens of thousands of recipients.
pub(super) fn addresses(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    // No match starts before the end of the previous one. Plain loops: this runs once per
    // address of a report, and must stay quick in unoptimised builds too.
    let mut from = 0;
    memchr::memchr_iter(b'@', bytes).filter_map(move |at| {
        if at < from {
            return None;
        }
        let mut start = at;
        while start > from && is_local_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        let mut last_alnum = None;
        while end < bytes.len() && is_domain_byte(bytes[end]) {
            if bytes[end].is_ascii_alphanumeric() {
                last_alnum = Some(end);
            }
            end += 1;
        }
        // The domain ends at its last letter or digit, and has two characters at least.
        let end = last_alnum? + 1;
        if start == at || end - at < 3 {
            return None;
        }
        from = end;
        Some(start..end)
    })
}

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'=' | b'-')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// Whether `c` can be part of an address as [`addresses`] finds them.
pub(super) fn is_address_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(|b| is_local_byte(b) || b == b'@')
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

pub(super) fn is_recipient_field(name: &str) -> bool {
    RECIPIENT_FIELDS
        .iter()
        .any(|field| field.eq_ignore_ascii_case(name))
}

/// The recipient addresses of a report, each as a hash of its lowercased form: each field
/// is read once, with no allocation per address, and each address shown is looked up once, so
/// a report naming tens of thousands costs little more than one naming a few. (A collision of
/// two hashes could only mask an address that is no recipient, never show one that is.)
#[derive(Default)]
pub(super) struct Recipients(Vec<u64>);

/// FNV-1a of the lowercased address.
fn address_hash(address: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in address.as_bytes() {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl Recipients {
    /// Adds the addresses named by the recipient fields of a header block (or of the
    /// feedback part, which is written like one), read line by line as `fields` reads them.
    pub(super) fn add_fields(&mut self, block: &str) {
        let mut in_recipients = false;
        for line in block.lines() {
            let value = if line.starts_with([' ', '\t']) {
                line
            } else if let Some((name, value)) = line.split_once(':') {
                in_recipients = is_recipient_field(name.trim());
                value
            } else {
                in_recipients = false;
                line
            };
            if in_recipients {
                for found in addresses(value) {
                    self.add(&value[found]);
                }
            }
        }
    }

    fn add(&mut self, address: &str) {
        self.0.push(address_hash(address));
    }

    /// Replaces every recipient address wherever it appears in what `ev` shows, keeping the
    /// domain for context.
    pub(super) fn mask(mut self, ev: &mut Evidence) {
        self.0.sort_unstable();
        self.0.dedup();
        ev.redacted = self.0.len();
        if self.0.is_empty() {
            return;
        }
        let mask = |text: &mut String| {
            let mut masked = String::new();
            let mut copied = 0;
            for found in addresses(text) {
                let address = &text[found.clone()];
                if self.0.binary_search(&address_hash(address)).is_ok() {
                    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
                    masked.push_str(&text[copied..found.start]);
                    masked.push_str("[recipient]@");
                    masked.push_str(domain);
                    copied = found.end;
                }
            }
            if copied > 0 {
                masked.push_str(&text[copied..]);
                *text = masked;
            }
        };
        for (_, value) in &mut ev.headers {
            mask(value);
        }
        if let Some(feedback) = ev.feedback.as_mut() {
            mask(feedback);
        }
        if let Some(body) = ev.body.as_mut() {
            mask(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::addresses;

    proptest::proptest! {
        /// The scanner finds exactly what the address pattern finds.
        #[test]
        fn addresses_are_found_as_the_pattern_finds_them(text in "[a-cA0.@_%+=\\- ,<>é]{0,40}") {
            let pattern =
                regex::Regex::new(r"[A-Za-z0-9._%+=\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9]").unwrap();
            let expected: Vec<_> = pattern.find_iter(&text).map(|m| m.range()).collect();
            let found: Vec<_> = addresses(&text).collect();
            proptest::prop_assert_eq!(found, expected);
        }
    }
}
