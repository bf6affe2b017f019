//! The page query: one page of tickets matching a filter, in a sort order, after a cursor,
//! with its rows' customers and assignees read by id afterwards.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamp};

use super::conditions::{conditions, Matching};
use super::sample::{highest_ticket_id, probe_limit, TextSample};
use super::search::{conn_is_sqlite, feed_candidates, reporters_named, Search};
use super::{Cursor, QueueFilter, QueueRow, Sort, RECENT};
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::plans::{Limited, OneOf, Unestimated};
use crate::db::schema::{customers, events, tickets, users};
use crate::db::DbConn;
use crate::tickets::{Class, Severity, Status, SubjectKind};

/// One page of tickets matching `filter`, in `sort` order, after `after`. With `only`, the
/// page is restricted to those ticket ids (the caller then orders them itself and supplies
/// their 24-hour counts). With a `sample` of the tickets' text, free text that the sample
/// shows to be common goes straight to the walk in sort order, without first asking the
/// indexes for its matches.
pub fn page(
    conn: &mut DbConn,
    filter: &QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    limit: i64,
    only: Option<&[TicketId]>,
    sample: Option<&TextSample>,
) -> QueryResult<Vec<QueueRow>> {
    let mut probe = Probe::each(0);
    if only.is_none() && (filter.text.is_some() || filter.feed.is_some()) {
        // The sample's highest ticket id saves a query; minutes old at most, it only steers
        // how the page is found, never what it holds.
        let highest = match sample {
            Some(sample) => sample.highest,
            None => highest_ticket_id(conn)?,
        };
        let limit = probe_limit(limit, highest);
        // 0 asks no index: the text or feed is common.
        probe.text = match (filter.text.as_deref(), sample) {
            (Some(text), Some(sample)) if sample.estimate(text) >= limit => 0,
            _ => limit,
        };
        probe.feed = match (filter.feed.as_deref(), sample) {
            (Some(feed), Some(sample)) if sample.estimate_feed(feed) >= limit => 0,
            _ => limit,
        };
    }
    page_probing(conn, filter, probe, sort, after, limit, only)
}

/// How many tickets the indexes of free text and of the feed filter are asked for at most
/// (see [`page_probing`]).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub text: i64,
    pub feed: i64,
}

impl Probe {
    /// The same number for both.
    pub fn each(n: i64) -> Self {
        Self { text: n, feed: n }
    }
}

/// [`page`], with free text and the feed filter each asking their indexes for at most as many
/// tickets as `probe` says: fewer, and the page is taken from those; as many, and the text or
/// feed is common enough that walking the sort order and testing row by row fills the page
/// sooner than fetching and sorting every match. A probe of 0 takes it as common without
/// asking.
pub fn page_probing(
    conn: &mut DbConn,
    filter: &QueueFilter,
    probe: Probe,
    sort: Sort,
    after: Option<Cursor>,
    limit: i64,
    only: Option<&[TicketId]>,
) -> QueryResult<Vec<QueueRow>> {
    let search = match filter.text.as_deref() {
        Some(text) => Some(Search::new(conn, text)?),
        None => None,
    };
    let reporters = match filter.feed.as_deref() {
        Some(feed) => Some(reporters_named(conn, feed)?),
        None => None,
    };
    if reporters.as_ref().is_some_and(Vec::is_empty) {
        // No reporter's name holds the feed's.
        return Ok(Vec::new());
    }
    // What the indexes find where they find few tickets (a few given tickets are tested).
    let (by_text, by_feed) = match only {
        Some(_) => (None, None),
        None => (
            match &search {
                Some(search) => search.candidates(conn, probe.text)?,
                None => None,
            },
            match &reporters {
                Some(reporters) => feed_candidates(conn, reporters, probe.feed)?,
                None => None,
            },
        ),
    };
    let among: Option<Vec<TicketId>> = match (by_text.as_deref(), by_feed.as_deref()) {
        (Some(text), Some(feed)) => {
            let feed: std::collections::HashSet<&TicketId> = feed.iter().collect();
            Some(
                text.iter()
                    .filter(|id| feed.contains(id))
                    .copied()
                    .collect(),
            )
        }
        (Some(ids), None) | (None, Some(ids)) => Some(ids.to_vec()),
        (None, None) => None,
    };
    if among.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let matching = Matching {
        among: among.as_deref(),
        // Common text or feed, or a few given tickets: testing each is cheaper than any index.
        text: search.as_ref().filter(|_| by_text.is_none()),
        reporters: reporters.as_deref().filter(|_| by_feed.is_none()),
    };
    load(conn, filter, sort, after, only, matching, limit)
}

