//! Events: one complaint each, unique by its dedup key.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, EventId, RawMessageId, TicketId};
use super::schema::events;
use super::DbConn;

#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct EventInsertForm<'a> {
    pub raw_message_id: RawMessageId,
    pub ticket_id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub dedup_key: &'a str,
    pub reporter: &'a str,
    pub feedback_type: &'a str,
    pub source_ip: Option<&'a str>,
    pub original_mail_from: Option<&'a str>,
    pub original_message_id: Option<&'a str>,
    pub original_envelope_id: Option<&'a str>,
    pub original_subject: Option<&'a str>,
    pub identity: Option<&'a str>,
    pub arrival_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    /// The sending account our filter named, for the Outgoing Reports.
    pub outgoing_user: Option<&'a str>,
}

/// Which of `keys` are counted already.
pub fn known_keys(conn: &mut DbConn, keys: &[&str]) -> QueryResult<HashSet<String>> {
    let mut known = HashSet::new();
    // Postgres binds the whole list as one array; SQLite has a limit on bound values.
    let chunk_size = if matches!(conn, DbConn::Postgres(_)) {
        10_000
    } else {
        500
    };
    for chunk in keys.chunks(chunk_size) {
        let found: Vec<String> = events::table
            .filter(events::dedup_key.eq_any(chunk))
            .select(events::dedup_key)
            .load(conn)?;
        known.extend(found);
    }
    Ok(known)
}

/// Postgres, when a COPY met a key another writer counted meanwhile: the columns as arrays.
const INSERT_MANY_PG: &str = "INSERT INTO events (raw_message_id, ticket_id, customer_id, \
    dedup_key, reporter, feedback_type, source_ip, original_mail_from, original_message_id, \
    original_envelope_id, original_subject, identity, arrival_at, created_at, outgoing_user) \
    SELECT unnest($1::bigint[]), unnest($2::bigint[]), unnest($3::bigint[]), unnest($4::text[]), \
        unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), \
        unnest($9::text[]), unnest($10::text[]), unnest($11::text[]), unnest($12::text[]), \
        unnest($13::timestamp[]), unnest($14::timestamp[]), unnest($15::text[]) \
    ON CONFLICT (dedup_key) DO NOTHING";

/// Inserts events, skipping any whose dedup key the unique index already holds; returns how
/// many were inserted. The caller has left out the keys it found counted in this transaction.
pub fn insert_many(conn: &mut DbConn, forms: &[EventInsertForm<'_>]) -> QueryResult<usize> {
    let mut inserted = 0;
    match conn {
        DbConn::Postgres(pg) => {
            for chunk in forms.chunks(5000) {
                inserted += insert_many_pg(pg, chunk)?;
            }
        }
        // One statement per event, prepared once per connection and then only re-bound.
        DbConn::Sqlite(c) => {
            for form in forms {
                inserted += super::ingest_sqlite::InsertEvent(form).execute(c)?;
            }
        }
    }
    Ok(inserted)
}

/// Postgres takes the events by a binary COPY: the server neither parses a statement nor takes
/// apart an array per column. COPY cannot skip a known dedup key; the caller's keys are new in
/// this transaction, so only another writer counting the same complaint meanwhile makes it
/// fail, under its savepoint, and then the chunk goes in by the INSERT that skips known keys.
fn insert_many_pg(
    pg: &mut diesel::PgConnection,
    chunk: &[EventInsertForm<'_>],
) -> QueryResult<usize> {
    use diesel::result::{DatabaseErrorKind, Error};
    let copied = pg.transaction(|pg| {
        diesel::copy_from(events::table)
            .from_insertable(chunk)
            .execute(pg)
    });
    match copied {
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            insert_many_skipping_known_pg(pg, chunk)
        }
        copied => copied,
    }
}

/// The INSERT that skips known dedup keys, with every column passed as an array.
fn insert_many_skipping_known_pg<'a>(
    pg: &mut diesel::PgConnection,
    chunk: &[EventInsertForm<'a>],
) -> QueryResult<usize> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
    let text = |f: fn(&EventInsertForm<'a>) -> Option<&'a str>| -> Vec<Option<&'a str>> {
        chunk.iter().map(f).collect()
    };
    diesel::sql_query(INSERT_MANY_PG)
        .bind::<Array<BigInt>, _>(chunk.iter().map(|f| f.raw_message_id.0).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(chunk.iter().map(|f| f.ticket_id.0).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(
            chunk
                .iter()
                .map(|f| f.customer_id.map(|c| c.0))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.dedup_key).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.reporter).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.feedback_type).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.source_ip))
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.original_mail_from))
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.original_message_id))
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.original_envelope_id))
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.original_subject))
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.identity))
        .bind::<Array<Timestamp>, _>(chunk.iter().map(|f| f.arrival_at).collect::<Vec<_>>())
        .bind::<Array<Timestamp>, _>(chunk.iter().map(|f| f.created_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(text(|f| f.outgoing_user))
        .execute(pg)
}

/// Events of a ticket that arrived in `[from, to]`.
pub fn count_in_window(
    conn: &mut DbConn,
    ticket: TicketId,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<i64> {
    events::table
        .filter(events::ticket_id.eq(ticket))
        .filter(events::arrival_at.ge(from))
        .filter(events::arrival_at.le(to))
        .count()
        .get_result(conn)
}

/// The events a stored message became, each with its ticket, oldest first.
pub fn of_raw_message(
    conn: &mut DbConn,
    raw: RawMessageId,
) -> QueryResult<Vec<(EventId, TicketId)>> {
    events::table
        .filter(events::raw_message_id.eq(raw))
        .order(events::id)
        .select((events::id, events::ticket_id))
        .load(conn)
}

/// An event as a ticket's timeline shows it.
#[derive(Queryable, Selectable, Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: EventId,
    pub raw_message_id: RawMessageId,
    pub ticket_id: TicketId,
    pub reporter: String,
    pub feedback_type: String,
    pub source_ip: Option<String>,
    pub original_subject: Option<String>,
    pub arrival_at: NaiveDateTime,
}
