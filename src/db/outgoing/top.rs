//! Reading the counts: the biggest groups of a period, and its events per day.
//!
//! Summing a month of group-days on every view is hundreds of thousands of rows on a big
//! desk. So a period's totals by key are made once, the first time the period is shown
//! (`outgoing_periods`, `outgoing_period_totals`), and from then on kept by the transactions
//! that keep the counts ([`add`]): a view reads the biggest of them in order, exact and
//! fresh. Housekeeping drops the totals of periods that have ended ([`drop_ended`]) and makes
//! the standard ones of the new day ([`super::prepare_standard`]), so the day's first view of
//! the page does not pay for them.
//!
//! On Postgres, a transaction adding to the counts holds `outgoing_periods` in SHARE mode
//! from the moment it looks up the periods it must add to, and the one making a period
//! holds it in SHARE ROW EXCLUSIVE mode: a period is made from counts no writer is still
//! adding to without also adding to the period. (SQLite has one writer at a time.)

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use super::counts::Kind;
use crate::db::schema::{
    outgoing_counts as oc, outgoing_period_totals as pt, outgoing_periods as op,
};
use crate::db::DbConn;

/// The `limit` biggest groups of `kind` over days `first..=last` (day numbers), of `class`
/// ('' for all), most first, each `(key, events)`.
pub fn biggest(
    conn: &mut DbConn,
    kind: Kind,
    class: &str,
    (first, last): (i32, i32),
    limit: usize,
) -> QueryResult<Vec<(String, i64)>> {
    let made: i64 = op::table
        .filter(op::first_day.eq(first))
        .filter(op::last_day.eq(last))
        .filter(op::kind.eq(kind.as_str()))
        .filter(op::class.eq(class))
        .count()
        .get_result(conn)?;
    if made == 0 {
        prepare(conn, kind, class, (first, last))?;
    }
    pt::table
        .filter(pt::first_day.eq(first))
        .filter(pt::last_day.eq(last))
        .filter(pt::kind.eq(kind.as_str()))
        .filter(pt::class.eq(class))
        .order(pt::events.desc())
        .select((pt::key, pt::events))
        .limit(limit as i64)
        .load(conn)
}

/// Makes the totals of a period of `kind` and `class` unless they are made already; returns
/// whether this call made them. Housekeeping makes the standard periods of a new day this way,
/// before the first view would.
pub(super) fn prepare(
    conn: &mut DbConn,
    kind: Kind,
    class: &str,
    days: (i32, i32),
) -> QueryResult<bool> {
    crate::db::write(conn, |conn| make(conn, kind, class, days))
}

