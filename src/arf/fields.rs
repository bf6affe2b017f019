//! Maps the fields of a `message/feedback-report` part (RFC 5965, RFC 6591) onto the report.
//!
//! Names are matched case-insensitively in any order. Fields that may repeat become lists;
//! a repeated single-valued field keeps its first value and says so in `warnings`. Every field
//! we do not map is kept in `extra`, so nothing a reporter sent is lost.

use super::date::parse_date;
use super::header::Field;
use super::values::{non_empty, parse_address, parse_address_list, parse_ip};
use super::FeedbackReport;

/// Fields that name a single value; the first occurrence wins.
const SINGLE: &[&str] = &[
    "feedback-type",
    "user-agent",
    "version",
    "source-ip",
    "original-mail-from",
    "original-envelope-id",
    "reporting-mta",
    "removal-recipient",
    "arrival-date",
    "received-date",
    "incidents",
    "auth-failure",
    "delivery-result",
    "dkim-domain",
    "dkim-identity",
    "dkim-selector",
    "dkim-canonicalized-header",
    "dkim-canonicalized-body",
    "spf-dns",
    "identity-alignment",
];

/// Fills `report` from the report fields. Returns `false` if there was no Feedback-Type.
pub(crate) fn apply(fields: &[Field], report: &mut FeedbackReport) -> bool {
    let mut seen: Vec<String> = Vec::new();
    let mut feedback_type = None;
    let mut arrival = None;
    let mut received_date = None;
    for field in fields {
        let name = field.name.to_ascii_lowercase();
        let value = field.value.as_str();
        if SINGLE.contains(&name.as_str()) {
            if seen.contains(&name) {
                report.warnings.push(format!(
                    "{} appears more than once; the first value was kept, \"{}\" ignored",
                    field.name, value
                ));
                continue;
            }
            seen.push(name.clone());
        }
        match name.as_str() {
            "feedback-type" => feedback_type = non_empty(value).map(|v| v.to_ascii_lowercase()),
            "user-agent" => report.user_agent = non_empty(value),
            "version" => report.version = non_empty(value),
            "source-ip" => {
                if !value.trim().is_empty() {
                    report.source_ip = parse_ip(value);
                    if report.source_ip.is_none() {
                        report.warnings.push(format!(
                            "Source-IP \"{value}\" is not an IP address; ignored"
                        ));
                    }
                }
            }
            "original-mail-from" => report.original_mail_from = parse_address(value),
            "original-rcpt-to" => report.original_rcpt_to.extend(parse_address_list(value)),
            "original-envelope-id" => report.original_envelope_id = non_empty(value),
            "reporting-mta" => report.reporting_mta = non_empty(value),
            "removal-recipient" => report.removal_recipient = parse_address(value),
            "arrival-date" => arrival = non_empty(value),
            "received-date" => received_date = non_empty(value),
            "reported-domain" => report.reported_domain.extend(non_empty(value)),
            "reported-uri" => report.reported_uri.extend(non_empty(value)),
            "authentication-results" => report.authentication_results.extend(non_empty(value)),
            "incidents" => match value.trim().parse::<u64>() {
                Ok(n) => report.incidents = n,
                Err(_) => report.warnings.push(format!(
                    "Incidents \"{value}\" is not a number; counted as 1"
                )),
            },
            "auth-failure" => report.auth_failure = non_empty(value),
            "delivery-result" => report.delivery_result = non_empty(value),
            "dkim-domain" => report.dkim_domain = non_empty(value),
            "dkim-identity" => report.dkim_identity = non_empty(value),
            "dkim-selector" => report.dkim_selector = non_empty(value),
            // Base64 carried over folded lines: the folding whitespace is not part of it.
            "dkim-canonicalized-header" => report.dkim_canonicalized_header = base64(value),
            "dkim-canonicalized-body" => report.dkim_canonicalized_body = base64(value),
            "spf-dns" => report.spf_dns = non_empty(value),
            "identity-alignment" => report.identity_alignment = non_empty(value),
            _ => report
                .extra
                .entry(name)
                .or_default()
                .push(value.trim().to_string()),
        }
    }
    // Arrival-Date is the standard name; Received-Date is its draft-era predecessor.
    for (label, date) in [("Arrival-Date", arrival), ("Received-Date", received_date)] {
        let Some(date) = date else { continue };
        if report.arrival_date.is_some() {
            break;
        }
        report.arrival_date = parse_date(&date);
        if report.arrival_date.is_none() {
            report.warnings.push(format!(
                "{label} \"{date}\" is not a date we can read; ignored"
            ));
        }
    }
    match feedback_type {
        Some(t) => {
            report.feedback_type = t;
            true
        }
        None => false,
    }
}

fn base64(value: &str) -> Option<String> {
    non_empty(&value.split_whitespace().collect::<String>())
}
