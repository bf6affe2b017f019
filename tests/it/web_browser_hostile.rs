//! Hostile report content in a real browser: on the queue, the ticket and the outgoing reports no
//! alert opens and no script, image or javascript link is injected, and the hostile text is shown
//! as text.

use std::time::Duration;

use crate::support;
use crate::web::{arriving_today, spawn_app, spec};
use crate::web_browser::{body_text, browser, chromedriver, log_in};
use crate::web_ticket::hostile;

#[actix_web::test]
async fn hostile_report_content_never_runs_in_the_browser() {
    let Some(driver) = chromedriver("hostile_report_content_never_runs_in_the_browser") else {
        return;
    };
    let app = spawn_app(support::sqlite()).await;
    let mut specs = [
        hostile(),
        spec(
            2,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        ),
    ];
    // The "today" reports below must hold the hostile report, also just after midnight.
    arriving_today(&mut specs);
    app.ingest(&specs);
    let c = browser(&driver).await;
    log_in(&c, &app, "agent").await;
    for page in [
        "/tickets?q=evil",
        "/tickets/1",
        "/tickets/1?show=recipients",
        "/reports/outgoing?period=today",
        "/reports/outgoing?period=today&group=outgoing_user",
    ] {
        c.goto(&format!("{}{page}", app.base)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            c.get_alert_text().await.is_err(),
            "{page}: an alert dialog opened"
        );
        let injected = c
            .execute("return document.scripts.length + document.querySelectorAll('img, [onerror], a[href^=\"javascript\"]').length", vec![])
            .await
            .unwrap();
        assert_eq!(injected.as_i64(), Some(0), "{page}: injected elements");
    }
    // The hostile text is there, as text.
    c.goto(&format!("{}/tickets/1", app.base)).await.unwrap();
    let text = body_text(&c).await;
    assert!(text.contains("<script>alert('subject')</script>"), "{text}");
    assert!(text.contains("javascript:alert(4)"));
    c.close().await.unwrap();
}
