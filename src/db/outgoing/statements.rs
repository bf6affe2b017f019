//! The per-row statements that keep the counts, prepared once per connection
//! ([`crate::db::prepared`]). On SQLite they run once per count row of every batch the import
//! writes, as `db::ingest_sqlite`'s do.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryResult;

use crate::db::prepared::{bind_values, prepared_once};

/// Adds `events` to a count row (kind, class, key, day), making it if it is new.
pub struct AddCount<'a> {
    pub kind: &'a str,
    pub class: &'a str,
    pub key: &'a str,
    pub day: i32,
    pub events: i64,
}

/// Adds `events` to a made period's total for a key, making the row if it is new.
pub struct AddPeriodTotal<'a> {
    pub first_day: i32,
    pub last_day: i32,
    pub kind: &'a str,
    pub class: &'a str,
    pub key: &'a str,
    pub events: i64,
}

prepared_once!(AddCount, AddPeriodTotal);

impl<DB: Backend> QueryFragment<DB> for AddCount<'_>
where
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO outgoing_counts (kind, class, key, day, events");
        bind_values!(out;
            Text => self.kind,
            Text => self.class,
            Text => self.key,
            Integer => &self.day,
            BigInt => &self.events,
        );
        out.push_sql(
            "ON CONFLICT (kind, class, key, day) \
             DO UPDATE SET events = outgoing_counts.events + excluded.events",
        );
        Ok(())
    }
}

impl<DB: Backend> QueryFragment<DB> for AddPeriodTotal<'_>
where
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO outgoing_period_totals (first_day, last_day, kind, class, key, events",
        );
        bind_values!(out;
            Integer => &self.first_day,
            Integer => &self.last_day,
            Text => self.kind,
            Text => self.class,
            Text => self.key,
            BigInt => &self.events,
        );
        out.push_sql(
            "ON CONFLICT (first_day, last_day, kind, class, key) \
             DO UPDATE SET events = outgoing_period_totals.events + excluded.events",
        );
        Ok(())
    }
}
