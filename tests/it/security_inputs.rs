//! SQL metacharacters in every filter and search field: every GET parameter of the queue, its
//! API, the log search, the Outgoing Reports, the customers list, the actions list and the
//! ticket page, given quotes, comments, LIKE and GLOB wildcards, backslashes, odd Unicode,
//! very long text and numbers out of range. Each answers its page or a short refusal, never
//! an error of ours; shows no more rows than an honest filter would; and the tables are as
//! they were afterwards.

use abuse_desk::db::schema::{customers, events, raw_messages, tickets, users};
use abuse_desk::db::DbConn;
use diesel::prelude::*;

use crate::support;
use crate::web::{spawn_app, spec, Client, TestApp};
use abuse_desk::demo::Feed;

/// Values an attacker (or a careless paste) puts into a field. None of them is in the seeded
/// data except `%` and `_`, which one identity holds.
fn hostile() -> Vec<String> {
    let mut values: Vec<String> = [
        "' OR 1=1 --",
        "' OR '1'='1",
        "\"; DROP TABLE tickets; --",
        "'); DELETE FROM events; --",
        "1' UNION SELECT id, username FROM users --",
        "%",
        "_",
        "\\",
        "\\'",
        "%' OR '%'='",
        "*",
        "?",
        "[a-z]*",
        "\"",
        "\"\"\"",
        "NEAR(a b)",
        "İSTANBUL ﬃ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{202e}lru\u{200b} 😀 e\u{301} \u{fffd}",
        "ꙮ\u{feff}\u{2028}",
        // A NUL is refused (400) before any handler: Postgres cannot hold one in text.
        "a\0b",
    ]
    .map(str::to_owned)
    .to_vec();
    values.push("' OR 1=1 -- ".repeat(200));
    values.push("ü%_".repeat(700));
    values
}

/// Numbers where a field may expect one, none of them sensible.
const NUMBERS: &[&str] = &[
    "1e999",
    "-1",
    "0",
    "-9223372036854775808",
    "9223372036854775808",
    "NaN",
    "-0_-1",
    "9223372036854775807_9223372036854775807",
    "-9223372036854775808_-9223372036854775808",
    "-8000000000000000000_1",
    "8000000000000000000_1",
    "1e999_1",
    "+262142-12-31",
    "-5000-01-01",
    "99999-12-31T23:59",
];

/// Whole queries whose values are each fine alone but reach past the times stored. Years 1
/// to 9999 are dates, others are not; a cursor past them finds what one at their edge would.
const ANSWERED: &[&str] = &[
    "/reports/outgoing?period=custom&from=9999-12-31&to=9999-12-31",
    "/reports/outgoing?period=custom&from=0001-01-01&to=0001-01-01",
    "/events?from=0001-01-01&to=9999-12-31T23:59",
    "/events?before=-8000000000000000000_1",
    "/events?before=8000000000000000000_9223372036854775807",
    "/tickets?status=all&after=-8000000000000000000_1",
    "/tickets?status=all&sort=first_seen&after=8000000000000000000_1",
    "/tickets?status=all&after=-9223372036854775808_-9223372036854775808",
];
const REFUSED: &[&str] = &[
    "/reports/outgoing?period=custom&from=%2B262142-12-31&to=%2B262142-12-31",
    "/reports/outgoing?period=custom&from=%2B10000-01-01&to=%2B10000-01-01",
    "/reports/outgoing?period=custom&from=-5000-01-01&to=-5000-01-01",
    "/reports/outgoing?period=custom&from=0000-12-31&to=0001-01-01",
    "/events?from=-5000-01-01",
    "/events?to=-5000-01-01T00:00",
    "/events?from=%2B262142-12-31",
];

/// A page's GET parameters: the page, what is sent along, its free-text parameters (a
/// hostile value finds only what holds it literally) and its others (choices, flags, cursors
/// and dates: they may narrow the page, never widen it).
type Params = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Every GET parameter.
const FIELDS: &[Params] = &[
    ("/tickets", "", &[], &["status"]),
    (
        "/tickets",
        "status=all",
        &["class", "customer", "assignee", "feed", "q"],
        &["severity", "unresolved", "replied", "sort", "after"],
    ),
    ("/tickets", "status=all&sort=events", &[], &["after"]),
    ("/tickets", "status=all&sort=first_seen", &[], &["after"]),
    ("/tickets", "status=all&sort=events_24h", &[], &["after"]),
    ("/tickets", "status=all&q=northwind", &[], &["after"]),
    ("/api/v1/tickets", "status=all", &["q", "feed"], &["after"]),
    (
        "/events",
        "",
        &[
            "feed",
            "feedback_type",
            "identity",
            "sender",
            "source_ip",
            "customer",
        ],
        &["from", "to", "before"],
    ),
    ("/reports/outgoing", "", &["class"], &["group", "period"]),
    (
        "/reports/outgoing",
        "period=custom&to=2026-12-31",
        &[],
        &["from"],
    ),
    (
        "/reports/outgoing",
        "period=custom&from=2026-01-01",
        &[],
        &["to"],
    ),
    ("/customers", "", &["q"], &["done"]),
    ("/actions", "", &[], &["state"]),
    ("/notifications", "", &[], &["q"]),
];

