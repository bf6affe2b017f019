//! Customer notices end to end through a real SMTP server (aiosmtpd): a digest is composed,
//! sent by the `Mailer`, read back as the server stored it, and checked for what the
//! customer would see; each recipient's outcome follows the server's answer.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use mail_parser::{MessageParser, MimeHeaders};

use abuse_desk::notify::{
    compose, new_message_id, ComposedMail, Delivery, Digest, DigestTicket, MailTemplates, Mailer,
    NotifySettings, SelfServiceLink, Why,
};

use crate::smtp::{free_port, SmtpServer};

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 5, 6)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
}

fn settings(url: &str, extra: &str) -> NotifySettings {
    let s: NotifySettings = toml::from_str(&format!(
        "enabled = true\nsmtp_url = \"{url}\"\nfrom = \"Example Abuse Desk <abuse@isp.example>\"\n{extra}"
    ))
    .unwrap();
    s.validate().unwrap();
    s
}

fn ticket(id: i64, identity: &str, events: i64, new: i64) -> DigestTicket {
    DigestTicket {
        id,
        class: "abuse".into(),
        subject_kind: "identity".into(),
        subject: identity.into(),
        identity: Some(identity.into()),
        outgoing_user: Some("172.16.10.13".into()),
        severity: "abuse".into(),
        status: "open".into(),
        event_count: events,
        new_events: new,
        first_seen: at(2),
        last_seen: at(8),
        source_ips: vec!["172.16.10.13".into()],
        why: Why::NewTicket,
        latest_report: None,
    }
}

/// Two tickets, the first with a real SpamExperts report (recipient ashley@example.com) and
/// an identity that tries to smuggle markup into the HTML part.
fn digest(recipients: &[&str]) -> Digest {
    let mut first = ticket(101, "<img src=x onerror=alert(1)>@example.com", 42, 7);
    first.latest_report = Some(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/arf/abuseio__spamexperts-1.eml"
        ))
        .unwrap(),
    );
    Digest {
        customer_name: "Example Shop".into(),
        customer_external_id: "CUST-77".into(),
        language: Some("en".into()),
        recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
        tickets: vec![first, ticket(102, "news@shop.example", 3, 3)],
        self_service: Some(SelfServiceLink {
            url: "https://abuse.isp.example/s/tok".into(),
            valid_until: at(23),
        }),
        message_id: new_message_id(9, "isp.example"),
        references: vec!["<notify-3.aa@isp.example>".into()],
        at: at(10),
        public_url: "https://abuse.isp.example".into(),
        desk_name: "Example Abuse Desk".into(),
    }
}

fn composed(s: &NotifySettings, d: &Digest) -> ComposedMail {
    compose(s, &MailTemplates::new(None), d).unwrap()
}

fn mailer(s: &NotifySettings) -> Mailer {
    Mailer::new(s)
        .unwrap()
        .with_timeout(Duration::from_secs(10))
}

