//! The source IP of a report that names none, from the attached message's Received chain.
//!
//! The chain is walked from the top (the reporter's last hop) down. A hop is passed over while
//! it is inside the reporter's own infrastructure: its `from` clause names no public address
//! (private, loopback), or its sending and receiving hosts both belong to the reporting
//! provider (the domains the report came from) or to one known mailbox provider (the relay
//! names of [`PROVIDERS`]). The first hop left is the one that entered the reporter's network.
//! `Received-SPF: … client-ip=` is written by the receiver at that boundary: when it names the
//! address of a hop, that hop is preferred. `X-Originating-IP` only confirms, or stands in
//! when no hop is left. The warning says which rule decided.

use std::net::IpAddr;

use super::header::Field;
use super::received::{hop, is_public, Hop};
use super::values::parse_ip;

/// Mailbox providers whose own relays appear at the top of the messages they complain about:
/// a family name and the domains its relay host names end in.
const PROVIDERS: &[(&str, &[&str])] = &[
    (
        "microsoft",
        &[
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "office365.com",
            "microsoft.com",
        ],
    ),
    (
        "google",
        &["google.com", "gmail.com", "googlemail.com", "1e100.net"],
    ),
    (
        "yahoo",
        &[
            "yahoo.com",
            "yahoo.net",
            "yahoodns.net",
            "aol.com",
            "aol.net",
        ],
    ),
    ("apple", &["icloud.com", "me.com", "mac.com", "apple.com"]),
    ("comcast", &["comcast.net"]),
    ("mail.ru", &["mail.ru"]),
    ("yandex", &["yandex.net", "yandex.ru"]),
    ("gmx", &["gmx.net", "gmx.com", "web.de"]),
    ("zoho", &["zoho.com", "zohomail.com", "zoho.eu"]),
];

/// Received headers looked at: real chains have a few dozen at most.
const MAX_HOPS: usize = 64;

/// The organisations the report came from: known-provider families or registered domains.
#[derive(Debug, Default)]
pub(crate) struct Reporter {
    orgs: Vec<String>,
}

impl Reporter {
    /// The reporter from the domains it names (From address, Reporting-MTA, Reported-From).
    pub fn new<'a>(domains: impl IntoIterator<Item = &'a str>) -> Self {
        let mut orgs: Vec<String> = Vec::new();
        for domain in domains {
            if let Some(org) = org(domain) {
                if !orgs.contains(&org) {
                    orgs.push(org);
                }
            }
        }
        Reporter { orgs }
    }

    fn has(&self, org: &str) -> bool {
        self.orgs.iter().any(|o| o == org)
    }
}

/// The chosen source: which Received header it came from, if any, and the warning to record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Derived {
    pub ip: IpAddr,
    /// Position of the hop in the chain (0 = topmost), when a Received header names it.
    pub index: Option<usize>,
    pub warning: String,
}

