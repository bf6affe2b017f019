//! X-ARF 0.1 and 0.2, the German abuse-reporting format still sent by blocklists and CERTs.
//!
//! A `multipart/mixed` mail (usually marked `X-XARF: PLAIN` or `X-ARF: yes`): a human-readable
//! first part, the report as YAML `Name: value` lines in the second (`report.txt`:
//! `Reported-From`, `Category`, `Report-Type`, `Source`, `Source-Type`, `Date`, `Schema-URL`, …)
//! and optional evidence, a log or the reported message itself (`message/rfc822`). The report
//! maps onto the same [`FeedbackReport`] with format `xarf` and the version as written; fields
//! with no ARF counterpart go to `extra` under their lowercased names, as ARF fields do.

use std::net::IpAddr;

use yaml_serde::Value;

use super::date::parse_date;
use super::header::{parse_report_fields, Field};
use super::mime::{Kind, Scanned};
use super::values::parse_ip;
use super::{finish, original, xarf, FeedbackReport, IdentityRules, ReportFormat};

/// Larger parts are not read as a report: real ones are a few hundred bytes, and the YAML
/// parser's work (alias expansion included) stays bounded by the input.
const MAX_REPORT: usize = 64 * 1024;

/// A report part names one of these, and one of [`SECOND`]; the cheap scan looks for [`FIRST`]
/// before anything is parsed.
const FIRST: &[&str] = &["report-type", "category"];
const SECOND: &[&str] = &["reported-from", "schema-url", "source"];

/// Prefix of the warning the Received-chain derivation writes.
const DERIVED: &str = "no usable Source-IP: ";

/// A mail whose report is an X-ARF 0.1/0.2 YAML part.
pub(crate) fn build(scanned: &Scanned<'_>, rules: &IdentityRules) -> Option<FeedbackReport> {
    let mut report = FeedbackReport::new(ReportFormat::Xarf);
    let fields = scanned.leaves.iter().find_map(|leaf| {
        if leaf.kind != Kind::Other || leaf.bytes.len() > MAX_REPORT || !mentions(&leaf.bytes) {
            return None;
        }
        let (fields, warning) = read(&leaf.bytes);
        let has = |names: &[&str]| fields.iter().any(|f| names.iter().any(|n| f.is(n)));
        (has(FIRST) && has(SECOND)).then_some((fields, warning))
    });
    let (fields, warning) = fields?;
    report.warnings.extend(warning);
    let redacted = apply(&fields, &mut report);
    let attached = scanned.leaves.iter().find_map(|l| match l.kind {
        Kind::Original(headers_only) => Some(original::read(&l.bytes, headers_only)),
        _ => None,
    });
    finish(&mut report, scanned, attached, &fields, rules);
    if let Some(source) = redacted {
        check_derived(&mut report, &source);
    }
    Some(report)
}

/// Whether the part names a report field at a line start, before any parsing.
fn mentions(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').any(|line| {
        let line = line.trim_ascii_start();
        FIRST.iter().any(|name| {
            line.get(..name.len() + 1).is_some_and(|head| {
                head[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && head[name.len()] == b':'
            })
        })
    })
}

/// The report's fields: by the YAML parser, or, where a reporter wrote lines that are not
/// valid YAML (`Schema-URL: http: //…`), line by line, with a warning saying so.
fn read(bytes: &[u8]) -> (Vec<Field>, Option<String>) {
    match yaml_serde::from_slice::<Value>(bytes) {
        Ok(Value::Mapping(map)) => {
            let mut fields = Vec::new();
            for (key, value) in map {
                let Some(name) = scalar(&key) else { continue };
                match value {
                    Value::Sequence(items) => fields.extend(items.iter().map(|item| Field {
                        name: name.clone(),
                        value: scalar(item).unwrap_or_default(),
                    })),
                    other => fields.push(Field {
                        name,
                        value: scalar(&other).unwrap_or_default(),
                    }),
                }
            }
            (fields, None)
        }
        Ok(_) => (
            parse_report_fields(bytes),
            Some("the X-ARF report part is not a YAML mapping; its lines were read as Name: value fields".to_string()),
        ),
        Err(e) => (
            parse_report_fields(bytes),
            Some(format!(
                "the X-ARF report part is not valid YAML ({e}); its lines were read as Name: value fields"
            )),
        ),
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar(&tagged.value),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

/// Maps the fields onto the report; returns the Source when it is a redacted address.
fn apply(fields: &[Field], report: &mut FeedbackReport) -> Option<String> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|f| f.is(name))
            .map(|f| f.value.trim())
            .filter(|v| !v.is_empty())
    };
    report.feedback_type = xarf::feedback_type(get("report-type"), get("category"));
    report.version = get("version").map(str::to_string);
    report.user_agent = get("user-agent").map(str::to_string);
    if let Some(date) = get("date") {
        report.arrival_date = parse_date(date);
        if report.arrival_date.is_none() {
            report.warnings.push(format!(
                "X-ARF Date \"{date}\" is not a date we can read; ignored"
            ));
        }
    }
    let mut redacted = None;
    if let Some(source) = get("source") {
        match Source::of(source, get("source-type")) {
            Source::Ip(ip) => report.source_ip = Some(ip),
            Source::Uri => report.reported_uri.push(source.to_string()),
            Source::Redacted => {
                report.warnings.push(format!(
                    "X-ARF Source \"{source}\" is redacted by the reporter: no address is taken from it"
                ));
                redacted = Some(source.to_string());
            }
            Source::Unreadable => report.warnings.push(format!(
                "X-ARF Source \"{source}\" is neither an IP address nor a URI; ignored"
            )),
        }
    }
    for field in fields {
        let name = field.name.to_ascii_lowercase();
        match name.as_str() {
            "version" | "user-agent" | "date" => {}
            "domain" => report.reported_domain.extend(non_empty(&field.value)),
            _ => report
                .extra
                .entry(name)
                .or_default()
                .push(field.value.trim().to_string()),
        }
    }
    redacted
}

