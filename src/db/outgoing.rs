//! The outgoing report: events of a period grouped by identity, customer or outgoing user,
//! most first, like the filter's "Outgoing Reports" page; and events per day for its chart.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{customers, events, tickets};
use super::DbConn;

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
}

/// One row: the group's key, a label (the customer's name), and its event count.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Group {
    pub key: String,
    pub label: Option<String>,
    pub events: i64,
}

/// The `limit` biggest groups of `$source`'s events in `[from, to)` (of `class` when given),
/// grouped by `$group`, each row `($key, $label, count)`.
macro_rules! biggest {
    ($conn:expr, $source:expr, $group:expr, ($key:expr, $label:expr), ($from:expr, $to:expr, $class:expr, $limit:expr)) => {{
        let count = diesel::dsl::count_star();
        let mut q = $source
            .filter(events::arrival_at.ge($from))
            .filter(events::arrival_at.lt($to))
            .group_by($group)
            .select(($key, $label, count))
            .order(count.desc())
            .limit($limit)
            .into_boxed();
        if let Some(class) = $class {
            q = q.filter(events::feedback_type.eq(class.to_owned()));
        }
        q.load($conn)?
    }};
}

/// The `limit` biggest groups of events in `[from, to)`, of `class` when given.
pub fn groups(
    conn: &mut DbConn,
    by: GroupBy,
    from: NaiveDateTime,
    to: NaiveDateTime,
    class: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Group>> {
    use diesel::sql_types::{Nullable, Text};
    let no_label = || None::<String>.into_sql::<Nullable<Text>>();
    let rows: Vec<(Option<String>, Option<String>, i64)> = match by {
        GroupBy::Identity => biggest!(
            conn,
            events::table.filter(events::identity.is_not_null()),
            events::identity,
            (events::identity, no_label()),
            (from, to, class, limit)
        ),
        GroupBy::Customer => biggest!(
            conn,
            events::table
                .inner_join(customers::table.on(events::customer_id.eq(customers::id.nullable()))),
            (customers::external_id, customers::name),
            (
                customers::external_id.nullable(),
                customers::name.nullable()
            ),
            (from, to, class, limit)
        ),
        GroupBy::OutgoingUser => biggest!(
            conn,
            events::table
                .inner_join(tickets::table)
                .filter(tickets::outgoing_user.is_not_null()),
            tickets::outgoing_user,
            (tickets::outgoing_user, no_label()),
            (from, to, class, limit)
        ),
    };
    Ok(rows
        .into_iter()
        .filter_map(|(key, label, events)| key.map(|key| Group { key, label, events }))
        .collect())
}

/// Events per day (UTC) from `from` for `days` days, of `class` when given.
pub fn per_day(
    conn: &mut DbConn,
    from: NaiveDateTime,
    days: i64,
    class: Option<&str>,
) -> QueryResult<Vec<(chrono::NaiveDate, i64)>> {
    let mut out = Vec::with_capacity(days as usize);
    for day in 0..days {
        let start = from + chrono::Duration::days(day);
        let end = start + chrono::Duration::days(1);
        let mut q = events::table
            .filter(events::arrival_at.ge(start))
            .filter(events::arrival_at.lt(end))
            .count()
            .into_boxed();
        if let Some(class) = class {
            q = q.filter(events::feedback_type.eq(class.to_owned()));
        }
        out.push((start.date(), q.get_result(conn)?));
    }
    Ok(out)
}

/// A report's first day and number of days: `today`, `7d` (without), `30d`, or `custom` from
/// `from` to `to` (`YYYY-MM-DD`, both included, at most 366 days).
pub fn period(
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, i64), String> {
    use chrono::{Duration, NaiveDate, NaiveTime};
    Ok(match period.unwrap_or("7d") {
        "today" => (today, 1),
        "7d" => (today - Duration::days(6), 7),
        "30d" => (today - Duration::days(29), 30),
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
        other => return Err(format!("unknown period '{other}'")),
    })
}

/// One report's figures: the groups and the events per day.
pub type Figures = (Vec<Group>, Vec<(chrono::NaiveDate, i64)>);

/// A report as its page shows it: the groups, each with the lock holding on it, and the
/// events per day.
#[derive(Debug, Clone)]
pub struct Report {
    pub groups: Vec<(Group, Option<super::locks::Lock>)>,
    pub per_day: Vec<(chrono::NaiveDate, i64)>,
}

/// The report of `days` days from `first`, grouped `by`, of `class` when given. Grouping a
/// month of events takes a while on a big desk, so the figures come from `cache` when they
/// are there (a minute old is fine for a report); lock states are read fresh every time.
pub fn report(
    conn: &mut DbConn,
    cache: &crate::cache::CachedMap<Figures>,
    by: GroupBy,
    first: chrono::NaiveDate,
    days: i64,
    class: Option<&str>,
) -> QueryResult<Report> {
    let from = first.and_hms_opt(0, 0, 0).unwrap_or_default();
    let to = from + chrono::Duration::days(days);
    let key = format!("{}|{from}|{days}|{}", by.as_str(), class.unwrap_or(""));
    let figures = match cache.get(&key) {
        Some(f) => f,
        None => cache.put(
            key,
            (
                groups(conn, by, from, to, class, 200)?,
                per_day(conn, from, days, class)?,
            ),
        ),
    };
    let keys: Vec<&str> = figures.0.iter().map(|g| g.key.as_str()).collect();
    let held = super::locks::in_force(conn, &keys)?;
    Ok(Report {
        groups: figures
            .0
            .iter()
            .map(|g| (g.clone(), held.get(&g.key).cloned()))
            .collect(),
        per_day: figures.1.clone(),
    })
}
