//! The parts of a report that the second parsing round reads: an X-ARF 0.1/0.2 `report.txt`
//! (YAML, or `Name: value` lines where it is not valid YAML) and the attached original's
//! header block with its Received chain, Received-SPF and X-Originating-IP.
//!
//! The input is text in two parts separated by a line `%%`: the report part's body, then the
//! original's header block. Each goes into an X-ARF mail (report part plus the original as
//! message/rfc822) and into an ARF mail without a Source-IP (the same original attached). Neither
//! panics, and what is parsed keeps these promises: an X-ARF report has format `xarf` and a
//! lowercase feedback type; a source taken from the Received chain or its headers is a public
//! address; a redacted X-ARF Source never leaves a source the reporter's visible digits deny.

use abuse_desk::arf::{parse, FeedbackReport, ReportFormat};

fn xarf_mail(report: &str, original: &str) -> String {
    format!(
        "From: reports@reporter.example\nTo: abuse@isp.example\nSubject: abuse report\nX-XARF: PLAIN\n\
MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XB\"\n\n\
--XB\nContent-Type: text/plain\n\nA report.\n\n--XB\nContent-Type: text/plain; name=\"report.txt\"\n\n{report}\n\
--XB\nContent-Type: message/rfc822\n\n{original}\n\nbody\n--XB--\n"
    )
}

fn arf_mail(original: &str) -> String {
    format!(
        "From: fbl@reporter.example\nTo: abuse@isp.example\nSubject: report\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\n\n\
--B\nContent-Type: text/plain\n\nA report.\n\n--B\nContent-Type: message/feedback-report\n\n\
Feedback-Type: abuse\nSource-IP:\n\n--B\nContent-Type: text/rfc822-headers\n\n{original}\n--B--\n"
    )
}

/// A source the parser derived (not one the report named) is a public address.
fn derived_source_is_public(report: &FeedbackReport) {
    let derived = report
        .warnings
        .iter()
        .any(|w| w.starts_with("no usable Source-IP: "));
    if let (true, Some(ip)) = (derived, report.source_ip) {
        let public = match ip {
            std::net::IpAddr::V4(v4) => {
                !(v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified())
            }
            std::net::IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified()),
        };
        assert!(
            public,
            "derived a non-public source {ip}: {:?}",
            report.warnings
        );
    }
}

/// Runs one input, panicking where a promise is broken.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (report, original) = text.split_once("\n%%\n").unwrap_or((&text, ""));
    if let Ok(parsed) = parse(xarf_mail(report, original).as_bytes()) {
        if parsed.format == ReportFormat::Xarf && parsed.version.is_some() {
            assert_eq!(
                parsed.feedback_type,
                parsed.feedback_type.to_ascii_lowercase(),
                "feedback type not lowercase"
            );
            assert!(!parsed.feedback_type.is_empty(), "empty feedback type");
        }
        derived_source_is_public(&parsed);
        let redacted = parsed
            .warnings
            .iter()
            .any(|w| w.starts_with("X-ARF Source \"") && w.contains("is redacted"));
        if redacted {
            if let Some(ip) = parsed.source_ip {
                let agreed = parsed
                    .warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{ip} from the attached message agrees")));
                assert!(
                    agreed,
                    "redacted source kept {ip} unchecked: {:?}",
                    parsed.warnings
                );
            }
        }
    }
    if let Ok(parsed) = parse(arf_mail(original).as_bytes()) {
        derived_source_is_public(&parsed);
    }
}
