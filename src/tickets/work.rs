//! Working a ticket: claim, status changes and notes. Each is one
//! transaction that also writes the audit entry, so the trail never misses a change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::store;
use super::types::Status;
use crate::db::audit::{self, Actor};
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::schema::{notes, tickets};
use crate::db::DbConn;

/// Why a change to a ticket was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("no such ticket")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The ticket's customer and status, or [`WorkError::NotFound`].
pub(super) fn exists(
    conn: &mut DbConn,
    id: TicketId,
) -> Result<(Option<CustomerId>, Status), WorkError> {
    tickets::table
        .find(id)
        .select((tickets::customer_id, tickets::status))
        .first(conn)
        .optional()?
        .ok_or(WorkError::NotFound)
}

/// Assigns the ticket to `user` (claim) or to nobody (unclaim).
pub fn assign(
    conn: &mut DbConn,
    id: TicketId,
    assignee: Option<(UserId, &str)>,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<(), WorkError> {
    crate::db::write(conn, |conn| {
        let (customer, _) = exists(conn, id)?;
        diesel::update(tickets::table.find(id))
            .set((
                tickets::assignee_id.eq(assignee.map(|a| a.0)),
                tickets::updated_at.eq(at),
            ))
            .execute(conn)?;
        let (action, detail) = match assignee {
            Some((_, name)) => ("assigned", format!("assigned to {name}")),
            None => ("unassigned", "nobody is on it now".to_owned()),
        };
        audit::record(conn, at, actor, action, Some(id), customer, &detail)?;
        Ok(())
    })
}

/// Moves the ticket to `status` (resolve, ignore, close, reopen). Reopening a closed ticket
/// is refused while another live ticket holds its key: merge them instead.
pub fn change_status(
    conn: &mut DbConn,
    id: TicketId,
    status: Status,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<(), WorkError> {
    if status == Status::Merged {
        return Err(WorkError::Refused("use merge to merge a ticket".into()));
    }
    crate::db::write(conn, |conn| {
        let (customer, old) = exists(conn, id)?;
        if old == Status::Merged {
            return Err(WorkError::Refused("a merged ticket cannot change".into()));
        }
        if old == status {
            return Ok(());
        }
        store::set_status(conn, id, status, at).map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => WorkError::Refused(
                "another live ticket has the same customer, subject and class: merge into it"
                    .into(),
            ),
            e => WorkError::Query(e),
        })?;
        let detail = format!("{old} → {status}");
        audit::record(conn, at, actor, "status", Some(id), customer, &detail)?;
        Ok(())
    })
}

/// Adds a note to the ticket.
pub fn add_note(
    conn: &mut DbConn,
    id: TicketId,
    author: UserId,
    actor: Actor<'_>,
    body: &str,
    at: NaiveDateTime,
) -> Result<(), WorkError> {
    crate::db::write(conn, |conn| {
        let (customer, _) = exists(conn, id)?;
        diesel::insert_into(notes::table)
            .values((
                notes::ticket_id.eq(id),
                notes::author_id.eq(Some(author)),
                notes::body.eq(body),
                notes::created_at.eq(at),
            ))
            .execute(conn)?;
        audit::record(conn, at, actor, "note", Some(id), customer, "added a note")?;
        Ok(())
    })
}

/// A note as the ticket page shows it.
#[derive(Queryable, Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Note {
    pub author: Option<String>,
    pub body: String,
    pub created_at: NaiveDateTime,
    /// Written by the customer on its self-service page.
    pub by_customer: bool,
}

/// A ticket's notes, oldest first.
pub fn notes_of(conn: &mut DbConn, id: TicketId) -> QueryResult<Vec<Note>> {
    use crate::db::schema::users;
    notes::table
        .left_join(users::table.on(notes::author_id.eq(users::id.nullable())))
        .filter(notes::ticket_id.eq(id))
        .order((notes::created_at, notes::id))
        .select((
            users::username.nullable(),
            notes::body,
            notes::created_at,
            notes::by_customer,
        ))
        .load(conn)
}
