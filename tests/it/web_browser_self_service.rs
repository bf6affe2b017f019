//! The self-service page in a real browser: staff send a ticket's notice, the customer answers on
//! the page its link opens and marks the ticket fixed, staff see the answer, and a wrong or expired
//! link gets the same refusal.

use fantoccini::Locator;

use crate::support;
use crate::web::{spawn_app_with, spec};
use crate::web_browser::{
    body_text, browser, chromedriver, click, log_in, reload_until, type_into, wait_text, wait_url,
};

#[actix_web::test]
async fn a_customer_answers_on_the_self_service_page_of_its_notice() {
    let test = "a_customer_answers_on_the_self_service_page_of_its_notice";
    let Some(driver) = chromedriver(test) else {
        return;
    };
    let Some(smtp) = crate::smtp::SmtpServer::start(test) else {
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
    app.ingest(&[spec(
        1,
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    )]);
    // Staff send the notice from the ticket page.
    let c = browser(&driver).await;
    log_in(&c, &app, "agent").await;
    c.goto(&format!("{}/tickets/1", app.base)).await.unwrap();
    click(&c, "notify-now").await;
    reload_until(&c, ".notice-state", "sent").await;
    let mail = smtp.received().pop().unwrap();
    let text = String::from_utf8_lossy(&mail.data).into_owned();
    let public = app.settings.web.public_url.clone();
    let path = text
        .split_whitespace()
        .find_map(|w| {
            w.strip_prefix(public.as_str())
                .filter(|p| p.starts_with("/self/"))
        })
        .unwrap()
        .trim_end_matches(['.', ',', ')', '>'])
        .to_owned();
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, |u| u.path() == "/login").await;

    // The customer opens the link: its ticket, no complainant's address anywhere.
    c.goto(&format!("{}{path}", app.base)).await.unwrap();
    let page = body_text(&c).await;
    assert!(page.contains("shop@bakery-mueller.example"), "{page}");
    let source = c.source().await.unwrap();
    assert!(
        !source.contains("victim1@mailbox.example.org"),
        "no third-party recipient"
    );
    type_into(
        &c,
        "reply-1",
        "We changed the password and removed the script.",
    )
    .await;
    click(&c, "send-1").await;
    // The page comes back with the answer under "Your answers" (the address is the same
    // before and after, so waiting for it would not wait for the new page).
    wait_text(&c, "#ticket-1 .answers", "We changed the password").await;
    click(&c, "fixed-1").await;
    wait_text(&c, "#ticket-1", "you marked it fixed").await;

    // Staff see the answer on the ticket.
    log_in(&c, &app, "agent").await;
    c.goto(&format!("{}/tickets/1", app.base)).await.unwrap();
    let notes = wait_text(&c, ".notes", "We changed the password").await;
    assert!(notes.contains("the customer"), "{notes}");
    assert!(body_text(&c).await.contains("says it is fixed"));

    // A wrong token, and the right one once expired, get the same page.
    c.goto(&format!(
        "{}/self/0123456789abcdef0123456789abcdef",
        app.base
    ))
    .await
    .unwrap();
    assert!(body_text(&c).await.contains("This link does not work"));
    {
        use abuse_desk::db::schema::customer_tokens;
        use diesel::prelude::*;
        diesel::update(customer_tokens::table)
            .set(
                customer_tokens::expires_at
                    .eq(abuse_desk::db::now() - chrono::Duration::minutes(1)),
            )
            .execute(&mut app.conn())
            .unwrap();
    }
    c.goto(&format!("{}{path}", app.base)).await.unwrap();
    assert!(body_text(&c).await.contains("This link does not work"));
    c.close().await.unwrap();
}
