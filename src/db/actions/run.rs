//! The action worker's side of the actions table: claiming due actions so that no two
//! workers run one, recording every attempt, finishing, taking back claims a crash left
//! behind, and finding temporary locks whose time is up.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Action, ActionKind, ActionState};
use crate::db::ids::ActionId;
use crate::db::schema::{action_attempts, actions};
use crate::db::DbConn;

/// An action the worker now holds, and whether an earlier run of it was interrupted (a crash
/// between the call and recording its answer): then the upstream's state is asked first where
/// it can be, so the call is not repeated needlessly.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub action: Action,
    pub interrupted: bool,
}

/// Takes up to `limit` pending actions due at `at` for `worker`: each is `running` from now
/// on, its attempt counted. On Postgres the candidates are locked with `SKIP LOCKED`, so
/// workers of several instances take different actions; on both backends the claim itself
/// only takes an action still pending, so no action is ever run by two workers.
pub fn claim_due(
    conn: &mut DbConn,
    worker: &str,
    at: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    crate::db::write(conn, |conn| {
        let due = actions::table
            .filter(actions::state.eq(ActionState::Pending))
            .filter(actions::next_attempt_at.le(at))
            .order((actions::next_attempt_at, actions::id))
            .limit(limit)
            .select((actions::id, actions::claimed_at));
        let candidates: Vec<(ActionId, Option<NaiveDateTime>)> = match conn {
            DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            DbConn::Sqlite(_) => due.load(conn)?,
        };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ActionId> = candidates.iter().map(|(id, _)| *id).collect();
        diesel::update(
            actions::table
                .filter(actions::id.eq_any(&ids))
                .filter(actions::state.eq(ActionState::Pending)),
        )
        .set((
            actions::state.eq(ActionState::Running),
            actions::claimed_at.eq(Some(at)),
            actions::claimed_by.eq(Some(worker)),
            actions::attempts.eq(actions::attempts + 1),
            actions::updated_at.eq(at),
        ))
        .execute(conn)?;
        let taken: Vec<Action> = actions::table
            .filter(actions::id.eq_any(&ids))
            .filter(actions::state.eq(ActionState::Running))
            .filter(actions::claimed_by.eq(worker))
            .filter(actions::claimed_at.eq(at))
            .order(actions::id)
            .select(Action::as_select())
            .load(conn)?;
        Ok(taken
            .into_iter()
            .map(|action| {
                let interrupted = candidates
                    .iter()
                    .any(|(id, claimed)| *id == action.id && claimed.is_some());
                Claimed {
                    action,
                    interrupted,
                }
            })
            .collect())
    })
}

/// What an attempt came to, as the attempts table records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Retry,
    Failed,
    /// The upstream's state was asked (before repeating an interrupted call).
    Checked,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Checked => "checked",
        }
    }
}

/// Records one call: when, how long, the HTTP status and the upstream's words.
#[allow(clippy::too_many_arguments)]
pub fn record_attempt(
    conn: &mut DbConn,
    action: ActionId,
    upstream: &str,
    at: NaiveDateTime,
    duration_ms: i64,
    http_status: Option<u16>,
    outcome: AttemptOutcome,
    message: &str,
) -> QueryResult<()> {
    diesel::insert_into(action_attempts::table)
        .values((
            action_attempts::action_id.eq(action),
            action_attempts::upstream.eq(upstream),
            action_attempts::at.eq(at),
            action_attempts::duration_ms.eq(duration_ms),
            action_attempts::http_status.eq(http_status.map(i32::from)),
            action_attempts::outcome.eq(outcome.as_str()),
            action_attempts::message.eq(message),
        ))
        .execute(conn)?;
    Ok(())
}

