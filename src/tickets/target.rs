//! Acting on what a ticket is about: which identity, outgoing user or account a lock takes
//! (always derived from the ticket, never taken from a form), and recording the request as a
//! pending action with its audit entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::detail::{detail, TicketDetail};
use super::types::SubjectKind;
use super::work::{exists, WorkError};
use crate::db::actions::{self, ActionKind, ActionRequest};
use crate::db::audit::{self, Actor};
use crate::db::ids::{ActionId, TicketId, UserId};
use crate::db::DbConn;

/// The locks a ticket's page offers, in the order its buttons show them.
pub const LOCKS: [ActionKind; 3] = [
    ActionKind::LockIdentity,
    ActionKind::LockOutgoingUser,
    ActionKind::SuspendAccount,
];

/// What `kind` acts on for ticket `t`: its identity (else a sender subject), its outgoing
/// user (else the outgoing domain, else the last source IP), or its customer's account.
pub fn lock_target(t: &TicketDetail, kind: ActionKind) -> Option<String> {
    use ActionKind::*;
    match kind {
        LockIdentity | UnlockIdentity => t
            .identity
            .clone()
            .or_else(|| (t.subject_kind != SubjectKind::Ip).then(|| t.subject.clone())),
        LockOutgoingUser | UnlockOutgoingUser => t
            .outgoing_user
            .clone()
            .or_else(|| t.outgoing_domain.clone())
            .or_else(|| t.last_source_ip.clone()),
        SuspendAccount => t.customer_external_id.clone(),
    }
}

/// What staff asked for: an action, its reason, and until when a lock holds (none: until
/// unlocked).
#[derive(Clone, Debug)]
pub struct Ask<'a> {
    pub kind: ActionKind,
    pub reason: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub requested_by: UserId,
}

/// Requests `ask` on the ticket's own target.
pub fn request_on_ticket(
    conn: &mut DbConn,
    id: TicketId,
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<ActionId, WorkError> {
    let t = detail(conn, id)?.ok_or(WorkError::NotFound)?;
    on_ticket(conn, &t, ask, actor)
}

/// The bulk form's "lock" of each of `ids`: a ticket about a bare source IP locks its
/// outgoing user, any other its identity.
pub fn bulk_lock(
    conn: &mut DbConn,
    ids: &[TicketId],
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<Vec<ActionId>, WorkError> {
    let mut requested = Vec::with_capacity(ids.len());
    for &id in ids {
        let t = detail(conn, id)?.ok_or(WorkError::NotFound)?;
        let kind = if t.subject_kind == SubjectKind::Ip && t.identity.is_none() {
            ActionKind::LockOutgoingUser
        } else {
            ActionKind::LockIdentity
        };
        requested.push(on_ticket(
            conn,
            &t,
            &Ask {
                kind,
                ..ask.clone()
            },
            actor,
        )?);
    }
    Ok(requested)
}

fn on_ticket(
    conn: &mut DbConn,
    t: &TicketDetail,
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<ActionId, WorkError> {
    let target = lock_target(t, ask.kind).ok_or_else(|| {
        WorkError::Refused(format!("this ticket has nothing to {}", ask.kind.label()))
    })?;
    request(conn, Some(t.id), &target, ask, actor)
}

/// Records `ask` on `target` as a pending action with its audit entry, in one transaction.
/// Unlocks never expire; a suspension names its customer.
pub fn request(
    conn: &mut DbConn,
    ticket: Option<TicketId>,
    target: &str,
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<ActionId, WorkError> {
    let reason = ask.reason.trim();
    if reason.is_empty() {
        return Err(WorkError::Refused("give a reason".into()));
    }
    if target.trim().is_empty() {
        return Err(WorkError::Refused("nothing to act on".into()));
    }
    let at = crate::db::now();
    let expires_at = ask.expires_at.filter(|_| !ask.kind.is_unlock());
    let key = actions::fresh_key("web", at);
    conn.transaction(|conn| {
        let account = match ask.kind {
            ActionKind::SuspendAccount => crate::db::customers::id_by_external(conn, target)?,
            _ => None,
        };
        let customer = match ticket {
            Some(id) => exists(conn, id)?.0.or(account),
            None => account,
        };
        let request = ActionRequest {
            ticket_id: ticket,
            customer_id: customer,
            kind: ask.kind,
            target,
            reason,
            expires_at,
            idempotency_key: &key,
            requested_by: Some(ask.requested_by),
        };
        let id = actions::request(conn, &request, at)?
            .ok_or_else(|| WorkError::Refused("this action was requested already".into()))?;
        let until = expires_at
            .map(|e| format!(" until {}", e.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let detail = format!("{} {target}{until} (pending): {reason}", ask.kind);
        audit::record(
            conn,
            at,
            actor,
            ask.kind.as_str(),
            ticket,
            customer,
            &detail,
        )?;
        Ok(id)
    })
}
