//! Microsoft JMRP complaints (Outlook.com / Hotmail "Junk Mail Reporting Program").
//!
//! JMRP sends no machine-readable report part: a multipart/mixed from `staff@hotmail.com`
//! with subject `complaint about message from <ip>` and the complained-about message attached
//! as message/rfc822, whose `X-HmXmrOriginalRecipient` names the complaining recipient.

use super::header::first;
use super::mime::{Kind, Scanned};
use super::values::{parse_address, parse_address_list, parse_ip};
use super::{finish, original, FeedbackReport, IdentityRules, ReportFormat};

const SUBJECT_PREFIX: &str = "complaint about message from";

/// Whether the message looks like a JMRP complaint.
pub(crate) fn is_jmrp(scanned: &Scanned<'_>) -> bool {
    let Some(leaf) = scanned
        .leaves
        .iter()
        .find(|l| l.kind == Kind::Original(false))
    else {
        return false;
    };
    let subject = scanned.subject.to_ascii_lowercase();
    subject.starts_with(SUBJECT_PREFIX)
        || scanned
            .from
            .to_ascii_lowercase()
            .contains("staff@hotmail.com")
        || super::contains_ci(&leaf.bytes, b"X-HmXmrOriginalRecipient:")
}

/// Builds the report: source IP from the subject (else the Received chain), recipient from
/// `X-HmXmrOriginalRecipient`, envelope sender from the attached message's `Return-Path`.
pub(crate) fn build(scanned: &Scanned<'_>, rules: &IdentityRules) -> FeedbackReport {
    let mut report = FeedbackReport::new(ReportFormat::Jmrp);
    report.feedback_type = "abuse".to_string();
    let subject = scanned.subject.trim();
    if subject.to_ascii_lowercase().starts_with(SUBJECT_PREFIX) {
        let ip_text = subject
            .get(SUBJECT_PREFIX.len()..)
            .unwrap_or_default()
            .trim();
        report.source_ip = parse_ip(ip_text);
        if report.source_ip.is_none() && !ip_text.is_empty() {
            report.warnings.push(format!(
                "the JMRP subject names \"{ip_text}\", which is not an IP address"
            ));
        }
    }
    let attached = scanned
        .leaves
        .iter()
        .find(|l| l.kind == Kind::Original(false))
        .map(|l| original::read(&l.bytes, false));
    if let Some(a) = &attached {
        report.original_rcpt_to = a
            .headers
            .iter()
            .filter(|f| f.is("x-hmxmroriginalrecipient"))
            .flat_map(|f| parse_address_list(&f.value))
            .collect();
        // The Return-Path was written at final delivery from the envelope MAIL FROM.
        report.original_mail_from = first(&a.headers, "return-path").and_then(parse_address);
    }
    finish(&mut report, scanned, attached, &[], rules);
    report
}