/// How an action ends its turn with the worker or with staff.
#[derive(Clone, Debug)]
pub enum Finish<'a> {
    /// Done; `outcome` is the upstream's (or the person's) words.
    Succeeded { outcome: &'a str },
    /// Given up on, with the reason.
    Failed { error: &'a str },
    /// To be tried again at `at`.
    Retry { error: &'a str, at: NaiveDateTime },
    /// Not to be carried out.
    Cancelled { why: &'a str },
}

/// Ends an action's turn. A succeeded unlock marks the locks it lifted, so that their expiry
/// does not unlock again.
pub fn finish(
    conn: &mut DbConn,
    action: &Action,
    how: Finish<'_>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let row = actions::table.find(action.id);
    let release = (
        actions::claimed_at.eq(None::<NaiveDateTime>),
        actions::claimed_by.eq(None::<String>),
        actions::updated_at.eq(at),
    );
    match how {
        Finish::Succeeded { outcome } => {
            diesel::update(row)
                .set((
                    actions::state.eq(ActionState::Succeeded),
                    actions::outcome.eq(Some(outcome)),
                    actions::last_error.eq(None::<String>),
                    actions::completed_at.eq(Some(at)),
                    release,
                ))
                .execute(conn)?;
            if action.kind.is_unlock() {
                lift(conn, action)?;
            }
        }
        Finish::Failed { error } => {
            diesel::update(row)
                .set((
                    actions::state.eq(ActionState::Failed),
                    actions::last_error.eq(Some(error)),
                    actions::completed_at.eq(Some(at)),
                    release,
                ))
                .execute(conn)?;
        }
        Finish::Retry { error, at: next } => {
            diesel::update(row)
                .set((
                    actions::state.eq(ActionState::Pending),
                    actions::last_error.eq(Some(error)),
                    actions::next_attempt_at.eq(Some(next)),
                    release,
                ))
                .execute(conn)?;
        }
        Finish::Cancelled { why } => {
            diesel::update(row)
                .set((
                    actions::state.eq(ActionState::Cancelled),
                    actions::outcome.eq(Some(why)),
                    actions::completed_at.eq(Some(at)),
                    release,
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Leaves an action to staff (no upstream can carry it out): `manual`, with the reason.
pub fn to_staff(
    conn: &mut DbConn,
    action: &Action,
    why: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(actions::table.find(action.id))
        .set((
            actions::state.eq(ActionState::Manual),
            actions::last_error.eq(Some(why)),
            actions::claimed_at.eq(None::<NaiveDateTime>),
            actions::claimed_by.eq(None::<String>),
            actions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the carried-out locks of the unlock's target and family, older than it, as lifted
/// by it.
fn lift(conn: &mut DbConn, unlock: &Action) -> QueryResult<()> {
    diesel::update(
        actions::table
            .filter(actions::target.eq(&unlock.target))
            .filter(actions::kind.eq(unlock.kind.undo()))
            .filter(actions::state.eq(ActionState::Succeeded))
            .filter(actions::lifted_by.is_null())
            .filter(actions::id.lt(unlock.id)),
    )
    .set(actions::lifted_by.eq(Some(unlock.id)))
    .execute(conn)?;
    Ok(())
}

/// Puts back every action claimed before `before` that is still running — its worker died
/// between the call and recording the answer — as pending and due now. Returns them.
pub fn reap_stale(
    conn: &mut DbConn,
    before: NaiveDateTime,
    at: NaiveDateTime,
) -> QueryResult<Vec<Action>> {
    crate::db::write(conn, |conn| {
        let stale: Vec<Action> = actions::table
            .filter(actions::state.eq(ActionState::Running))
            .filter(actions::claimed_at.lt(before))
            .select(Action::as_select())
            .load(conn)?;
        let ids: Vec<ActionId> = stale.iter().map(|a| a.id).collect();
        // `claimed_at` stays: the next claim sees that this action was interrupted.
        diesel::update(actions::table.filter(actions::id.eq_any(&ids)))
            .set((
                actions::state.eq(ActionState::Pending),
                actions::claimed_by.eq(None::<String>),
                actions::next_attempt_at.eq(Some(at)),
                actions::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(stale)
    })
}

/// Carried-out temporary locks whose time is up at `at` and that nothing lifted yet.
pub fn expired_locks(conn: &mut DbConn, at: NaiveDateTime) -> QueryResult<Vec<Action>> {
    actions::table
        .filter(actions::state.eq(ActionState::Succeeded))
        .filter(actions::kind.eq_any(ActionKind::LOCKS))
        .filter(actions::expires_at.le(at))
        .filter(actions::lifted_by.is_null())
        .order(actions::id)
        .limit(500)
        .select(Action::as_select())
        .load(conn)
}

/// Marks `lock` as lifted by `unlock` (the unlock its expiry asked for), so that it is asked
/// once.
pub fn lifted(conn: &mut DbConn, lock: ActionId, unlock: ActionId) -> QueryResult<()> {
    diesel::update(actions::table.find(lock))
        .set(actions::lifted_by.eq(Some(unlock)))
        .execute(conn)?;
    Ok(())
}
