//! Reading one Received header: the addresses and host names of its `from` clause, the
//! receiving host of its `by` clause, and its time stamp.
//!
//! Documentation ranges (RFC 5737, RFC 3849) count as public: anonymised samples use them in
//! place of real addresses. Which hop is the source is decided in [`super::source`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};

use super::date::parse_date;
use super::values::{parse_ip, parse_ip_with_port};

/// One Received header, reduced to what the source rules need.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Hop {
    /// Addresses written in the `from` clause, in order.
    pub ips: Vec<IpAddr>,
    /// The sending host's name: the reverse-DNS name the receiver looked up when it wrote one,
    /// else the name the sender gave in HELO (which the sender chooses freely).
    pub from_host: Option<String>,
    /// The receiving host (`by`).
    pub by_host: Option<String>,
}

/// Reads the `from` and `by` clauses of one Received header value.
pub(crate) fn hop(value: &str) -> Hop {
    let normal = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = normal.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("from ") else {
        return Hop {
            by_host: by_host(&lower),
            ..Hop::default()
        };
    };
    let clause = rest
        .find(" by ")
        .map_or(rest, |i| rest.get(..i).unwrap_or_default());
    Hop {
        ips: clause_ips(clause),
        from_host: reverse_name(clause).or_else(|| helo_name(clause)),
        by_host: by_host(&lower),
    }
}

/// The time stamp of a Received header (after its last `;`).
pub fn hop_date(value: &str) -> Option<DateTime<Utc>> {
    value.rsplit_once(';').and_then(|(_, d)| parse_date(d))
}

/// The receiving host: the word after ` by ` (or a leading `by `).
fn by_host(lower: &str) -> Option<String> {
    let rest = lower
        .strip_prefix("by ")
        .or_else(|| lower.find(" by ").and_then(|i| lower.get(i + 4..)))?;
    host_name(rest.split([' ', ';', '(']).next().unwrap_or_default())
}

/// A host name as written in a Received header, lowercased, without a trailing dot; `None` for
/// address literals, `unknown`, `localhost` and anything that is not a dotted name.
fn host_name(token: &str) -> Option<String> {
    let token = token
        .trim_matches(|c| c == '[' || c == ']')
        .trim_end_matches('.');
    let valid = token.contains('.')
        && token.bytes().any(|b| b.is_ascii_alphabetic())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && parse_ip(token).is_none();
    valid.then(|| token.to_ascii_lowercase())
}

/// The reverse-DNS name a receiver writes inside the first parentheses:
/// `from helo (rdns [192.0.2.1])`.
fn reverse_name(clause: &str) -> Option<String> {
    let open = clause.find('(')?;
    let inner = clause.get(open + 1..)?;
    let inner = inner.split(')').next().unwrap_or_default();
    let first = inner.split_whitespace().next()?;
    if matches!(first, "helo" | "ehlo") || first.starts_with("helo=") {
        return None;
    }
    host_name(first)
}

/// The name the sender gave: the first word of the clause, or the word after `HELO`/`EHLO`
/// (qmail and Exim write it inside the parentheses).
fn helo_name(clause: &str) -> Option<String> {
    let mut words = clause.split([' ', '(', ')']);
    if let Some(name) = words.next().and_then(host_name) {
        return Some(name);
    }
    let mut words = clause
        .split([' ', '(', ')', '='])
        .skip_while(|w| !matches!(*w, "helo" | "ehlo"));
    words.next()?;
    words.find(|w| !w.is_empty()).and_then(host_name)
}

