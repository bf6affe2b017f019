//! X-ARF 0.1/0.2 reports and the source taken from the attached message's Received chain:
//! the cases the golden files cannot show on their own.

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use abuse_desk::arf;

/// An X-ARF 0.2 mail with the given report part and, when given, the reported message.
fn xarf(report: &str, evidence: Option<&str>) -> Vec<u8> {
    let evidence = evidence.map_or(String::new(), |m| {
        format!("--XB\nContent-Type: message/rfc822\n\n{m}\n")
    });
    format!(
        "From: reports@reporter.example\nTo: abuse@isp.example\nSubject: abuse report\n\
X-XARF: PLAIN\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XB\"\n\n\
--XB\nContent-Type: text/plain\n\nSee the attached report.\n\n\
--XB\nContent-Type: text/plain; charset=utf-8; name=\"report.txt\"\n\n{report}\n{evidence}--XB--\n"
    )
    .into_bytes()
}

const SPAM: &str = "Reported-From: reports@reporter.example\nCategory: abuse\nReport-Type: spam\n\
Version: 0.2\nDate: Mon, 10 Mar 2025 10:00:00 +0000\nSource-Type: ipv4\n";

const ORIGINAL: &str =
    "Received: from mail.customer.example (mail.customer.example [192.0.2.45])\n\
 by mx.reporter.example with ESMTP; Mon, 10 Mar 2025 09:59:00 +0000\n\
From: a@customer.example\nSubject: offer\n\nbody\n";

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn report_types_and_categories_map_onto_feedback_types() {
    let cases = [
        ("abuse", "spam", "abuse"),
        ("fraud", "spam", "abuse"),
        ("fraud", "phishing", "fraud"),
        ("fraud", "cryptocurrency-scam", "fraud"),
        ("abuse", "malware-attack", "virus"),
        ("abuse", "Login-Attack", "login-attack"),
        ("info", "harvesting", "harvesting"),
    ];
    for (category, report_type, expected) in cases {
        let report = format!(
            "Reported-From: r@reporter.example\nCategory: {category}\nReport-Type: {report_type}\nSource: 198.51.100.7\n"
        );
        let parsed = arf::parse(&xarf(&report, None)).unwrap();
        assert_eq!(parsed.format, arf::ReportFormat::Xarf);
        assert_eq!(parsed.feedback_type, expected, "{category}/{report_type}");
        assert_eq!(parsed.source_ip, ip("198.51.100.7"));
    }
}

#[test]
fn a_redacted_source_takes_an_address_only_where_the_visible_part_agrees() {
    let agreeing = arf::parse(&xarf(
        &format!("{SPAM}Source: 192.0.2.xxx\n"),
        Some(ORIGINAL),
    ))
    .unwrap();
    assert_eq!(agreeing.source_ip, ip("192.0.2.45"));
    assert!(
        agreeing.warnings[0].contains("\"192.0.2.xxx\" is redacted"),
        "{:?}",
        agreeing.warnings
    );
    assert!(
        agreeing
            .warnings
            .iter()
            .any(|w| w.contains("agrees with the visible part")),
        "{:?}",
        agreeing.warnings
    );

    let other = arf::parse(&xarf(
        &format!("{SPAM}Source: 198.51.100.xxx\n"),
        Some(ORIGINAL),
    ))
    .unwrap();
    assert_eq!(other.source_ip, None, "{:?}", other.warnings);
    assert!(other
        .warnings
        .iter()
        .any(|w| w.contains("does not agree with the redacted Source")));
    assert!(!other
        .warnings
        .iter()
        .any(|w| w.starts_with("no usable Source-IP: derived")));
}

#[test]
fn alias_expansion_in_the_report_part_stays_bounded() {
    // Nine levels of nine aliases: a billion nodes if expanded.
    let mut report = String::from("Category: abuse\nReport-Type: spam\nSource: 198.51.100.7\n");
    report.push_str("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let prev = level - 1;
        report.push_str(&format!(
            "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let started = Instant::now();
    let parsed = arf::parse(&xarf(&report, None)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(parsed.feedback_type, "abuse");
    assert_eq!(parsed.source_ip, ip("198.51.100.7"));
}

#[test]
fn parse_json_explains_a_redacted_source() {
    let out = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args([
            "parse",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/arf-extra/xarf-01-redacted-source.eml"
            ),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["format"], "xarf");
    assert_eq!(report["version"], "0.1");
    assert_eq!(report["feedback_type"], "login-attack");
    assert_eq!(report["source_ip"], serde_json::Value::Null);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("X-ARF Source \\\"192.0.2.xxx\\\" is redacted by the reporter"),
        "{warnings}"
    );
}

/// An X-ARF v4 document written as the body of a single-part mail, not attached.
const INLINE_V4: &str = "From: reports@reporter.example\nTo: abuse@isp.example\n\
Subject: abuse report about 192.0.2.44\nDate: Tue, 01 Dec 2026 10:00:00 +0000\n\
MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n\
{\"Version\": \"4\", \"ReporterInfo\": {\"ReporterOrg\": \"Example Reporter\"}, \"Report\": \
{\"ReportClass\": \"Messaging\", \"ReportType\": \"Spam\", \"Date\": \"2026-12-01T09:58:00Z\", \
\"SourceIp\": \"192.0.2.44\", \"SmtpMailFromAddress\": \"sales@northwind.example\"}}\n";

#[test]
fn an_x_arf_v4_document_written_inline_is_a_report() {
    let parsed = arf::parse(INLINE_V4.as_bytes()).unwrap();
    assert_eq!(parsed.format, arf::ReportFormat::Xarf);
    assert_eq!(parsed.feedback_type, "abuse");
    assert_eq!(parsed.source_ip, ip("192.0.2.44"));
    assert_eq!(
        parsed.original_mail_from.as_deref(),
        Some("sales@northwind.example")
    );
    // Quoted-printable, as some mailers send any long line, reads the same.
    let qp = INLINE_V4
        .replace(
            "charset=utf-8\n",
            "charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
        )
        .replace("\"Report\": {", "\"Report\": =\n{");
    let parsed = arf::parse(qp.as_bytes()).unwrap();
    assert_eq!(parsed.source_ip, ip("192.0.2.44"));

    // A plain mail whose body is other JSON, or no JSON, is still no report.
    let other = INLINE_V4.replace("\"Report\"", "\"Note\"");
    let err = arf::parse(other.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("no feedback-report part"), "{err}");
    let prose = INLINE_V4.replace("{\"Version\"", "Hello, {\"Version\"");
    assert!(arf::parse(prose.as_bytes()).is_err());
}