/// Makes a period's totals from the counts, unless another view made them meanwhile; returns
/// whether this call made them.
fn make(
    conn: &mut DbConn,
    kind: Kind,
    class: &str,
    (first, last): (i32, i32),
) -> QueryResult<bool> {
    if let DbConn::Postgres(pg) = conn {
        pg.batch_execute("LOCK TABLE outgoing_periods IN SHARE ROW EXCLUSIVE MODE")?;
    }
    let new = crate::dispatch!(conn, c => diesel::insert_into(op::table)
        .values((
            op::first_day.eq(first),
            op::last_day.eq(last),
            op::kind.eq(kind.as_str()),
            op::class.eq(class),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if new == 0 {
        return Ok(false);
    }
    diesel::sql_query(
        "INSERT INTO outgoing_period_totals (first_day, last_day, kind, class, key, events) \
         SELECT $1, $2, kind, class, key, SUM(events) FROM outgoing_counts \
         WHERE kind = $3 AND class = $4 AND day BETWEEN $1 AND $2 \
         GROUP BY kind, class, key",
    )
    .bind::<Integer, _>(first)
    .bind::<Integer, _>(last)
    .bind::<Text, _>(kind.as_str())
    .bind::<Text, _>(class)
    .execute(conn)?;
    Ok(true)
}

/// Adds counts (rows of kind, class, key, day, events) to the totals of every period made
/// that holds their day; the caller's transaction adds them to the counts too. Each period
/// made adds a statement's work per key to every import transaction (a live desk has at
/// least the nine standard ones), so on Postgres they go in one statement per 10,000 keys.
pub(super) fn add(conn: &mut DbConn, rows: &[(&str, &str, &str, i32, i64)]) -> QueryResult<()> {
    let (Some(min), Some(max)) = (
        rows.iter().map(|r| r.3).min(),
        rows.iter().map(|r| r.3).max(),
    ) else {
        return Ok(());
    };
    if let DbConn::Postgres(pg) = conn {
        pg.batch_execute("LOCK TABLE outgoing_periods IN SHARE MODE")?;
    }
    let periods: Vec<(i32, i32, String, String)> = op::table
        .filter(op::first_day.le(max))
        .filter(op::last_day.ge(min))
        .select((op::first_day, op::last_day, op::kind, op::class))
        .load(conn)?;
    if periods.is_empty() {
        return Ok(());
    }
    // Each count row meets only the periods of its own grouping and class.
    let mut periods_of: HashMap<(&str, &str), Vec<(i32, i32)>> = HashMap::new();
    for (first, last, kind, class) in &periods {
        periods_of
            .entry((kind.as_str(), class.as_str()))
            .or_default()
            .push((*first, *last));
    }
    let mut totals: HashMap<(i32, i32, &str, &str, &str), i64> = HashMap::new();
    for &(kind, class, key, day, n) in rows {
        for &(first, last) in periods_of.get(&(kind, class)).into_iter().flatten() {
            if (first..=last).contains(&day) {
                *totals.entry((first, last, kind, class, key)).or_default() += n;
            }
        }
    }
    let mut totals: Vec<_> = totals.into_iter().filter(|(_, n)| *n != 0).collect();
    // In one order, so that concurrent writers on Postgres lock the rows in one order.
    totals.sort_unstable();
    match conn {
        DbConn::Postgres(pg) => {
            use diesel::sql_types::{Array, BigInt};
            for chunk in totals.chunks(10_000) {
                diesel::sql_query(ADD_TOTALS_PG)
                    .bind::<Array<Integer>, _>(chunk.iter().map(|t| t.0 .0).collect::<Vec<_>>())
                    .bind::<Array<Integer>, _>(chunk.iter().map(|t| t.0 .1).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(chunk.iter().map(|t| t.0 .2).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(chunk.iter().map(|t| t.0 .3).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(chunk.iter().map(|t| t.0 .4).collect::<Vec<_>>())
                    .bind::<Array<BigInt>, _>(chunk.iter().map(|t| t.1).collect::<Vec<_>>())
                    .execute(pg)?;
            }
        }
        // In-process, a statement per row, prepared once per connection.
        DbConn::Sqlite(c) => {
            for &((first_day, last_day, kind, class, key), events) in &totals {
                super::statements::AddPeriodTotal {
                    first_day,
                    last_day,
                    kind,
                    class,
                    key,
                    events,
                }
                .execute(c)?;
            }
        }
    }
    for ((first, last, kind, class, key), _) in totals.iter().filter(|(_, n)| *n < 0) {
        diesel::delete(
            pt::table
                .filter(pt::first_day.eq(first))
                .filter(pt::last_day.eq(last))
                .filter(pt::kind.eq(kind))
                .filter(pt::class.eq(class))
                .filter(pt::key.eq(key))
                .filter(pt::events.le(0)),
        )
        .execute(conn)?;
    }
    Ok(())
}

const ADD_TOTALS_PG: &str = "INSERT INTO outgoing_period_totals \
    (first_day, last_day, kind, class, key, events) \
    SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
    ON CONFLICT (first_day, last_day, kind, class, key) \
    DO UPDATE SET events = outgoing_period_totals.events + excluded.events";

/// Drops the totals of periods that ended before `day`, in the caller's transaction; returns
/// how many periods.
pub fn drop_ended(conn: &mut DbConn, day: i32) -> QueryResult<usize> {
    // Writers first, then the totals: a writer adding a late report to an ended period would
    // otherwise wait on a row this holds while this waits on the writer's lock.
    if let DbConn::Postgres(pg) = conn {
        pg.batch_execute("LOCK TABLE outgoing_periods IN SHARE ROW EXCLUSIVE MODE")?;
    }
    diesel::delete(pt::table.filter(pt::last_day.lt(day))).execute(conn)?;
    diesel::delete(op::table.filter(op::last_day.lt(day))).execute(conn)
}

/// Events of `class` ('' for all) on each day of `first..=last` that has any, by day number.
pub fn per_day(
    conn: &mut DbConn,
    class: &str,
    (first, last): (i32, i32),
) -> QueryResult<Vec<(i32, i64)>> {
    oc::table
        .filter(oc::kind.eq(Kind::Total.as_str()))
        .filter(oc::class.eq(class))
        .filter(oc::key.eq(""))
        .filter(oc::day.between(first, last))
        .order(oc::day)
        .select((oc::day, oc::events))
        .load(conn)
}
