//! Tests of `compose`: what the customer would see, and what a spammer's text cannot do.

use chrono::{NaiveDate, NaiveDateTime};
use mail_parser::{MessageParser, MimeHeaders};

use super::*;
use crate::notify::digest::{new_message_id, SelfServiceLink};

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 4)
        .unwrap()
        .and_hms_opt(h, 5, 6)
        .unwrap()
}

fn settings(extra: &str) -> NotifySettings {
    toml::from_str(&format!(
        "enabled = true\nsmtp_url = \"smtp://127.0.0.1:25\"\nfrom = \"Example Abuse Desk <abuse@isp.example>\"\n{extra}"
    ))
    .unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/arf/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ticket(id: i64, class: &str, identity: &str) -> DigestTicket {
    DigestTicket {
        id,
        class: class.into(),
        subject_kind: "identity".into(),
        subject: identity.into(),
        identity: Some(identity.into()),
        outgoing_user: Some("shop.example".into()),
        severity: "abuse".into(),
        status: "open".into(),
        event_count: 31,
        new_events: 6,
        first_seen: at(1),
        last_seen: at(9),
        source_ips: (1..=7).map(|i| format!("192.0.2.{i}")).collect(),
        why: Why::NewReports,
        latest_report: None,
    }
}

fn digest(tickets: Vec<DigestTicket>) -> Digest {
    Digest {
        customer_name: "Shop GmbH".into(),
        customer_external_id: "C-1001".into(),
        language: None,
        recipients: vec!["Shop Admin <admin@shop.example>".into()],
        tickets,
        self_service: None,
        message_id: new_message_id(5, "isp.example"),
        references: Vec::new(),
        at: at(10),
        public_url: "https://abuse.isp.example".into(),
        desk_name: "Example Abuse Desk".into(),
    }
}

fn composed(s: &NotifySettings, d: &Digest) -> (ComposedMail, Vec<u8>) {
    let mail = compose(s, &MailTemplates::new(None), d).unwrap();
    let bytes = mail.message.formatted();
    (mail, bytes)
}

#[test]
fn the_headers_and_the_summary() {
    let mut t = ticket(12, "abuse", "sales@shop.example");
    t.latest_report = Some(fixture("abuseio__spamexperts-1.eml"));
    let d = digest(vec![t, ticket(13, "fraud", "info@shop.example")]);
    let (mail, bytes) = composed(
        &settings("reply_to = \"abuse@isp.example\"\nbcc = [\"archive@isp.example\"]"),
        &d,
    );
    assert_eq!(
        mail.recipients,
        ["admin@shop.example", "archive@isp.example"]
    );
    assert_eq!(mail.message_id, d.message_id);
    let raw = String::from_utf8_lossy(&bytes);
    assert!(!raw.contains("archive@"), "Bcc is envelope only:\n{raw}");
    assert!(!raw.contains("ashley@"), "the recipient is masked");
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(
        m.message_id(),
        Some(&d.message_id[1..d.message_id.len() - 1])
    );
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        m.header_raw("X-Auto-Response-Suppress").map(str::trim),
        Some("All")
    );
    assert!(m.header_raw("References").is_none() && m.header_raw("In-Reply-To").is_none());
    assert!(m.header_raw("Precedence").is_none());
    assert_eq!(
        m.from().unwrap().first().unwrap().address(),
        Some("abuse@isp.example")
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("admin@shop.example")
    );
    assert_eq!(
        m.reply_to().unwrap().first().unwrap().address(),
        Some("abuse@isp.example")
    );
    assert_eq!(m.date().unwrap().to_rfc3339(), "2026-03-04T10:05:06Z");
    assert_eq!(
        m.subject(),
        Some("[Example Abuse Desk] Complaints about mail from sales@shop.example and 1 more (ticket #12)")
    );
    let text = m.body_text(0).unwrap();
    for needle in [
        "Dear Shop GmbH",
        "Ticket #12: sales@shop.example",
        "Ticket #13: info@shop.example",
        "31 in total, 6 new since our last notice",
        "2026-03-04 01:05 UTC / 2026-03-04 09:05 UTC",
        "192.0.2.5 and 2 more",
        "Outgoing user:    shop.example",
        "change its password",
        "fraud or phishing",
        "ticket-12-report.txt, ticket-12-headers.txt",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(!text.contains("192.0.2.6"));
    assert!(!text.contains("\n\n\n"), "no blank-line runs:\n{text}");
    let names: Vec<_> = m
        .attachments()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert_eq!(names, ["ticket-12-report.txt", "ticket-12-headers.txt"]);
}

#[test]
fn hostile_text_cannot_break_a_header_or_the_html() {
    let evil = format!(
        "<script>alert(1)</script>x@shop.example\r\nBcc: victim@else.example\n\u{202E}{}",
        "A".repeat(5000)
    );
    let mut t = ticket(7, "abuse", &evil);
    t.subject = evil.clone();
    t.outgoing_user = Some("<b onmouseover=alert(2)>".into());
    let mut d = digest(vec![t]);
    d.customer_name = "Shop\r\nX-Injected: 1".into();
    let (mail, bytes) = composed(&settings(""), &d);
    assert!(
        !mail.subject.contains(['\r', '\n', '\u{202E}']),
        "{}",
        mail.subject
    );
    assert!(
        mail.subject.chars().count() <= 150,
        "{}",
        mail.subject.len()
    );
    assert!(mail.subject.ends_with('…'));
    let raw = String::from_utf8_lossy(&bytes);
    for line in raw.lines() {
        assert!(
            !line.starts_with("Bcc:") && !line.starts_with("X-Injected:"),
            "{line}"
        );
        assert!(line.len() <= 998);
    }
    assert_eq!(mail.recipients, ["admin@shop.example"]);
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert!(!m.subject().unwrap().contains('\n'));
    let html = m.body_html(0).unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<b onmouseover"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    let text = m.body_text(0).unwrap();
    assert!(text.contains(
        "Ticket #7: <script>alert(1)</script>x@shop.example Bcc: victim@else.example AAA"
    ));
}

#[test]
fn threading_only_when_there_were_earlier_notices() {
    let mut d = digest(vec![ticket(1, "abuse", "a@shop.example")]);
    d.references = vec![
        "first.1@isp.example".into(),
        "<bad id>".into(),
        "<second.2@isp.example>".into(),
    ];
    let (_, bytes) = composed(&settings(""), &d);
    let raw = String::from_utf8_lossy(&bytes);
    assert!(
        raw.contains("References: <first.1@isp.example> <second.2@isp.example>"),
        "{raw}"
    );
    assert!(raw.contains("In-Reply-To: <second.2@isp.example>"), "{raw}");
    let long: Vec<String> = (0..25).map(|i| format!("<n{i}@isp.example>")).collect();
    let kept = thread(&long, "<n3@isp.example>");
    assert_eq!(kept.len(), 20);
    assert_eq!(kept[0], "<n0@isp.example>");
    assert_eq!(kept[1], "<n6@isp.example>");
    assert_eq!(kept[19], "<n24@isp.example>");
    d.message_id = "not an id".into();
    let e = compose(&settings(""), &MailTemplates::new(None), &d).unwrap_err();
    assert!(matches!(e, NotifyError::MessageId(_)), "{e}");
}

#[test]
fn override_to_sends_only_there_and_names_the_intended() {
    let mut d = digest(vec![ticket(1, "abuse", "a@shop.example")]);
    d.recipients.push("billing@shop.example".into());
    d.recipients.push("not an address".into());
    let s = settings("override_to = \"tester@isp.example\"\nbcc = [\"archive@isp.example\"]");
    let (mail, bytes) = composed(&s, &d);
    assert_eq!(mail.recipients, ["tester@isp.example"]);
    assert_eq!(mail.invalid_recipients, ["not an address"]);
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("tester@isp.example")
    );
    assert_eq!(
        m.header_raw(INTENDED_TO_HEADER).map(str::trim),
        Some("admin@shop.example, billing@shop.example")
    );
    assert!(m.subject().unwrap().starts_with("[TEST] "));
    assert!(m
        .body_text(0)
        .unwrap()
        .contains("meant for: admin@shop.example, billing@shop.example"));
    d.recipients = vec!["nobody".into()];
    assert!(matches!(
        compose(&s, &MailTemplates::new(None), &d),
        Err(NotifyError::NoRecipients)
    ));
}

