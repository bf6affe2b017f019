//! Customer notices end to end, with the real binary and a real SMTP server (aiosmtpd): after
//! an import, `notify run --once` sends each customer with tickets one digest, and a second
//! run nothing; after the severity's interval, new reports make one more; a dead SMTP server
//! leaves the notices queued and nothing is sent twice once it answers; testing mode sends
//! everything to one address. The self-service link in a notice opens the customer's page
//! without login, without a third-party recipient; a reply lands on the ticket in the queue.

use std::collections::BTreeSet;

use abuse_desk::db::schema::{notices, notifications};
use diesel::prelude::*;
use mail_parser::MessageParser;

use crate::smtp::{free_port, SmtpServer};
use crate::support::{self, TestDb};
use crate::web::{spawn_app_with, spec, TestApp};

fn notify_toml(db: &TestDb, smtp_url: &str, extra: &str) -> String {
    format!(
        "database_url = \"{}\"\n[web]\npublic_url = \"https://abuse.isp.example\"\n[notify]\nenabled = true\nsmtp_url = \"{smtp_url}\"\nfrom = \"Example Abuse Desk <abuse@isp.example>\"\n{extra}",
        db.url
    )
}

fn cli(db: &TestDb, toml: &str, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, toml).unwrap();
    let mut full = vec!["--config", file.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = support::cli_ok(db, &full);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Three customers' reports: the bakery twice, Northwind, Contoso (by netblock).
fn corpus(app: &TestApp) {
    app.ingest(&[
        spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        ),
        spec(
            2,
            Some("info@bakery-mueller.example"),
            "info@bakery-mueller.example",
            "198.51.100.6",
        ),
        spec(
            3,
            Some("sales@northwind.example"),
            "sales@northwind.example",
            "198.51.100.17",
        ),
        spec(4, None, "promo@unknown-sender.example", "203.0.113.9"),
    ]);
}