#[test]
fn notify_a_digest_reaches_the_customer_as_they_should_see_it() {
    let Some(server) = SmtpServer::start("notify_a_digest_reaches_the_customer") else {
        return;
    };
    let s = settings(&server.url(), "bcc = [\"archive@isp.example\"]");
    let d = digest(&["Shop Admin <admin@shop.example>"]);
    let mail = composed(&s, &d);
    let outcome = mailer(&s).send(&mail);
    assert_eq!(
        outcome,
        [
            ("admin@shop.example".to_owned(), Delivery::Sent),
            ("archive@isp.example".to_owned(), Delivery::Sent)
        ]
    );

    let received = server.received();
    assert_eq!(received.len(), 2, "one transaction per recipient");
    assert_eq!(received[0].rcpt_tos, ["admin@shop.example"]);
    assert_eq!(received[1].rcpt_tos, ["archive@isp.example"]);
    assert_eq!(received[0].mail_from, "abuse@isp.example");
    assert_eq!(received[0].data, received[1].data);

    let raw = String::from_utf8_lossy(&received[0].data);
    assert!(
        !raw.contains("archive@isp.example"),
        "Bcc stays in the envelope"
    );
    assert!(
        !raw.contains("ashley@"),
        "the complainant's address is masked"
    );
    let m = MessageParser::default().parse(&received[0].data).unwrap();
    assert_eq!(
        m.message_id().map(|id| format!("<{id}>")),
        Some(d.message_id.clone())
    );
    assert_eq!(
        m.header_raw("References").map(str::trim),
        Some("<notify-3.aa@isp.example>")
    );
    assert_eq!(
        m.header_raw("In-Reply-To").map(str::trim),
        Some("<notify-3.aa@isp.example>")
    );
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        m.header_raw("X-Auto-Response-Suppress").map(str::trim),
        Some("All")
    );
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Example Abuse Desk"), Some("abuse@isp.example"))
    );
    let to = m.to().unwrap().first().unwrap();
    assert_eq!(
        (to.name(), to.address()),
        (Some("Shop Admin"), Some("admin@shop.example"))
    );
    assert_eq!(m.subject(), Some(mail.subject.as_str()));

    let text = m.body_text(0).unwrap();
    for needle in [
        "Ticket #101: <img src=x onerror=alert(1)>@example.com",
        "42 in total, 7 new since our last notice",
        "Ticket #102: news@shop.example",
        "3 in total, 3 new since our last notice",
        "2026-05-06 02:00 UTC / 2026-05-06 08:00 UTC",
        "https://abuse.isp.example/s/tok",
        "valid until 2026-05-06 23:00 UTC",
        "CUST-77",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let html = m.body_html(0).unwrap();
    assert!(
        !html.contains("<img"),
        "report content unescaped in HTML:\n{html}"
    );
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;@example.com"));
    assert!(html.contains("42 in total, 7 new"));

    let attachments: Vec<_> = m.attachments().collect();
    let names: Vec<_> = attachments
        .iter()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert_eq!(names, ["ticket-101-report.txt", "ticket-101-headers.txt"]);
    let report = String::from_utf8_lossy(attachments[0].contents());
    assert!(report.contains("Feedback-Type: abuse"), "{report}");
    assert!(
        report.contains("Original-Rcpt-To: <[recipient]@example.com>"),
        "{report}"
    );
    assert_eq!(
        attachments[0]
            .content_type()
            .map(|c| (c.ctype(), c.subtype())),
        Some(("message", Some("feedback-report")))
    );
    let headers = String::from_utf8_lossy(attachments[1].contents());
    assert!(headers.contains("To: [recipient]@example.com"), "{headers}");
    assert!(
        headers.contains("X-SpamExperts-Username: 172.16.10.13"),
        "{headers}"
    );
    for text in [&report, &headers] {
        assert!(!text.contains("ashley@"), "{text}");
    }
}

#[test]
fn notify_a_refused_recipient_is_rejected_alone() {
    let Some(server) = SmtpServer::start("notify_a_refused_recipient_is_rejected_alone") else {
        return;
    };
    let s = settings(&server.url(), "");
    let d = digest(&[
        "reject-x@shop.example",
        "admin@shop.example",
        "later-x@shop.example",
    ]);
    let outcome = mailer(&s).send(&composed(&s, &d));
    assert_eq!(outcome.len(), 3);
    assert_eq!(outcome[0].0, "reject-x@shop.example");
    match &outcome[0].1 {
        Delivery::Rejected(why) => {
            assert!(
                why.starts_with("550 ") && why.contains("User unknown"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outcome[1],
        ("admin@shop.example".to_owned(), Delivery::Sent)
    );
    assert_eq!(outcome[2].0, "later-x@shop.example");
    match &outcome[2].1 {
        Delivery::Retry(why) => assert!(
            why.starts_with("451 ") && why.contains("try again"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_tos, ["admin@shop.example"]);
}

#[test]
fn notify_no_server_means_retry_for_everyone() {
    let s = settings(
        &format!("smtp://127.0.0.1:{}", free_port()),
        "bcc = [\"archive@isp.example\"]",
    );
    let outcome = mailer(&s).send(&composed(&s, &digest(&["admin@shop.example"])));
    assert_eq!(outcome.len(), 2);
    for (_, delivery) in &outcome {
        match delivery {
            Delivery::Retry(why) => assert!(why.contains("cannot connect to 127.0.0.1:"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn notify_a_refused_login_is_ours_to_fix_not_a_bounce() {
    let Some(server) = SmtpServer::start_with_login("notify_a_refused_login", "desk", "right-pw")
    else {
        return;
    };
    let d = digest(&["admin@shop.example"]);
    let good = settings(
        &server.url(),
        "smtp_username = \"desk\"\nsmtp_password = \"right-pw\"",
    );
    assert_eq!(
        mailer(&good).send(&composed(&good, &d)),
        [("admin@shop.example".to_owned(), Delivery::Sent)]
    );
    let bad = settings(
        &server.url(),
        "smtp_username = \"desk\"\nsmtp_password = \"wrong-pw\"",
    );
    let outcome = mailer(&bad).send(&composed(&bad, &d));
    match &outcome[..] {
        [(_, Delivery::Retry(why))] => {
            assert!(
                why.contains("refused our login") && why.contains("535"),
                "{why}"
            );
            assert!(!why.contains("wrong-pw"));
        }
        other => panic!("{other:?}"),
    }
    let unauthenticated = settings(&server.url(), "");
    match &mailer(&unauthenticated).send(&composed(&unauthenticated, &d))[..] {
        [(_, Delivery::Retry(why))] => assert!(why.contains("refused our sender"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received().len(), 1);
}