#[test]
fn language_class_and_self_service_link() {
    let mut d = digest(vec![ticket(3, "virus", "a@shop.example")]);
    d.language = Some("de-DE".into());
    d.self_service = Some(SelfServiceLink {
        url: "https://abuse.isp.example/s/abc".into(),
        valid_until: at(23),
    });
    let (mail, bytes) = composed(&settings(""), &d);
    assert!(mail
        .subject
        .contains("Beschwerden über Mails von a@shop.example"));
    let m = MessageParser::default().parse(&bytes).unwrap();
    let text = m.body_text(0).unwrap();
    assert!(text.contains("Virus oder andere Schadsoftware"), "{text}");
    assert!(text.contains("https://abuse.isp.example/s/abc"));
    assert!(text.contains("gültig bis 2026-03-04 23:05 UTC"));
    assert!(m.body_html(0).unwrap().contains("Identität"));
    // Mixed classes use the default texts, advice per ticket.
    d.tickets.push(ticket(4, "abuse", "b@shop.example"));
    d.language = Some("fr".into());
    let (_, bytes) = composed(&settings(""), &d);
    let text = MessageParser::default()
        .parse(&bytes)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    assert!(
        text.contains("carried a virus") && text.contains("secure the account"),
        "{text}"
    );
}

#[test]
fn one_line_bounds() {
    assert_eq!(one_line(" a\r\n\tb\u{2028}c\u{200B}d ", 10), "a b cd");
    assert_eq!(one_line("abcdef", 4), "abc…");
    assert_eq!(one_line("", 4), "");
}