fn to_of(data: &[u8]) -> String {
    let message = MessageParser::default().parse(data).unwrap();
    message
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn each_customer_gets_one_digest_and_a_second_run_sends_nothing() {
    for db in support::backends("each_customer_gets_one_digest_and_a_second_run_sends_nothing") {
        let Some(smtp) =
            SmtpServer::start("each_customer_gets_one_digest_and_a_second_run_sends_nothing")
        else {
            return;
        };
        let app = spawn_app_with(db, |_| {}).await;
        corpus(&app);
        let toml = notify_toml(&app.db, &smtp.url(), "");
        let ran = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
        assert_eq!(ran["planned"]["notices"], 3, "{ran}");
        assert_eq!(ran["delivered"]["sent"], 3, "{ran}");
        let mails = smtp.received();
        let to: BTreeSet<String> = mails.iter().map(|m| to_of(&m.data)).collect();
        assert_eq!(
            to,
            [
                "it@bakery-mueller.example",
                "abuse@northwind.example",
                "noc@contoso.example"
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        );
        for m in &mails {
            let text = String::from_utf8_lossy(&m.data);
            assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
            assert!(
                text.contains("https://abuse.isp.example/self/"),
                "a self-service link"
            );
            assert_eq!(m.mail_from, "abuse@isp.example");
        }
        let bakery = mails
            .iter()
            .find(|m| to_of(&m.data) == "it@bakery-mueller.example")
            .unwrap();
        let text = MessageParser::default()
            .parse(&bakery.data)
            .unwrap()
            .body_text(0)
            .unwrap()
            .into_owned();
        assert!(
            text.contains("shop@bakery-mueller.example")
                && text.contains("info@bakery-mueller.example"),
            "one digest of both tickets: {text}"
        );

        // Nothing new: nothing sent.
        let again = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
        assert_eq!(
            (
                again["planned"]["notices"].as_u64(),
                again["delivered"]["sent"].as_u64()
            ),
            (Some(0), Some(0)),
            "{again}"
        );
        assert_eq!(smtp.received().len(), 3);

        // A new report for Northwind: within its interval nothing, after it one notice more.
        app.ingest(&[spec(
            5,
            Some("sales@northwind.example"),
            "sales@northwind.example",
            "198.51.100.18",
        )]);
        let within = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
        assert_eq!(within["planned"]["notices"], 0, "{within}");
        let mut conn = app.conn();
        let day_ago = abuse_desk::db::now() - chrono::Duration::days(4);
        diesel::update(notices::table)
            .set(notices::created_at.eq(day_ago))
            .execute(&mut conn)
            .unwrap();
        let after = cli(&app.db, &toml, &["notify", "run", "--once", "--json"]);
        assert_eq!(
            (
                after["planned"]["notices"].as_u64(),
                after["delivered"]["sent"].as_u64()
            ),
            (Some(1), Some(1)),
            "{after}"
        );
        let last = smtp.received().pop().unwrap();
        assert_eq!(to_of(&last.data), "abuse@northwind.example");
        let text = String::from_utf8_lossy(&last.data);
        assert!(
            text.contains("References: <notify-"),
            "threaded with the first notice"
        );

        // The link opens the customer's page without login; nothing of the complainants.
        let path = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("https://abuse.isp.example"))
            .unwrap()
            .trim_end_matches(['.', ',', ')', '>'])
            .to_owned();
        let mut visitor = app.anonymous();
        let page = visitor.text(&path).await;
        assert!(page.contains("sales@northwind.example"), "{page}");
        assert!(!page.contains("victim"), "no third-party recipient: {page}");
        assert!(
            !page.contains("shop@bakery-mueller.example"),
            "only this customer's tickets"
        );
        assert_eq!(
            visitor
                .get("/self/00000000000000000000000000000000")
                .await
                .status(),
            404
        );
        assert_eq!(visitor.get("/self/not-a-token").await.status(), 404);

        // The customer answers; staff see it on the ticket and filter the queue for it.
        let ticket: i64 = abuse_desk::db::schema::tickets::table
            .filter(abuse_desk::db::schema::tickets::identity.eq("sales@northwind.example"))
            .select(abuse_desk::db::schema::tickets::id)
            .first(&mut conn)
            .unwrap();
        visitor.refresh_csrf(&path).await;
        let res = visitor
            .post_form(
                &format!("{path}/tickets/{ticket}/reply"),
                &[("body", "We reset the password <today>.")],
            )
            .await;
        assert_eq!(res.status(), 303);
        // The customer sees its answer under the ticket, as text.
        let own = visitor.text(&path).await;
        assert!(
            own.contains("Your answers") && own.contains("We reset the password &lt;today&gt;."),
            "{own}"
        );
        let agent = app.login("agent").await;
        let html = agent.text(&format!("/tickets/{ticket}")).await;
        assert!(
            html.contains("<strong>the customer</strong>")
                && html.contains("We reset the password &lt;today&gt;."),
            "{html}"
        );
        let queue = agent.text("/tickets?replied=1").await;
        assert!(
            queue.contains("sales@northwind.example") && !queue.contains("info@bakery"),
            "{queue}"
        );
        // Another customer's ticket is not this link's to answer.
        let other: i64 = abuse_desk::db::schema::tickets::table
            .filter(abuse_desk::db::schema::tickets::identity.eq("shop@bakery-mueller.example"))
            .select(abuse_desk::db::schema::tickets::id)
            .first(&mut conn)
            .unwrap();
        let res = visitor
            .post_form(&format!("{path}/tickets/{other}/fixed"), &[])
            .await;
        assert_eq!(res.status(), 404);
        drop(conn);
    }
}

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

#[actix_web::test]
async fn staff_preview_a_notice_without_queueing_it_and_send_one_now() {
    let Some(smtp) =
        SmtpServer::start("staff_preview_a_notice_without_queueing_it_and_send_one_now")
    else {
        return;
    };
    let url = smtp.url();
    let app = spawn_app_with(support::sqlite(), move |s| {
        s.notify = toml::from_str(&format!(
            "enabled = true\nsmtp_url = \"{url}\"\nfrom = \"Abuse Desk <abuse@isp.example>\"\n"
        ))
        .unwrap();
    })
    .await;
    corpus(&app);
    let agent = app.login("agent").await;
    let preview = agent.text("/tickets/1/notice").await;
    assert!(
        preview.starts_with("To: it@bakery-mueller.example\nSubject: "),
        "{preview}"
    );
    assert!(
        preview.contains("shop@bakery-mueller.example") && preview.contains("/self/…"),
        "{preview}"
    );
    let queued = |app: &TestApp| -> i64 {
        notifications::table
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    assert_eq!(queued(&app), 0, "a preview queues nothing");
    let res = agent.post_form("/tickets/1/notify", &[]).await;
    assert_eq!(res.status(), 303);
    for _ in 0..100 {
        if !smtp.received().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Sent at once by the notice job (which also sends whatever else was due by then).
    let to_bakery = |app: &TestApp| -> i64 {
        notifications::table
            .filter(notifications::recipient.eq("it@bakery-mueller.example"))
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    assert!(
        !smtp.received().is_empty(),
        "sent at once by the notice job"
    );
    assert_eq!(to_bakery(&app), 1);
    let before = queued(&app);
    // The bulk form sends one notice per customer of the selection.
    let res = agent
        .post_form(
            "/tickets/bulk",
            &[("ids", "1"), ("ids", "3"), ("op", "notify")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(queued(&app), before + 2, "the bakery again and Northwind");
    assert_eq!(to_bakery(&app), 2);
}
