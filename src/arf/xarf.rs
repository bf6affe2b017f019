//! X-ARF v4 (JSON) reports, standalone or carried next to an ARF `Feedback-Type: xarf` part,
//! and the X-ARF feedback-type table shared with the 0.1/0.2 reader ([`super::xarf_yaml`]).
//!
//! An X-ARF v4 document looks like `{"Version": "4", "ReporterInfo": {…}, "Report":
//! {"ReportClass": "Messaging", "ReportType": "Spam", "SourceIp": …, "Date": …, "Samples": […]}}`.
//! It maps onto the same [`FeedbackReport`] with format `xarf`; X-ARF names that have no ARF
//! counterpart go to `extra` with an `xarf-` prefix.

use serde_json::Value;

use super::date::parse_date;
use super::mime::{Kind, Scanned};
use super::values::{parse_address, parse_ip};
use super::{finish, original, FeedbackReport, IdentityRules, ReportFormat};

/// Finds an X-ARF v4 JSON document among the parts. Any part whose content is a JSON object
/// counts, whatever its Content-Type says: reporters label it `application/json`, `text/plain`,
/// `application/octet-stream`, or write the type and its parameters in odd quoting.
fn find(scanned: &Scanned<'_>) -> Option<Value> {
    scanned.leaves.iter().find_map(|l| {
        let candidate = matches!(l.kind, Kind::Json | Kind::Other)
            && l.bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !candidate {
            return None;
        }
        let value: Value = serde_json::from_slice(&l.bytes).ok()?;
        value.get("Report")?.as_object()?;
        Some(value)
    })
}

/// A mail whose only report is an X-ARF JSON document.
pub(crate) fn standalone(scanned: &Scanned<'_>, rules: &IdentityRules) -> Option<FeedbackReport> {
    let json = find(scanned)?;
    let mut report = FeedbackReport::new(ReportFormat::Xarf);
    apply(&json, &mut report);
    let attached = scanned
        .leaves
        .iter()
        .find_map(|l| match l.kind {
            Kind::Original(headers_only) => Some(original::read(&l.bytes, headers_only)),
            _ => None,
        })
        .or_else(|| sample(&json).map(|bytes| original::read(&bytes, false)));
    finish(&mut report, scanned, attached, &[], rules);
    Some(report)
}

