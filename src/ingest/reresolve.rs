//! Re-resolving unresolved tickets after a customer-data change: a report that found no
//! customer when it arrived may belong to one now (a new identity, domain or netblock in
//! the customer file). Each event of an unresolved live ticket is resolved again from its
//! stored message; events that now have a customer move to that customer's live ticket for
//! the same subject and class (created if needed), and a ticket left without events is
//! marked merged into where they went. One transaction per ticket, so a crash leaves every
//! ticket either as it was or fully moved, and a re-run picks up the rest.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::facts::Facts;
use super::{IngestError, Ingestor};
use crate::arf::{self, OutgoingUser};
use crate::db::audit::{self, Actor};
use crate::db::customers::Resolver;
use crate::db::ids::{CustomerId, EventId, RawMessageId, TicketId};
use crate::db::schema::{events, tickets};
use crate::db::{now, raw_messages, DbConn};
use crate::tickets::{merge, store, Class, Severity, SubjectKind, TicketKey};

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Reresolved {
    /// Unresolved live tickets looked at.
    pub tickets_checked: u64,
    /// Events that found their customer and moved.
    pub events_moved: u64,
    /// Unresolved tickets left without events, now merged into a customer's ticket.
    pub tickets_merged: u64,
}

/// An unresolved live ticket, as far as moving its events needs.
#[derive(Queryable)]
struct Unresolved {
    id: TicketId,
    subject_kind: SubjectKind,
    subject: String,
    class: Class,
    severity: Severity,
}

/// The events of one ticket bound for one customer.
#[derive(Default)]
struct Moving {
    events: Vec<EventId>,
    /// The incidents they carry.
    incidents: i64,
    /// The newest one's arrival and outgoing user.
    newest: Option<(NaiveDateTime, Option<OutgoingUser>)>,
}

/// Resolves the events of every unresolved live ticket again and moves those that now
/// belong to a customer.
pub fn unresolved_tickets(
    conn: &mut DbConn,
    ingestor: &Ingestor,
) -> Result<Reresolved, IngestError> {
    let mut summary = Reresolved::default();
    let mut after = TicketId(0);
    loop {
        let page: Vec<Unresolved> = tickets::table
            .filter(tickets::customer_id.is_null())
            .filter(tickets::open_key.is_not_null())
            .filter(tickets::id.gt(after))
            .order(tickets::id)
            .select((
                tickets::id,
                tickets::subject_kind,
                tickets::subject,
                tickets::class,
                tickets::severity,
            ))
            .limit(200)
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for ticket in &page {
            summary.tickets_checked += 1;
            let (moved, merged) =
                crate::db::write(conn, |conn| reresolve_ticket(conn, ingestor, ticket))?;
            summary.events_moved += moved;
            summary.tickets_merged += u64::from(merged);
        }
    }
    Ok(summary)
}

/// Moves the events of one ticket that now resolve; returns how many moved and whether the
/// ticket was emptied.
fn reresolve_ticket(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    ticket: &Unresolved,
) -> QueryResult<(u64, bool)> {
    let held: Vec<(EventId, RawMessageId)> = events::table
        .filter(events::ticket_id.eq(ticket.id))
        .select((events::id, events::raw_message_id))
        .load(conn)?;
    let at = now();
    let mut resolver = Resolver::default();
    let mut moves: BTreeMap<CustomerId, Moving> = BTreeMap::new();
    for (event, raw) in held {
        let Some(bytes) = raw_messages::content(conn, raw)? else {
            continue;
        };
        // A stored event's message parsed once; should a newer parser refuse it, the event
        // stays where it is.
        let Ok(report) = arf::parse_with(&bytes, &ingestor.rules) else {
            continue;
        };
        let facts = Facts::new(&report, at);
        if let Some((customer, _)) =
            resolver.resolve(conn, &facts.clues(), &ingestor.resolve_order)?
        {
            let entry = moves.entry(customer).or_default();
            entry.events.push(event);
            entry.incidents += report.incidents.max(1) as i64;
            // Events do not keep the outgoing user: carry the newest one's to the target.
            if entry
                .newest
                .as_ref()
                .is_none_or(|(at, _)| facts.arrival >= *at)
            {
                entry.newest = Some((facts.arrival, report.outgoing_user.clone()));
            }
        }
    }
    let mut moved = 0;
    let mut last_target = None;
    for (customer, moving) in &moves {
        let ids = &moving.events;
        let key = TicketKey {
            customer_id: Some(*customer),
            subject_kind: ticket.subject_kind,
            subject: ticket.subject.clone(),
            class: ticket.class.clone(),
        };
        let (target, _) = store::live_or_create(conn, &key, ticket.severity, at)?;
        merge::move_events(conn, ids, target, Some(*customer))?;
        let count = merge::recount(conn, target, moving.incidents, at)?;
        if let Some((arrival, user)) = &moving.newest {
            merge::set_outgoing_user_if_newest(conn, target, *arrival, user.as_ref())?;
        }
        // The higher of the two tickets' severities, raised further by the new count.
        let held_by_target: Severity = tickets::table
            .find(target)
            .select(tickets::severity)
            .first(conn)?;
        let higher = held_by_target.max(ticket.severity);
        let severity = ingestor
            .severity
            .severity(&ticket.class, count, false, higher);
        diesel::update(tickets::table.find(target))
            .set(tickets::severity.eq(severity))
            .execute(conn)?;
        audit::record(
            conn,
            at,
            Actor::System,
            "moved_in",
            Some(target),
            Some(*customer),
            &format!(
                "{} event(s) moved here from unresolved ticket #{} after a customer-data change",
                ids.len(),
                ticket.id
            ),
        )?;
        audit::record(
            conn,
            at,
            Actor::System,
            "moved_out",
            Some(ticket.id),
            None,
            &format!(
                "{} event(s) moved to ticket #{target}: they now resolve to a customer",
                ids.len()
            ),
        )?;
        moved += ids.len() as u64;
        last_target = Some(target);
    }
    let Some(target) = last_target else {
        return Ok((0, false));
    };
    let incidents_out: i64 = moves.values().map(|m| m.incidents).sum();
    let left = merge::recount(conn, ticket.id, -incidents_out, at)?;
    if left == 0 {
        merge::mark_merged(conn, ticket.id, target, at)?;
        audit::record(
            conn,
            at,
            Actor::System,
            "merged",
            Some(ticket.id),
            None,
            &format!("merged into ticket #{target}: all its events now resolve to a customer"),
        )?;
    }
    Ok((moved, left == 0))
}
