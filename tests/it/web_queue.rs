//! The queue: every filter narrows to the right tickets, pages follow each other without gaps
//! or repeats in every sort order, the counts per status and the "mine" view.

use std::collections::{BTreeMap, BTreeSet};

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

fn next_link(html: &str) -> Option<String> {
    let re = regex::Regex::new(r#"<a href="([^"]+)" id="next-page">"#).unwrap();
    re.captures(html)
        .map(|c| c[1].replace("&amp;", "&").replace("&#x2f;", "/"))
}

/// 130 tickets: 120 identities of one customer (many events for some), a few unresolved
/// senders, a fraud class and a third-party feed.
fn seed(app: &TestApp) {
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

/// Up to 1,000 tickets that `filter` lets through, newest first, by the queue's own query.
fn matching(
    conn: &mut abuse_desk::db::DbConn,
    filter: &abuse_desk::tickets::queue::QueueFilter,
) -> Vec<abuse_desk::tickets::queue::QueueRow> {
    use abuse_desk::tickets::queue::{page, Sort};
    page(conn, filter, Sort::LastSeen, None, 1000, None, None).unwrap()
}

/// Free text is looked up through the trigram and source IP indexes for the queue, and tested
/// row by row on the few tickets of a 24-hour ranking chunk. Both ways must find the same
/// tickets.
#[actix_web::test]
async fn free_text_finds_the_same_tickets_by_index_and_row_by_row() {
    use abuse_desk::tickets::queue::{page_probing, Probe, QueueFilter, Sort};
    for db in support::backends("free_text_finds_the_same_tickets_by_index_and_row_by_row") {
        let app = spawn_app(db).await;
        seed(&app);
        // One ticket seen from two neighbouring IPs, next to another ticket's IP: the source IP
        // index answers the first ticket twice before the second.
        app.ingest(&[
            spec(
                901,
                Some("roamer@northwind.example"),
                "roamer@northwind.example",
                "203.0.113.5",
            ),
            spec(
                902,
                Some("roamer@northwind.example"),
                "roamer@northwind.example",
                "203.0.113.6",
            ),
            spec(
                903,
                Some("other@northwind.example"),
                "other@northwind.example",
                "203.0.113.7",
            ),
        ]);
        let mut conn = app.conn();
        let all: Vec<_> = matching(&mut conn, &QueueFilter::default())
            .iter()
            .map(|r| r.id)
            .collect();
        for text in [
            "user7@",
            "USER1",
            "tailspin",
            "Tailspin Travel",
            "192.0.2.",
            "192.0.2.200",
            "2001:db8:5:",
            "203.0.113.",
            "offers1",
            "lottery",
            "nothing like this",
        ] {
            let filter = QueueFilter {
                text: Some(text.to_owned()),
                ..QueueFilter::default()
            };
            let mut found = |only: Option<&[_]>, probe: i64| -> BTreeSet<i64> {
                page_probing(
                    &mut conn,
                    &filter,
                    Probe::each(probe),
                    Sort::LastSeen,
                    None,
                    1000,
                    only,
                )
                .unwrap()
                .iter()
                .map(|r| r.id.0)
                .collect()
            };
            // Tested row by row on given tickets; and through the indexes, whatever number
            // of matches makes the text common (0: common without asking them; 1: any match
            // at all; small numbers cut an index's answer short, also where one ticket comes
            // from several of its IPs).
            let given = found(Some(&all), 0);
            for probe in [0, 1, 2, 3, 5, 8, 100_000] {
                assert_eq!(found(None, probe), given, "{text:?} probing {probe}");
            }
            assert_eq!(given.is_empty(), text == "nothing like this", "{text:?}");
            // Page by page in each sort order, 4 rows at a time: tested row by row (the way a
            // common text walks the queue), and among the tickets the indexes found (more
            // than a page: on Postgres their page's ids are found first, then read whole).
            // Each row whole (customer, assignee, 24-hour count), as one query reads it.
            let whole = rows_by_id(matching(&mut conn, &filter));
            for sort in [Sort::LastSeen, Sort::FirstSeen, Sort::Events] {
                for probe in [0, 100_000] {
                    let paged = page_through(&mut conn, &filter, sort, Probe::each(probe));
                    assert_eq!(paged, whole, "{text:?} {sort:?} probing {probe}");
                }
            }
            assert_eq!(whole.keys().copied().collect::<BTreeSet<_>>(), given);
        }
        // The unresolved filter, walked on the index alone on Postgres, pages the same way.
        let unresolved = QueueFilter {
            unresolved: true,
            ..QueueFilter::default()
        };
        let whole = rows_by_id(matching(&mut conn, &unresolved));
        assert_eq!(whole.len(), 6, "the unresolved senders");
        for sort in [Sort::LastSeen, Sort::FirstSeen, Sort::Events] {
            assert_eq!(
                page_through(&mut conn, &unresolved, sort, Probe::each(0)),
                whole
            );
        }
    }
}

/// The feed filter finds a rare feed's tickets through the per-ticket reporter index and tests
/// a common one ticket by ticket. Both ways must find the same tickets, with free text too.
#[actix_web::test]
async fn the_feed_filter_finds_the_same_tickets_by_index_and_row_by_row() {
    use abuse_desk::tickets::queue::{page_probing, Probe, QueueFilter, Sort};
    for db in support::backends("the_feed_filter_finds_the_same_tickets_by_index_and_row_by_row") {
        let app = spawn_app(db).await;
        seed(&app);
        let mut conn = app.conn();
        let all: Vec<_> = matching(&mut conn, &QueueFilter::default())
            .iter()
            .map(|r| r.id)
            .collect();
        for (feed, text, expected) in [
            ("aol", None, 3),
            ("AOL sc", None, 3),
            ("spamexperts/", None, 127),
            ("s", None, 130),
            ("aol", Some("offers1"), 1),
            ("aol", Some("2001:db8:5:"), 3),
            ("spamexperts", Some("tailspin"), 0),
            ("returnpath", None, 0),
            ("100%", None, 0),
        ] {
            let filter = QueueFilter {
                feed: Some(feed.to_owned()),
                text: text.map(str::to_owned),
                ..QueueFilter::default()
            };
            let mut found = |only: Option<&[_]>, probe: Probe| -> BTreeSet<i64> {
                page_probing(&mut conn, &filter, probe, Sort::LastSeen, None, 1000, only)
                    .unwrap()
                    .iter()
                    .map(|r| r.id.0)
                    .collect()
            };
            let given = found(Some(&all), Probe::each(0));
            assert_eq!(given.len(), expected, "{feed:?} {text:?}");
            // 0: common without asking the index; 1, 2: any ticket at all; 100,000: few.
            for n in [0, 1, 2, 100_000] {
                for probe in [Probe::each(n), Probe { text: 0, feed: n }] {
                    assert_eq!(found(None, probe), given, "{feed:?} {text:?} {probe:?}");
                }
            }
            for sort in [Sort::LastSeen, Sort::Events] {
                let paged = page_through(&mut conn, &filter, sort, Probe::each(100_000));
                assert_eq!(paged.keys().copied().collect::<BTreeSet<_>>(), given);
            }
        }
    }
}

/// Queue rows by ticket id, each as the JSON API shows it.
fn rows_by_id(rows: Vec<abuse_desk::tickets::queue::QueueRow>) -> BTreeMap<i64, serde_json::Value> {
    rows.into_iter()
        .map(|r| (r.id.0, serde_json::to_value(&r).unwrap()))
        .collect()
}

/// Every ticket `filter` lets through, 4 at a time in `sort` order by keyset cursors, with free
/// text and feed asking their indexes for up to `probe` tickets. Asserts that each ticket comes once and
/// that the keys descend strictly.
fn page_through(
    conn: &mut abuse_desk::db::DbConn,
    filter: &abuse_desk::tickets::queue::QueueFilter,
    sort: abuse_desk::tickets::queue::Sort,
    probe: abuse_desk::tickets::queue::Probe,
) -> BTreeMap<i64, serde_json::Value> {
    let (mut paged, mut keys, mut after) = (Vec::new(), Vec::new(), None);
    loop {
        let rows =
            abuse_desk::tickets::queue::page_probing(conn, filter, probe, sort, after, 4, None)
                .unwrap();
        let Some(last) = rows.last() else { break };
        after = Some(last.cursor(sort));
        keys.extend(rows.iter().map(|r| (r.cursor(sort).key, r.id.0)));
        paged.extend(rows);
    }
    let count = paged.len();
    let unique = rows_by_id(paged);
    assert_eq!(unique.len(), count, "{sort:?}: a ticket twice");
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "{sort:?}: {keys:?}");
    unique
}

/// The sample that tells free text how common it is: the whole desk when it is small, and a
/// fair share of it when only some tickets are drawn.
#[actix_web::test]
async fn the_text_sample_estimates_how_many_tickets_hold_a_text() {
    use abuse_desk::tickets::queue::{QueueFilter, TextSample};
    for db in support::backends("the_text_sample_estimates_how_many_tickets_hold_a_text") {
        let app = spawn_app(db).await;
        seed(&app);
        let mut conn = app.conn();
        let mut holding = |text: Option<&str>| {
            let filter = QueueFilter {
                text: text.map(str::to_owned),
                ..QueueFilter::default()
            };
            matching(&mut conn, &filter).len() as i64
        };
        let (northwind, lottery) = (holding(Some("northwind.example")), holding(Some("lottery")));
        let tickets = holding(None);
        assert_eq!(
            (northwind, lottery, tickets),
            (120, 6, 130),
            "the seeded tickets"
        );
        let mut conn = app.conn();
        let whole = TextSample::take(&mut conn, 4096).unwrap();
        assert_eq!(whole.estimate("northwind.example"), northwind);
        assert_eq!(whole.estimate("LOTTERY"), lottery, "any case");
        assert_eq!(whole.estimate("nothing like this"), 0);
        // And how many tickets a feed reported on.
        assert_eq!(whole.estimate_feed("AOL"), 3);
        assert_eq!(whole.estimate_feed("spamexperts/"), 127);
        assert_eq!(whole.estimate_feed("returnpath"), 0);
        // A third of the tickets drawn. Only ten tickets lack the text, so at least 35 of
        // the 45 drawn hold it, whichever they are: the estimate is 35 × 130 / 45 = 101 or
        // more, and at most every ticket.
        let part = TextSample::take(&mut conn, 45).unwrap();
        let estimate = part.estimate("northwind.example");
        assert!(
            (100..=tickets).contains(&estimate),
            "{estimate} of {tickets} tickets"
        );
        assert_eq!(part.estimate("nothing like this"), 0);
    }
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

/// A SQLite database has the planner's statistics without anyone running ANALYZE: a
/// connection gathers them when it opens, for every table that has none (or has changed a
/// lot), so the queue is planned knowing its indexes.
#[actix_web::test]
async fn sqlite_gathers_the_planner_statistics_itself() {
    use diesel::prelude::*;
    let app = spawn_app(support::sqlite()).await;
    seed(&app);
    let abuse_desk::db::DbConn::Sqlite(mut conn) = app.conn() else {
        unreachable!("a SQLite test database")
    };
    let indexes_with_statistics: i64 =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'tickets' AND idx IS NOT NULL)",
        ))
        .get_result(&mut conn)
        .unwrap();
    assert!(
        indexes_with_statistics >= 5,
        "the tickets' queue indexes analysed: {indexes_with_statistics}"
    );
}

