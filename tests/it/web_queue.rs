//! The queue: every filter narrows to the right tickets, the counts per status and the "mine" view.
//! Here too the seeded desk and the page reader the `web_queue_*` modules share.

use std::collections::BTreeSet;

use crate::support;
use crate::web::{spawn_app, spec, TestApp};
use abuse_desk::demo::Feed;

/// Ticket numbers linked from a queue page, in order.
pub fn ids(html: &str) -> Vec<i64> {
    let re = regex::Regex::new(r#"<td class="subject"><a href="/tickets/(\d+)">"#).unwrap();
    re.captures_iter(html)
        .map(|c| c[1].parse().unwrap())
        .collect()
}

/// 130 tickets: 120 identities of one customer (many events for some), a few unresolved
/// senders, a fraud class and a third-party feed.
pub(crate) fn seed(app: &TestApp) {
    let mut specs = Vec::new();
    let mut serial = 0;
    for n in 0..120u64 {
        for _ in 0..(1 + n % 4) {
            serial += 1;
            specs.push(spec(
                serial,
                Some(&format!("user{n}@northwind.example")),
                "newsletter@northwind.example",
                "198.51.100.20",
            ));
        }
    }
    for n in 0..6u64 {
        serial += 1;
        specs.push(spec(
            serial,
            None,
            &format!("spam{n}@lottery-claims.test"),
            "192.0.2.200",
        ));
    }
    serial += 1;
    let mut fraud = spec(
        serial,
        Some("orders@fabrikam.example"),
        "orders@fabrikam.example",
        "198.18.7.9",
    );
    fraud.feedback_type = "fraud".into();
    specs.push(fraud);
    for n in 0..3u64 {
        serial += 1;
        let mut aol = spec(
            serial,
            None,
            &format!("offers{n}@tailspin.example"),
            "2001:db8:5::25",
        );
        aol.feed = Feed::Aol;
        specs.push(aol);
    }
    app.ingest(&specs);
}

#[actix_web::test]
async fn filters_narrow_the_queue() {
    for db in support::backends("filters_narrow_the_queue") {
        let app = spawn_app(db).await;
        seed(&app);
        let viewer = app.login("viewer").await;
        let count = |html: &str| ids(html).len();
        let all = viewer.text("/tickets").await;
        assert_eq!(count(&all), 50, "first page is full");
        assert!(
            all.contains("open <span class=\"count\">130</span>"),
            "counts per status"
        );

        let html = viewer.text("/tickets?unresolved=1").await;
        assert_eq!(count(&html), 6);
        assert!(html.contains("spam0@lottery-claims.test"));
        let html = viewer.text("/tickets?class=fraud").await;
        assert_eq!(count(&html), 1);
        assert!(html.contains("orders@fabrikam.example"));
        let html = viewer.text("/tickets?customer=cust-1005").await;
        assert_eq!(count(&html), 3);
        let html = viewer.text("/tickets?feed=aol").await;
        assert_eq!(count(&html), 3, "third-party feed by reporter");
        let html = viewer.text("/tickets?q=user7%40").await;
        assert_eq!(count(&html), 1, "free text over the subject");
        let html = viewer.text("/tickets?q=WIDE+WORLD").await;
        assert_eq!(count(&html), 0);
        let html = viewer.text("/tickets?q=tailspin+travel").await;
        assert_eq!(
            count(&html),
            3,
            "free text over the customer name, any case"
        );
        let html = viewer.text("/tickets?q=192.0.2.200").await;
        assert_eq!(count(&html), 6, "free text over the source IP");
        let html = viewer.text("/tickets?q=100%25_").await;
        assert_eq!(count(&html), 0, "LIKE wildcards are literal");
        let html = viewer.text("/tickets?severity=escalation").await;
        assert_eq!(count(&html), 0);
        let html = viewer.text("/tickets?status=closed").await;
        assert_eq!(count(&html), 0);
        // Filter state is in the URL: the sort links keep the filter.
        let html = viewer.text("/tickets?unresolved=1&sort=events").await;
        assert!(
            html.contains("href=\"&#x2f;tickets?unresolved=1&amp;sort=first_seen\""),
            "{html}"
        );
        assert_eq!(viewer.get("/tickets?sort=nonsense").await.status(), 400);
        assert_eq!(viewer.get("/tickets?after=garbage").await.status(), 400);

        // The JSON API serves the same page.
        let json: serde_json::Value = viewer
            .get("/api/v1/tickets?class=fraud")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(json["items"][0]["subject"], "orders@fabrikam.example");
    }
}

#[actix_web::test]
async fn mine_shows_what_i_claimed() {
    let app = spawn_app(support::sqlite()).await;
    seed(&app);
    let agent = app.login("agent").await;
    assert_eq!(ids(&agent.text("/tickets?assignee=me").await).len(), 0);
    let res = agent
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", "3"),
                ("ids", "5"),
                ("op", "assign:me"),
                ("back", "/tickets?assignee=me"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(crate::web::location(&res), "/tickets?assignee=me");
    let mine = ids(&agent.text("/tickets?assignee=me").await);
    assert_eq!(
        mine.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([3, 5])
    );
    assert_eq!(ids(&agent.text("/tickets?assignee=agent").await).len(), 2);
    let viewer = app.login("viewer").await;
    assert_eq!(
        ids(&viewer.text("/tickets?assignee=me").await).len(),
        0,
        "mine is per person"
    );
    // Bulk status change moves both out of the open tab.
    agent
        .post_form(
            "/tickets/bulk",
            &[("ids", "3"), ("ids", "5"), ("op", "status:resolved")],
        )
        .await;
    let html = agent.text("/tickets").await;
    assert!(
        html.contains("open <span class=\"count\">128</span>")
            && html.contains("resolved <span class=\"count\">2</span>")
    );
}
