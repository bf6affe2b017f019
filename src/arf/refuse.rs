//! Why a message is not a feedback report, in words an abuse agent understands.

use super::mime::{Kind, Scanned};

/// The reason shown in the quarantine for a message with no report in it.
pub(crate) fn reason(scanned: &Scanned<'_>) -> String {
    if let Some(why) = dmarc_aggregate(scanned) {
        return why;
    }
    let subject = scanned.subject.to_ascii_lowercase();
    if subject.trim_start().starts_with("unsubscribe") {
        return "an unsubscribe request, not a feedback report".to_string();
    }
    match (scanned.mime.as_str(), scanned.report_type.as_deref()) {
        ("multipart/report", Some("delivery-status")) => {
            "a delivery status notification (bounce, report-type=delivery-status), not a feedback report".to_string()
        }
        ("multipart/report", Some("disposition-notification")) => {
            "a read receipt (report-type=disposition-notification), not a feedback report".to_string()
        }
        ("multipart/report", Some(other)) => format!(
            "a multipart/report with report-type={other} and no message/feedback-report part ({})",
            part_list(scanned)
        ),
        ("multipart/report", None) => format!(
            "a multipart/report without report-type and without a message/feedback-report part ({}); a plain-text notice cannot be turned into a report",
            part_list(scanned)
        ),
        ("text/plain", _) => "a plain text/plain mail with no feedback-report part".to_string(),
        (mime, _) => format!(
            "a {mime} mail with no feedback-report part ({})",
            part_list(scanned)
        ),
    }
}

fn part_list(scanned: &Scanned<'_>) -> String {
    if scanned.leaves.is_empty() {
        return "no parts".to_string();
    }
    let parts: Vec<&str> = scanned.leaves.iter().map(|l| l.mime.as_str()).collect();
    format!("parts: {}", parts.join(", "))
}

/// DMARC aggregate (rua) reports: zipped or gzipped XML named `receiver!domain!begin!end`.
fn dmarc_aggregate(scanned: &Scanned<'_>) -> Option<String> {
    if let Some(rt) = scanned
        .report_type
        .as_deref()
        .filter(|rt| rt.contains("dmarc"))
    {
        return Some(format!(
            "a DMARC aggregate report (report-type={rt}), not a feedback report"
        ));
    }
    let attachment = scanned.leaves.iter().find(|l| {
        l.kind == Kind::Other
            && l.filename.as_deref().is_some_and(|n| {
                let n = n.to_ascii_lowercase();
                n.contains('!')
                    && (n.ends_with(".zip") || n.ends_with(".gz") || n.ends_with(".xml"))
            })
    });
    if let Some(name) = attachment.and_then(|l| l.filename.as_deref()) {
        return Some(format!(
            "a DMARC aggregate report (attachment \"{name}\"), not a feedback report"
        ));
    }
    let subject = scanned.subject.to_ascii_lowercase();
    if subject.contains("report domain:") && subject.contains("submitter:") {
        return Some(format!(
            "a DMARC aggregate report (subject \"{}\"), not a feedback report",
            scanned.subject
        ));
    }
    None
}
