//! `customers forget`: a data-protection request. The customer's personal data goes; what it
//! was counted for stays, so statistics and the dashboard do not change. In one transaction:
//!
//! - the customer row keeps its id and counts but loses its name, addresses, billing and
//!   hosting references, language and bounce list; its external id becomes
//!   `forgotten-{id}` (a later import of the same external id makes a new customer);
//! - its identities, domains and netblocks are deleted (its future reports stay unresolved);
//! - its self-service tokens are deleted; its notices keep their count and state but lose
//!   recipient, subject and body;
//! - its tickets keep class, severity, dates and every count, but their subject becomes
//!   `forgotten-{ticket id}`, identity, outgoing user and domain, last source IP and subject
//!   are cleared, source IPs and notes are deleted, and live ones are closed;
//! - their events, and any other event resolved to it, keep reporter, feedback type and
//!   arrival but lose source IP, sender, message ids, subject and identity; the stored raw
//!   messages behind them are purged;
//! - actions about it lose target, reason, outcome and errors (their calls' messages too); audit
//!   entries about it keep who and when but lose their detail;
//! - one audit entry records the request, without the removed data.
//!
//! Forgetting is refused while an action about the customer still matters upstream: a lock
//! carried out and not lifted, or any lock or unlock not carried out yet (pending, running or
//! left to staff). Forgetting blanks their targets, so nobody could tell what to lift, and the
//! worker would act on the blank: they are lifted or cancelled first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::actions::{ActionKind, ActionState};
use crate::db::audit::{self, Actor};
use crate::db::customers::id_by_external;
use crate::db::ids::{ActionId, CustomerId, EventId, RawMessageId, TicketId};
use crate::db::schema::{
    action_attempts, actions, audit_log, customer_tokens, customers, events, notes, notifications,
    ticket_source_ips, tickets,
};
use crate::db::{raw_messages, DbConn};
use crate::tickets::{work, Status, WorkError};

/// What forgetting kept (the counts) and removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Forgotten {
    pub customer_id: CustomerId,
    pub tickets: usize,
    pub events: usize,
    pub raw_messages_purged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error("no customer has the external id '{0}'")]
    Unknown(String),
    #[error(
        "the customer still has {} upstream: {}; lift or cancel them first",
        if .0.len() == 1 { "a lock in force or an action under way" } else { "locks in force or actions under way" },
        .0.join(", ")
    )]
    StillUpstream(Vec<String>),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Work(#[from] WorkError),
}

const REMOVED: &str = "(removed: customer forgotten)";

