//! The outgoing report: events of a period grouped by identity, customer or outgoing user,
//! most first, like the filter's "Outgoing Reports" page; and events per day for its chart.
//! Both are read from counts kept as events arrive ([`counts`]), not from the events.

pub mod counts;
mod statements;
mod top;

pub use top::drop_ended;

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::customers;
use super::DbConn;
use counts::Kind;

/// What the report groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Identity,
    Customer,
    OutgoingUser,
}

impl GroupBy {
    pub const ALL: [GroupBy; 3] = [Self::Identity, Self::Customer, Self::OutgoingUser];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Customer => "customer",
            Self::OutgoingUser => "outgoing_user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The counts this grouping is read from.
    fn kind(self) -> Kind {
        match self {
            Self::Identity => Kind::Identity,
            Self::Customer => Kind::Customer,
            Self::OutgoingUser => Kind::OutgoingUser,
        }
    }
}

/// One row: the group's key, a label (the customer's name), and its event count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Group {
    pub key: String,
    pub label: Option<String>,
    pub events: i64,
}

/// The `limit` biggest groups of the `days` days from `first`, of `class` when given.
pub fn groups(
    conn: &mut DbConn,
    by: GroupBy,
    (first, days): (NaiveDate, i64),
    class: Option<&str>,
    limit: usize,
) -> QueryResult<Vec<Group>> {
    let top = top::biggest(
        conn,
        by.kind(),
        class.unwrap_or(""),
        span(first, days),
        limit,
    )?;
    if by != GroupBy::Customer {
        return Ok(top
            .into_iter()
            .map(|(key, events)| Group {
                key,
                label: None,
                events,
            })
            .collect());
    }
    // Customers are counted by id: their external id and name are read now, so a renamed
    // customer shows its new name.
    let ids: Vec<i64> = top.iter().filter_map(|(k, _)| k.parse().ok()).collect();
    let names: HashMap<i64, (String, String)> = customers::table
        .filter(customers::id.eq_any(&ids))
        .select((customers::id, (customers::external_id, customers::name)))
        .load::<(i64, (String, String))>(conn)?
        .into_iter()
        .collect();
    Ok(top
        .into_iter()
        .filter_map(|(key, events)| {
            let (external_id, name) = names.get(&key.parse().ok()?)?.clone();
            Some(Group {
                key: external_id,
                label: Some(name),
                events,
            })
        })
        .collect())
}

/// The day numbers of the `days` days from `first`.
fn span(first: NaiveDate, days: i64) -> (i32, i32) {
    let first = counts::day_number(first);
    (first, first + days.max(1) as i32 - 1)
}

/// Events per day (UTC) of the `days` days from `first`, of `class` when given.
pub fn per_day(
    conn: &mut DbConn,
    (first, days): (NaiveDate, i64),
    class: Option<&str>,
) -> QueryResult<Vec<(NaiveDate, i64)>> {
    let counted: HashMap<i32, i64> = top::per_day(conn, class.unwrap_or(""), span(first, days))?
        .into_iter()
        .collect();
    Ok((0..days)
        .map(|i| {
            let day = first + chrono::Duration::days(i);
            (
                day,
                counted.get(&counts::day_number(day)).copied().unwrap_or(0),
            )
        })
        .collect())
}

/// Makes the totals of the periods staff open every day — today, the last 7 days (the
/// page's default) and the last 30 — for every grouping and all classes, as of `today`,
/// unless a view made them already; returns how many it made. Making a month of a big desk's
/// identities is the page's one slow step (most of a second on SQLite at a million events):
/// done here, no one waits for it. A class filter or a custom period is made at its first view.
pub fn prepare_standard(conn: &mut DbConn, today: NaiveDate) -> QueryResult<usize> {
    let mut made = 0;
    for by in GroupBy::ALL {
        for (_, days) in STANDARD {
            let (first, days) = last_days(today, days);
            made += usize::from(top::prepare(conn, by.kind(), "", span(first, days))?);
        }
    }
    Ok(made)
}

/// A report's first day and number of days: `today`, `7d` (without), `30d`, or `custom` from
/// `from` to `to` (`YYYY-MM-DD`, both included, at most 366 days).
pub fn period(
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, i64), String> {
    use chrono::NaiveTime;
    Ok(match period.unwrap_or("7d") {
        "custom" => {
            let day = |s: Option<&str>| {
                // Years 1 to 9999 only (`TIMES`): Postgres holds no time before 4713 BC,
                // and the report's end, a day past the last, overflows at chrono's last.
                s.and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
                    .filter(|d| crate::db::TIMES.contains(&d.and_time(NaiveTime::MIN)))
                    .ok_or_else(|| "custom periods need from and to as YYYY-MM-DD".to_owned())
            };
            let (from, to) = (day(from)?, day(to)?);
            let days = (to - from).num_days() + 1;
            if !(1..=366).contains(&days) {
                return Err("a period is 1 to 366 days".into());
            }
            (from, days)
        }
        name => STANDARD
            .into_iter()
            .find(|&(standard, _)| standard == name)
            .map(|(_, days)| last_days(today, days))
            .ok_or_else(|| format!("unknown period '{name}'"))?,
    })
}

/// The periods named by their length up to today: `today`, `7d` and `30d`, each with its days.
const STANDARD: [(&str, i64); 3] = [("today", 1), ("7d", 7), ("30d", 30)];

/// The first day and number of days of the `days` days up to `today`.
fn last_days(today: NaiveDate, days: i64) -> (NaiveDate, i64) {
    (today - chrono::Duration::days(days - 1), days)
}

/// A report as its page shows it: the groups, each with the lock holding on it, and the
/// events per day.
#[derive(Debug, Clone)]
pub struct Report {
    pub groups: Vec<(Group, Option<super::locks::Lock>)>,
    pub per_day: Vec<(NaiveDate, i64)>,
}

/// The report of `days` days from `first`, grouped `by`, of `class` when given: the 200
/// biggest groups, read fresh from the counts with their lock states.
pub fn report(
    conn: &mut DbConn,
    by: GroupBy,
    first: NaiveDate,
    days: i64,
    class: Option<&str>,
) -> QueryResult<Report> {
    let groups = groups(conn, by, (first, days), class, 200)?;
    let per_day = per_day(conn, (first, days), class)?;
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    let held = super::locks::in_force(conn, &keys)?;
    Ok(Report {
        groups: groups
            .into_iter()
            .map(|g| {
                let lock = held.get(&g.key).cloned();
                (g, lock)
            })
            .collect(),
        per_day,
    })
}
