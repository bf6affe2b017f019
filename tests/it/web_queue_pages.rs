//! The queue's pages follow each other without gaps or repeats in every sort order, also where the
//! 24-hour ranking must look past a filter.

use std::collections::BTreeSet;

use crate::support;
use crate::web::spawn_app;
use crate::web_queue::{ids, seed};

fn next_link(html: &str) -> Option<String> {
    let re = regex::Regex::new(r#"<a href="([^"]+)" id="next-page">"#).unwrap();
    re.captures(html)
        .map(|c| c[1].replace("&amp;", "&").replace("&#x2f;", "/"))
}

#[actix_web::test]
async fn pages_cover_every_ticket_once_in_every_sort() {
    for db in support::backends("pages_cover_every_ticket_once_in_every_sort") {
        let app = spawn_app(db).await;
        seed(&app);
        let viewer = app.login("viewer").await;
        for sort in ["last_seen", "events", "events_24h", "first_seen"] {
            let mut seen = Vec::new();
            let mut url = Some(format!("/tickets?sort={sort}"));
            let mut pages = 0;
            while let Some(u) = url {
                let html = viewer.text(&u).await;
                seen.extend(ids(&html));
                url = next_link(&html);
                pages += 1;
                assert!(pages < 10);
            }
            let unique: BTreeSet<i64> = seen.iter().copied().collect();
            assert_eq!(unique.len(), seen.len(), "{sort}: no ticket twice");
            assert_eq!(seen.len(), 130, "{sort}: every ticket");
            assert_eq!(pages, 3, "{sort}");
        }
        // Filters the ranking's chunks must look past: the 24-hour sort shows the same
        // tickets as the sort by last seen, over all its pages.
        for filter in [
            "q=user1",
            "unresolved=1",
            "customer=cust-1005",
            "status=closed",
        ] {
            let tickets = |sort: &'static str| {
                let viewer = &viewer;
                async move {
                    let mut seen = BTreeSet::new();
                    let mut url = Some(format!("/tickets?{filter}&sort={sort}"));
                    while let Some(u) = url {
                        let html = viewer.text(&u).await;
                        seen.extend(ids(&html));
                        url = next_link(&html);
                    }
                    seen
                }
            };
            let ranked = tickets("events_24h").await;
            assert_eq!(ranked, tickets("last_seen").await, "{filter}");
        }
        // Sorted by events, the first row has the most. Every event arrived within the last
        // few hours, so each row's 24-hour count is all of its events, whether the page walks
        // an index or the 24-hour ranking, and that order is the same.
        for sort in ["events", "events_24h"] {
            let json: serde_json::Value = viewer
                .get(&format!("/api/v1/tickets?sort={sort}"))
                .await
                .json()
                .await
                .unwrap();
            let items = json["items"].as_array().unwrap();
            assert_eq!(items.len(), 50, "{sort}");
            let counts: Vec<i64> = items
                .iter()
                .map(|i| i["event_count"].as_i64().unwrap())
                .collect();
            assert!(
                counts.windows(2).all(|w| w[0] >= w[1]),
                "{sort}: {counts:?}"
            );
            assert_eq!(counts[0], 4, "{sort}");
            for item in items {
                assert_eq!(item["events_24h"], item["event_count"], "{sort}: {item}");
            }
        }
    }
}
