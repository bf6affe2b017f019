//! What a batch of events changes on a ticket, as the statements that write it take it.

use chrono::NaiveDateTime;

use super::types::{Severity, Status};
use crate::db::ids::TicketId;

/// A ticket after a batch of events: every counter and date the ingest path keeps current.
#[derive(Debug)]
pub struct TicketEventUpdate {
    pub status: Status,
    pub severity: Severity,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The fields that follow the newest event by arrival time. They are only written when the
/// batch brought a newer event than the ticket had, so the result does not depend on the
/// order events are processed in.
#[derive(Debug, Clone, Default)]
pub struct TicketLatest {
    pub last_source_ip: Option<String>,
    pub last_original_subject: Option<String>,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub outgoing_domain: Option<String>,
}

/// One ticket's share of a batch: the new counters, `incidents` to add to the stored total,
/// the distinct source IP count, and the newest event's details when the batch brought a
/// newer event than the ticket had.
pub struct TicketBatchUpdate<'a> {
    pub id: TicketId,
    pub update: TicketEventUpdate,
    pub incidents: i64,
    pub source_ips: i64,
    pub latest: Option<&'a TicketLatest>,
}
