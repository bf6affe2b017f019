//! The automatic rule of the filter vendor's guide ("temporarily lock down the identity as
//! an immediate measure"): enough reports for one identity within a short window request a
//! temporary lock of it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::actions::{self, ActionKind, ActionRequest, Routes};
use crate::db::audit::{self, Actor};
use crate::db::events;
use crate::db::ids::{CustomerId, TicketId};
use crate::db::DbConn;

/// "N events for one subject within T minutes → request a temporary lock of the identity
/// for D hours". Off by default.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AutoLock {
    pub enabled: bool,
    pub events: i64,
    pub within_minutes: i64,
    pub lock_hours: i64,
}

impl Default for AutoLock {
    fn default() -> Self {
        Self {
            enabled: false,
            events: 5,
            within_minutes: 10,
            lock_hours: 24,
        }
    }
}

/// One new event on a ticket, as the rule looks at it.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    pub ticket: TicketId,
    pub customer: Option<CustomerId>,
    pub identity: Option<&'a str>,
    pub arrival: NaiveDateTime,
    /// This batch's earlier events on the ticket within the window (not in the database yet).
    pub earlier_in_batch: i64,
    /// The first and last arrival of the ticket's earlier events; none if it had none.
    pub seen_between: Option<(NaiveDateTime, NaiveDateTime)>,
    /// The outgoing user the identity sent through, where the report names it.
    pub outgoing_user: Option<&'a crate::arf::OutgoingUser>,
}

/// The automatic rule: enough events for one identity within the window request a
/// temporary lock, unless a lock is already pending or in force. `earlier_in_batch` counts
/// this batch's events in the window, which the database does not hold yet.
///
/// Returns whether a lock of the identity is known to be pending or in force afterwards (the
/// rule's threshold was reached and it found or requested one), so that the caller need not
/// ask again for the identity's further reports in the same transaction.
pub fn apply(
    conn: &mut DbConn,
    rule: &AutoLock,
    routes: &Routes,
    seen: &Seen<'_>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let Seen {
        ticket,
        customer,
        identity,
        arrival,
        earlier_in_batch,
        seen_between,
        outgoing_user,
    } = *seen;
    let Some(identity) = identity else {
        return Ok(false);
    };
    let window_start = arrival - Duration::minutes(rule.within_minutes);
    // The ticket's stored events all arrived within `seen_between`: when the window misses
    // that span (the common case outside a spam run), none of them is in it, and the
    // database is not asked.
    let stored = match seen_between {
        Some((first, last)) if first <= arrival && last >= window_start => {
            events::count_in_window(conn, ticket, window_start, arrival)?
        }
        _ => 0,
    };
    let recent = stored + earlier_in_batch + 1;
    if recent < rule.events {
        return Ok(false);
    }
    if actions::lock_in_force(conn, ActionKind::LockIdentity, identity, at)? {
        return Ok(true);
    }
    let reason = format!(
        "automatic: {recent} reports within {} minutes",
        rule.within_minutes
    );
    let key = format!("auto-lock:{identity}:{arrival}");
    let requested = actions::request(
        conn,
        &ActionRequest {
            ticket_id: Some(ticket),
            customer_id: customer,
            kind: ActionKind::LockIdentity,
            target: identity,
            target_domain: outgoing_user.and_then(|u| u.domain.as_deref()),
            target_user: outgoing_user.map(|u| u.user.as_str()),
            reason: &reason,
            expires_at: Some(at + Duration::hours(rule.lock_hours)),
            idempotency_key: &key,
            requested_by: None,
            upstream: routes.upstream_for(ActionKind::LockIdentity),
        },
        at,
    )?;
    if requested.is_some() {
        let detail = format!(
            "temporary lock of identity {identity} for {} hours requested ({reason})",
            rule.lock_hours
        );
        audit::record(
            conn,
            at,
            Actor::System,
            "lock_identity",
            Some(ticket),
            customer,
            &detail,
        )?;
    }
    Ok(requested.is_some())
}
