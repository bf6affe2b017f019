//! Lock state of identities, outgoing users and accounts, read from the actions recorded on
//! them: the latest lock or unlock of a target decides, and a lock that failed, was cancelled
//! or has expired no longer holds.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::actions::{ActionKind, ActionState};
use super::schema::actions;
use super::DbConn;

/// A lock that holds (or is on its way upstream).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lock {
    /// A lock or suspension (never an unlock).
    pub kind: ActionKind,
    /// True until the upstream adapter has carried it out.
    pub pending: bool,
    pub reason: String,
    pub expires_at: Option<NaiveDateTime>,
}

/// The locks holding on each of `targets` at `at`; targets without one are left out.
pub fn in_force(
    conn: &mut DbConn,
    targets: &[&str],
    at: NaiveDateTime,
) -> QueryResult<HashMap<String, Lock>> {
    let mut latest: HashMap<(String, &'static str), Option<Lock>> = HashMap::new();
    for chunk in targets.chunks(500) {
        let rows: Vec<(
            String,
            ActionKind,
            ActionState,
            String,
            Option<NaiveDateTime>,
        )> = actions::table
            .filter(actions::target.eq_any(chunk))
            .order(actions::id)
            .select((
                actions::target,
                actions::kind,
                actions::state,
                actions::reason,
                actions::expires_at,
            ))
            .load(conn)?;
        for (target, kind, state, reason, expires_at) in rows {
            // Identity and outgoing-user locks are separate switches; suspension stands alone.
            let family = match kind {
                ActionKind::LockIdentity | ActionKind::UnlockIdentity => "identity",
                ActionKind::LockOutgoingUser | ActionKind::UnlockOutgoingUser => "outgoing_user",
                ActionKind::SuspendAccount => "account",
            };
            let holds = !kind.is_unlock()
                && matches!(
                    state,
                    ActionState::Pending | ActionState::Running | ActionState::Succeeded
                )
                && expires_at.is_none_or(|e| e > at);
            let lock = holds.then(|| Lock {
                pending: state != ActionState::Succeeded,
                kind,
                reason,
                expires_at,
            });
            latest.insert((target, family), lock);
        }
    }
    let mut out = HashMap::new();
    for ((target, _), lock) in latest {
        if let Some(lock) = lock {
            out.entry(target).or_insert(lock);
        }
    }
    Ok(out)
}
