//! Events: one complaint each, unique by its dedup key.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, EventId, RawMessageId, TicketId};
use super::schema::events;
use super::DbConn;

#[derive(Insertable)]
#[diesel(table_name = events)]
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
}

/// Which of `keys` are counted already.
pub fn known_keys(conn: &mut DbConn, keys: &[&str]) -> QueryResult<HashSet<String>> {
    let mut known = HashSet::new();
    for chunk in keys.chunks(500) {
        let found: Vec<String> = events::table
            .filter(events::dedup_key.eq_any(chunk))
            .select(events::dedup_key)
            .load(conn)?;
        known.extend(found);
    }
    Ok(known)
}

/// Inserts events, skipping any whose dedup key the unique index already holds; returns how
/// many were inserted.
pub fn insert_many(conn: &mut DbConn, forms: &[EventInsertForm<'_>]) -> QueryResult<usize> {
    let mut inserted = 0;
    match conn {
        // One round trip per 500 events to a server…
        DbConn::Postgres(c) => {
            for chunk in forms.chunks(500) {
                inserted += diesel::insert_into(events::table)
                    .values(chunk)
                    .on_conflict(events::dedup_key)
                    .do_nothing()
                    .execute(c)?;
            }
        }
        // …and a cached statement per event in-process (diesel has no multi-row upsert of
        // this width for SQLite, and it would save nothing there).
        DbConn::Sqlite(c) => {
            for form in forms {
                inserted += diesel::insert_into(events::table)
                    .values(form)
                    .on_conflict(events::dedup_key)
                    .do_nothing()
                    .execute(c)?;
            }
        }
    }
    Ok(inserted)
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

/// An event as a ticket's timeline shows it.
#[derive(Queryable, Selectable, Debug, Clone, Serialize, PartialEq, Eq)]
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
