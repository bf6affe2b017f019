//! Lock state of identities, outgoing users and accounts, read from the actions recorded on
//! them: since when, until when, by whom, why and through which upstream — and whether it is
//! in effect yet, or on its way out. Failed and cancelled actions change nothing.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::actions::{ActionKind, ActionState};
use super::ids::ActionId;
use super::plans::OneOf;
use super::schema::{actions, users};
use super::DbConn;

/// Where a lock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    /// Asked for; its upstream has not carried it out yet.
    Locking,
    /// No upstream handles the target: staff are to lock it by hand and mark it done.
    Manual,
    /// In effect.
    Locked,
    /// In effect, and an unlock is on its way.
    Unlocking,
}

/// A lock that holds, or is on its way in or out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lock {
    /// The action that set it.
    pub action_id: ActionId,
    /// A lock or suspension (never an unlock).
    pub kind: ActionKind,
    pub state: LockState,
    /// True until the lock is in effect (locking, or left to staff).
    pub pending: bool,
    pub reason: String,
    /// Since when it holds (when it was carried out), or when it was asked for.
    pub since: NaiveDateTime,
    /// When a temporary lock lifts itself.
    pub expires_at: Option<NaiveDateTime>,
    /// Who asked for it: a staff member, or `system` (the automatic rule).
    pub by: String,
    /// The upstream that carries it out; none for a lock done by hand.
    pub upstream: Option<String>,
}

/// Per target and family: the latest lock that counts, and whether an unlock is on its way.
type Latest = (Option<Lock>, Option<LockState>);

type Row = (
    ActionId,
    String,
    ActionKind,
    ActionState,
    String,
    Option<NaiveDateTime>,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
);

/// The locks on each of `targets`; targets with none are left out. Identity and
/// outgoing-user locks are separate switches; where a target has both, the one asked for last
/// is shown. A temporary lock past its time holds until the unlock its expiry queues has been
/// carried out: that is when the upstream lets mail through again.
pub fn in_force(conn: &mut DbConn, targets: &[&str]) -> QueryResult<HashMap<String, Lock>> {
    // Per (target, family): the latest lock that counts, and whether an unlock came after it.
    let mut latest: HashMap<(String, &'static str), Latest> = HashMap::new();
    for chunk in targets.chunks(500) {
        let rows: Vec<Row> = actions::table
            .left_join(users::table.on(actions::requested_by.eq(users::id.nullable())))
            .filter(OneOf::new(
                actions::target,
                actions::target.eq_any(chunk),
                chunk,
            ))
            // Two tests rather than `ne_all`, which SQLite would prepare on every call.
            .filter(actions::state.ne(ActionState::Failed))
            .filter(actions::state.ne(ActionState::Cancelled))
            .order(actions::id)
            .select((
                actions::id,
                actions::target,
                actions::kind,
                actions::state,
                actions::reason,
                actions::expires_at,
                actions::created_at,
                actions::completed_at,
                users::username.nullable(),
                actions::upstream,
            ))
            .load(conn)?;
        for (id, target, kind, state, reason, expires_at, created, completed, by, upstream) in rows
        {
            let entry = latest.entry((target, kind.family())).or_default();
            if kind.is_unlock() {
                // A carried-out unlock ends the lock; one on its way marks it.
                if state == ActionState::Succeeded {
                    *entry = (None, None);
                } else {
                    entry.1 = Some(LockState::Unlocking);
                }
                continue;
            }
            let lock_state = match state {
                ActionState::Succeeded => LockState::Locked,
                ActionState::Manual => LockState::Manual,
                _ => LockState::Locking,
            };
            entry.0 = Some(Lock {
                action_id: id,
                kind,
                state: lock_state,
                pending: lock_state != LockState::Locked,
                reason,
                since: completed.unwrap_or(created),
                expires_at,
                by: by.unwrap_or_else(|| "system".to_owned()),
                upstream,
            });
            entry.1 = None;
        }
    }
    let mut out: HashMap<String, Lock> = HashMap::new();
    for ((target, _), (lock, unlocking)) in latest {
        let Some(mut lock) = lock else { continue };
        if unlocking.is_some() {
            if lock.state != LockState::Locked {
                // An unlock overtook a lock not carried out: nothing holds.
                continue;
            }
            lock.state = LockState::Unlocking;
        }
        match out.get(&target) {
            Some(shown) if shown.action_id > lock.action_id => {}
            _ => {
                out.insert(target, lock);
            }
        }
    }
    Ok(out)
}
