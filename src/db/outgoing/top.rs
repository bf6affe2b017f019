//! Reading the counts: the biggest groups of a period, and its events per day.
//!
//! A period's groups are not summed in full: a month on a big desk is hundreds of thousands
//! of group-days. Each day's groups are read in order of size, a few hundred at a time (the
//! `outgoing_counts_top` index), and every group seen is summed over the whole period (the
//! primary key). A group not yet seen can hold no more than the sum, over the days, of the
//! last count read from each day, so the reading stops once the best `limit` groups hold at
//! least that much (Fagin's threshold algorithm). The result is exact, and on a desk's usual
//! spread — the same senders on top day after day — it stops after about `limit` groups a day.

use std::collections::{HashMap, HashSet};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::counts::Kind;
use crate::db::schema::outgoing_counts as oc;
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
    // The days with any event of the class: the others have no groups to read.
    let mut days: Vec<i32> = per_day(conn, class, (first, last))?
        .into_iter()
        .map(|(day, _)| day)
        .collect();
    let mut sums: HashMap<String, i64> = HashMap::new();
    let (mut depth, mut step) = (0_i64, limit.max(1) as i64);
    while !days.is_empty() {
        // The most a group not yet seen can hold: the last count read from each day.
        let mut bound = 0;
        let mut unseen = HashSet::new();
        let mut open = Vec::with_capacity(days.len());
        for &day in &days {
            let rows: Vec<(String, i64)> = oc::table
                .filter(oc::kind.eq(kind.as_str()))
                .filter(oc::class.eq(class))
                .filter(oc::day.eq(day))
                .order(oc::events.desc())
                .select((oc::key, oc::events))
                .limit(step)
                .offset(depth)
                .load(conn)?;
            if rows.len() as i64 == step {
                bound += rows.last().map_or(0, |r| r.1);
                open.push(day);
            }
            unseen.extend(
                rows.into_iter()
                    .map(|r| r.0)
                    .filter(|k| !sums.contains_key(k)),
            );
        }
        let unseen: Vec<String> = unseen.into_iter().collect();
        sums.extend(sum_over(conn, kind, class, (first, last), &unseen)?);
        days = open;
        depth += step;
        step *= 2;
        if sums.len() >= limit && nth_biggest(&sums, limit) >= bound {
            break;
        }
    }
    let mut top: Vec<(String, i64)> = sums.into_iter().collect();
    top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(limit);
    Ok(top)
}

/// The `n`th biggest sum (1-based).
fn nth_biggest(sums: &HashMap<String, i64>, n: usize) -> i64 {
    let mut all: Vec<i64> = sums.values().copied().collect();
    let i = n.saturating_sub(1).min(all.len().saturating_sub(1));
    all.select_nth_unstable_by(i, |a, b| b.cmp(a));
    all.get(i).copied().unwrap_or(0)
}

/// Each of `keys`' events over days `first..=last`.
fn sum_over(
    conn: &mut DbConn,
    kind: Kind,
    class: &str,
    (first, last): (i32, i32),
    keys: &[String],
) -> QueryResult<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(keys.len());
    // SQLite has a limit on bound values; Postgres binds the list as one array.
    let chunk = if matches!(conn, DbConn::Postgres(_)) {
        5_000
    } else {
        500
    };
    for keys in keys.chunks(chunk) {
        let rows: Vec<(String, i64)> = oc::table
            .filter(oc::kind.eq(kind.as_str()))
            .filter(oc::class.eq(class))
            .filter(oc::key.eq_any(keys))
            .filter(oc::day.between(first, last))
            .group_by(oc::key)
            // Postgres sums a bigint as a numeric.
            .select((oc::key, sql::<BigInt>("CAST(SUM(events) AS BIGINT)")))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
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
