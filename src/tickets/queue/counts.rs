//! Counts beside the queue's pages: events of the last 24 hours, the ranking by them, and
//! tickets per status.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::ids::TicketId;
use crate::db::plans::OneOf;
use crate::db::schema::{events, tickets};
use crate::db::DbConn;
use crate::tickets::Status;

/// How many events each of `ids` received since `since`.
pub fn events_since(
    conn: &mut DbConn,
    ids: &[TicketId],
    since: NaiveDateTime,
) -> QueryResult<HashMap<TicketId, i64>> {
    let numbers: Vec<i64> = ids.iter().map(|t| t.0).collect();
    let rows: Vec<(TicketId, i64)> = events::table
        .filter(OneOf::new(
            events::ticket_id,
            events::ticket_id.eq_any(ids),
            &numbers,
        ))
        .filter(events::arrival_at.ge(since))
        .group_by(events::ticket_id)
        .select((events::ticket_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Every ticket with events since `since` and how many, most first (ties: newest ticket
/// first). This is the whole ranking; callers cache it for a short while.
pub fn ranking_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<Vec<(TicketId, i64)>> {
    let mut rows: Vec<(TicketId, i64)> = events::table
        .filter(events::arrival_at.ge(since))
        .group_by(events::ticket_id)
        .select((events::ticket_id, diesel::dsl::count_star()))
        .load(conn)?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    Ok(rows)
}

/// How many tickets each status holds.
pub fn status_counts(conn: &mut DbConn) -> QueryResult<HashMap<Status, i64>> {
    let rows: Vec<(Status, i64)> = tickets::table
        .group_by(tickets::status)
        .select((tickets::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
