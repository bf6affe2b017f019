//! The dashboard's figures: reports per day by feed and class, open tickets by severity, the
//! identities reported most this week, and how long it takes from a ticket's first report to
//! a lock. Each is one grouped query over an indexed range (`events_arrival`,
//! `tickets_status_events`, `actions_due`).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{actions, events, tickets};
use super::DbConn;

/// Events per day, feed and class: the one statement the backends spell differently (the
/// day of a timestamp). A range scan of `events_arrival`.
const PER_DAY_SQLITE: &str = "SELECT date(arrival_at) AS day, reporter AS feed, \
    feedback_type AS class, count(*) AS events FROM events WHERE arrival_at >= ? \
    GROUP BY 1, 2, 3";
const PER_DAY_PG: &str = "SELECT to_char(arrival_at, 'YYYY-MM-DD') AS day, reporter AS feed, \
    feedback_type AS class, count(*) AS events FROM events WHERE arrival_at >= $1 \
    GROUP BY 1, 2, 3";

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    day: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    feed: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    class: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    events: i64,
}

/// Reports of one day from one feed (reporter) of one class (feedback type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub feed: String,
    pub class: String,
    pub events: i64,
}

/// Events per day (UTC), feed and class since `from`, oldest day first.
pub fn per_day(conn: &mut DbConn, from: NaiveDateTime) -> QueryResult<Vec<DayCount>> {
    use diesel::sql_types::Timestamp;
    let rows: Vec<DayRow> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(PER_DAY_SQLITE)
            .bind::<Timestamp, _>(from)
            .load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(PER_DAY_PG)
            .bind::<Timestamp, _>(from)
            .load(c)?,
    };
    let mut out: Vec<DayCount> = rows
        .into_iter()
        .filter_map(|r| {
            Some(DayCount {
                day: NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").ok()?,
                feed: r.feed,
                class: r.class,
                events: r.events,
            })
        })
        .collect();
    out.sort_by(|a, b| (a.day, &a.feed, &a.class).cmp(&(b.day, &b.feed, &b.class)));
    Ok(out)
}

/// Open tickets by severity, as (severity, count).
pub fn open_by_severity(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    tickets::table
        .filter(tickets::status.eq("open"))
        .group_by(tickets::severity)
        .select((tickets::severity, diesel::dsl::count_star()))
        .load(conn)
}

/// The `limit` identities with the most events since `from`, most first.
pub fn top_identities(
    conn: &mut DbConn,
    from: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(String, i64)>> {
    let count = diesel::dsl::count_star();
    let rows: Vec<(Option<String>, i64)> = events::table
        .filter(events::arrival_at.ge(from))
        .filter(events::identity.is_not_null())
        .group_by(events::identity)
        .select((events::identity, count))
        .order((count.desc(), events::identity))
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(identity, n)| identity.map(|i| (i, n)))
        .collect())
}

/// The median time from a ticket's first report to a lock carried out for it, over the locks
/// completed since `from` (identity and outgoing-user locks and account suspensions, done by
/// an upstream or by hand), and how many locks that was.
pub fn median_time_to_lock(
    conn: &mut DbConn,
    from: NaiveDateTime,
) -> QueryResult<(Option<chrono::Duration>, usize)> {
    let rows: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = actions::table
        .inner_join(tickets::table)
        .filter(actions::kind.eq_any(["lock_identity", "lock_outgoing_user", "suspend_account"]))
        .filter(actions::state.eq("succeeded"))
        .filter(actions::completed_at.ge(from))
        .select((tickets::first_seen, actions::completed_at))
        .load(conn)?;
    let mut spans: Vec<chrono::Duration> = rows
        .into_iter()
        .filter_map(|(first, done)| done.map(|d| (d - first).max(chrono::Duration::zero())))
        .collect();
    spans.sort();
    let n = spans.len();
    let median = match n {
        0 => None,
        _ if n % 2 == 1 => Some(spans[n / 2]),
        _ => Some((spans[n / 2 - 1] + spans[n / 2]) / 2),
    };
    Ok((median, n))
}