/// The identity that holds LIKE's wildcards.
const WILD: &str = "promo_100%@fabrikam.example";

/// Nine tickets: six identities of a customer, one identity holding `%` and `_`, an
/// unresolved sender and an AOL complaint.
fn seed(app: &TestApp) {
    let mut specs: Vec<_> = (0..6)
        .map(|n| {
            spec(
                n + 1,
                Some(&format!("user{n}@northwind.example")),
                "newsletter@northwind.example",
                "198.51.100.20",
            )
        })
        .collect();
    specs.push(spec(7, Some(WILD), WILD, "198.18.7.9"));
    specs.push(spec(8, None, "spam@lottery-claims.test", "192.0.2.200"));
    let mut aol = spec(9, None, "offers@tailspin.example", "2001:db8:5::25");
    aol.feed = Feed::Aol;
    specs.push(aol);
    app.ingest(&specs);
}

/// The rows of every table a filter reads, to see that none was touched.
fn table_counts(conn: &mut DbConn) -> [i64; 5] {
    [
        tickets::table.count().get_result(conn).unwrap(),
        events::table.count().get_result(conn).unwrap(),
        customers::table.count().get_result(conn).unwrap(),
        users::table.count().get_result(conn).unwrap(),
        raw_messages::table.count().get_result(conn).unwrap(),
    ]
}

