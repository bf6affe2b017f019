//! What staff do to an action by hand: try a failed one again, cancel one not yet carried
//! out, or mark one done that they carried out in the panel themselves. Each is one
//! transaction with its audit entry.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{finish, get, Action, ActionState, Finish};
use crate::db::audit::{self, Actor};
use crate::db::ids::ActionId;
use crate::db::schema::actions;
use crate::db::DbConn;

/// Why staff could not do that to the action.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("no such action")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

fn open(conn: &mut DbConn, id: ActionId) -> Result<Action, StaffError> {
    let action = get(conn, id)?.ok_or(StaffError::NotFound)?;
    if action.state == ActionState::Running {
        return Err(StaffError::Refused(
            "this action is being carried out right now; wait for its answer".into(),
        ));
    }
    Ok(action)
}

fn record(
    conn: &mut DbConn,
    action: &Action,
    actor: Actor<'_>,
    what: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let detail = format!("{} {}: {what}", action.kind.label(), action.target);
    audit::record(
        conn,
        at,
        actor,
        "action",
        action.ticket_id,
        action.customer_id,
        &detail,
    )
}

/// Queues a failed or cancelled action again, due now: for its upstream, or for staff where
/// it has none.
pub fn retry(conn: &mut DbConn, id: ActionId, actor: Actor<'_>) -> Result<Action, StaffError> {
    crate::db::write(conn, |conn| {
        let action = open(conn, id)?;
        if !matches!(action.state, ActionState::Failed | ActionState::Cancelled) {
            return Err(StaffError::Refused(format!(
                "only a failed or cancelled action is tried again (this one is {})",
                action.state
            )));
        }
        let at = crate::db::now();
        let state = if action.upstream.is_some() {
            ActionState::Pending
        } else {
            ActionState::Manual
        };
        diesel::update(actions::table.find(id))
            .set((
                actions::state.eq(state),
                actions::next_attempt_at.eq(Some(at)),
                actions::completed_at.eq(None::<NaiveDateTime>),
                actions::updated_at.eq(at),
            ))
            .execute(conn)?;
        record(conn, &action, actor, "queued again", at)?;
        Ok(action)
    })
}

/// Cancels an action that was not carried out.
pub fn cancel(
    conn: &mut DbConn,
    id: ActionId,
    actor: Actor<'_>,
    note: &str,
) -> Result<Action, StaffError> {
    let why = note_or(note, "cancelled");
    let trail = format!("cancelled: {why}");
    close(
        conn,
        id,
        actor,
        "cancelled",
        Finish::Cancelled { why: &why },
        &trail,
    )
}

/// Marks an action done that staff carried out themselves (in the filter's or the billing
/// panel); the note says how.
pub fn mark_done(
    conn: &mut DbConn,
    id: ActionId,
    actor: Actor<'_>,
    note: &str,
) -> Result<Action, StaffError> {
    let outcome = format!("done by hand: {}", note_or(note, "no note"));
    let how = Finish::Succeeded { outcome: &outcome };
    close(conn, id, actor, "marked done", how, &outcome)
}

/// Ends an action not carried out yet (pending, manual or failed) as `how` says, with `trail`
/// in the audit log; `verb` names what is done, for a refusal.
fn close(
    conn: &mut DbConn,
    id: ActionId,
    actor: Actor<'_>,
    verb: &str,
    how: Finish<'_>,
    trail: &str,
) -> Result<Action, StaffError> {
    crate::db::write(conn, |conn| {
        let action = open(conn, id)?;
        if !matches!(
            action.state,
            ActionState::Pending | ActionState::Manual | ActionState::Failed
        ) {
            return Err(StaffError::Refused(format!(
                "a {} action cannot be {verb}",
                action.state
            )));
        }
        let at = crate::db::now();
        finish(conn, &action, how, at)?;
        record(conn, &action, actor, trail, at)?;
        Ok(action)
    })
}

fn note_or(note: &str, default: &str) -> String {
    let note = note.trim();
    if note.is_empty() {
        default.to_owned()
    } else {
        note.chars().take(2_000).collect()
    }
}
