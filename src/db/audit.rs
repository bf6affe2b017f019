//! The audit log: who did what, when, to which ticket or customer.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, TicketId, UserId};
use super::schema::audit_log;
use super::DbConn;

/// Who acted: a staff member, or the system itself (ingest, rules, jobs).
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    User(UserId, &'a str),
    /// Someone at the command line, as the operating system names them.
    CommandLine(&'a str),
    /// The customer, on its self-service page.
    Customer,
    System,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct AuditInsertForm<'a> {
    pub at: NaiveDateTime,
    pub actor_id: Option<UserId>,
    pub actor: &'a str,
    pub action: &'a str,
    pub ticket_id: Option<TicketId>,
    pub customer_id: Option<CustomerId>,
    pub detail: &'a str,
}

/// Appends many entries of the system's own doing.
pub fn record_many(conn: &mut DbConn, entries: &[AuditInsertForm<'_>]) -> QueryResult<()> {
    for chunk in entries.chunks(500) {
        crate::dispatch!(conn, c => diesel::insert_into(audit_log::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Appends one entry.
pub fn record(
    conn: &mut DbConn,
    at: NaiveDateTime,
    actor: Actor<'_>,
    action: &str,
    ticket_id: Option<TicketId>,
    customer_id: Option<CustomerId>,
    detail: &str,
) -> QueryResult<()> {
    let (actor_id, actor) = match actor {
        Actor::User(id, name) => (Some(id), name.to_owned()),
        Actor::CommandLine(who) => (None, format!("command line ({who})")),
        Actor::Customer => (None, "customer".to_owned()),
        Actor::System => (None, "system".to_owned()),
    };
    diesel::insert_into(audit_log::table)
        .values(AuditInsertForm {
            at,
            actor_id,
            actor: &actor,
            action,
            ticket_id,
            customer_id,
            detail,
        })
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable, Debug, Clone, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub ticket_id: Option<TicketId>,
    pub detail: String,
}

/// A ticket's trail, oldest first.
pub fn for_ticket(conn: &mut DbConn, ticket: TicketId) -> QueryResult<Vec<AuditEntry>> {
    audit_log::table
        .filter(audit_log::ticket_id.eq(ticket))
        .order((audit_log::at, audit_log::id))
        .select(AuditEntry::as_select())
        .load(conn)
}
