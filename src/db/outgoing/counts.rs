//! The Outgoing Reports' counts (`outgoing_counts`): events per UTC day by kind of group, class
//! and key. The transaction that stores events adds theirs; the few that change what an event
//! counts under (moving it to another customer's ticket, forgetting a customer's people) take
//! its counts away before the change and add them back after, through [`recount`]. So the
//! counts always equal a grouping of the events themselves, which the tests check.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::ids::{CustomerId, EventId};
use crate::db::schema::events;
use crate::db::DbConn;

/// A kind of group, as `outgoing_counts.kind` stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The day's total (key '').
    Total,
    Identity,
    /// Key: the customer's id.
    Customer,
    OutgoingUser,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Total => "t",
            Self::Identity => "i",
            Self::Customer => "c",
            Self::OutgoingUser => "u",
        }
    }
}

/// What one event counts under.
pub struct EventFacts<'a> {
    pub class: &'a str,
    pub arrival: NaiveDateTime,
    pub identity: Option<&'a str>,
    pub customer: Option<CustomerId>,
    pub outgoing_user: Option<&'a str>,
}

/// A UTC day as `outgoing_counts.day` stores it: days since 1970-01-01.
pub fn day_number(day: NaiveDate) -> i32 {
    (day - NaiveDate::default()).num_days() as i32
}

/// Counts to add (negative: to take away), by the table's key. An import adds eight per
/// event, so they are kept hashed (a sorted map spent a tenth of the import writer's time
/// comparing keys) and sorted once, when written.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Tally<'a>(HashMap<(Kind, Cow<'a, str>, Cow<'a, str>, i32), i64>);

impl<'a> Tally<'a> {
    /// Counts `n` events (negative: takes them away) under everything `event` counts under:
    /// the day's total and each of its groups, for its class and for all classes.
    pub fn count(&mut self, event: &EventFacts<'a>, n: i64) {
        let day = day_number(event.arrival.date());
        let keys = [
            (Kind::Total, Some(Cow::Borrowed(""))),
            (Kind::Identity, event.identity.map(Cow::Borrowed)),
            (
                Kind::Customer,
                event.customer.map(|c| Cow::Owned(c.0.to_string())),
            ),
            (Kind::OutgoingUser, event.outgoing_user.map(Cow::Borrowed)),
        ];
        for (kind, key) in keys {
            let Some(key) = key else { continue };
            for class in [event.class, ""] {
                *self
                    .0
                    .entry((kind, Cow::Borrowed(class), key.clone(), day))
                    .or_default() += n;
            }
        }
    }

