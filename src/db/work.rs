//! Working a ticket: claim, status changes, notes, action requests and merges. Each is one
//! transaction that also writes the audit entry, so the trail never misses a change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::actions::{self, ActionKind, ActionRequest};
use super::audit::{self, Actor};
use super::ids::{ActionId, CustomerId, EventId, TicketId, UserId};
use super::schema::{events, notes, tickets};
use super::tickets::{self as ticket_store, Status};
use super::DbConn;

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

fn exists(conn: &mut DbConn, id: TicketId) -> Result<(Option<CustomerId>, String), WorkError> {
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
    conn.transaction(|conn| {
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
    conn.transaction(|conn| {
        let (customer, old) = exists(conn, id)?;
        if old == Status::Merged.as_str() {
            return Err(WorkError::Refused("a merged ticket cannot change".into()));
        }
        if old == status.as_str() {
            return Ok(());
        }
        ticket_store::set_status(conn, id, status, at).map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => WorkError::Refused(
                "another live ticket has the same customer, subject and class: merge into it"
                    .into(),
            ),
            e => WorkError::Query(e),
        })?;
        let detail = format!("{old} → {}", status.as_str());
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
    conn.transaction(|conn| {
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
#[derive(Queryable, Debug, Clone, serde::Serialize)]
pub struct Note {
    pub author: Option<String>,
    pub body: String,
    pub created_at: NaiveDateTime,
}

/// A ticket's notes, oldest first.
pub fn notes_of(conn: &mut DbConn, id: TicketId) -> QueryResult<Vec<Note>> {
    use super::schema::users;
    notes::table
        .left_join(users::table.on(notes::author_id.eq(users::id.nullable())))
        .filter(notes::ticket_id.eq(id))
        .order((notes::created_at, notes::id))
        .select((users::username.nullable(), notes::body, notes::created_at))
        .load(conn)
}

/// An action the staff asked for on a ticket.
pub struct ActionAsk<'a> {
    pub ticket: Option<TicketId>,
    pub customer: Option<CustomerId>,
    pub kind: ActionKind,
    pub target: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub requested_by: UserId,
}

/// Records the action as pending, for the upstream adapters, and audits the request.
pub fn request_action(
    conn: &mut DbConn,
    ask: &ActionAsk<'_>,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<ActionId, WorkError> {
    if ask.reason.trim().is_empty() {
        return Err(WorkError::Refused("give a reason".into()));
    }
    if ask.target.trim().is_empty() {
        return Err(WorkError::Refused("nothing to act on".into()));
    }
    // A fresh key per request: staff pressing the button twice mean it twice; the form's
    // CSRF token already stops replays from elsewhere.
    let key = format!(
        "web-{}-{:016x}",
        at.and_utc().timestamp_micros(),
        rand::random::<u64>()
    );
    conn.transaction(|conn| {
        let customer = match ask.ticket {
            Some(id) => exists(conn, id)?.0.or(ask.customer),
            None => ask.customer,
        };
        let request = ActionRequest {
            ticket_id: ask.ticket,
            customer_id: customer,
            kind: ask.kind,
            target: ask.target,
            reason: ask.reason,
            expires_at: ask.expires_at,
            idempotency_key: &key,
            requested_by: Some(ask.requested_by),
        };
        let id = actions::request(conn, &request, at)?
            .ok_or_else(|| WorkError::Refused("this action was requested already".into()))?;
        let until = ask
            .expires_at
            .map(|e| format!(" until {}", e.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let detail = format!(
            "{} {}{until} (pending): {}",
            ask.kind.as_str(),
            ask.target,
            ask.reason
        );
        audit::record(
            conn,
            at,
            actor,
            ask.kind.as_str(),
            ask.ticket,
            customer,
            &detail,
        )?;
        Ok(id)
    })
}

/// Merges ticket `from` into the live ticket `into`: its events, source IPs and counters move
/// over, and `from` becomes a merged ticket pointing at `into`.
pub fn merge(
    conn: &mut DbConn,
    from: TicketId,
    into: TicketId,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<(), WorkError> {
    if from == into {
        return Err(WorkError::Refused(
            "a ticket cannot be merged into itself".into(),
        ));
    }
    conn.transaction(|conn| {
        let (from_customer, from_status) = exists(conn, from)?;
        let (into_customer, into_status) = exists(conn, into)
            .map_err(|_| WorkError::Refused(format!("there is no ticket #{into}")))?;
        if from_status == Status::Merged.as_str() {
            return Err(WorkError::Refused("this ticket is merged already".into()));
        }
        if !matches!(into_status.as_str(), "open" | "resolved" | "ignored") {
            return Err(WorkError::Refused(format!(
                "ticket #{into} is {into_status}: merge into a live ticket"
            )));
        }
        let (incidents, last_seen, user, domain): (
            i64,
            NaiveDateTime,
            Option<String>,
            Option<String>,
        ) = tickets::table
            .find(from)
            .select((
                tickets::incident_count,
                tickets::last_seen,
                tickets::outgoing_user,
                tickets::outgoing_domain,
            ))
            .first(conn)?;
        let moving: Vec<EventId> = events::table
            .filter(events::ticket_id.eq(from))
            .select(events::id)
            .load(conn)?;
        // The events take the customer of the ticket they join.
        ticket_store::move_events(conn, &moving, into, into_customer)?;
        ticket_store::recount(conn, into, incidents, at)?;
        let outgoing = user.map(|user| crate::arf::OutgoingUser { user, domain });
        ticket_store::set_outgoing_user_if_newest(conn, into, last_seen, outgoing.as_ref())?;
        ticket_store::recount(conn, from, -incidents, at)?;
        ticket_store::mark_merged(conn, from, into, at)?;
        let detail = format!("merged into #{into}");
        audit::record(
            conn,
            at,
            actor,
            "merged",
            Some(from),
            from_customer,
            &detail,
        )?;
        let detail = format!("absorbed #{from}");
        audit::record(
            conn,
            at,
            actor,
            "merged",
            Some(into),
            into_customer,
            &detail,
        )?;
        Ok(())
    })
}
