//! Merging tickets, and moving events between tickets (merge, re-resolution after a
//! customer-data change): the events move, both tickets' counters are counted again from the
//! events they hold, and an emptied ticket points at where its events went.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::types::Status;
use super::work::{exists, WorkError};
use crate::db::audit::{self, Actor};
use crate::db::ids::{CustomerId, EventId, TicketId};
use crate::db::schema::{events, tickets};
use crate::db::DbConn;

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
    crate::db::write(conn, |conn| {
        let (from_customer, from_status) = exists(conn, from)?;
        let (into_customer, into_status) = exists(conn, into)
            .map_err(|_| WorkError::Refused(format!("there is no ticket #{into}")))?;
        if from_status == Status::Merged {
            return Err(WorkError::Refused("this ticket is merged already".into()));
        }
        if !into_status.is_live() {
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
        move_events(conn, &moving, into, into_customer)?;
        recount(conn, into, incidents, at)?;
        let outgoing = user.map(|user| crate::arf::OutgoingUser { user, domain });
        set_outgoing_user_if_newest(conn, into, last_seen, outgoing.as_ref())?;
        recount(conn, from, -incidents, at)?;
        mark_merged(conn, from, into, at)?;
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

/// Moves events to another ticket (and customer). Counters and source IPs are the caller's
/// to [`recount`] on both tickets.
pub fn move_events(
    conn: &mut DbConn,
    events: &[EventId],
    to: TicketId,
    customer: Option<CustomerId>,
) -> QueryResult<()> {
    use crate::db::schema::events as ev;
    // The Outgoing Reports count events by customer.
    crate::db::outgoing::counts::recount(conn, events, |conn| {
        for chunk in events.chunks(500) {
            diesel::update(ev::table.filter(ev::id.eq_any(chunk)))
                .set((ev::ticket_id.eq(to), ev::customer_id.eq(customer)))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Recomputes a ticket's counters from the events it holds after events moved in or out:
/// count, first and last seen, distinct source IPs and reporters, and the newest event's
/// details.
/// `incidents` is added to the stored incident total (negative for events moved out).
/// Returns the new event count.
pub fn recount(
    conn: &mut DbConn,
    id: TicketId,
    incidents: i64,
    at: NaiveDateTime,
) -> QueryResult<i64> {
    use crate::db::schema::{events as ev, ticket_reporters, ticket_source_ips as ips};
    let (count, first, last): (i64, Option<NaiveDateTime>, Option<NaiveDateTime>) = ev::table
        .filter(ev::ticket_id.eq(id))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(ev::arrival_at),
            diesel::dsl::max(ev::arrival_at),
        ))
        .first(conn)?;
    // The ticket's source IP list becomes exactly its events' distinct source IPs.
    let present: Vec<String> = ev::table
        .filter(ev::ticket_id.eq(id))
        .filter(ev::source_ip.is_not_null())
        .select(ev::source_ip.assume_not_null())
        .distinct()
        .load(conn)?;
    diesel::delete(
        ips::table
            .filter(ips::ticket_id.eq(id))
            .filter(ips::source_ip.ne_all(&present)),
    )
    .execute(conn)?;
    let pairs: Vec<(TicketId, String)> = present.iter().map(|ip| (id, ip.clone())).collect();
    super::apply::add_source_ips(conn, &pairs)?;
    // And its reporters exactly its events' distinct reporters.
    let reporters: Vec<String> = ev::table
        .filter(ev::ticket_id.eq(id))
        .select(ev::reporter)
        .distinct()
        .load(conn)?;
    diesel::delete(
        ticket_reporters::table
            .filter(ticket_reporters::ticket_id.eq(id))
            .filter(ticket_reporters::reporter.ne_all(&reporters)),
    )
    .execute(conn)?;
    let pairs: Vec<(TicketId, String)> = reporters.into_iter().map(|r| (id, r)).collect();
    super::apply::add_reporters(conn, &pairs)?;
    let newest: Option<(Option<String>, Option<String>, Option<String>)> = ev::table
        .filter(ev::ticket_id.eq(id))
        .order((ev::arrival_at.desc(), ev::id.desc()))
        .select((ev::source_ip, ev::original_subject, ev::identity))
        .first(conn)
        .optional()?;
    let counters = (
        tickets::event_count.eq(count),
        tickets::source_ip_count.eq(present.len() as i64),
        tickets::incident_count.eq(tickets::incident_count + incidents),
        tickets::updated_at.eq(at),
    );
    match (first, last, newest) {
        (Some(first), Some(last), Some((source_ip, subject, identity))) => {
            diesel::update(tickets::table.find(id))
                .set((
                    counters,
                    tickets::first_seen.eq(first),
                    tickets::last_seen.eq(last),
                    tickets::last_source_ip.eq(source_ip),
                    tickets::last_original_subject.eq(subject),
                    tickets::identity.eq(identity),
                ))
                .execute(conn)?;
        }
        // No events left: the dates stay as the ticket's history.
        _ => {
            diesel::update(tickets::table.find(id))
                .set(counters)
                .execute(conn)?;
        }
    }
    Ok(count)
}

/// Sets the outgoing user of a ticket whose newest event arrived at `arrival`; a ticket
/// with a newer event keeps its own.
pub fn set_outgoing_user_if_newest(
    conn: &mut DbConn,
    id: TicketId,
    arrival: NaiveDateTime,
    user: Option<&crate::arf::OutgoingUser>,
) -> QueryResult<()> {
    diesel::update(
        tickets::table
            .find(id)
            .filter(tickets::last_seen.le(arrival)),
    )
    .set((
        tickets::outgoing_user.eq(user.map(|u| u.user.as_str())),
        tickets::outgoing_domain.eq(user.and_then(|u| u.domain.as_deref())),
    ))
    .execute(conn)?;
    Ok(())
}

/// Marks an emptied ticket as merged into `into`, releasing its live key.
pub fn mark_merged(
    conn: &mut DbConn,
    id: TicketId,
    into: TicketId,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(tickets::table.find(id))
        .set((
            tickets::status.eq(Status::Merged),
            tickets::open_key.eq(None::<String>),
            tickets::merged_into_id.eq(Some(into)),
            tickets::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
