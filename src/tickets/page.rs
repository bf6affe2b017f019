//! A ticket as its page reads it: the summary joined with customer and assignee, the event
//! timeline by keyset pages (newest first), the evidence of one event, source IPs, notes,
//! actions, locks and the audit trail — all read in one unit of work.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::detail::{detail, TicketDetail};
use super::queue::{self, micros};
use super::target::{lock_target, LOCKS};
use super::work::{notes_of, Note};
use crate::db::actions::{self, Action, Attempt};
use crate::db::audit::{self, Actor, AuditEntry};
use crate::db::events::Event;
use crate::db::ids::{ActionId, EventId, RawMessageId, TicketId};
use crate::db::locks::{self, Lock};
use crate::db::raw_messages;
use crate::db::schema::{events, ticket_source_ips};
use crate::db::DbConn;
use crate::evidence::{evidence_of, Evidence};

/// A page of the ticket's events, newest first, before `before` (arrival time, event id).
fn timeline(
    conn: &mut DbConn,
    id: TicketId,
    before: Option<(NaiveDateTime, EventId)>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let mut query = events::table
        .filter(events::ticket_id.eq(id))
        .order((events::arrival_at.desc(), events::id.desc()))
        .limit(limit)
        .select(Event::as_select())
        .into_boxed();
    if let Some((at, event)) = before {
        query = query
            .filter(events::arrival_at.le(at))
            .filter(events::arrival_at.lt(at).or(events::id.lt(event)));
    }
    query.load(conn)
}

/// A page of the ticket's timeline before `before`, and the cursor of the next (older) page,
/// `MICROS_EVENTID`, when there is one.
pub fn timeline_page(
    conn: &mut DbConn,
    id: TicketId,
    before: Option<(NaiveDateTime, EventId)>,
) -> QueryResult<(Vec<Event>, Option<String>)> {
    let mut events = timeline(conn, id, before, EVENTS_PAGE + 1)?;
    let more = events.len() > EVENTS_PAGE as usize;
    events.truncate(EVENTS_PAGE as usize);
    let next = more
        .then(|| {
            events
                .last()
                .map(|e| format!("{}_{}", micros(e.arrival_at), e.id.0))
        })
        .flatten();
    Ok((events, next))
}

/// One event of the ticket, for its evidence.
fn event(conn: &mut DbConn, ticket: TicketId, id: EventId) -> QueryResult<Option<Event>> {
    events::table
        .filter(events::ticket_id.eq(ticket))
        .filter(events::id.eq(id))
        .select(Event::as_select())
        .first(conn)
        .optional()
}

/// Up to `limit` of the ticket's source IPs.
pub fn source_ips(conn: &mut DbConn, id: TicketId, limit: i64) -> QueryResult<Vec<String>> {
    ticket_source_ips::table
        .filter(ticket_source_ips::ticket_id.eq(id))
        .order(ticket_source_ips::source_ip)
        .limit(limit)
        .select(ticket_source_ips::source_ip)
        .load(conn)
}

/// Events per timeline page.
const EVENTS_PAGE: i64 = 25;

/// Which part of a ticket's page to show.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageRequest {
    /// The timeline page before this (arrival time, event id); the newest page without.
    pub before: Option<(NaiveDateTime, EventId)>,
    /// The event whose evidence is shown; the newest of the page without.
    pub event: Option<EventId>,
    /// Third-party recipients shown unmasked (agents only: the caller checks).
    pub unmasked: bool,
}

/// Everything the ticket page shows.
#[derive(Debug, Serialize)]
pub struct TicketPage {
    pub t: TicketDetail,
    pub events: Vec<Event>,
    /// The cursor of the next (older) timeline page, `MICROS_EVENTID`.
    pub next_before: Option<String>,
    /// The raw messages behind this timeline page whose content was purged: their events
    /// offer no download.
    pub purged: Vec<RawMessageId>,
    pub shown_event: Option<Event>,
    pub evidence: Option<Evidence>,
    /// When the shown event's stored message was purged, if it was (housekeeping).
    pub evidence_purged_at: Option<NaiveDateTime>,
    pub events_24h: i64,
    pub source_ips: Vec<String>,
    pub notes: Vec<Note>,
    pub audit: Vec<AuditEntry>,
    pub actions: Vec<Action>,
    /// The calls made for those actions.
    pub attempts: Vec<Attempt>,
    /// The notices that told the customer about this ticket, one row per recipient.
    pub notices: Vec<crate::db::notices::Notification>,
    /// What each lock button acts on (none where the ticket has nothing to lock that way),
    /// and the lock holding on it.
    pub identity_target: Option<String>,
    pub user_target: Option<String>,
    pub account_target: Option<String>,
    pub identity_lock: Option<Lock>,
    pub user_lock: Option<Lock>,
    pub account_lock: Option<Lock>,
}

