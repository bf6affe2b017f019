//! Customer notices end to end, with the real binary and a real SMTP server (aiosmtpd): after an
//! import, `notify run --once` sends each customer with tickets one digest, and a second run
//! nothing; after the severity's interval, new reports make one more. The self-service link in a
//! notice opens the customer's page without login, without a third-party recipient; a reply lands
//! on the ticket in the queue. Here too the helpers the `notices_*` modules share.

use std::collections::BTreeSet;

use abuse_desk::db::schema::notices;
use diesel::prelude::*;
use mail_parser::MessageParser;

use crate::smtp::SmtpServer;
use crate::support::{self, TestDb};
use crate::web::{spawn_app_with, spec, TestApp};

pub(crate) fn notify_toml(db: &TestDb, smtp_url: &str, extra: &str) -> String {
    format!(
        "database_url = \"{}\"\n[web]\npublic_url = \"https://abuse.isp.example\"\n[notify]\nenabled = true\nsmtp_url = \"{smtp_url}\"\nfrom = \"Example Abuse Desk <abuse@isp.example>\"\n{extra}",
        db.url
    )
}

pub(crate) fn cli(db: &TestDb, toml: &str, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, toml).unwrap();
    let mut full = vec!["--config", file.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = support::cli_ok(db, &full);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Three customers' reports: the bakery twice, Northwind, Contoso (by netblock).
pub(crate) fn corpus(app: &TestApp) {
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
