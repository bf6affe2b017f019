//! Live tickets by key: found, created and moved between statuses, kept unique by the
//! `open_key` index inside the writing transaction rather than by read-then-write.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::key::{open_key, TicketKey};
use super::types::{Class, Severity, Status, SubjectKind};
use crate::db::ids::{CustomerId, TicketId};
use crate::db::schema::tickets;
use crate::db::DbConn;

#[derive(Insertable)]
#[diesel(table_name = tickets, treat_none_as_default_value = false)]
pub struct TicketInsertForm<'a> {
    pub customer_id: Option<CustomerId>,
    pub subject_kind: SubjectKind,
    pub subject: &'a str,
    pub class: &'a Class,
    pub severity: Severity,
    pub status: Status,
    pub open_key: Option<String>,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The first event's identity and outgoing user: written now so that the search index
    /// is not rewritten when the batch's newest details follow.
    pub identity: Option<&'a str>,
    pub outgoing_user: Option<&'a str>,
    pub outgoing_domain: Option<&'a str>,
}

/// The live tickets of `open_keys` with their state, by open key. On Postgres their rows are
/// locked until the transaction ends: the caller writes counts and status worked out from
/// this state, and another writer counting on the same ticket meanwhile (a second mailbox, an
/// import beside the poller) or staff changing its status would otherwise be overwritten.
/// Each statement locks in key order; two writers that still lock each other's tickets in
/// turn get a deadlock error, which the import and the poller retry. (SQLite has one writer
/// at a time.)
pub fn live_many(
    conn: &mut DbConn,
    open_keys: &[&str],
) -> QueryResult<HashMap<String, (TicketId, TicketState)>> {
    let mut found = HashMap::with_capacity(open_keys.len());
    let mut open_keys = open_keys.to_vec();
    open_keys.sort_unstable();
    for chunk in open_keys.chunks(500) {
        let query = tickets::table
            .filter(tickets::open_key.eq_any(chunk))
            .order(tickets::open_key)
            .select((
                tickets::open_key,
                tickets::id,
                (
                    tickets::status,
                    tickets::severity,
                    tickets::event_count,
                    tickets::first_seen,
                    tickets::last_seen,
                ),
            ));
        let rows: Vec<(Option<String>, TicketId, TicketState)> = match conn {
            DbConn::Postgres(pg) => query.for_update().load(pg)?,
            DbConn::Sqlite(sqlite) => query.load(sqlite)?,
        };
        found.extend(
            rows.into_iter()
                .filter_map(|(key, id, state)| key.map(|k| (k, (id, state)))),
        );
    }
    Ok(found)
}

/// Creates live tickets; a key that another writer made live meanwhile is left as it is.
pub fn create_many(conn: &mut DbConn, forms: &[TicketInsertForm<'_>]) -> QueryResult<()> {
    for chunk in forms.chunks(500) {
        crate::dispatch!(conn, c => diesel::insert_into(tickets::table)
            .values(chunk)
            .on_conflict(tickets::open_key)
            .do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// The live ticket for `key`, created (open, at `severity`) if there is none. Returns the id
/// and whether it was created. Safe against a concurrent writer creating the same ticket:
/// the insert yields to the unique index instead of failing.
pub fn live_or_create(
    conn: &mut DbConn,
    key: &TicketKey,
    severity: Severity,
    seen: NaiveDateTime,
) -> QueryResult<(TicketId, bool)> {
    let open_key = key.open_key();
    let form = TicketInsertForm {
        customer_id: key.customer_id,
        subject_kind: key.subject_kind,
        subject: &key.subject,
        class: &key.class,
        severity,
        status: Status::Open,
        open_key: Some(open_key.clone()),
        first_seen: seen,
        last_seen: seen,
        created_at: seen,
        updated_at: seen,
        identity: None,
        outgoing_user: None,
        outgoing_domain: None,
    };
    let inserted = crate::dispatch!(conn, c => diesel::insert_into(tickets::table)
        .values(&form)
        .on_conflict(tickets::open_key)
        .do_nothing()
        .execute(c))?;
    let id = tickets::table
        .filter(tickets::open_key.eq(&open_key))
        .select(tickets::id)
        .first(conn)?;
    Ok((id, inserted == 1))
}

/// Moves a ticket to `status`, keeping `open_key` in step: history statuses release the key
/// so the next event opens a fresh ticket.
pub fn set_status(
    conn: &mut DbConn,
    id: TicketId,
    status: Status,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let (customer, subject, class): (Option<CustomerId>, String, Class) = tickets::table
        .find(id)
        .select((tickets::customer_id, tickets::subject, tickets::class))
        .first(conn)?;
    let open_key = status
        .is_live()
        .then(|| open_key(customer, &subject, class.as_str()));
    diesel::update(tickets::table.find(id))
        .set((
            tickets::status.eq(status),
            tickets::open_key.eq(open_key),
            tickets::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the ingest path needs to know of a live ticket to apply events to it.
#[derive(Queryable, Debug, Clone)]
pub struct TicketState {
    pub status: Status,
    pub severity: Severity,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

/// Closes the ticket if it is still `was` and still idle since before `cutoff` (no report,
/// no staff change); whether it did. The condition sits in the UPDATE itself, so a report or
/// a staff change landing meanwhile, or another instance closing it first, leaves it alone.
pub fn close_if_idle(
    conn: &mut DbConn,
    id: TicketId,
    was: Status,
    cutoff: NaiveDateTime,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let closed = diesel::update(
        tickets::table
            .find(id)
            .filter(tickets::status.eq(was))
            .filter(tickets::last_seen.lt(cutoff))
            .filter(tickets::updated_at.lt(cutoff)),
    )
    .set((
        tickets::status.eq(Status::Closed),
        tickets::open_key.eq(None::<String>),
        tickets::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(closed == 1)
}
