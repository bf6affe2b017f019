//! Delivering notices: a dead SMTP server leaves them queued and nothing is sent twice once it
//! answers; testing mode sends everything to one address, and bcc gets a copy; a bounce of a notice
//! marks the address and is kept in the quarantine.

use std::collections::BTreeSet;

use abuse_desk::db::schema::{notices, notifications};
use diesel::prelude::*;
use mail_parser::MessageParser;

use crate::notices::{cli, corpus, notify_toml};
use crate::smtp::{free_port, SmtpServer};
use crate::support;
use crate::web::{spawn_app_with, spec};

#[actix_web::test]
async fn a_dead_smtp_server_leaves_notices_queued_and_nothing_is_sent_twice() {
    let Some(smtp) =
        SmtpServer::start("a_dead_smtp_server_leaves_notices_queued_and_nothing_is_sent_twice")
    else {
        return;
    };
    let app = spawn_app_with(support::sqlite(), |_| {}).await;
    corpus(&app);
    let dead = format!("smtp://127.0.0.1:{}", free_port());
    let down = cli(
        &app.db,
        &notify_toml(&app.db, &dead, ""),
        &["notify", "run", "--once", "--json"],
    );
    assert_eq!(
        (
            down["delivered"]["sent"].as_u64(),
            down["delivered"]["retried"].as_u64()
        ),
        (Some(0), Some(3)),
        "{down}"
    );
    let mut conn = app.conn();
    let states: Vec<(String, i32, Option<String>)> = notifications::table
        .select((
            notifications::state,
            notifications::attempts,
            notifications::last_error,
        ))
        .load(&mut conn)
        .unwrap();
    assert!(
        states.iter().all(|s| s.0 == "pending"
            && s.1 == 1
            && s.2.as_deref().is_some_and(|e| e.contains("cannot connect"))),
        "{states:?}"
    );
    // Their next attempt comes; the server answers now.
    diesel::update(notifications::table)
        .set(notifications::next_attempt_at.eq(abuse_desk::db::now()))
        .execute(&mut conn)
        .unwrap();
    let toml = notify_toml(&app.db, &smtp.url(), "");
    let up = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
    assert_eq!(
        (
            up["planned"]["notices"].as_u64(),
            up["delivered"]["sent"].as_u64()
        ),
        (Some(0), Some(3)),
        "{up}"
    );
    cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
    assert_eq!(smtp.received().len(), 3, "each sent once");
}

#[actix_web::test]
async fn while_testing_every_notice_goes_to_one_address_and_copies_go_to_bcc() {
    let Some(smtp) =
        SmtpServer::start("while_testing_every_notice_goes_to_one_address_and_copies_go_to_bcc")
    else {
        return;
    };
    let app = spawn_app_with(support::sqlite(), |_| {}).await;
    corpus(&app);
    let toml = notify_toml(
        &app.db,
        &smtp.url(),
        "override_to = \"tester@isp.example\"\n",
    );
    cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
    let mails = smtp.received();
    assert_eq!(mails.len(), 3);
    for m in &mails {
        assert_eq!(m.rcpt_tos, vec!["tester@isp.example".to_owned()]);
        assert!(String::from_utf8_lossy(&m.data).contains("X-Abuse-Desk-Intended-To:"));
    }
    // Without the override, a copy goes to bcc beside the customer.
    let db2 = support::sqlite();
    let app2 = spawn_app_with(db2, |_| {}).await;
    app2.ingest(&[spec(
        1,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    )]);
    let toml = notify_toml(&app2.db, &smtp.url(), "bcc = [\"archive@isp.example\"]\n");
    cli(&app2.db, &toml, &["notify", "run", "--once", "--json"]);
    let rcpts: BTreeSet<Vec<String>> = smtp.received()[3..]
        .iter()
        .map(|m| m.rcpt_tos.clone())
        .collect();
    assert_eq!(
        rcpts,
        [
            vec!["it@bakery-mueller.example".to_owned()],
            vec!["archive@isp.example".to_owned()]
        ]
        .into_iter()
        .collect()
    );
}

#[actix_web::test]
async fn a_bounce_of_a_notice_marks_the_address_and_is_kept_in_the_quarantine() {
    let Some(smtp) =
        SmtpServer::start("a_bounce_of_a_notice_marks_the_address_and_is_kept_in_the_quarantine")
    else {
        return;
    };
    let app = spawn_app_with(support::sqlite(), |_| {}).await;
    app.ingest(&[spec(
        1,
        Some("sales@northwind.example"),
        "sales@northwind.example",
        "198.51.100.17",
    )]);
    let toml = notify_toml(&app.db, &smtp.url(), "");
    cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
    let mail = smtp.received().pop().unwrap();
    let id = MessageParser::default()
        .parse(&mail.data)
        .unwrap()
        .message_id()
        .unwrap()
        .to_owned();
    // The customer's server returns it to the abuse mailbox, which is imported like any mail.
    let dsn = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arf-extra/bounce-dsn.eml"
    ))
    .unwrap()
    .replace("nobody@elsewhere.example", "abuse@northwind.example")
    .replace(
        "Subject: hello",
        &format!("Subject: hello\nMessage-ID: <{id}>"),
    );
    app.ingest_raw(vec![dsn.into_bytes()]);
    let mut conn = app.conn();
    let (state, error): (String, Option<String>) = notifications::table
        .select((notifications::state, notifications::last_error))
        .first(&mut conn)
        .unwrap();
    assert_eq!(state, "bounced", "{error:?}");
    let customer = abuse_desk::db::customers::list(&mut conn)
        .unwrap()
        .into_iter()
        .find(|c| c.external_id == "cust-1002")
        .unwrap();
    let customer = abuse_desk::db::customers::get(&mut conn, customer.id)
        .unwrap()
        .unwrap();
    assert!(customer.bounces("abuse@northwind.example"));
    let quarantined: i64 = abuse_desk::db::schema::raw_messages::table
        .filter(abuse_desk::db::schema::raw_messages::parse_status.eq("quarantined"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(quarantined, 1, "the bounce itself is kept");
    // Its only address bounces: the next notice has nobody to go to.
    app.ingest(&[spec(
        2,
        Some("sales@northwind.example"),
        "sales@northwind.example",
        "198.51.100.18",
    )]);
    diesel::update(notices::table)
        .set(notices::created_at.eq(abuse_desk::db::now() - chrono::Duration::days(5)))
        .execute(&mut conn)
        .unwrap();
    let ran = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
    assert_eq!(ran["planned"]["notices"], 0, "{ran}");
}