/// An ARF report with `Feedback-Type: xarf`, or with an X-ARF part next to it, takes the X-ARF
/// data for whatever the ARF fields left open.
pub(crate) fn merge(report: &mut FeedbackReport, scanned: &Scanned<'_>) {
    let is_xarf_type = report.feedback_type == "xarf";
    match find(scanned) {
        Some(json) => {
            report.format = ReportFormat::Xarf;
            let had_ip = report.source_ip.is_some();
            apply(&json, report);
            if !had_ip && report.source_ip.is_some() {
                // The Received-chain guess made before is superseded by the X-ARF SourceIp.
                report
                    .warnings
                    .retain(|w| !w.starts_with("no usable Source-IP"));
            }
        }
        None if is_xarf_type => report
            .warnings
            .push("Feedback-Type is xarf but no X-ARF JSON part was found".to_string()),
        None => {}
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// X-ARF report types (v4 `ReportType`, 0.1/0.2 `Report-Type`, any case) and the ARF
/// Feedback-Type they are filed under: spam is what ARF calls abuse, phishing is fraud, malware
/// is virus. A type not listed is filed under its own name (its tickets form a class of their
/// own, as an unknown ARF token does), except in the 0.1/0.2 category `fraud`, which stays
/// fraud whatever the type (`cryptocurrency-scam`, `fake-shop`, …).
pub(crate) const FEEDBACK_TYPES: &[(&str, &str)] = &[
    ("spam", "abuse"),
    ("phishing", "fraud"),
    ("fraud", "fraud"),
    ("malware", "virus"),
    ("malware-attack", "virus"),
    ("virus", "virus"),
    ("loginattack", "login-attack"),
];

/// The feedback type for an X-ARF report type and (0.1/0.2) category, by [`FEEDBACK_TYPES`].
pub(crate) fn feedback_type(report_type: Option<&str>, category: Option<&str>) -> String {
    let report_type = report_type.map(|t| t.trim().to_ascii_lowercase());
    let category = category.map(|c| c.trim().to_ascii_lowercase());
    let listed = report_type.as_deref().and_then(|t| {
        FEEDBACK_TYPES
            .iter()
            .find(|(name, _)| *name == t)
            .map(|(_, feedback)| (*feedback).to_string())
    });
    listed
        .or_else(|| (category.as_deref() == Some("fraud")).then(|| "fraud".to_string()))
        .or(report_type.filter(|t| !t.is_empty()))
        .or(category.filter(|c| !c.is_empty()))
        .unwrap_or_else(|| "other".to_string())
}

fn apply(json: &Value, report: &mut FeedbackReport) {
    let r = json.get("Report");
    let get = |k: &str| r.and_then(|r| r.get(k));
    let report_type = text(get("ReportType"));
    if report.feedback_type.is_empty() || report.feedback_type == "xarf" {
        report.feedback_type = feedback_type(report_type.as_deref(), None);
    }
    if report.version.is_none() {
        report.version = text(json.get("Version"));
    }
    if report.source_ip.is_none() {
        if let Some(ip) = text(get("SourceIp")) {
            report.source_ip = parse_ip(&ip);
            if report.source_ip.is_none() {
                report.warnings.push(format!(
                    "X-ARF SourceIp \"{ip}\" is not an IP address; ignored"
                ));
            }
        }
    }
    if report.arrival_date.is_none() {
        if let Some(d) = text(get("Date")) {
            report.arrival_date = parse_date(&d);
            if report.arrival_date.is_none() {
                report.warnings.push(format!(
                    "X-ARF Date \"{d}\" is not a date we can read; ignored"
                ));
            }
        }
    }
    if report.original_mail_from.is_none() {
        report.original_mail_from =
            text(get("SmtpMailFromAddress")).and_then(|a| parse_address(&a));
    }
    if report.original_rcpt_to.is_empty() {
        report.original_rcpt_to = texts(get("SmtpMailToAddress"))
            .iter()
            .filter_map(|a| parse_address(a))
            .collect();
    }
    report.reported_uri.extend(texts(get("Url")));
    report.reported_domain.extend(texts(get("Domain")));
    let mut extra = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            report.extra.entry(key.to_string()).or_default().push(v);
        }
    };
    extra("xarf-report-class", text(get("ReportClass")));
    extra("xarf-report-type", report_type);
    extra("xarf-source-port", text(get("SourcePort")));
    let info = json.get("ReporterInfo");
    for (key, name) in [
        ("xarf-reporter-org", "ReporterOrg"),
        ("xarf-reporter-org-domain", "ReporterOrgDomain"),
        ("xarf-reporter-org-email", "ReporterOrgEmail"),
        ("xarf-reporter-contact-email", "ReporterContactEmail"),
        ("xarf-reporter-contact-name", "ReporterContactName"),
    ] {
        extra(key, text(info.and_then(|i| i.get(name))));
    }
}

/// The first `message/rfc822` sample carried inside the JSON, decoded.
fn sample(json: &Value) -> Option<Vec<u8>> {
    let samples = json.get("Report")?.get("Samples")?.as_array()?;
    samples.iter().find_map(|s| {
        let ct = s.get("ContentType")?.as_str()?.to_ascii_lowercase();
        if !ct.starts_with("message/rfc822") && !ct.contains("rfc822-headers") {
            return None;
        }
        let payload = s.get("Payload")?.as_str()?;
        if s.get("Base64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let compact: String = payload.split_whitespace().collect();
            mail_parser::decoders::base64::base64_decode(compact.as_bytes())
        } else {
            Some(payload.as_bytes().to_vec())
        }
    })
}
