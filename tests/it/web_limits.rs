//! Hostile sizes on the web: a report naming 50,000 recipients costs its ticket page no more
//! than a small one and shows none of them unmasked.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use abuse_desk::db::schema::tickets;
use diesel::prelude::*;

use crate::support;
use crate::web::spawn_app;

const RECIPIENTS: usize = 50_000;

fn recipient(i: usize) -> String {
    format!("user{i}@rcpt{}.example", i % 7)
}

/// An AOL-style report whose feedback part names every recipient and whose original's To:
/// lists them all (folded), its body greeting a few of them.
fn report_with_many_recipients() -> Vec<u8> {
    let mut rcpt_to = String::with_capacity(RECIPIENTS * 40);
    let mut to = String::with_capacity(RECIPIENTS * 30);
    for i in 0..RECIPIENTS {
        writeln!(rcpt_to, "Original-Rcpt-To: <{}>", recipient(i)).unwrap();
        let sep = if i == 0 { "" } else { ",\n " };
        write!(to, "{sep}{}", recipient(i)).unwrap();
    }
    format!(
        "From: scomp@aol.net\nTo: abuse@example-hoster.net\nSubject: Abuse report\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report;\n \
         boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nA complaint.\n\n--b\n\
         Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: AOL SComp\n\
         Version: 1\nOriginal-Mail-From: <shop@bakery-mueller.example>\n{rcpt_to}\
         Source-IP: 198.51.100.5\n\n--b\nContent-Type: message/rfc822\n\n\
         X-AuthUser: shop@bakery-mueller.example\nFrom: shop@bakery-mueller.example\nTo: {to}\n\
         Subject: Cheap offer for everyone\nMessage-ID: <many@bakery-mueller.example>\n\n\
         Hello {}, {} and {}: buy now.\n--b--\n",
        recipient(3),
        recipient(RECIPIENTS / 2).to_uppercase(),
        recipient(RECIPIENTS - 1),
    )
    .into_bytes()
}

#[actix_web::test]
async fn a_report_with_50000_recipients_shows_its_ticket_page_in_under_a_second() {
    let unmasked = regex::Regex::new(r"user\d+@").unwrap();
    for db in support::backends("a_report_with_50000_recipients_shows_its_ticket_page") {
        let app = spawn_app(db).await;
        app.ingest_raw(vec![report_with_many_recipients()]);
        let id: i64 = tickets::table
            .select(tickets::id)
            .first(&mut app.conn())
            .unwrap();
        let agent = app.login("agent").await;
        let page = format!("/tickets/{id}");
        // The first view also warms what every page shares (templates, the pool).
        agent.text(&page).await;
        let started = Instant::now();
        let html = agent.text(&page).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{took:?} on {}",
            app.db.backend
        );
        assert!(
            html.contains("50000 recipient address(es) masked"),
            "{}",
            &html[..html.len().min(2000)]
        );
        assert!(html.contains("[recipient]@rcpt3.example"));
        assert!(html.contains("shop@bakery-mueller.example"), "senders stay");
        let shown: Vec<&str> = unmasked.find_iter(&html).map(|m| m.as_str()).collect();
        assert!(
            shown.is_empty(),
            "unmasked: {:?}",
            &shown[..shown.len().min(5)]
        );
        assert!(
            html.len() < 1 << 20,
            "the page is bounded: {} bytes",
            html.len()
        );
    }
}