/// Picks the source address from the attached message's Received chain (topmost first) and
/// its other headers; `None` when nothing names a public address from outside.
pub(crate) fn derive(chain: &[String], headers: &[Field], reporter: &Reporter) -> Option<Derived> {
    let hops: Vec<Hop> = chain.iter().take(MAX_HOPS).map(|v| hop(v)).collect();
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut entry: Option<(usize, IpAddr)> = None;
    for (index, hop) in hops.iter().enumerate() {
        let Some(ip) = hop.ips.iter().copied().find(is_public) else {
            continue;
        };
        match internal(hop, reporter) {
            Some(org) => skipped.push((index, org)),
            None => {
                entry = Some((index, ip));
                break;
            }
        }
    }
    let spf = headers
        .iter()
        .filter(|f| f.is("received-spf"))
        .find_map(|f| client_ip(&f.value))
        .filter(is_public);
    let originating = headers
        .iter()
        .filter(|f| f.is("x-originating-ip"))
        .find_map(|f| parse_ip(&f.value))
        .filter(is_public);
    // Received-SPF names the address that connected at the reporter's boundary.
    if let Some(spf) = spf {
        let agreeing = hops.iter().position(|h| h.ips.contains(&spf));
        if let (Some(index), true) = (agreeing, entry.is_none_or(|(_, ip)| ip != spf)) {
            let over = entry.map_or(String::new(), |(i, _)| {
                format!(
                    " (preferred over header #{}, the first hop the relay rules left)",
                    i + 1
                )
            });
            return Some(Derived {
                ip: spf,
                index: Some(index),
                warning: format!(
                    "no usable Source-IP: derived from the attached message's Received header #{}, whose address the attached message's Received-SPF client-ip= names{over}",
                    index + 1
                ),
            });
        }
    }
    if let Some((index, ip)) = entry {
        let warning = if skipped.is_empty() {
            format!(
                "no usable Source-IP: derived from the attached message's Received header #{} (the first hop from a public address)",
                index + 1
            )
        } else {
            format!(
                "no usable Source-IP: derived from the attached message's Received header #{} (the first hop from outside the reporter's network; {} passed over as {})",
                index + 1,
                skipped
                    .iter()
                    .map(|(i, _)| format!("#{}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", "),
                relays_of(&skipped),
            )
        };
        return Some(Derived {
            ip,
            index: Some(index),
            warning,
        });
    }
    let (ip, header) = match (spf, originating) {
        (Some(ip), _) => (ip, "Received-SPF client-ip="),
        (None, Some(ip)) => (ip, "X-Originating-IP"),
        (None, None) => return None,
    };
    Some(Derived {
        ip,
        index: None,
        warning: format!(
            "no usable Source-IP: taken from the attached message's {header}, as no Received header names a hop from outside the reporter's network"
        ),
    })
}

/// `relays of microsoft` / `relays of microsoft and example.com`.
fn relays_of(skipped: &[(usize, String)]) -> String {
    let mut orgs: Vec<&str> = Vec::new();
    for (_, org) in skipped {
        if !orgs.contains(&org.as_str()) {
            orgs.push(org);
        }
    }
    format!("relays of {}", orgs.join(" and "))
}

/// The organisation a hop belongs to when it is a relay inside the reporter's infrastructure.
fn internal(hop: &Hop, reporter: &Reporter) -> Option<String> {
    let from = org(hop.from_host.as_deref()?)?;
    let by = hop.by_host.as_deref().and_then(org);
    // A provider's relay handing a message to the reporter is not passed over: mail sent
    // from that provider's own users enters the reporter's network there.
    let same = by.as_deref() == Some(from.as_str());
    (same && (is_provider(&from) || reporter.has(&from))).then_some(from)
}

fn is_provider(org: &str) -> bool {
    PROVIDERS.iter().any(|(family, _)| *family == org)
}

/// The organisation of a host or mail domain: its known-provider family, else its registered
/// domain (the last two labels, three under a country's second level such as `co.uk`).
pub(crate) fn org(host: &str) -> Option<String> {
    let host = host
        .trim()
        .trim_end_matches('.')
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !host.contains('.') || parse_ip(&host).is_some() {
        return None;
    }
    for (family, domains) in PROVIDERS {
        let member = domains.iter().any(|d| {
            host == *d
                || host
                    .strip_suffix(d)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        });
        if member {
            return Some((*family).to_string());
        }
    }
    let labels: Vec<&str> = host.rsplit('.').filter(|l| !l.is_empty()).collect();
    let country_second_level = labels.len() >= 3
        && labels.first().is_some_and(|tld| tld.len() == 2)
        && labels.get(1).is_some_and(|sld| sld.len() <= 3);
    let take = if country_second_level { 3 } else { 2 };
    let mut parts: Vec<&str> = labels.into_iter().take(take).collect();
    parts.reverse();
    (parts.len() >= 2).then(|| parts.join("."))
}

/// The `client-ip=` parameter of a Received-SPF value.
fn client_ip(value: &str) -> Option<IpAddr> {
    let lower = value.to_ascii_lowercase();
    let at = lower.find("client-ip=")?;
    let rest = value.get(at + "client-ip=".len()..)?;
    let end = rest
        .find(|c: char| c == ';' || c.is_whitespace())
        .unwrap_or(rest.len());
    parse_ip(rest.get(..end)?.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &str) -> Field {
        Field {
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    fn chain(hops: &[&str]) -> Vec<String> {
        hops.iter().map(|h| h.to_string()).collect()
    }

    const OUTLOOK: &[&str] = &[
        "from DM6PR11MB4545.namprd11.prod.outlook.com (2603:10b6:5:1b4::21) by BN9PR11MB5307.namprd11.prod.outlook.com with HTTPS; Mon, 3 Mar 2025 10:00:02 +0000",
        "from BN8NAM12FT081.eop-nam12.prod.protection.outlook.com (2a01:111:f400:fe5b::6f) by DM6PR11MB4545.outlook.office365.com (2603:10b6:5:1b4::21) with Microsoft SMTP Server; Mon, 3 Mar 2025 10:00:01 +0000",
        "from relay.customer.example (203.0.113.7) by BN8NAM12FT081.mail.protection.outlook.com (10.13.183.11) with Microsoft SMTP Server; Mon, 3 Mar 2025 10:00:00 +0000",
        "from [10.1.2.3] (unknown [198.51.100.20]) by relay.customer.example with ESMTPSA; Mon, 3 Mar 2025 09:59:59 +0000",
    ];

    #[test]
    fn passes_over_a_providers_own_relays_to_the_first_hop_from_outside() {
        let reporter = Reporter::new(["staff@hotmail.com"]);
        let derived = derive(&chain(OUTLOOK), &[], &reporter).unwrap();
        assert_eq!(derived.ip, "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(derived.index, Some(2));
        assert!(
            derived
                .warning
                .contains("#1, #2 passed over as relays of microsoft"),
            "{}",
            derived.warning
        );
        // Known provider relays are passed over even when the report does not name the
        // provider (a report forwarded by a third party).
        let derived = derive(&chain(OUTLOOK), &[], &Reporter::default()).unwrap();
        assert_eq!(derived.index, Some(2));
    }

    #[test]
    fn the_reporters_own_hops_are_passed_over_by_its_domain() {
        let hops = chain(&[
            "from mx2.isp.example (mx2.isp.example [192.0.2.20]) by store.isp.example; Mon, 3 Mar 2025 10:00:01 +0000",
            "from mail.sender.example (mail.sender.example [198.51.100.9]) by mx2.isp.example; Mon, 3 Mar 2025 10:00:00 +0000",
        ]);
        let derived = derive(&hops, &[], &Reporter::new(["fbl@isp.example"])).unwrap();
        assert_eq!(derived.ip, "198.51.100.9".parse::<IpAddr>().unwrap());
        assert!(derived.warning.contains("relays of isp.example"));
        // Without knowing the reporter, its relay is the first public hop.
        let derived = derive(&hops, &[], &Reporter::default()).unwrap();
        assert_eq!(derived.ip, "192.0.2.20".parse::<IpAddr>().unwrap());
        assert!(derived
            .warning
            .ends_with("(the first hop from a public address)"));
    }

    #[test]
    fn received_spf_moves_the_choice_to_the_hop_it_names() {
        let hops = chain(&[
            "from edge.cloud.example (edge.cloud.example [192.0.2.77]) by mx.isp.example; Mon, 3 Mar 2025 10:00:01 +0000",
            "from mail.sender.example (mail.sender.example [198.51.100.9]) by edge.cloud.example; Mon, 3 Mar 2025 10:00:00 +0000",
        ]);
        let spf = field(
            "Received-SPF",
            "pass (mx.isp.example: domain of sender.example designates 198.51.100.9 as permitted sender) client-ip=198.51.100.9; envelope-from=a@sender.example;",
        );
        let derived = derive(&hops, &[spf], &Reporter::default()).unwrap();
        assert_eq!(derived.ip, "198.51.100.9".parse::<IpAddr>().unwrap());
        assert_eq!(derived.index, Some(1));
        assert!(derived.warning.contains("Received-SPF client-ip="));
        assert!(derived.warning.contains("preferred over header #1"));
        // An address no hop shows does not override the chain.
        let stray = field("Received-SPF", "pass client-ip=203.0.113.200;");
        let derived = derive(&hops, &[stray], &Reporter::default()).unwrap();
        assert_eq!(derived.index, Some(0));
    }

    #[test]
    fn mail_from_a_providers_users_enters_at_the_providers_relay() {
        let hops = chain(&[
            "from mx1.isp.example (mx1.isp.example [192.0.2.20]) by store.isp.example; Mon, 3 Mar 2025 10:00:01 +0000",
            "from mail-sor-f41.google.com (mail-sor-f41.google.com [209.85.220.41]) by mx1.isp.example; Mon, 3 Mar 2025 10:00:00 +0000",
            "by 2002:a05:6402:1b:b0:5e4:1::1 with SMTP id x; Mon, 3 Mar 2025 09:59:59 +0000",
        ]);
        let derived = derive(&hops, &[], &Reporter::new(["fbl@isp.example"])).unwrap();
        assert_eq!(derived.ip, "209.85.220.41".parse::<IpAddr>().unwrap());
        assert_eq!(derived.index, Some(1));
    }

    #[test]
    fn headers_stand_in_when_no_hop_is_from_outside() {
        let hops = chain(&["from internal (internal [10.0.0.5]) by mx.isp.example"]);
        let xoip = field("X-Originating-IP", "[198.51.100.44]");
        let derived = derive(&hops, &[xoip], &Reporter::default()).unwrap();
        assert_eq!(derived.ip, "198.51.100.44".parse::<IpAddr>().unwrap());
        assert_eq!(derived.index, None);
        assert!(derived.warning.contains("X-Originating-IP"));
        assert_eq!(derive(&hops, &[], &Reporter::default()), None);
    }

    #[test]
    fn organisations() {
        assert_eq!(
            org("BN8NAM12FT081.mail.protection.outlook.com").as_deref(),
            Some("microsoft")
        );
        assert_eq!(org("staff@hotmail.com").as_deref(), Some("microsoft"));
        assert_eq!(org("mx.example.co.uk").as_deref(), Some("example.co.uk"));
        assert_eq!(org("a.b.example.com.").as_deref(), Some("example.com"));
        assert_eq!(org("notoutlook.com").as_deref(), Some("notoutlook.com"));
        assert_eq!(org("localhost"), None);
        assert_eq!(org("192.0.2.1"), None);
    }
}
