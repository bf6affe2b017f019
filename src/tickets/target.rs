//! Acting on what a ticket is about: which identity, outgoing user or account a lock takes
//! (always derived from the ticket, never taken from a form), and recording the request as a
//! pending action with its audit entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::detail::{detail, TicketDetail};
use super::types::SubjectKind;
use super::work::{exists, WorkError};
use crate::db::actions::{self, ActionKind, ActionRequest, Routes};
use crate::db::audit::{self, Actor};
use crate::db::ids::{ActionId, TicketId, UserId};
use crate::db::DbConn;

/// The locks a ticket's page offers, in the order its buttons show them.
pub const LOCKS: [ActionKind; 3] = ActionKind::LOCKS;

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
        SuspendAccount | UnsuspendAccount => t.customer_external_id.clone(),
    }
}

/// What staff asked for: an action, its reason, and until when a lock holds (none: until
/// unlocked).
#[derive(Clone, Debug)]
pub struct Ask<'a> {
    pub kind: ActionKind,
    /// Which upstream carries out which kind (none: staff do it by hand).
    pub routes: &'a Routes,
    pub reason: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    /// The staff member who asked; none from the command line.
    pub requested_by: Option<UserId>,
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
    let about = About {
        domain: t.outgoing_domain.as_deref(),
        user: t
            .outgoing_user
            .as_deref()
            .filter(|_| ask.kind.family() == "identity"),
    };
    request_about(conn, Some(t.id), &target, about, ask, actor)
}

/// The outgoing user a target belongs to, where known: the filter's calls name it.
#[derive(Clone, Copy, Debug, Default)]
struct About<'a> {
    domain: Option<&'a str>,
    user: Option<&'a str>,
}

/// Records `ask` on `target` (from the Outgoing Reports, the log search or the command line)
/// with its audit entry, on `ticket` when given. The outgoing user an identity belongs to is
/// taken from the newest ticket about it.
pub fn request(
    conn: &mut DbConn,
    ticket: Option<TicketId>,
    target: &str,
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<ActionId, WorkError> {
    if let Some(id) = ticket {
        exists(conn, id)?;
    }
    let newest = newest_about(conn, ask.kind, target)?;
    let about = About {
        domain: newest.as_ref().and_then(|n| n.1.as_deref()),
        user: newest.as_ref().and_then(|n| n.0.as_deref()),
    };
    request_about(conn, ticket, target, about, ask, actor)
}

/// The outgoing user and domain of the newest ticket about `target` (for an identity: its
/// identity; for an outgoing user: its outgoing user).
fn newest_about(
    conn: &mut DbConn,
    kind: ActionKind,
    target: &str,
) -> QueryResult<Option<(Option<String>, Option<String>)>> {
    use crate::db::schema::tickets;
    let query = tickets::table
        .order(tickets::last_seen.desc())
        .select((tickets::outgoing_user, tickets::outgoing_domain))
        .into_boxed();
    let query = match kind.family() {
        "identity" => query.filter(tickets::identity.eq(target)),
        "outgoing_user" => query.filter(tickets::outgoing_user.eq(target)),
        _ => return Ok(None),
    };
    let found = query
        .first::<(Option<String>, Option<String>)>(conn)
        .optional()?;
    Ok(found.map(|(user, domain)| match kind.family() {
        "identity" => (user, domain),
        _ => (None, domain),
    }))
}

/// Records `ask` on `target` as an action with its audit entry, in one transaction: pending
/// for the upstream that handles it, or manual. Unlocks never expire, and cancel the locks of
/// the target not carried out yet; a suspension names its customer.
fn request_about(
    conn: &mut DbConn,
    ticket: Option<TicketId>,
    target: &str,
    about: About<'_>,
    ask: &Ask<'_>,
    actor: Actor<'_>,
) -> Result<ActionId, WorkError> {
    let too_long = |e: crate::limits::TooLong| WorkError::Refused(e.to_string());
    let reason = crate::limits::REASON
        .check(ask.reason.trim())
        .map_err(too_long)?;
    if reason.is_empty() {
        return Err(WorkError::Refused("give a reason".into()));
    }
    if crate::limits::TARGET
        .check(target)
        .map_err(too_long)?
        .trim()
        .is_empty()
    {
        return Err(WorkError::Refused("nothing to act on".into()));
    }
    let at = crate::db::now();
    let expires_at = ask.expires_at.filter(|_| !ask.kind.is_unlock());
    let key = actions::fresh_key("web", at);
    crate::db::write(conn, |conn| {
        let account = match ask.kind.family() {
            "account" => crate::db::customers::id_by_external(conn, target)?,
            _ => None,
        };
        if ask.kind.is_unlock() {
            actions::cancel_open(
                conn,
                ask.kind.undo(),
                target,
                "unlocked before it was carried out",
                at,
            )?;
        }
        let customer = match ticket {
            Some(id) => exists(conn, id)?.0.or(account),
            None => account,
        };
        let request = ActionRequest {
            ticket_id: ticket,
            customer_id: customer,
            kind: ask.kind,
            target,
            target_domain: about.domain,
            target_user: about.user,
            reason,
            expires_at,
            idempotency_key: &key,
            requested_by: ask.requested_by,
            upstream: ask.routes.upstream_for(ask.kind),
        };
        let id = actions::request(conn, &request, at)?
            .ok_or_else(|| WorkError::Refused("this action was requested already".into()))?;
        let until = expires_at
            .map(|e| format!(" until {}", e.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let how = match request.upstream {
            Some(upstream) => format!("pending for {upstream}"),
            None => "manual: no upstream handles it".to_owned(),
        };
        let detail = format!("{} {target}{until} ({how}): {reason}", ask.kind);
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
