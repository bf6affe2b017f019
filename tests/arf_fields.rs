//! Table tests for report-field edge cases, identity rules and refusals.

use std::net::IpAddr;

use abuse_desk::arf::{self, FeedbackReport, IdentityRule, IdentityRuleError, IdentityRules};

const ORIGINAL: &str = "Received: from client.customer.example (client.customer.example [203.0.113.50])\n by mx.reporter.example with ESMTP id 1; Mon, 10 Mar 2025 10:00:00 +0000\nFrom: a@customer.example\nTo: b@reporter.example\nSubject: hi\n\nbody\n";

/// A multipart/report with the given feedback-report body and attached original.
fn message(fields: &str, original: &str) -> String {
    format!(
        "From: fbl@reporter.example\nTo: abuse@isp.example\nSubject: report\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\n\n\
--B\nContent-Type: text/plain\n\nA report.\n\n--B\nContent-Type: message/feedback-report\n\n{fields}\n\
--B\nContent-Type: message/rfc822\n\n{original}\n--B--\n"
    )
}

fn parse_fields(fields: &str) -> FeedbackReport {
    arf::parse(message(fields, ORIGINAL).as_bytes()).expect("report parses")
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn source_ip_forms() {
    let cases: &[(&str, Option<IpAddr>)] = &[
        ("192.0.2.1", ip("192.0.2.1")),
        ("[192.0.2.1]", ip("192.0.2.1")),
        ("192.0.2.1 (mail.example.net)", ip("192.0.2.1")),
        ("  192.0.2.1  ", ip("192.0.2.1")),
        (
            "fdf1:cb9d:f59e:19b0:0:0:0:122",
            ip("fdf1:cb9d:f59e:19b0::122"),
        ),
        ("[IPv6:2001:db8:0:0:0:0:0:1]", ip("2001:db8::1")),
        ("::ffff:192.0.2.9", ip("192.0.2.9")),
    ];
    for (value, expected) in cases {
        let r = parse_fields(&format!(
            "Feedback-Type: abuse\nArrival-Date: Mon, 10 Mar 2025 10:00:00 +0000\nSource-IP: {value}"
        ));
        assert_eq!(&r.source_ip, expected, "Source-IP: {value}");
        assert!(r.warnings.is_empty(), "{value}: {:?}", r.warnings);
    }
}

#[test]
fn invalid_source_ip_is_dropped_with_warning_and_derived() {
    let r = parse_fields("Feedback-Type: abuse\nSource-Ip: x.x.x.x");
    assert!(r.warnings[0].contains("x.x.x.x"), "{:?}", r.warnings);
    // The attached message's entry hop stands in, and says so.
    assert_eq!(r.source_ip, ip("203.0.113.50"));
    assert!(r.warnings[1].contains("derived"), "{:?}", r.warnings);
}

#[test]
fn addresses() {
    let cases: &[(&str, Option<&str>)] = &[
        ("a@example.net", Some("a@example.net")),
        ("<a@example.net>", Some("a@example.net")),
        ("Some One <a@example.net>", Some("a@example.net")),
        ("\"One, Some\" <a@example.net>", Some("a@example.net")),
        ("a@example.net (comment)", Some("a@example.net")),
        ("<>", None),
        ("", None),
    ];
    for (value, expected) in cases {
        let r = parse_fields(&format!(
            "Feedback-Type: abuse\nOriginal-Mail-From: {value}"
        ));
        assert_eq!(r.original_mail_from.as_deref(), *expected, "{value:?}");
    }
    let r = parse_fields(
        "Feedback-Type: abuse\nOriginal-Rcpt-To: undisclosed recipient <redacted@example.com>\nOriginal-Rcpt-To: \"x, y\" <c@d.example>, e@f.example\nOriginal-Rcpt-To:",
    );
    assert_eq!(
        r.original_rcpt_to,
        ["redacted@example.com", "c@d.example", "e@f.example"]
    );
}

#[test]
fn folding_case_order_repetition_and_extra() {
    let r = parse_fields(
        "source-ip: 192.0.2.7\nAUTHENTICATION-RESULTS: mx.example;\n   spf=fail\n\tsmtp.mailfrom=a@b.example\nReported-Domain: one.example\nX-Custom: first\nReported-Domain: two.example\nUser-Agent: A/1\nUser-Agent: B/2\nx-custom: second\nReported-Domain:\nFEEDBACK-TYPE: Abuse",
    );
    assert_eq!(r.feedback_type, "abuse");
    assert_eq!(
        r.authentication_results,
        ["mx.example; spf=fail smtp.mailfrom=a@b.example"]
    );
    assert_eq!(r.reported_domain, ["one.example", "two.example"]);
    assert_eq!(r.user_agent.as_deref(), Some("A/1"));
    assert!(
        r.warnings.iter().any(|w| w.contains("B/2")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.extra["x-custom"], ["first", "second"]);
}

#[test]
fn unknown_feedback_types_are_kept() {
    for (value, expected) in [
        ("Miscategorized", "miscategorized"),
        ("opt-out", "opt-out"),
        ("NOT-SPAM", "not-spam"),
        ("auth-failure", "auth-failure"),
        ("xyzzy", "xyzzy"),
    ] {
        let r = parse_fields(&format!("Feedback-Type: {value}"));
        assert_eq!(r.feedback_type, expected);
    }
}

#[test]
fn dates() {
    let cases: &[(&str, &str)] = &[
        (
            "Arrival-Date: Tue, 04 Aug 2015 08:51:18 -0000",
            "2015-08-04T08:51:18Z",
        ),
        (
            "Received-Date: Mon, 18 Jan 2016 23:57:24 UTC",
            "2016-01-18T23:57:24Z",
        ),
        (
            "Received-Date: Thu, 18 Feb 2010 03:21:50 PST",
            "2010-02-18T11:21:50Z",
        ),
        (
            "Received-Date: Tue, 19 Jan 2016 14:32:40 -0500 (EST)",
            "2016-01-19T19:32:40Z",
        ),
        (
            "Arrival-Date: Thu, 30 Dec 10 10:37:16 -0800",
            "2010-12-30T18:37:16Z",
        ),
        (
            "Arrival-Date: Thu, 8 Mar 99 14:00:00 EDT",
            "1999-03-08T18:00:00Z",
        ),
        (
            "Arrival-Date: 8 Oct 2011 20:15:58 +0000 (GMT)",
            "2011-10-08T20:15:58Z",
        ),
        (
            "Arrival-Date: Mon Jan 18 23:57:24 2016",
            "2016-01-18T23:57:24Z",
        ),
        (
            "Arrival-Date: 2025-03-03T10:02:11+01:00",
            "2025-03-03T09:02:11Z",
        ),
        (
            "Arrival-Date: Mon, 7 Sep 2015 08:58:04 -0700 (PDT)",
            "2015-09-07T15:58:04Z",
        ),
    ];
    for (field, expected) in cases {
        let r = parse_fields(&format!(
            "Feedback-Type: abuse\nSource-IP: 192.0.2.1\n{field}"
        ));
        let got = r
            .arrival_date
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_eq!(got.as_deref(), Some(*expected), "{field}");
        assert!(r.warnings.is_empty(), "{field}: {:?}", r.warnings);
    }
    // Arrival-Date wins over Received-Date whatever the order.
    let r = parse_fields("Received-Date: Mon, 18 Jan 2016 23:57:24 UTC\nArrival-Date: Tue, 19 Jan 2016 00:00:00 +0000\nFeedback-Type: abuse\nSource-IP: 192.0.2.1");
    assert_eq!(
        r.arrival_date.unwrap().to_rfc3339(),
        "2016-01-19T00:00:00+00:00"
    );
    // An unreadable date is reported and replaced by the Received chain's.
    let r = parse_fields("Feedback-Type: abuse\nSource-IP: 192.0.2.1\nArrival-Date: yesterday");
    assert_eq!(
        r.arrival_date.unwrap().to_rfc3339(),
        "2025-03-10T10:00:00+00:00"
    );
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
}

#[test]
fn incidents() {
    for (fields, expected, warns) in [
        ("Feedback-Type: abuse", 1, false),
        ("Feedback-Type: abuse\nIncidents: 12", 12, false),
        ("Feedback-Type: abuse\nIncidents: many", 1, true),
    ] {
        let r = parse_fields(&format!(
            "{fields}\nSource-IP: 192.0.2.1\nArrival-Date: Mon, 10 Mar 2025 10:00:00 +0000"
        ));
        assert_eq!(r.incidents, expected, "{fields}");
        assert_eq!(!r.warnings.is_empty(), warns, "{fields}: {:?}", r.warnings);
    }
}

#[test]
fn dkim_canonicalized_values_lose_folding_whitespace() {
    let r = parse_fields("Feedback-Type: auth-failure\nDKIM-Canonicalized-Body: QUJD\n    REVG\n\tR0g=\nDKIM-Selector: s1");
    assert_eq!(r.dkim_canonicalized_body.as_deref(), Some("QUJDREVGR0g="));
    assert_eq!(r.dkim_selector.as_deref(), Some("s1"));
}

#[test]
fn line_endings_and_missing_final_newline() {
    let base = message(
        "User-Agent: X/1\nSource-IP: 192.0.2.1\nArrival-Date: Mon, 10 Mar 2025 10:00:00 +0000\nFeedback-Type: abuse",
        ORIGINAL,
    );
    let lf = arf::parse(base.as_bytes()).unwrap();
    assert_eq!(
        lf.feedback_type, "abuse",
        "last field before the boundary kept"
    );
    let crlf = arf::parse(base.replace('\n', "\r\n").as_bytes()).unwrap();
    let cr = arf::parse(base.replace('\n', "\r").as_bytes()).unwrap();
    assert_eq!(lf, crlf);
    assert_eq!(lf, cr);
    // No line end at all at the end of the input.
    let trimmed = base.trim_end_matches(['\n', '-', 'B']).to_string();
    let r = arf::parse(trimmed.as_bytes()).unwrap();
    assert_eq!(r.feedback_type, "abuse");
}

#[test]
fn mbox_from_lines_and_base64_report_part() {
    let msg = format!(
        "From fbl@reporter.example Mon Mar 10 10:00:00 2025\n{}",
        message(
            "Feedback-Type: abuse\nSource-IP: 192.0.2.1",
            &format!(">From x Mon Mar 10 2025\n{ORIGINAL}")
        )
    );
    let r = arf::parse(msg.as_bytes()).unwrap();
    assert_eq!(r.original.unwrap().subject.as_deref(), Some("hi"));

    // "Feedback-Type: abuse\r\nSource-IP: 192.0.2.1" in base64, no final line end.
    let b64 = "RmVlZGJhY2stVHlwZTogYWJ1c2UNClNvdXJjZS1JUDogMTkyLjAuMi4x";
    let msg = format!(
        "Subject: r\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"M\"\n\n--M\nContent-Type: message/feedback-report; name=\"ATT00001\"\nContent-Transfer-Encoding: base64\n\n{b64}\n--M--\n"
    );
    let r = arf::parse(msg.as_bytes()).unwrap();
    assert_eq!(r.source_ip, ip("192.0.2.1"));
    assert_eq!(r.feedback_type, "abuse");
}

#[test]
fn refusals() {
    let no_type = message("User-Agent: X/1", ORIGINAL);
    let cases: &[(&[u8], &str)] = &[
        (b"", "malformed"),
        (b"   \r\n ", "malformed"),
        (b"Subject: hi\n\nplain mail\n", "not_a_report"),
        (no_type.as_bytes(), "malformed"),
    ];
    for (raw, kind) in cases {
        let err = arf::parse(raw).unwrap_err();
        assert_eq!(err.kind(), *kind, "{err}");
        assert!(!err.reason().is_empty());
    }
}

#[test]
fn identity_rules() {
    let rules = IdentityRules::default_rules();
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[0].header, "X-AuthUser");

    let original =
        "X-Customer: id=cust-42; plan=gold\nX-AuthUser: bob@customer.example\nSubject: s\n\nb\n";
    let msg = message("Feedback-Type: abuse\nSource-IP: 192.0.2.1", original);

    let r = arf::parse(msg.as_bytes()).unwrap();
    let id = r.identity.unwrap();
    assert_eq!(
        (id.value.as_str(), id.rule.as_str()),
        ("bob@customer.example", "X-AuthUser")
    );

    let custom = IdentityRules::compile(&[IdentityRule {
        header: "x-customer".into(),
        regex: Some(r"id=([\w-]+)".into()),
    }])
    .unwrap();
    let id = arf::parse_with(msg.as_bytes(), &custom)
        .unwrap()
        .identity
        .unwrap();
    assert_eq!(id.value, "cust-42");

    // Nothing in the original: the report's own Authentication-Results are used.
    let r = arf::parse(
        message(
            "Feedback-Type: abuse\nSource-IP: 192.0.2.1\nAuthentication-Results: f.example; auth=pass smtp.auth=carol@customer.example",
            "Subject: s\n\nb\n",
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.identity.unwrap().value, "carol@customer.example");
    let user = r.outgoing_user.unwrap();
    assert_eq!(
        (user.user.as_str(), user.domain.as_deref()),
        ("carol", Some("customer.example"))
    );
}

#[test]
fn identity_rule_errors() {
    let rule = |header: &str, regex: Option<&str>| IdentityRule {
        header: header.into(),
        regex: regex.map(Into::into),
    };
    assert!(matches!(
        IdentityRules::compile(&[rule(" ", None)]),
        Err(IdentityRuleError::EmptyHeader { index: 1 })
    ));
    assert!(matches!(
        IdentityRules::compile(&[rule("X-A", None), rule("X-B", Some("(unclosed"))]),
        Err(IdentityRuleError::BadRegex { index: 2, .. })
    ));
    assert!(matches!(
        IdentityRules::compile(&[rule("X-A", Some("no group"))]),
        Err(IdentityRuleError::CaptureGroups { groups: 0, .. })
    ));
    assert!(matches!(
        IdentityRules::compile(&[rule("X-A", Some("(a)(b)"))]),
        Err(IdentityRuleError::CaptureGroups { groups: 2, .. })
    ));
    let json = r#"[{"header":"X-AuthUser"},{"header":"Received","regex":"\\(Authenticated sender: ([^)]+)\\)"}]"#;
    let parsed: Vec<IdentityRule> = serde_json::from_str(json).unwrap();
    assert!(IdentityRules::compile(&parsed).is_ok());
}
