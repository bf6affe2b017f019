//! What a report says about the complaint, in the terms tickets and events are built from:
//! reporter, class, identity, sender, subject and the dedup key.

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use crate::arf::FeedbackReport;
use crate::tickets::{Class, SubjectKind};

/// What the ticket and event are built from, derived once per report.
pub(crate) struct Facts<'a> {
    pub(crate) report: &'a FeedbackReport,
    pub(crate) reporter: String,
    pub(crate) class: Class,
    pub(crate) identity: Option<String>,
    pub(crate) outgoing_user: Option<String>,
    pub(crate) sender: Option<String>,
    pub(crate) source_ip: Option<String>,
    pub(crate) arrival: NaiveDateTime,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(report: &'a FeedbackReport, received_at: NaiveDateTime) -> Self {
        let sender = report
            .original_mail_from
            .clone()
            .or_else(|| {
                report
                    .original
                    .as_ref()
                    .and_then(|o| o.from.as_deref())
                    .and_then(address_of)
            })
            .map(|s| s.to_lowercase());
        Facts {
            report,
            reporter: reporter(report),
            class: Class::of(&report.feedback_type),
            identity: report.identity.as_ref().map(|i| i.value.to_lowercase()),
            outgoing_user: report.outgoing_user.as_ref().map(|u| match &u.domain {
                Some(domain) => format!("{}@{}", u.user, domain).to_lowercase(),
                None => u.user.to_lowercase(),
            }),
            sender,
            source_ip: report.source_ip.map(|ip| ip.to_string()),
            arrival: report.arrival_date.map_or(received_at, |d| d.naive_utc()),
        }
    }

    /// What the customer resolution chain looks at.
    pub(crate) fn clues(&self) -> crate::db::customers::Clues<'_> {
        crate::db::customers::Clues {
            identity: self.identity.as_deref(),
            outgoing_user: self.outgoing_user.as_deref(),
            sender_domain: self.sender_domain(),
            source_ip: self.report.source_ip,
        }
    }

    pub(crate) fn sender_domain(&self) -> Option<&str> {
        self.sender
            .as_deref()
            .and_then(|s| s.rsplit_once('@'))
            .map(|(_, d)| d)
    }

    /// The ticket subject: the identity where known, else the sender, else the source IP.
    pub(crate) fn subject(&self) -> (SubjectKind, String) {
        if let Some(identity) = &self.identity {
            (SubjectKind::Identity, identity.clone())
        } else if let Some(sender) = &self.sender {
            (SubjectKind::Sender, sender.clone())
        } else if let Some(ip) = &self.source_ip {
            (SubjectKind::Ip, ip.clone())
        } else {
            (SubjectKind::Sender, "(unknown sender)".to_owned())
        }
    }

    /// Same reporter, feedback type, original message, source and arrival: same complaint.
    pub(crate) fn dedup_key(&self) -> String {
        let original = self
            .report
            .original
            .as_ref()
            .and_then(|o| o.message_id.as_deref())
            .or(self.report.original_envelope_id.as_deref())
            .unwrap_or("");
        let mut hash = Sha256::new();
        // A report without an arrival date falls back to our receive time for display, but
        // its key leaves the date empty: a re-sent copy must still be recognised.
        let arrival = self
            .report
            .arrival_date
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        for part in [
            self.reporter.as_str(),
            self.class.as_str(),
            original,
            self.source_ip.as_deref().unwrap_or(""),
            &arrival,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        crate::hex::hex(&hash.finalize())
    }
}

/// Who sent the report: the reporting software, else the reporting MTA.
fn reporter(report: &FeedbackReport) -> String {
    report
        .user_agent
        .as_deref()
        .or(report.reporting_mta.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "unknown ({})",
                serde_json::to_value(report.format)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        })
}

/// `Name <user@host>` → `user@host`; without brackets (a decoded display name may have lost
/// them), the last word holding an `@`.
fn address_of(from: &str) -> Option<String> {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from
            .split_whitespace()
            .rev()
            .find(|word| word.contains('@'))?,
    };
    let address = address
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == ',');
    address.contains('@').then(|| address.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_taken_from_from_headers() {
        use super::address_of;
        assert_eq!(
            address_of("Sender <sender@example.net>").as_deref(),
            Some("sender@example.net")
        );
        assert_eq!(
            address_of("admin@example.com").as_deref(),
            Some("admin@example.com")
        );
        assert_eq!(
            address_of("ピューリタンズプライド redacted@sendersdomain.jp").as_deref(),
            Some("redacted@sendersdomain.jp")
        );
        assert_eq!(address_of("Undisclosed recipients"), None);
    }
}
