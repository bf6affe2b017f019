//! ARF feedback-report parsing (DESIGN.md steps 2 "Parse" and 3 "Identify").
//!
//! [`parse`] turns the raw bytes of one inbound mail into a normalized [`FeedbackReport`] or a
//! typed [`ParseError`] saying why it is not one. It is a pure function and never panics.
//! Recognised: RFC 5965 ARF (incl. RFC 6591 auth-failure and headers-only variants, reports
//! re-wrapped by forwarding clients), Microsoft JMRP, X-ARF 0.1/0.2 (YAML) and X-ARF v4 JSON.

mod date;
mod error;
mod fields;
mod finish;
mod header;
mod identity;
mod jmrp;
pub(crate) mod mime;
mod original;
mod received;
mod refuse;
mod source;
mod values;
mod xarf;
mod xarf_yaml;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use error::{IdentityRuleError, ParseError};
pub use identity::{IdentityRule, IdentityRules};
pub use original::OriginalMessage;

use finish::finish;
use mime::{Kind, Scanned};
use original::Attached;

/// Which report format the message was in.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// RFC 5965 Abuse Reporting Format.
    Arf,
    /// Microsoft Junk Mail Reporting Program (no machine-readable report part).
    Jmrp,
    /// X-ARF: v4 JSON, or 0.1/0.2 YAML (`version` says which).
    Xarf,
}

/// The identity of the offender at our side, found by an identification rule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Identity {
    /// The identity, e.g. `172.16.10.13@example.com`.
    pub value: String,
    /// The rule that found it, e.g. `X-AuthUser` or `Authentication-Results smtp.auth`.
    pub rule: String,
}

/// The authenticated outgoing user, for locking it upstream.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct OutgoingUser {
    /// The user's domain, when the source names one.
    pub domain: Option<String>,
    /// The user name (without `@domain`).
    pub user: String,
}

/// One feedback report, normalized across ARF, JMRP and X-ARF.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FeedbackReport {
    /// Format the report came in.
    pub format: ReportFormat,
    /// Lowercase Feedback-Type token (`abuse`, `fraud`, `auth-failure`, …); unknown tokens kept.
    pub feedback_type: String,
    /// User-Agent of the reporting software.
    pub user_agent: Option<String>,
    /// Version field as written (`1`, `0.1`).
    pub version: Option<String>,
    /// Source-IP, or derived from the Received chain (then noted in `warnings`).
    pub source_ip: Option<IpAddr>,
    /// Envelope sender, address only.
    pub original_mail_from: Option<String>,
    /// Envelope recipients, addresses only (often redacted or hashed by the reporter).
    pub original_rcpt_to: Vec<String>,
    /// Original-Envelope-Id (the sending MTA's queue id).
    pub original_envelope_id: Option<String>,
    /// Reporting-MTA as written (`dns; mail.example.com`).
    pub reporting_mta: Option<String>,
    /// Removal-Recipient, address only.
    pub removal_recipient: Option<String>,
    /// Arrival-Date (or historic Received-Date), or derived from the Received chain.
    pub arrival_date: Option<DateTime<Utc>>,
    /// Reported-Domain values.
    pub reported_domain: Vec<String>,
    /// Reported-URI values.
    pub reported_uri: Vec<String>,
    /// Authentication-Results values of the report part, unfolded.
    pub authentication_results: Vec<String>,
    /// Incidents (default 1).
    pub incidents: u64,
    /// RFC 6591 Auth-Failure.
    pub auth_failure: Option<String>,
    /// RFC 6591 Delivery-Result.
    pub delivery_result: Option<String>,
    /// RFC 6591 DKIM-Domain.
    pub dkim_domain: Option<String>,
    /// RFC 6591 DKIM-Identity.
    pub dkim_identity: Option<String>,
    /// RFC 6591 DKIM-Selector.
    pub dkim_selector: Option<String>,
    /// RFC 6591 DKIM-Canonicalized-Header (base64, whitespace removed).
    pub dkim_canonicalized_header: Option<String>,
    /// RFC 6591 DKIM-Canonicalized-Body (base64, whitespace removed).
    pub dkim_canonicalized_body: Option<String>,
    /// RFC 6591 SPF-DNS.
    pub spf_dns: Option<String>,
    /// RFC 7489 Identity-Alignment.
    pub identity_alignment: Option<String>,
    /// The attached original message or its headers.
    pub original: Option<OriginalMessage>,
    /// Who sent it at our side, by the identification rules.
    pub identity: Option<Identity>,
    /// The authenticated outgoing user, for locking.
    pub outgoing_user: Option<OutgoingUser>,
    /// Every report field not mapped above: lowercased name → values in order.
    pub extra: BTreeMap<String, Vec<String>>,
    /// What was odd, derived or ignored, for the agent reading the ticket.
    pub warnings: Vec<String>,
}