/// Forgets the customer with `external_id` (see the module's description).
pub fn forget(
    conn: &mut DbConn,
    external_id: &str,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<Forgotten, ForgetError> {
    crate::db::write(conn, |conn| {
        let id = id_by_external(conn, external_id)?
            .ok_or_else(|| ForgetError::Unknown(external_id.to_owned()))?;
        forget_id(conn, id, actor, at)
    })
}

/// Forgets customer `id` (the caller holds a transaction).
pub fn forget_id(
    conn: &mut DbConn,
    id: CustomerId,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> Result<Forgotten, ForgetError> {
    let held = still_upstream(conn, id)?;
    if !held.is_empty() {
        return Err(ForgetError::StillUpstream(held));
    }
    diesel::update(customers::table.find(id))
        .set((
            customers::external_id.eq(format!("forgotten-{id}")),
            customers::name.eq(format!("forgotten customer {id}")),
            customers::email.eq(""),
            customers::billing_ref.eq(None::<String>),
            customers::hosting_user.eq(None::<String>),
            customers::language.eq(None::<String>),
            customers::bouncing.eq(None::<String>),
            customers::notify.eq(false),
            customers::forgotten_at.eq(at),
            customers::updated_at.eq(at),
        ))
        .execute(conn)?;
    crate::db::customers::clear_children(conn, &[id])?;
    diesel::delete(customer_tokens::table.filter(customer_tokens::customer_id.eq(id)))
        .execute(conn)?;
    diesel::update(notifications::table.filter(notifications::customer_id.eq(id)))
        .set((
            notifications::recipient.eq(""),
            notifications::subject.eq(""),
            notifications::body.eq(""),
            notifications::last_error.eq(None::<String>),
        ))
        .execute(conn)?;

    let owned: Vec<(TicketId, Status)> = tickets::table
        .filter(tickets::customer_id.eq(id))
        .select((tickets::id, tickets::status))
        .load(conn)?;
    let ticket_ids: Vec<TicketId> = owned.iter().map(|t| t.0).collect();
    let mut events_kept = 0;
    let mut purged = 0;
    // The audit trail so far loses its detail first; what follows adds none.
    diesel::update(audit_log::table.filter(audit_log::customer_id.eq(id)))
        .set(audit_log::detail.eq(REMOVED))
        .execute(conn)?;
    for chunk in ticket_ids.chunks(500) {
        diesel::update(audit_log::table.filter(audit_log::ticket_id.eq_any(chunk)))
            .set(audit_log::detail.eq(REMOVED))
            .execute(conn)?;
    }
    for &(ticket, status) in &owned {
        if status.is_live() {
            work::change_status(conn, ticket, Status::Closed, actor, at)?;
        }
        diesel::update(tickets::table.find(ticket))
            .set((
                tickets::subject.eq(format!("forgotten-{ticket}")),
                tickets::identity.eq(None::<String>),
                tickets::outgoing_user.eq(None::<String>),
                tickets::outgoing_domain.eq(None::<String>),
                tickets::last_source_ip.eq(None::<String>),
                tickets::last_original_subject.eq(None::<String>),
                tickets::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    for chunk in ticket_ids.chunks(500) {
        diesel::delete(ticket_source_ips::table.filter(ticket_source_ips::ticket_id.eq_any(chunk)))
            .execute(conn)?;
        diesel::delete(notes::table.filter(notes::ticket_id.eq_any(chunk))).execute(conn)?;
        let found: Vec<(EventId, RawMessageId)> = events::table
            .filter(events::ticket_id.eq_any(chunk))
            .select((events::id, events::raw_message_id))
            .load(conn)?;
        events_kept += found.len();
        purged += forget_events(conn, &found, at)?;
        let acted: Vec<ActionId> = actions::table
            .filter(actions::ticket_id.eq_any(chunk))
            .select(actions::id)
            .load(conn)?;
        forget_actions(conn, &acted)?;
    }
    let acted: Vec<ActionId> = actions::table
        .filter(actions::customer_id.eq(id))
        .select(actions::id)
        .load(conn)?;
    forget_actions(conn, &acted)?;
    // Events resolved to it that sit on another customer's ticket (moved by a merge).
    let stray: Vec<(EventId, RawMessageId)> = events::table
        .filter(events::customer_id.eq(id))
        .select((events::id, events::raw_message_id))
        .load(conn)?;
    purged += forget_events(conn, &stray, at)?;

    let detail = format!(
        "personal data removed; {} ticket(s) with {} event(s) kept",
        owned.len(),
        events_kept
    );
    audit::record(
        conn,
        at,
        actor,
        "customer_forgotten",
        None,
        Some(id),
        &detail,
    )?;
    Ok(Forgotten {
        customer_id: id,
        tickets: owned.len(),
        events: events_kept,
        raw_messages_purged: purged,
    })
}

/// The actions about customer `id` (or on its tickets) that still matter upstream, each as
/// "kind target (state)": open ones, and locks carried out that nothing lifted. A temporary
/// lock past its time holds until its expiry's unlock has been asked for.
fn still_upstream(conn: &mut DbConn, id: CustomerId) -> QueryResult<Vec<String>> {
    let its_tickets = tickets::table
        .filter(tickets::customer_id.eq(id))
        .select(tickets::id.nullable());
    let rows: Vec<(ActionKind, String, ActionState)> = actions::table
        .filter(
            actions::customer_id
                .eq(id)
                .or(actions::ticket_id.eq_any(its_tickets)),
        )
        .filter(
            actions::state.eq_any(ActionState::OPEN).or(actions::state
                .eq(ActionState::Succeeded)
                .and(actions::kind.eq_any(ActionKind::LOCKS))
                .and(actions::lifted_by.is_null())),
        )
        .order(actions::id)
        .select((actions::kind, actions::target, actions::state))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(kind, target, state)| {
            let state = match state {
                ActionState::Succeeded => "in force",
                other => other.as_str(),
            };
            format!("{} {target} ({state})", kind.as_str())
        })
        .collect())
}

/// Clears what these events say about the customer's people and purges their stored
/// messages; returns how many messages were purged.
fn forget_events(
    conn: &mut DbConn,
    found: &[(EventId, RawMessageId)],
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let mut purged = 0;
    for chunk in found.chunks(500) {
        let (ids, raws): (Vec<EventId>, Vec<RawMessageId>) = chunk.iter().copied().unzip();
        purged += raw_messages::purge(conn, &raws, at)?;
        // The Outgoing Reports stop counting them under the people's names too.
        crate::db::outgoing::counts::recount(conn, &ids, |conn| {
            diesel::update(events::table.filter(events::id.eq_any(&ids)))
                .set((
                    events::source_ip.eq(None::<String>),
                    events::original_mail_from.eq(None::<String>),
                    events::original_message_id.eq(None::<String>),
                    events::original_envelope_id.eq(None::<String>),
                    events::original_subject.eq(None::<String>),
                    events::identity.eq(None::<String>),
                    events::outgoing_user.eq(None::<String>),
                ))
                .execute(conn)
        })?;
    }
    Ok(purged)
}

/// Clears what these actions and their calls say about whom they acted on.
fn forget_actions(conn: &mut DbConn, ids: &[ActionId]) -> QueryResult<()> {
    // The key that keeps a request from being made twice is built from its target.
    for &id in ids {
        diesel::update(actions::table.find(id))
            .set(actions::idempotency_key.eq(format!("forgotten-{id}")))
            .execute(conn)?;
    }
    for chunk in ids.chunks(500) {
        diesel::update(actions::table.filter(actions::id.eq_any(chunk)))
            .set((
                actions::target.eq("(forgotten)"),
                actions::target_domain.eq(None::<String>),
                actions::target_user.eq(None::<String>),
                actions::reason.eq(""),
                actions::last_error.eq(None::<String>),
                actions::outcome.eq(None::<String>),
            ))
            .execute(conn)?;
        diesel::update(action_attempts::table.filter(action_attempts::action_id.eq_any(chunk)))
            .set(action_attempts::message.eq(""))
            .execute(conn)?;
    }
    Ok(())
}
