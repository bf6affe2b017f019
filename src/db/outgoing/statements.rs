//! The per-row statements that keep the counts, with a fixed text and a static `QueryId`, so
//! diesel prepares each once per connection and then only re-binds it (text given to
//! `diesel::sql_query` is prepared anew on every call). On SQLite they run once per count
//! row of every batch the import writes, as `db::ingest_sqlite`'s do.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::{QueryResult, RunQueryDsl};

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

impl QueryId for AddCount<'_> {
    type QueryId = AddCount<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryId for AddPeriodTotal<'_> {
    type QueryId = AddPeriodTotal<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB: Backend> QueryFragment<DB> for AddCount<'_>
where
    str: diesel::serialize::ToSql<Text, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO outgoing_counts (kind, class, key, day, events) VALUES (");
        out.push_bind_param::<Text, _>(self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.class)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.day)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.events)?;
        out.push_sql(
            ") ON CONFLICT (kind, class, key, day) \
             DO UPDATE SET events = outgoing_counts.events + excluded.events",
        );
        Ok(())
    }
}

impl<DB: Backend> QueryFragment<DB> for AddPeriodTotal<'_>
where
    str: diesel::serialize::ToSql<Text, DB>,
    i32: diesel::serialize::ToSql<Integer, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO outgoing_period_totals (first_day, last_day, kind, class, key, events) \
             VALUES (",
        );
        out.push_bind_param::<Integer, _>(&self.first_day)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.last_day)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.class)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.events)?;
        out.push_sql(
            ") ON CONFLICT (first_day, last_day, kind, class, key) \
             DO UPDATE SET events = outgoing_period_totals.events + excluded.events",
        );
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for AddCount<'_> {}
impl<Conn> RunQueryDsl<Conn> for AddPeriodTotal<'_> {}