/// The IP addresses of a `from` clause, in `[…]` or bare in `(…)`, in order.
fn clause_ips(clause: &str) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    let mut i = 0usize;
    let bytes = clause.as_bytes();
    while i < bytes.len() {
        let close = match bytes.get(i) {
            Some(b'[') => b']',
            Some(b'(') => b')',
            _ => {
                i += 1;
                continue;
            }
        };
        let inner_start = i + 1;
        let inner_end = bytes
            .get(inner_start..)
            .and_then(|r| r.iter().position(|&b| b == close))
            .map_or(bytes.len(), |p| inner_start + p);
        let inner = clause.get(inner_start..inner_end).unwrap_or_default();
        if close == b']' {
            ips.extend(parse_ip_with_port(inner));
        } else {
            // `(host [ip])` is handled by the bracket scan of the next round; here only a bare
            // address, as qmail, Yahoo and Comcast write it: `(72.55.174.173)`, also after a
            // qmail user name: `(user@192.0.2.1)`.
            let bare = inner.trim();
            let bare = bare.rsplit_once('@').map_or(bare, |(_, ip)| ip);
            ips.extend(parse_ip_with_port(bare));
        }
        // Step inside parentheses so a bracketed address within them is seen too.
        i = if close == b')' {
            inner_start
        } else {
            inner_end + 1
        };
    }
    ips
}

/// Whether an address can be a sending host on the internet (see the module note on
/// documentation ranges).
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(&v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: &Ipv4Addr) -> bool {
    let o = ip.octets();
    let cgnat = o[0] == 100 && (64..128).contains(&o[1]);
    let reserved = o[0] == 0 || o[0] >= 240;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || cgnat
        || reserved)
}

fn is_public_v6(ip: &Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_from_and_by_clauses_as_mtas_write_them() {
        /// A Received value, the addresses, the sending host and the receiving host.
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            (
                "from mail.example.net (mail.example.net [192.0.2.1]) by mx.example.com with ESMTP; Thu, 08 Mar 2005 14:00:00 -0400",
                &["192.0.2.1"],
                Some("mail.example.net"),
                Some("mx.example.com"),
            ),
            // qmail: HELO name in parentheses, bare address after it.
            (
                "from 127.0.0.1 (EHLO mail.ganeshaspeaks.com) (72.55.174.173) by mta127.mail.ac4.yahoo.com with SMTP",
                &["72.55.174.173"],
                Some("mail.ganeshaspeaks.com"),
                Some("mta127.mail.ac4.yahoo.com"),
            ),
            // Microsoft: no reverse name, the address alone in parentheses, a tab before `by`.
            (
                "from AM7EUR03FT039.eop-EUR03.prod.protection.outlook.com (2603:10a6:20b:467:cafe::24)\tby AS9PR06CA0125.outlook.office365.com (2603:10a6:20b:467::21) with Microsoft SMTP Server",
                &["2603:10a6:20b:467:cafe::24"],
                Some("am7eur03ft039.eop-eur03.prod.protection.outlook.com"),
                Some("as9pr06ca0125.outlook.office365.com"),
            ),
            // Google: trailing dot on the reverse name.
            (
                "from mail2.netcraft.com (mail2.netcraft.com. [52.31.138.216]) by mx.google.com with ESMTPS",
                &["52.31.138.216"],
                Some("mail2.netcraft.com"),
                Some("mx.google.com"),
            ),
            // The reverse name wins over a HELO the sender chose.
            (
                "from mx.outlook.com (spammer.example.org [203.0.113.9]) by mx.reporter.example",
                &["203.0.113.9"],
                Some("spammer.example.org"),
                Some("mx.reporter.example"),
            ),
            ("by simscan 1.4.0 ppid: 13608", &[], None, None),
            ("(qmail 13614 invoked by uid 502); 18 Feb 2010", &[], None, None),
        ];
        for (value, ips, from, by) in cases {
            let hop = hop(value);
            let expected: Vec<IpAddr> = ips.iter().map(|s| ip(s)).collect();
            assert_eq!(hop.ips, expected, "{value}");
            assert_eq!(hop.from_host.as_deref(), *from, "{value}");
            assert_eq!(hop.by_host.as_deref(), *by, "{value}");
        }
    }
}
