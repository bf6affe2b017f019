//! The common tail of every format: derive what the report left out from the attached
//! message, identify the sender, attach the original.

use super::header::Field;
use super::mime::Scanned;
use super::original::Attached;
use super::received::hop_date;
use super::source::{self, Reporter};
use super::values::parse_address;
use super::{identity, FeedbackReport, Identity, IdentityRules};

/// Fills the source IP and arrival date from the attached message when the report gave none,
/// then identifies the sender.
pub(crate) fn finish(
    report: &mut FeedbackReport,
    scanned: &Scanned<'_>,
    attached: Option<Attached>,
    report_fields: &[Field],
    rules: &IdentityRules,
) {
    let headers: &[Field] = attached.as_ref().map_or(&[], |a| a.headers.as_slice());
    let chain: &[String] = attached
        .as_ref()
        .map_or(&[], |a| a.message.received.as_slice());
    // The hop that entered the reporter's network also dates the message when the report
    // gave no Arrival-Date, even where it gave the Source-IP.
    let derived = source::derive(chain, headers, &reporter(report, scanned));
    let hop_index = derived.as_ref().and_then(|d| d.index);
    if report.source_ip.is_none() {
        match derived {
            Some(derived) => {
                report.source_ip = Some(derived.ip);
                report.warnings.push(derived.warning);
            }
            None => report.warnings.push(
                "no usable Source-IP, and no public address in the attached message's Received headers to derive one from".to_string(),
            ),
        }
    }
    if report.arrival_date.is_none() {
        let derived = hop_index
            .and_then(|i| chain.get(i).and_then(|r| hop_date(r)).map(|d| (i, d)))
            .or_else(|| {
                chain
                    .iter()
                    .enumerate()
                    .find_map(|(i, r)| hop_date(r).map(|d| (i, d)))
            });
        match derived {
            Some((index, date)) => {
                report.arrival_date = Some(date);
                report.warnings.push(format!(
                    "Arrival-Date missing: derived from the time stamp of the attached message's Received header #{}",
                    index + 1
                ));
            }
            None => report.warnings.push(
                "Arrival-Date missing and not derivable from the attached message".to_string(),
            ),
        }
    }
    let found = rules.identify(headers).or_else(|| {
        let found = rules.identify(report_fields);
        if found.is_some() {
            report.warnings.push(
                "identity taken from the report's own fields: the attached message named none"
                    .to_string(),
            );
        }
        found
    });
    report.identity = found.map(|f| Identity {
        value: f.value,
        rule: f.rule,
    });
    report.outgoing_user = identity::outgoing_user(&[headers, report_fields]);
    report.original = attached.map(|a| a.message);
}

/// Who complained: the report's From address, its Reporting-MTA and, for X-ARF, the
/// Reported-From address and reporter domain.
fn reporter(report: &FeedbackReport, scanned: &Scanned<'_>) -> Reporter {
    let mut domains: Vec<String> = Vec::new();
    domains.extend(parse_address(&scanned.from));
    if let Some(mta) = &report.reporting_mta {
        let host = mta.rsplit(';').next().unwrap_or_default().trim();
        domains.push(host.to_string());
    }
    for key in ["reported-from", "xarf-reporter-org-domain"] {
        for value in report.extra.get(key).into_iter().flatten() {
            domains.extend(parse_address(value));
        }
    }
    Reporter::new(domains.iter().map(String::as_str))
}