/// The rows a page shows: tickets, log lines, report groups, customers or a ticket's events.
fn rows(path: &str, body: &str) -> usize {
    match path {
        "/tickets" => crate::web_queue::ids(body).len(),
        "/api/v1/tickets" => {
            let page: serde_json::Value = serde_json::from_str(body).unwrap();
            page["items"].as_array().unwrap().len()
        }
        "/events" => body
            .matches("<td class=\"time\"><a href=\"/tickets/")
            .count(),
        "/reports/outgoing" => body.matches(">tickets</a></td>").count(),
        "/customers" => body.matches("<tr><td><a href=\"/customers/").count(),
        p if p.starts_with("/tickets/") => body.matches(">evidence</a>").count(),
        _ => 0,
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// GETs `path?query` and insists on a page or a short refusal: never our error, never a
/// database's words. The rows shown, when it is a page.
async fn rows_of(client: &Client, backend: &str, path: &str, query: &str) -> Option<usize> {
    let url = format!("{path}?{query}");
    let res = client.get(&url).await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    let shown: String = body.chars().take(300).collect();
    assert!(
        matches!(status, 200 | 400),
        "{backend}: GET {url} answered {status}: {shown}"
    );
    let lower = body.to_lowercase();
    for leak in [
        "something went wrong",
        "syntax error",
        "unrecognized token",
        "unterminated",
        "database",
        "diesel",
    ] {
        assert!(
            !lower.contains(leak),
            "{backend}: GET {url} shows {leak:?}: {shown}"
        );
    }
    (status == 200).then(|| rows(path, &body))
}

fn joined(base: &str, param: &str, value: &str) -> String {
    let pair = format!("{param}={}", encode(value));
    if base.is_empty() {
        pair
    } else {
        format!("{base}&{pair}")
    }
}

#[actix_web::test]
async fn sql_metacharacters_in_every_filter_and_search_field() {
    for db in support::backends("sql_metacharacters_in_every_filter_and_search_field") {
        let backend = db.backend;
        let app = spawn_app(db).await;
        seed(&app);
        let before = table_counts(&mut app.conn());
        assert_eq!(before[0], 9, "{backend}: the seeded tickets");
        let agent = app.login("agent").await;
        let hostile = hostile();
        for &(path, base, text, other) in FIELDS {
            // What the page shows without the parameter (a custom period needs both days:
            // the report's last 30 days hold every event): no value of it may show more.
            let unfiltered = if base.starts_with("period=custom") {
                "period=30d"
            } else {
                base
            };
            let all = rows_of(&agent, backend, path, unfiltered).await.unwrap();
            let params = text.iter().map(|p| (*p, true));
            for (param, is_text) in params.chain(other.iter().map(|p| (*p, false))) {
                for value in &hostile {
                    let query = joined(base, param, value);
                    let Some(found) = rows_of(&agent, backend, path, &query).await else {
                        continue;
                    };
                    // Free text finds what holds it literally: only the queue's search looks
                    // inside identities, and only one holds `%` or `_`.
                    let literal = usize::from(
                        param == "q" && path != "/customers" && (value == "%" || value == "_"),
                    );
                    let most = if is_text { literal } else { all };
                    assert!(
                        found <= most,
                        "{backend}: {path}?{query} shows {found} rows, at most {most} match"
                    );
                }
                for value in NUMBERS {
                    let query = joined(base, param, value);
                    if let Some(found) = rows_of(&agent, backend, path, &query).await {
                        assert!(
                            found <= all,
                            "{backend}: {path}?{query} shows {found} of {all} rows"
                        );
                    }
                }
            }
        }
        for (urls, answered) in [(ANSWERED, true), (REFUSED, false)] {
            for url in urls {
                let (path, query) = url.split_once('?').unwrap();
                let found = rows_of(&agent, backend, path, query).await;
                assert_eq!(found.is_some(), answered, "{backend}: {url}");
            }
        }
        // A refusal says what was wrong.
        let res = agent.get("/tickets?sort=%27+OR+1%3D1+--").await;
        assert_eq!(res.status(), 400, "{backend}");
        assert!(
            res.text().await.unwrap().contains("unknown sort"),
            "{backend}"
        );
        // The ticket page's timeline cursor, its event and its "show".
        let id: i64 = tickets::table
            .select(tickets::id)
            .filter(tickets::subject.eq(WILD))
            .first(&mut app.conn())
            .unwrap();
        let path = format!("/tickets/{id}");
        let all = rows_of(&agent, backend, &path, "").await.unwrap();
        for param in ["before", "event", "show"] {
            for value in hostile
                .iter()
                .map(String::as_str)
                .chain(NUMBERS.iter().copied())
            {
                let query = joined("", param, value);
                if let Some(found) = rows_of(&agent, backend, &path, &query).await {
                    assert!(found <= all, "{backend}: {path}?{query} shows {found}");
                }
            }
        }
        // A ticket number that is not one is no ticket.
        for value in ["' OR 1=1 --", "1 OR 1=1", "1e999", "-9223372036854775809"] {
            let res = agent.get(&format!("/tickets/{}", encode(value))).await;
            assert_eq!(res.status(), 404, "{backend}: /tickets/{value}");
        }
        assert_eq!(
            table_counts(&mut app.conn()),
            before,
            "{backend}: tables intact"
        );
        // And the queue still finds what it should.
        let html = agent.text("/tickets?status=all&q=user1%40").await;
        assert_eq!(crate::web_queue::ids(&html).len(), 1, "{backend}");
        assert_eq!(
            crate::web_queue::ids(&agent.text("/tickets?status=all").await).len(),
            9,
            "{backend}"
        );
    }
}

/// `%` and `_` in a search are the characters, not LIKE's wildcards; `*`, `?` and `[` not
/// GLOB's; a quote is a quote.
#[actix_web::test]
async fn wildcards_in_a_search_are_taken_literally() {
    for db in support::backends("wildcards_in_a_search_are_taken_literally") {
        let backend = db.backend;
        let app = spawn_app(db).await;
        seed(&app);
        let agent = app.login("viewer").await;
        let wild: i64 = tickets::table
            .select(tickets::id)
            .filter(tickets::subject.eq(WILD))
            .first(&mut app.conn())
            .unwrap();
        for (q, expected) in [
            ("%", vec![wild]),
            ("_", vec![wild]),
            ("100%", vec![wild]),
            ("o_1", vec![wild]),
            ("%@", vec![wild]),
            ("%%", vec![]),
            ("user_", vec![]),
            ("\\", vec![]),
            ("'", vec![]),
            ("\"", vec![]),
            ("198.51.100.2*", vec![]),
            ("198.51.100.?", vec![]),
            ("198.51.[1]", vec![]),
            ("user%northwind", vec![]),
        ] {
            let html = agent
                .text(&format!("/tickets?status=all&q={}", encode(q)))
                .await;
            assert_eq!(crate::web_queue::ids(&html), expected, "{backend}: q={q:?}");
            if expected.is_empty() {
                assert!(
                    html.contains("No tickets"),
                    "{backend}: q={q:?} says nothing matched"
                );
            }
        }
        // The log search and the customers list: the same characters, literally.
        let html = agent
            .text(&format!("/events?identity={}", encode(WILD)))
            .await;
        assert_eq!(rows("/events", &html), 1, "{backend}: the identity itself");
        for (param, value) in [
            ("identity", "promo%"),
            ("identity", "promo_100_@fabrikam.example"),
            ("feed", "%"),
            ("source_ip", "%"),
            ("source_ip", "_98.51.100.20"),
            ("sender", "%"),
        ] {
            let html = agent
                .text(&format!("/events?{param}={}", encode(value)))
                .await;
            assert_eq!(rows("/events", &html), 0, "{backend}: {param}={value:?}");
            assert!(html.contains("No events match."), "{backend}");
        }
        let html = agent.text("/customers?q=%25").await;
        assert!(html.contains("No customers."), "{backend}");
    }
}
