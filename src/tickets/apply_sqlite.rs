//! The ingest writer's per-ticket updates on SQLite as statements with a fixed text, which
//! diesel prepares once per connection and then only re-binds. diesel re-prepares every
//! UPDATE its query builder makes (a changeset may differ from call to call), and preparing
//! cost more than running the statement, once per ticket per batch.

use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

use super::update::TicketBatchUpdate;

/// A ticket's counters and dates after a batch, and the newest event's details when the batch
/// brought a newer event than the ticket had. The columns the search index covers (identity,
/// outgoing user) are left to [`ApplyIdentity`]: an UPDATE naming a column a trigger watches
/// makes SQLite copy every page it touches to a statement journal first.
pub struct ApplyCounters<'a>(pub &'a TicketBatchUpdate<'a>);

/// The identity and outgoing user of the newest event, written only where they differ.
pub struct ApplyIdentity<'a>(pub &'a TicketBatchUpdate<'a>);

crate::db::prepared::prepared_once!(ApplyCounters, ApplyIdentity);

/// A bound NULL that lives as long as any statement.
static NULL: Option<String> = None;

impl QueryFragment<Sqlite> for ApplyCounters<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let row = self.0;
        let latest = row.latest;
        let has_latest: &'static bool = if latest.is_some() { &true } else { &false };
        out.push_sql("UPDATE tickets SET status = ");
        out.push_bind_param::<Text, _>(row.update.status.as_str())?;
        out.push_sql(", severity = ");
        out.push_bind_param::<Text, _>(row.update.severity.as_str())?;
        out.push_sql(", event_count = ");
        out.push_bind_param::<BigInt, _>(&row.update.event_count)?;
        out.push_sql(", first_seen = ");
        out.push_bind_param::<Timestamp, _>(&row.update.first_seen)?;
        out.push_sql(", last_seen = ");
        out.push_bind_param::<Timestamp, _>(&row.update.last_seen)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamp, _>(&row.update.updated_at)?;
        out.push_sql(", incident_count = incident_count + ");
        out.push_bind_param::<BigInt, _>(&row.incidents)?;
        out.push_sql(", source_ip_count = ");
        out.push_bind_param::<BigInt, _>(&row.source_ips)?;
        for (column, value) in [
            (
                "last_source_ip",
                latest.map_or(&NULL, |l| &l.last_source_ip),
            ),
            (
                "last_original_subject",
                latest.map_or(&NULL, |l| &l.last_original_subject),
            ),
            (
                "outgoing_domain",
                latest.map_or(&NULL, |l| &l.outgoing_domain),
            ),
        ] {
            out.push_sql(", ");
            out.push_sql(column);
            out.push_sql(" = CASE WHEN ");
            out.push_bind_param::<Bool, _>(has_latest)?;
            out.push_sql(" THEN ");
            out.push_bind_param::<Nullable<Text>, _>(value)?;
            out.push_sql(" ELSE ");
            out.push_sql(column);
            out.push_sql(" END");
        }
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&row.id.0)?;
        Ok(())
    }
}

impl QueryFragment<Sqlite> for ApplyIdentity<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let latest = self.0.latest;
        let identity = latest.map_or(&NULL, |l| &l.identity);
        let outgoing_user = latest.map_or(&NULL, |l| &l.outgoing_user);
        out.push_sql("UPDATE tickets SET identity = ");
        out.push_bind_param::<Nullable<Text>, _>(identity)?;
        out.push_sql(", outgoing_user = ");
        out.push_bind_param::<Nullable<Text>, _>(outgoing_user)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.0.id.0)?;
        out.push_sql(" AND (identity IS NOT ");
        out.push_bind_param::<Nullable<Text>, _>(identity)?;
        out.push_sql(" OR outgoing_user IS NOT ");
        out.push_bind_param::<Nullable<Text>, _>(outgoing_user)?;
        out.push_sql(")");
        Ok(())
    }
}
