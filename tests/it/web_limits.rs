//! Hostile sizes on the web: a report naming 50,000 recipients costs its ticket page no more
//! than a small one and shows none of them unmasked; free text over its bound (reasons,
//! notes, replies, targets, customer fields, passwords, searches) is refused with a message
//! naming it, and nothing of it is stored.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use abuse_desk::db::schema::{actions, customers, notes, tickets};
use diesel::prelude::*;

use crate::support;
use crate::web::{spawn_app, spec};

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

#[actix_web::test]
async fn free_text_over_its_bound_is_refused_and_nothing_is_stored() {
    for db in support::backends("free_text_over_its_bound_is_refused") {
        let app = spawn_app(db).await;
        app.ingest(&[spec(
            1,
            Some("shop@bakery-mueller.example"),
            "shop@bakery-mueller.example",
            "198.51.100.5",
        )]);
        let agent = app.login("agent").await;
        let refused = |res: reqwest::Response, message: &'static str| async move {
            assert_eq!(res.status(), 400, "{message}");
            let body = res.text().await.unwrap();
            assert!(body.contains(message), "{message}: {body}");
        };
        let long = |n: usize| "é".repeat(n);

        let note = long(20_001);
        let res = agent
            .post_form("/tickets/1/notes", &[("body", &note)])
            .await;
        refused(res, "a note has at most 20000 characters").await;
        let fits = long(20_000);
        let res = agent
            .post_form("/tickets/1/notes", &[("body", &fits)])
            .await;
        assert_eq!(res.status(), 303, "a note at the bound is taken");

        let reason = long(1_001);
        let fields = [("kind", "lock_identity"), ("reason", reason.as_str())];
        let res = agent.post_form("/tickets/1/actions", &fields).await;
        refused(res, "a reason has at most 1000 characters").await;
        let bulk = [("ids", "1"), ("op", "lock"), ("reason", reason.as_str())];
        let res = agent.post_form("/tickets/bulk", &bulk).await;
        refused(res, "a reason has at most 1000 characters").await;
        let target = format!("{}@example.net", "a".repeat(400));
        let lock = [
            ("kind", "lock_identity"),
            ("reason", "spam run"),
            ("target", target.as_str()),
        ];
        let res = agent.post_form("/locks", &lock).await;
        refused(res, "a target has at most 320 characters").await;

        let search = agent.get(&format!("/tickets?q={}", "x".repeat(201))).await;
        refused(search, "a search has at most 200 characters").await;

        let mut conn = app.conn();
        let customer: i64 = customers::table
            .filter(customers::external_id.eq("cust-1001"))
            .select(customers::id)
            .first(&mut conn)
            .unwrap();
        let admin = app.login("admin").await;
        let name = long(201);
        let edit = [
            ("name", name.as_str()),
            ("email", "it@bakery-mueller.example"),
        ];
        let res = admin
            .post_form(&format!("/customers/{customer}"), &edit)
            .await;
        refused(
            res,
            "a customer&#x27;s id, name, billing_ref or hosting_user has at most 200 characters",
        )
        .await;
        let password = "p".repeat(1_001);
        let user = [
            ("username", "newbie"),
            ("password", password.as_str()),
            ("role", "viewer"),
        ];
        let res = admin.post_form("/admin/users", &user).await;
        refused(res, "a password has at most 1000 characters").await;

        // The customer's reply on its self-service page.
        let now = abuse_desk::db::now();
        let token = abuse_desk::db::selfservice::issue(
            &mut conn,
            abuse_desk::db::ids::CustomerId(customer),
            now,
            now + chrono::Duration::days(1),
        )
        .unwrap();
        let mut visitor = app.anonymous();
        visitor.refresh_csrf(&format!("/self/{token}")).await;
        let reply = long(10_001);
        let res = visitor
            .post_form(
                &format!("/self/{token}/tickets/1/reply"),
                &[("body", &reply)],
            )
            .await;
        refused(res, "a reply has at most 10000 characters").await;

        let stored_notes: Vec<String> = notes::table.select(notes::body).load(&mut conn).unwrap();
        assert_eq!(stored_notes, [fits], "only the note within its bound");
        let stored_actions: i64 = actions::table.count().get_result(&mut conn).unwrap();
        assert_eq!(stored_actions, 0);
        let name: String = customers::table
            .find(customer)
            .select(customers::name)
            .first(&mut conn)
            .unwrap();
        assert_eq!(name, "Bakery Müller GmbH");
    }
}
