//! The outgoing log search (the filter's "Outgoing Log Search"): events by time range,
//! feed, feedback type, identity, sender, source IP and customer, newest first, by keyset
//! pages; each with what locking its identity or outgoing user takes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, EventId, TicketId};
use super::schema::{customers, events, tickets};
use super::DbConn;

/// What the search asks for; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// Events that arrived at or after this…
    pub from: Option<NaiveDateTime>,
    /// …and before this.
    pub to: Option<NaiveDateTime>,
    /// Part of the reporter's name (the feed), any case.
    pub feed: Option<String>,
    pub feedback_type: Option<String>,
    /// The identity, exactly (any case).
    pub identity: Option<String>,
    /// The original sender, exactly (any case).
    pub sender: Option<String>,
    /// A source IP, or the start of one (`10.0.42.`).
    pub source_ip: Option<String>,
    pub customer: Option<CustomerId>,
}

/// One line of the log.
#[derive(Queryable, Debug, Clone, Serialize)]
pub struct LogLine {
    pub id: EventId,
    pub ticket_id: TicketId,
    pub arrival_at: NaiveDateTime,
    pub reporter: String,
    pub feedback_type: String,
    pub identity: Option<String>,
    pub sender: Option<String>,
    pub source_ip: Option<String>,
    pub original_subject: Option<String>,
    pub customer_external_id: Option<String>,
    /// The outgoing user of the event's ticket (events keep none of their own).
    pub outgoing_user: Option<String>,
    pub outgoing_domain: Option<String>,
}

impl LogLine {
    /// What "Lock user" locks for this line: the outgoing user, else its domain, else the
    /// source IP (the filter's outgoing users are users, domains or IPs).
    pub fn user_target(&self) -> Option<&str> {
        self.outgoing_user
            .as_deref()
            .or(self.outgoing_domain.as_deref())
            .or(self.source_ip.as_deref())
    }
}

/// Up to `limit` lines matching `filter`, newest first, before `before` (arrival, event id).
pub fn search(
    conn: &mut DbConn,
    filter: &LogFilter,
    before: Option<(NaiveDateTime, EventId)>,
    limit: i64,
) -> QueryResult<Vec<LogLine>> {
    let mut query = events::table
        .inner_join(tickets::table)
        .left_join(customers::table.on(events::customer_id.eq(customers::id.nullable())))
        .order((events::arrival_at.desc(), events::id.desc()))
        .limit(limit)
        .select((
            events::id,
            events::ticket_id,
            events::arrival_at,
            events::reporter,
            events::feedback_type,
            events::identity,
            events::original_mail_from,
            events::source_ip,
            events::original_subject,
            customers::external_id.nullable(),
            tickets::outgoing_user,
            tickets::outgoing_domain,
        ))
        .into_boxed();
    if let Some(from) = filter.from {
        query = query.filter(events::arrival_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(events::arrival_at.lt(to));
    }
    if let Some(feed) = &filter.feed {
        query = query.filter(
            super::lower(events::reporter)
                .like(super::like_contains(&feed.to_lowercase()))
                .escape('\\'),
        );
    }
    if let Some(kind) = &filter.feedback_type {
        query = query.filter(events::feedback_type.eq(kind.to_lowercase()));
    }
    if let Some(identity) = &filter.identity {
        query = query.filter(events::identity.eq(identity.to_lowercase()));
    }
    if let Some(sender) = &filter.sender {
        query = query.filter(events::original_mail_from.eq(sender.to_lowercase()));
    }
    if let Some(ip) = &filter.source_ip {
        let pattern = format!(
            "{}%",
            super::like_contains(ip)
                .trim_start_matches('%')
                .trim_end_matches('%')
        );
        query = query.filter(events::source_ip.like(pattern).escape('\\'));
    }
    if let Some(customer) = filter.customer {
        query = query.filter(events::customer_id.eq(customer));
    }
    if let Some((at, id)) = before {
        query = query
            .filter(events::arrival_at.le(at))
            .filter(events::arrival_at.lt(at).or(events::id.lt(id)));
    }
    query.load(conn)
}