/// A statement Postgres holds prepared for this connection.
#[derive(diesel::QueryableByName)]
struct Prepared {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
    /// How many times it was run.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    runs: i64,
}

/// How often a prepared statement ran on the plan Postgres keeps for it.
#[derive(diesel::QueryableByName)]
struct GenericPlans {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
}

/// On Postgres the page query is prepared once per connection, so that it is not parsed and
/// planned again on every request; a page among more tickets than are surely best fetched by
/// id is planned for them each time.
#[actix_web::test]
async fn postgres_prepares_the_page_query_once_and_plans_a_page_among_many_anew() {
    use abuse_desk::tickets::queue::{page, page_probing, Probe, QueueFilter, Sort};
    use diesel::RunQueryDsl;
    let Some(db) =
        support::postgres("postgres_prepares_the_page_query_once_and_plans_a_page_among_many_anew")
    else {
        return;
    };
    let app = spawn_app(db).await;
    seed(&app);
    let mut conn = app.conn();
    // The page statements prepared, and how often each ran.
    let runs = |conn: &mut abuse_desk::db::DbConn| -> BTreeMap<String, i64> {
        diesel::sql_query(
            "SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements",
        )
        .load::<Prepared>(conn)
        .unwrap()
        .into_iter()
        .filter(|p| p.statement.contains("\"tickets\".\"subject_kind\""))
        .map(|p| (p.statement, p.runs))
        .collect()
    };
    let prepared =
        |conn: &mut abuse_desk::db::DbConn| -> Vec<String> { runs(conn).into_keys().collect() };
    let open = QueueFilter {
        status: Some(abuse_desk::tickets::Status::Open),
        ..QueueFilter::default()
    };
    let first = page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    let again = page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        again.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(statements[0].contains("'open'") && statements[0].ends_with("LIMIT 51"));
    // Past its first five calls, Postgres runs it on the one plan it keeps instead of
    // planning each call for its values (the start of the last 24 hours).
    for _ in 0..5 {
        page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    }
    let generic: Vec<GenericPlans> = diesel::sql_query(
        "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%LIMIT 51'",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        generic.len() == 1 && generic[0].generic_plans >= 1,
        "the first page's statement runs on a kept plan"
    );

    // The next page: the cursor's values bound, so one statement serves every page.
    let after = Some(first[9].cursor(Sort::LastSeen));
    let deeper = Some(first[20].cursor(Sort::LastSeen));
    let next = page(&mut conn, &open, Sort::LastSeen, after, 5, None, None).unwrap();
    let later = page(&mut conn, &open, Sort::LastSeen, deeper, 5, None, None).unwrap();
    assert_eq!(next[0].id, first[10].id);
    assert_eq!(later[0].id, first[21].id);
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(statements.iter().any(|s| s.contains(") < ($")));

    // Unresolved tickets: the page's ids from an index first, then those rows by id, a
    // statement kept too (a page's ids are always fetched the same way).
    let unresolved = QueueFilter {
        unresolved: true,
        ..open.clone()
    };
    let rows = page(&mut conn, &unresolved, Sort::LastSeen, None, 51, None, None).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.customer_id.is_none()));
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 3, "{statements:#?}");
    assert!(statements.iter().any(|s| s.contains("= ANY($")));

    // A search the indexes answer with a few tickets: fetched by id, kept prepared too.
    let search = QueueFilter {
        text: Some("user7@".into()),
        ..open.clone()
    };
    let found = page(&mut conn, &search, Sort::LastSeen, None, 51, None, None).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].identity.as_deref(),
        Some("user7@northwind.example")
    );
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 4, "{statements:#?}");
    let before = runs(&mut conn);

    // More found tickets than are surely best fetched by id: planned for them every time.
    let many = abuse_desk::tickets::queue::FETCHED_BY_ID as u64 + 1;
    let bulk: Vec<_> = (0..many)
        .map(|n| {
            let identity = format!("bulk{n}@contoso.example");
            spec(10_000 + n, Some(&identity), &identity, "203.0.113.80")
        })
        .collect();
    app.ingest(&bulk);
    let contoso = QueueFilter {
        text: Some("contoso".into()),
        ..open.clone()
    };
    let rows = page_probing(
        &mut conn,
        &contoso,
        Probe::each(100_000),
        Sort::LastSeen,
        None,
        51,
        None,
    )
    .unwrap();
    assert_eq!(rows.len(), 51);
    assert!(rows.iter().all(|r| r
        .identity
        .as_deref()
        .is_some_and(|i| i.ends_with("@contoso.example"))));
    // Not one prepared statement ran for it: the page went as a statement of its own.
    assert_eq!(runs(&mut conn), before);
}
