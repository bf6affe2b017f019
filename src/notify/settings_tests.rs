//! Tests of the `[notify]` settings: defaults, URL forms, and messages that name the fix.

use super::*;

fn enabled(extra: &str) -> NotifySettings {
    toml::from_str(&format!(
        "enabled = true\nsmtp_url = \"smtps://mail.example.net\"\nfrom = \"Abuse Desk <abuse@example.net>\"\n{extra}"
    ))
    .unwrap()
}

fn reason(s: &NotifySettings) -> (&'static str, String) {
    let e = s.validate().unwrap_err();
    (e.key, e.reason)
}

#[test]
fn defaults_are_off_and_quiet() {
    let s = NotifySettings::default();
    assert!(!s.enabled);
    assert_eq!(
        s.intervals.for_severity("info"),
        chrono::Duration::hours(72)
    );
    assert_eq!(
        s.intervals.for_severity("abuse"),
        chrono::Duration::hours(4)
    );
    assert_eq!(
        s.intervals.for_severity("escalation"),
        chrono::Duration::hours(1)
    );
    assert_eq!(
        s.intervals.for_severity("new-one"),
        chrono::Duration::hours(72)
    );
    assert_eq!(
        (s.min_last_seen_days, s.rate_per_minute, s.token_days),
        (7, 30, 30)
    );
    assert_eq!(s.schedule, "0 */5 * * * *");
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(enabled("").validate(), Ok(()));
}

#[test]
fn urls_of_each_kind() {
    let p = |u: &str| SmtpEndpoint::parse(u);
    assert_eq!(
        p("smtps://mail.example.net").unwrap(),
        SmtpEndpoint {
            security: SmtpSecurity::Tls,
            host: "mail.example.net".into(),
            port: 465
        }
    );
    let starttls = p("smtp://mail.example.net:2587?tls=required").unwrap();
    assert_eq!(
        (starttls.security, starttls.port),
        (SmtpSecurity::StartTls, 2587)
    );
    let plain = p("smtp://[::1]").unwrap();
    assert_eq!(
        (plain.security, plain.host.as_str(), plain.port),
        (SmtpSecurity::Plain, "::1", 25)
    );
    assert!(p("smtp://u:pw@mail.example.net?tls=required")
        .unwrap_err()
        .contains("smtp_password"));
    assert!(p("smtp://mail.example.net?tls=opportunistic")
        .unwrap_err()
        .contains("tls=required"));
    assert!(p("imap://mail.example.net")
        .unwrap_err()
        .contains("unknown scheme"));
    assert!(p("mail.example.net").is_err());
}

#[test]
fn validation_names_the_fix() {
    let mut s = enabled("");
    s.smtp_url = "smtp://mail.example.net:25".into();
    let (key, why) = reason(&s);
    assert_eq!(key, "smtp_url");
    assert!(
        why.contains("loopback") && why.contains("smtps://mail.example.net:465"),
        "{why}"
    );
    s.smtp_url = "smtp://127.0.0.1:2525".into();
    assert_eq!(s.validate(), Ok(()));

    let no_from: NotifySettings =
        toml::from_str("enabled = true\nsmtp_url = \"smtps://mail.example.net\"").unwrap();
    assert_eq!(reason(&no_from).0, "from");
    let (key, why) = reason(&enabled("bcc = [\"archive@\"]"));
    assert_eq!(key, "bcc");
    assert!(
        why.contains("archive@") && why.contains("addr@example.net"),
        "{why}"
    );
    assert_eq!(
        reason(&enabled("override_to = \"not an address\"")).0,
        "override_to"
    );
    assert_eq!(reason(&enabled("smtp_username = \"u\"")).0, "smtp_password");
    assert_eq!(
        reason(&enabled("[intervals]\nabuse_hours = 0")).0,
        "intervals.abuse_hours"
    );
    assert_eq!(reason(&enabled("rate_per_minute = 0")).0, "rate_per_minute");
    assert_eq!(
        reason(&enabled("schedule = \"every 5 minutes\"")).0,
        "schedule"
    );
    assert!(toml::from_str::<NotifySettings>("smtp_host = \"x\"").is_err());
}

#[test]
fn intervals_accept_short_keys_and_the_password_is_never_printed() {
    let s = enabled("smtp_username = \"u\"\nsmtp_password = \"hunter2\"\n[intervals]\ninfo = 24\nescalation_hours = 2");
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(
        s.intervals,
        Intervals {
            info_hours: 24,
            abuse_hours: 4,
            escalation_hours: 2
        }
    );
    let printed = toml::to_string(&s).unwrap();
    assert!(
        !printed.contains("hunter2") && printed.contains("********"),
        "{printed}"
    );
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn message_ids_are_in_the_senders_domain() {
    let id = enabled("").message_id(42);
    assert!(
        id.starts_with("<notify-42.") && id.ends_with("@example.net>"),
        "{id}"
    );
    assert_ne!(id, enabled("").message_id(42));
}
