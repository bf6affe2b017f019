//! Free text and the feed filter find the same tickets through their indexes as row by row, page by
//! page in every sort order, and the sample that tells free text how common it is.

use std::collections::{BTreeMap, BTreeSet};

use crate::support;
use crate::web::{spawn_app, spec};
use crate::web_queue::seed;

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
