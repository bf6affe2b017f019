//! Parsers for single field values: IP addresses and mail addresses as reporters write them.

use std::net::IpAddr;

/// Parses a Source-IP style value: `1.2.3.4`, `[1.2.3.4]`, `1.2.3.4 (hostname)`, `IPv6:…`,
/// uncompressed IPv6. IPv4-mapped IPv6 becomes plain IPv4 so netblock lookups match.
pub fn parse_ip(value: &str) -> Option<IpAddr> {
    let v = value.split('(').next().unwrap_or_default().trim();
    let v = v.trim_start_matches('[');
    let v = v.split(']').next().unwrap_or_default().trim();
    let v = strip_ipv6_tag(v);
    v.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Like [`parse_ip`] but also accepts a trailing `:port` after an IPv4 address, as some MTAs
/// write it inside Received headers (`[192.0.2.1]:33636`, `[192.0.2.1:4227]`).
pub fn parse_ip_with_port(value: &str) -> Option<IpAddr> {
    if let Some(ip) = parse_ip(value) {
        return Some(ip);
    }
    let v = value.trim().trim_start_matches('[');
    let v = v.split(']').next().unwrap_or_default();
    let (host, port) = v.rsplit_once(':')?;
    if host.contains(':') || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn strip_ipv6_tag(v: &str) -> &str {
    match v.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => v.get(5..).unwrap_or_default(),
        _ => v,
    }
}

/// Extracts the bare address from `Name <addr>`, `<addr>`, `"quoted" <addr>` or `addr (comment)`.
/// `None` for an empty value or `<>`.
pub fn parse_address(value: &str) -> Option<String> {
    let v = value.trim();
    let addr = match (v.rfind('<'), v.rfind('>')) {
        (Some(open), Some(close)) if close > open => v.get(open + 1..close).unwrap_or_default(),
        (Some(open), _) => v.get(open + 1..).unwrap_or_default(),
        _ => v.split(" (").next().unwrap_or_default(),
    };
    let addr = addr.trim().trim_matches('"').trim();
    if addr.is_empty() {
        None
    } else {
        Some(addr.to_string())
    }
}

/// Splits an address list on commas outside quotes and angle brackets, then extracts each
/// address. One Original-Rcpt-To per recipient is the rule, but lists do occur.
pub fn parse_address_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let (mut quoted, mut angle) = (false, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.extend(value.get(start..i).and_then(parse_address));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.extend(value.get(start..).and_then(parse_address));
    out
}

/// `Some(trimmed)` unless the value is empty.
pub fn non_empty(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}