fn non_empty(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// What the `Source` field holds.
#[derive(Debug, PartialEq)]
enum Source {
    Ip(IpAddr),
    Uri,
    /// An address with parts masked out (`192.0.2.xxx`, `198.51.100.*`) or a redaction note.
    Redacted,
    Unreadable,
}

impl Source {
    fn of(value: &str, source_type: Option<&str>) -> Self {
        if let Some(ip) = parse_ip(value) {
            return Source::Ip(ip);
        }
        let lower = value.to_ascii_lowercase();
        let uri_type = source_type.is_some_and(|t| t.eq_ignore_ascii_case("uri"));
        if uri_type || lower.contains("://") {
            return Source::Uri;
        }
        let masked = lower.contains(['.', ':'])
            && lower.contains(['x', '*', '#', '?', '_'])
            && lower
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ".:x*#?_/".contains(c));
        let noted = ["redacted", "anonymi", "masked", "hidden"]
            .iter()
            .any(|w| lower.contains(w));
        if masked || noted {
            Source::Redacted
        } else {
            Source::Unreadable
        }
    }
}

/// A redacted Source keeps an address found in the attached message only when it agrees with
/// the part the reporter left visible; otherwise no address is better than a guess.
fn check_derived(report: &mut FeedbackReport, source: &str) {
    let Some(ip) = report.source_ip else { return };
    if visible_part_matches(source, &ip) {
        report.warnings.push(format!(
            "{ip} from the attached message agrees with the visible part of the redacted Source \"{source}\""
        ));
        return;
    }
    report.source_ip = None;
    report.warnings.retain(|w| !w.starts_with(DERIVED));
    report.warnings.push(format!(
        "the attached message names {ip}, which does not agree with the redacted Source \"{source}\": no source IP"
    ));
}

/// `192.0.2.xxx` against 192.0.2.45: every octet written as digits must be the address's.
fn visible_part_matches(pattern: &str, ip: &IpAddr) -> bool {
    let IpAddr::V4(v4) = ip else { return false };
    let parts: Vec<&str> = pattern.trim().split('.').collect();
    if parts.len() != 4 {
        return false;
    }
    let mut visible = 0;
    for (part, octet) in parts.iter().zip(v4.octets()) {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            if part.parse::<u8>().ok() != Some(octet) {
                return false;
            }
            visible += 1;
        }
    }
    visible > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let ip = |s: &str| Source::Ip(s.parse().unwrap());
        assert_eq!(Source::of("192.0.2.1", Some("ip-address")), ip("192.0.2.1"));
        assert_eq!(Source::of("2001:db8::1", Some("ipv6")), ip("2001:db8::1"));
        assert_eq!(Source::of("https://shop.example/x?a=b", None), Source::Uri);
        assert_eq!(Source::of("shop.example/login", Some("URI")), Source::Uri);
        for masked in [
            "192.0.2.xxx",
            "198.51.100.*",
            "xxx.xxx.xxx.xxx",
            "2001:db8::xxxx",
            "[redacted]",
        ] {
            assert_eq!(
                Source::of(masked, Some("ipv4")),
                Source::Redacted,
                "{masked}"
            );
        }
        assert_eq!(Source::of("somewhere", None), Source::Unreadable);
    }

    #[test]
    fn a_redacted_source_accepts_only_an_agreeing_address() {
        let ip: IpAddr = "192.0.2.45".parse().unwrap();
        assert!(visible_part_matches("192.0.2.xxx", &ip));
        assert!(!visible_part_matches("192.0.3.xxx", &ip));
        assert!(!visible_part_matches("xxx.xxx.xxx.xxx", &ip));
        assert!(!visible_part_matches("2001:db8::xxxx", &ip));
    }

    #[test]
    fn yaml_and_line_fallback() {
        let (fields, warning) =
            read(b"---\nCategory: abuse\nPort: 22\nReport-ID: '17'\nSource-Type:\n");
        assert_eq!(warning, None);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("Category", "abuse"),
                ("Port", "22"),
                ("Report-ID", "17"),
                ("Source-Type", "")
            ]
        );
        let (fields, warning) = read(b"Category: info\nSchema-URL: http: //x.example/s.json\n");
        assert!(warning.unwrap().contains("not valid YAML"));
        assert_eq!(fields.len(), 2);
        assert!(mentions(b"Hello\n  report-type: spam\n"));
        assert!(!mentions(b"The report-type: is spam\n"));
    }
}