    /// The same counts, owning their keys.
    pub fn into_owned(self) -> Tally<'static> {
        Tally(
            self.0
                .into_iter()
                .map(|((kind, class, key, day), n)| {
                    let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
                    ((kind, owned(class), owned(key), day), n)
                })
                .collect(),
        )
    }

    /// Adds `other`'s counts to these.
    pub fn absorb(&mut self, other: Tally<'_>) {
        for (key, n) in other.into_owned().0 {
            *self.0.entry(key).or_default() += n;
        }
    }

    /// Writes the counts sorted by kind, class, key and day, so concurrent writers on Postgres
    /// lock rows in one order: adds each to its row, and removes rows left at zero.
    pub fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        let mut sorted: Vec<_> = self.0.iter().filter(|(_, n)| **n != 0).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let rows: Vec<(&str, &str, &str, i32, i64)> = sorted
            .into_iter()
            .map(|((kind, class, key, day), n)| (kind.as_str(), &**class, &**key, *day, *n))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        match conn {
            DbConn::Postgres(pg) => {
                use diesel::sql_types::{Array, BigInt, Integer, Text};
                for chunk in rows.chunks(10_000) {
                    diesel::sql_query(UPSERT_PG)
                        .bind::<Array<Text>, _>(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
                        .bind::<Array<Text>, _>(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
                        .bind::<Array<Text>, _>(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
                        .bind::<Array<Integer>, _>(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
                        .bind::<Array<BigInt>, _>(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
                        .execute(pg)?;
                }
            }
            // In-process, a statement per row, prepared once per connection.
            DbConn::Sqlite(c) => {
                for &(kind, class, key, day, events) in &rows {
                    super::statements::AddCount {
                        kind,
                        class,
                        key,
                        day,
                        events,
                    }
                    .execute(c)?;
                }
            }
        }
        for r in rows.iter().filter(|r| r.4 < 0) {
            use diesel::sql_types::{Integer, Text};
            diesel::sql_query(DELETE_EMPTY)
                .bind::<Text, _>(r.0)
                .bind::<Text, _>(r.1)
                .bind::<Text, _>(r.2)
                .bind::<Integer, _>(r.3)
                .execute(conn)?;
        }
        super::top::add(conn, &rows)
    }
}

const UPSERT_PG: &str = "INSERT INTO outgoing_counts (kind, class, key, day, events) \
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[]) \
    ON CONFLICT (kind, class, key, day) \
    DO UPDATE SET events = outgoing_counts.events + excluded.events";

const DELETE_EMPTY: &str = "DELETE FROM outgoing_counts \
    WHERE kind = $1 AND class = $2 AND key = $3 AND day = $4 AND events <= 0";

/// What the events with these ids count under, as they are now.
fn of_events(conn: &mut DbConn, ids: &[EventId]) -> QueryResult<Tally<'static>> {
    type Row = (
        String,
        NaiveDateTime,
        Option<String>,
        Option<CustomerId>,
        Option<String>,
    );
    let mut rows: Vec<Row> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(
            events::table
                .filter(events::id.eq_any(chunk))
                .select((
                    events::feedback_type,
                    events::arrival_at,
                    events::identity,
                    events::customer_id,
                    events::outgoing_user,
                ))
                .load::<Row>(conn)?,
        );
    }
    let mut tally = Tally::default();
    for (class, arrival, identity, customer, user) in &rows {
        let facts = EventFacts {
            class,
            arrival: *arrival,
            identity: identity.as_deref(),
            customer: *customer,
            outgoing_user: user.as_deref(),
        };
        tally.count(&facts, 1);
    }
    Ok(tally.into_owned())
}

/// Runs `change` on the events with these ids, keeping the counts right: what the events
/// counted under before is taken away, what they count under after is added.
pub fn recount<T>(
    conn: &mut DbConn,
    ids: &[EventId],
    change: impl FnOnce(&mut DbConn) -> QueryResult<T>,
) -> QueryResult<T> {
    let before = of_events(conn, ids)?;
    let out = change(conn)?;
    let after = of_events(conn, ids)?;
    let mut delta = after;
    for (k, n) in before.0 {
        *delta.0.entry(k).or_default() -= n;
    }
    delta.apply(conn)?;
    Ok(out)
}

/// Counts everything again from the events, in the caller's transaction (the migration that
/// made the table does the same); periods' totals are made again when next shown.
pub fn rebuild(conn: &mut DbConn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(
        "DELETE FROM outgoing_period_totals; DELETE FROM outgoing_periods; \
         DELETE FROM outgoing_counts",
    )?;
    match conn {
        DbConn::Postgres(pg) => pg.batch_execute(REBUILD_PG),
        DbConn::Sqlite(c) => c.batch_execute(REBUILD_SQLITE),
    }
}

const REBUILD_PG: &str = "INSERT INTO outgoing_counts (kind, class, day, key, events)
    SELECT k.kind, c.class, d.day, k.key, count(*)
    FROM events e
    CROSS JOIN LATERAL (SELECT (e.arrival_at::date - DATE '1970-01-01') AS day) d
    CROSS JOIN LATERAL (VALUES (e.feedback_type), ('')) c (class)
    CROSS JOIN LATERAL (VALUES ('t', ''), ('i', e.identity), ('c', e.customer_id::text),
                               ('u', e.outgoing_user)) k (kind, key)
    WHERE k.key IS NOT NULL
    GROUP BY k.kind, c.class, d.day, k.key";

const REBUILD_SQLITE: &str = "CREATE TEMPORARY TABLE event_days AS
    SELECT feedback_type AS class, identity, customer_id, outgoing_user,
           CAST(julianday(substr(arrival_at, 1, 10)) - 2440587.5 AS INTEGER) AS day
    FROM events;
INSERT INTO outgoing_counts (kind, class, day, key, events)
    SELECT 't', class, day, '', count(*) FROM event_days GROUP BY class, day
    UNION ALL SELECT 't', '', day, '', count(*) FROM event_days GROUP BY day
    UNION ALL SELECT 'i', class, day, identity, count(*) FROM event_days WHERE identity IS NOT NULL GROUP BY class, day, identity
    UNION ALL SELECT 'i', '', day, identity, count(*) FROM event_days WHERE identity IS NOT NULL GROUP BY day, identity
    UNION ALL SELECT 'c', class, day, CAST(customer_id AS TEXT), count(*) FROM event_days WHERE customer_id IS NOT NULL GROUP BY class, day, customer_id
    UNION ALL SELECT 'c', '', day, CAST(customer_id AS TEXT), count(*) FROM event_days WHERE customer_id IS NOT NULL GROUP BY day, customer_id
    UNION ALL SELECT 'u', class, day, outgoing_user, count(*) FROM event_days WHERE outgoing_user IS NOT NULL GROUP BY class, day, outgoing_user
    UNION ALL SELECT 'u', '', day, outgoing_user, count(*) FROM event_days WHERE outgoing_user IS NOT NULL GROUP BY day, outgoing_user;
DROP TABLE event_days;";