/// Runs the page query: `filter` with free text and the feed filter as `matching` says, in
/// `sort` order after `after`, at most `limit` rows.
fn load(
    conn: &mut DbConn,
    filter: &QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    only: Option<&[TicketId]>,
    matching: Matching<'_>,
    limit: i64,
) -> QueryResult<Vec<QueueRow>> {
    let sqlite = conn_is_sqlite(conn);
    // The 24-hour ranking's cursor counts events; the ranking is walked by the caller.
    let after = after.filter(|_| sort != Sort::Events24h);
    if !sqlite && only.is_none() && ids_first(filter, sort, matching) {
        // Postgres: the page's ids first, from an index alone; then those few rows whole.
        let mut ids = in_order(tickets::table.select(tickets::id).into_boxed(), sort);
        for condition in conditions(filter, sort, after, matching, sqlite) {
            ids = ids.filter(condition);
        }
        let ids: Vec<TicketId> = Limited::new(ids, limit).load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let page = QueueFilter::default();
        let matching = Matching {
            among: Some(&ids),
            ..Matching::default()
        };
        return load(conn, &page, sort, None, None, matching, limit);
    }
    // The 24-hour count is a subquery of the page query: run for the rows returned only,
    // without a second statement. Tickets fetched by id come from the 24-hour ranking, which
    // has their counts: for them the subquery is not run at all (0).
    let recent = diesel::dsl::case_when(
        only.is_none().into_sql::<Bool>(),
        events::table
            .filter(events::ticket_id.eq(tickets::id))
            .filter(events::arrival_at.ge(Unestimated(
                (crate::db::now() - RECENT).into_sql::<Timestamp>(),
            )))
            .count()
            .single_value()
            .assume_not_null(),
    )
    .otherwise(0i64.into_sql::<diesel::sql_types::BigInt>());
    // The tickets alone: their customers and assignees are read by id afterwards. Joined
    // here, they cost Postgres more to plan and to run than the page's own rows did.
    let mut query = tickets::table
        .select((
            tickets::id,
            tickets::customer_id,
            tickets::assignee_id,
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::event_count,
            tickets::first_seen,
            tickets::last_seen,
            tickets::identity,
            tickets::outgoing_user,
            tickets::last_source_ip,
            tickets::customer_replied_at,
            recent,
        ))
        .into_boxed();
    for condition in conditions(filter, sort, after, matching, sqlite) {
        query = query.filter(condition);
    }
    let rows: Vec<TicketColumns> = match only {
        // The caller orders these itself; an ORDER BY would tempt the planner to walk a sort
        // index past every other ticket instead of fetching the few ids.
        Some(ids) => {
            Limited::new(query.filter(tickets::id.eq_any(ids.to_vec())), limit).load(conn)?
        }
        None => Limited::new(in_order(query, sort), limit).load(conn)?,
    };
    named(conn, rows)
}

/// A queue row as the tickets table holds it: its customer and assignee by id.
#[derive(Queryable)]
struct TicketColumns {
    id: TicketId,
    customer_id: Option<CustomerId>,
    assignee_id: Option<UserId>,
    subject_kind: SubjectKind,
    subject: String,
    class: Class,
    severity: Severity,
    status: Status,
    event_count: i64,
    first_seen: NaiveDateTime,
    last_seen: NaiveDateTime,
    identity: Option<String>,
    outgoing_user: Option<String>,
    last_source_ip: Option<String>,
    customer_replied_at: Option<NaiveDateTime>,
    events_24h: i64,
}

/// The page's rows with their customers' and assignees' names, each read by id in one query
/// (none where no row has a customer, or an assignee).
fn named(conn: &mut DbConn, rows: Vec<TicketColumns>) -> QueryResult<Vec<QueueRow>> {
    let mut wanted: Vec<CustomerId> = rows.iter().filter_map(|r| r.customer_id).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let customers: HashMap<CustomerId, (String, String)> = if wanted.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<i64> = wanted.iter().map(|c| c.0).collect();
        customers::table
            .filter(OneOf::new(
                customers::id,
                customers::id.eq_any(&wanted),
                &ids,
            ))
            .select((customers::id, customers::external_id, customers::name))
            .load::<(CustomerId, String, String)>(conn)?
            .into_iter()
            .map(|(id, external_id, name)| (id, (external_id, name)))
            .collect()
    };
    let mut wanted: Vec<UserId> = rows.iter().filter_map(|r| r.assignee_id).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let assignees: HashMap<UserId, String> = if wanted.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<i64> = wanted.iter().map(|u| u.0).collect();
        users::table
            .filter(OneOf::new(users::id, users::id.eq_any(&wanted), &ids))
            .select((users::id, users::username))
            .load::<(UserId, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let customer = r.customer_id.and_then(|id| customers.get(&id));
            QueueRow {
                id: r.id,
                customer_id: r.customer_id,
                customer_external_id: customer.map(|c| c.0.clone()),
                customer_name: customer.map(|c| c.1.clone()),
                subject_kind: r.subject_kind,
                subject: r.subject,
                class: r.class,
                severity: r.severity,
                status: r.status,
                event_count: r.event_count,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                identity: r.identity,
                outgoing_user: r.outgoing_user,
                last_source_ip: r.last_source_ip,
                customer_replied_at: r.customer_replied_at,
                assignee: r.assignee_id.and_then(|id| assignees.get(&id).cloned()),
                events_24h: r.events_24h,
            }
        })
        .collect())
}

/// Postgres: whether a page is found faster in two steps — the ids of its rows by a query
/// that reads an index alone, then those rows whole — than by one query, which reads a
/// table page for every row it tests. That is where the query tests many rows for a page:
/// a common free text, or the unresolved filter, walking the last-seen order. The walk tests
/// each row on the index entry alone: the last-seen indexes hold the searchable text and the
/// customer (see the `queue_text_in_index` migration).
fn ids_first(filter: &QueueFilter, sort: Sort, matching: Matching<'_>) -> bool {
    matching.text.is_some() || (filter.unresolved && sort == Sort::LastSeen)
}

/// `query` in `sort` order, newest (or most) first, ties broken by id.
fn in_order<'a, ST: 'a>(
    query: tickets::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend, ST>,
    sort: Sort,
) -> tickets::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend, ST> {
    match sort {
        Sort::LastSeen | Sort::Events24h => {
            query.order((tickets::last_seen.desc(), tickets::id.desc()))
        }
        Sort::FirstSeen => query.order((tickets::first_seen.desc(), tickets::id.desc())),
        Sort::Events => query.order((tickets::event_count.desc(), tickets::id.desc())),
    }
}
