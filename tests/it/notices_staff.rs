//! Notices from the web: staff preview a ticket's notice without queueing it, send one now, and
//! send one per customer from the bulk form.

use abuse_desk::db::schema::notifications;
use diesel::prelude::*;

use crate::notices::corpus;
use crate::smtp::SmtpServer;
use crate::support;
use crate::web::{spawn_app_with, TestApp};

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