impl TicketPage {
    /// The page of ticket `id`, if it exists.
    pub fn load(conn: &mut DbConn, id: TicketId, req: PageRequest) -> QueryResult<Option<Self>> {
        let Some(t) = detail(conn, id)? else {
            return Ok(None);
        };
        let (events, next_before) = timeline_page(conn, id, req.before)?;
        let raw_ids: Vec<RawMessageId> = events.iter().map(|e| e.raw_message_id).collect();
        let purged = raw_messages::purged_among(conn, &raw_ids)?;
        let shown_event = match req.event {
            Some(e) => event(conn, id, e)?,
            None => events.first().cloned(),
        };
        let evidence = match &shown_event {
            Some(e) => raw_messages::content(conn, e.raw_message_id)?
                .map(|bytes| evidence_of(&bytes, !req.unmasked)),
            None => None,
        };
        let evidence_purged_at = match (&shown_event, &evidence) {
            (Some(e), None) => raw_messages::purged_at(conn, e.raw_message_id)?,
            _ => None,
        };
        let now = crate::db::now();
        let events_24h = queue::events_since(conn, &[id], now - queue::RECENT)?
            .get(&id)
            .copied()
            .unwrap_or(0);
        let [identity_target, user_target, account_target] = LOCKS.map(|k| lock_target(&t, k));
        let lookup: Vec<&str> = [&identity_target, &user_target, &account_target]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let held = locks::in_force(conn, &lookup)?;
        let lock_of = |target: &Option<String>| target.as_ref().and_then(|t| held.get(t).cloned());
        let ticket_actions = actions::for_ticket(conn, id)?;
        let action_ids: Vec<ActionId> = ticket_actions.iter().map(|a| a.id).collect();
        Ok(Some(Self {
            identity_lock: lock_of(&identity_target),
            user_lock: lock_of(&user_target),
            account_lock: lock_of(&account_target),
            source_ips: source_ips(conn, id, 20)?,
            notes: notes_of(conn, id)?,
            audit: audit::for_ticket(conn, id)?,
            attempts: actions::attempts_of(conn, &action_ids)?,
            notices: crate::db::notices::recent(conn, Some(id), 50)?,
            actions: ticket_actions,
            identity_target,
            user_target,
            account_target,
            next_before,
            purged,
            events,
            shown_event,
            evidence,
            evidence_purged_at,
            events_24h,
            t,
        }))
    }
}

/// The stored report of the ticket's newest event, as it arrived.
pub fn latest_report(conn: &mut DbConn, ticket: TicketId) -> QueryResult<Option<Vec<u8>>> {
    match timeline(conn, ticket, None, 1)?.first() {
        Some(e) => raw_messages::content(conn, e.raw_message_id),
        None => Ok(None),
    }
}

/// `MICROS_EVENTID`, a timeline cursor as the page's links carry it. A time past those events
/// have is held to them (see [`crate::db::clamp_time`]).
pub fn parse_before(s: &str) -> Option<(NaiveDateTime, EventId)> {
    let (m, id) = s.split_once('_')?;
    let at = chrono::DateTime::from_timestamp_micros(m.parse().ok()?)?.naive_utc();
    Some((crate::db::clamp_time(at), EventId(id.parse().ok()?)))
}

/// The stored report behind one of the ticket's events, as it arrived; the download is
/// audited. `None` when the ticket has no such event.
pub fn raw_report(
    conn: &mut DbConn,
    ticket: TicketId,
    id: EventId,
    actor: Actor<'_>,
) -> QueryResult<Option<Vec<u8>>> {
    let Some(e) = event(conn, ticket, id)? else {
        return Ok(None);
    };
    let Some(bytes) = raw_messages::content(conn, e.raw_message_id)? else {
        return Ok(None);
    };
    let detail = format!("downloaded the raw report of event {}", id.0);
    audit::record(
        conn,
        crate::db::now(),
        actor,
        "raw_download",
        Some(ticket),
        None,
        &detail,
    )?;
    Ok(Some(bytes))
}

/// When the stored report behind one of the ticket's events was purged, if it was.
pub fn purged_at(
    conn: &mut DbConn,
    ticket: TicketId,
    id: EventId,
) -> QueryResult<Option<NaiveDateTime>> {
    match event(conn, ticket, id)? {
        Some(e) => raw_messages::purged_at(conn, e.raw_message_id),
        None => Ok(None),
    }
}

/// Records that `actor` saw the third-party recipients of `event` unmasked, as a raw
/// download is recorded: they are the complainants' addresses.
pub fn recipients_shown(
    conn: &mut DbConn,
    ticket: TicketId,
    event: Option<EventId>,
    actor: Actor<'_>,
) -> QueryResult<()> {
    let detail = match event {
        Some(e) => format!("showed the recipients of event {} unmasked", e.0),
        None => "showed the recipients unmasked".to_owned(),
    };
    audit::record(
        conn,
        crate::db::now(),
        actor,
        "recipients_shown",
        Some(ticket),
        None,
        &detail,
    )
}

/// A ticket as its customer sees it on the self-service page: the summary, and the latest
/// report without any third-party recipient.
#[derive(Debug, Serialize)]
pub struct CustomerTicket {
    pub t: TicketDetail,
    pub evidence: Option<Evidence>,
    pub source_ips: Vec<String>,
    /// What the customer answered on the page before: when, and the text.
    pub answers: Vec<(NaiveDateTime, String)>,
}

/// The customer's tickets still being worked, newest first, as its page shows them.
pub fn for_customer(
    conn: &mut DbConn,
    customer: crate::db::ids::CustomerId,
) -> QueryResult<Vec<CustomerTicket>> {
    let mut out = Vec::new();
    for id in crate::db::selfservice::open_tickets(conn, customer)? {
        let Some(t) = detail(conn, id)? else { continue };
        out.push(CustomerTicket {
            evidence: latest_report(conn, id)?.map(|raw| Evidence::for_customer(&raw)),
            source_ips: source_ips(conn, id, 10)?,
            answers: crate::db::selfservice::answers(conn, id)?,
            t,
        });
    }
    Ok(out)
}
