//! Derivation of the source IP and arrival time from the attached message's Received chain.
//!
//! Rule: walk the Received headers from the top (newest) down and take the first hop whose
//! `from` clause names a public IP address, in `[…]` or `(…)`. Hops inside the reporter's
//! network use private addresses, so this is the hop that entered it. Documentation ranges
//! (RFC 5737, RFC 3849) count as public: anonymised samples use them in place of real addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};

use super::date::parse_date;
use super::values::parse_ip_with_port;

/// The hop through which the message entered the reporter's network.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryHop {
    /// Position in the chain, 0 = topmost Received header.
    pub index: usize,
    /// The connecting client's address.
    pub ip: IpAddr,
    /// The time stamp after the last `;`, if it parses.
    pub date: Option<DateTime<Utc>>,
}

/// Finds the entry hop in a Received chain given top first.
pub fn entry_hop(received: &[String]) -> Option<EntryHop> {
    received.iter().enumerate().find_map(|(index, value)| {
        hop_ips(value)
            .into_iter()
            .find(is_public)
            .map(|ip| EntryHop {
                index,
                ip,
                date: hop_date(value),
            })
    })
}

/// The time stamp of a Received header (after its last `;`).
pub fn hop_date(value: &str) -> Option<DateTime<Utc>> {
    value.rsplit_once(';').and_then(|(_, d)| parse_date(d))
}

/// The IP addresses written in the `from` clause of one Received header, in order.
pub fn hop_ips(value: &str) -> Vec<IpAddr> {
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("from ") else {
        return Vec::new();
    };
    let offset = value.len() - rest.len();
    // The from clause ends where the receiving host (`by`) begins.
    let end = rest.find(" by ").map_or(value.len(), |i| offset + i);
    let clause = value.get(offset..end).unwrap_or_default();
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
            // address, as qmail, Yahoo and Comcast write it: `(72.55.174.173)`.
            ips.extend(parse_ip_with_port(inner.trim()));
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
