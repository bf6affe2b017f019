//! Closing tickets nobody needs to look at any more: open or resolved, with no report and no
//! staff change for a number of days (`[housekeeping].close_idle_days`). Ignored tickets stay
//! as they are, so that they keep absorbing their reports quietly. A closed ticket is history:
//! the next report about the same subject opens a new ticket, as after closing by hand.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::store;
use super::types::Status;
use crate::db::audit::{self, Actor};
use crate::db::ids::{CustomerId, TicketId};
use crate::db::schema::tickets;
use crate::db::DbConn;

/// Tickets looked at per transaction.
const BATCH: i64 = 500;

/// Closes every open or resolved ticket idle for `days` days before `now`, each with an audit
/// entry by the system; returns how many. Safe beside another instance doing the same: each
/// ticket is closed (and audited) once.
pub fn close_idle(conn: &mut DbConn, days: u32, now: NaiveDateTime) -> QueryResult<usize> {
    let cutoff = now - Duration::days(i64::from(days));
    let detail_of = |was: Status| format!("{was} → closed after {days} idle days");
    let mut closed = 0;
    let mut after = TicketId(0);
    loop {
        let idle: Vec<(TicketId, Status, Option<CustomerId>)> = tickets::table
            .filter(tickets::status.eq_any([Status::Open, Status::Resolved]))
            .filter(tickets::last_seen.lt(cutoff))
            .filter(tickets::updated_at.lt(cutoff))
            .filter(tickets::id.gt(after))
            .order(tickets::id)
            .limit(BATCH)
            .select((tickets::id, tickets::status, tickets::customer_id))
            .load(conn)?;
        let Some(last) = idle.last() else {
            return Ok(closed);
        };
        after = last.0;
        closed += crate::db::write(conn, |conn| {
            let mut n = 0;
            for (id, was, customer) in idle {
                if store::close_if_idle(conn, id, was, cutoff, now)? {
                    let detail = detail_of(was);
                    audit::record(
                        conn,
                        now,
                        Actor::System,
                        "status",
                        Some(id),
                        customer,
                        &detail,
                    )?;
                    n += 1;
                }
            }
            QueryResult::Ok(n)
        })?;
    }
}
