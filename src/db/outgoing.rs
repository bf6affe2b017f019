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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub key: String,
    pub label: Option<String>,
    pub events: i64,
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
    let count = diesel::dsl::count_star();
    let rows: Vec<(Option<String>, Option<String>, i64)> = match by {
        GroupBy::Identity => {
            let mut q = events::table
                .filter(events::arrival_at.ge(from))
                .filter(events::arrival_at.lt(to))
                .filter(events::identity.is_not_null())
                .group_by(events::identity)
                .select((
                    events::identity,
                    None::<String>
                        .into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(),
                    count,
                ))
                .order(count.desc())
                .limit(limit)
                .into_boxed();
            if let Some(class) = class {
                q = q.filter(events::feedback_type.eq(class.to_owned()));
            }
            q.load(conn)?
        }
        GroupBy::Customer => {
            let mut q = events::table
                .inner_join(customers::table.on(events::customer_id.eq(customers::id.nullable())))
                .filter(events::arrival_at.ge(from))
                .filter(events::arrival_at.lt(to))
                .group_by((customers::external_id, customers::name))
                .select((
                    customers::external_id.nullable(),
                    customers::name.nullable(),
                    count,
                ))
                .order(count.desc())
                .limit(limit)
                .into_boxed();
            if let Some(class) = class {
                q = q.filter(events::feedback_type.eq(class.to_owned()));
            }
            q.load(conn)?
        }
        GroupBy::OutgoingUser => {
            let mut q = events::table
                .inner_join(tickets::table)
                .filter(events::arrival_at.ge(from))
                .filter(events::arrival_at.lt(to))
                .filter(tickets::outgoing_user.is_not_null())
                .group_by(tickets::outgoing_user)
                .select((
                    tickets::outgoing_user,
                    None::<String>
                        .into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(),
                    count,
                ))
                .order(count.desc())
                .limit(limit)
                .into_boxed();
            if let Some(class) = class {
                q = q.filter(events::feedback_type.eq(class.to_owned()));
            }
            q.load(conn)?
        }
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