impl FeedbackReport {
    fn new(format: ReportFormat) -> Self {
        FeedbackReport {
            format,
            feedback_type: String::new(),
            user_agent: None,
            version: None,
            source_ip: None,
            original_mail_from: None,
            original_rcpt_to: Vec::new(),
            original_envelope_id: None,
            reporting_mta: None,
            removal_recipient: None,
            arrival_date: None,
            reported_domain: Vec::new(),
            reported_uri: Vec::new(),
            authentication_results: Vec::new(),
            incidents: 1,
            auth_failure: None,
            delivery_result: None,
            dkim_domain: None,
            dkim_identity: None,
            dkim_selector: None,
            dkim_canonicalized_header: None,
            dkim_canonicalized_body: None,
            spf_dns: None,
            identity_alignment: None,
            original: None,
            identity: None,
            outgoing_user: None,
            extra: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// Parses one raw message with the default identification rules.
pub fn parse(raw: &[u8]) -> Result<FeedbackReport, ParseError> {
    static DEFAULT: OnceLock<IdentityRules> = OnceLock::new();
    parse_with(raw, DEFAULT.get_or_init(IdentityRules::default))
}

/// Parses one raw message with the given identification rules.
pub fn parse_with(raw: &[u8], rules: &IdentityRules) -> Result<FeedbackReport, ParseError> {
    parse_at(raw, rules, 0)
}

fn parse_at(raw: &[u8], rules: &IdentityRules, depth: u8) -> Result<FeedbackReport, ParseError> {
    let input = prepare(raw)?;
    let cut = mime::cut_original_bodies(&input);
    parse_input(cut.as_deref().unwrap_or(&input), rules, depth)
}

fn parse_input(
    input: &[u8],
    rules: &IdentityRules,
    depth: u8,
) -> Result<FeedbackReport, ParseError> {
    let scanned = mime::scan(input).ok_or_else(|| {
        ParseError::malformed("not a mail message: no header block could be read")
    })?;
    if let Some(leaf) = scanned.leaves.iter().find(|l| l.kind == Kind::Feedback) {
        return arf(&scanned, &leaf.bytes, rules);
    }
    // A report forwarded as an attachment (message/rfc822) is the report we want; the depth
    // limit keeps a report about a report from being unwrapped twice.
    if depth == 0 {
        for leaf in scanned
            .leaves
            .iter()
            .filter(|l| l.kind == Kind::Original(false))
        {
            if contains_ci(&leaf.bytes, b"message/feedback-report") {
                if let Ok(mut report) = parse_at(&leaf.bytes, rules, depth + 1) {
                    report.warnings.push(
                        "the report came forwarded as an attached message; the attached report was parsed"
                            .to_string(),
                    );
                    return Ok(report);
                }
            }
        }
    }
    if let Some(report) = xarf_yaml::build(&scanned, rules) {
        return Ok(report);
    }
    if jmrp::is_jmrp(&scanned) {
        return Ok(jmrp::build(&scanned, rules));
    }
    if let Some(report) = xarf::standalone(&scanned, rules) {
        return Ok(report);
    }
    Err(ParseError::not_a_report(refuse::reason(&scanned)))
}

/// Strips an mbox `From ` line and turns CR-only line ends into LF, which mail-parser needs.
fn prepare(raw: &[u8]) -> Result<Cow<'_, [u8]>, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::malformed("the message is empty"));
    }
    let mut input = raw;
    if input.starts_with(b"From ") {
        let next = header::lines(input)
            .next()
            .map_or(input.len(), |(_, next)| next);
        input = input.get(next..).unwrap_or_default();
    }
    if !input.contains(&b'\n') && input.contains(&b'\r') {
        let lf: Vec<u8> = input
            .iter()
            .map(|&b| if b == b'\r' { b'\n' } else { b })
            .collect();
        return Ok(Cow::Owned(lf));
    }
    Ok(Cow::Borrowed(input))
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Builds an ARF report from its feedback-report part and the attached original.
fn arf(
    scanned: &Scanned<'_>,
    part: &[u8],
    rules: &IdentityRules,
) -> Result<FeedbackReport, ParseError> {
    let fields = header::parse_report_fields(part);
    if fields.is_empty() {
        return Err(ParseError::malformed(
            "the message/feedback-report part is empty: it has no report fields",
        ));
    }
    let mut report = FeedbackReport::new(ReportFormat::Arf);
    if !fields::apply(&fields, &mut report) {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        return Err(ParseError::malformed(format!(
            "the message/feedback-report part has no Feedback-Type, so the complaint cannot be classified (fields present: {})",
            names.join(", ")
        )));
    }
    // X-ARF data fills gaps before anything is guessed from the Received chain.
    xarf::merge(&mut report, scanned);
    let attached = attached_original(scanned);
    finish(&mut report, scanned, attached, &fields, rules);
    Ok(report)
}

/// The first attached original message or headers part.
fn attached_original(scanned: &Scanned<'_>) -> Option<Attached> {
    scanned.leaves.iter().find_map(|l| match l.kind {
        Kind::Original(headers_only) => Some(original::read(&l.bytes, headers_only)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Parses without cutting the attached original's body off first.
    fn parse_uncut(raw: &[u8]) -> Result<FeedbackReport, ParseError> {
        let input = prepare(raw)?;
        parse_input(&input, &IdentityRules::default(), 0)
    }

    #[test]
    fn cutting_the_attached_originals_body_changes_no_result() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let (mut files, mut cut) = (0, 0);
        for dir in ["arf", "arf-extra", "xarf", "fuzz-regressions"] {
            for entry in std::fs::read_dir(fixtures.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if matches!(ext, "json" | "md" | "failed") {
                    continue;
                }
                let raw = std::fs::read(&path).unwrap();
                assert_eq!(parse(&raw), parse_uncut(&raw), "{}", path.display());
                files += 1;
                if prepare(&raw)
                    .ok()
                    .and_then(|input| mime::cut_original_bodies(&input))
                    .is_some()
                {
                    cut += 1;
                }
            }
        }
        // Most real reports attach the whole original; the comparison must have covered them.
        assert!(files >= 50 && cut >= 20, "{files} files, {cut} cut");
    }
}
