//! A ticket as its page reads it: the summary joined with customer and assignee, the event
//! timeline by keyset pages (newest first), and its source IPs.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::events::Event;
use super::ids::{CustomerId, EventId, TicketId, UserId};
use super::schema::{customers, events, ticket_source_ips, tickets, users};
use super::DbConn;

/// The ticket page's summary.
#[derive(Queryable, Debug, Clone, Serialize)]
pub struct TicketDetail {
    pub id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub customer_external_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub subject_kind: String,
    pub subject: String,
    pub class: String,
    pub severity: String,
    pub status: String,
    pub assignee_id: Option<UserId>,
    pub assignee: Option<String>,
    pub merged_into_id: Option<TicketId>,
    pub event_count: i64,
    pub incident_count: i64,
    pub source_ip_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub last_source_ip: Option<String>,
    pub last_original_subject: Option<String>,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub outgoing_domain: Option<String>,
}

/// The ticket's summary, if it exists.
pub fn detail(conn: &mut DbConn, id: TicketId) -> QueryResult<Option<TicketDetail>> {
    tickets::table
        .left_join(customers::table)
        .left_join(users::table)
        .filter(tickets::id.eq(id))
        .select((
            tickets::id,
            tickets::customer_id,
            customers::external_id.nullable(),
            customers::name.nullable(),
            customers::email.nullable(),
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::assignee_id,
            users::username.nullable(),
            tickets::merged_into_id,
            tickets::event_count,
            tickets::incident_count,
            tickets::source_ip_count,
            tickets::first_seen,
            tickets::last_seen,
            tickets::last_source_ip,
            tickets::last_original_subject,
            tickets::identity,
            tickets::outgoing_user,
            tickets::outgoing_domain,
        ))
        .first(conn)
        .optional()
}

/// A page of the ticket's events, newest first, before `before` (arrival time, event id).
pub fn timeline(
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

/// One event of the ticket, for its evidence.
pub fn event(conn: &mut DbConn, ticket: TicketId, id: EventId) -> QueryResult<Option<Event>> {
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
