//! Upstream actions (lock identity, lock outgoing user, suspend account, unlock): a row
//! first, in state `pending`; executing them upstream is the job of the upstream adapters.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{ActionId, CustomerId, TicketId, UserId};
use super::schema::actions;
use super::DbConn;

/// What an action does upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    LockIdentity,
    LockOutgoingUser,
    SuspendAccount,
    UnlockIdentity,
    UnlockOutgoingUser,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LockIdentity => "lock_identity",
            Self::LockOutgoingUser => "lock_outgoing_user",
            Self::SuspendAccount => "suspend_account",
            Self::UnlockIdentity => "unlock_identity",
            Self::UnlockOutgoingUser => "unlock_outgoing_user",
        }
    }
}

/// An action to record as pending.
#[derive(Debug, Clone)]
pub struct ActionRequest<'a> {
    pub ticket_id: Option<TicketId>,
    pub customer_id: Option<CustomerId>,
    pub kind: ActionKind,
    pub target: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub idempotency_key: &'a str,
    pub requested_by: Option<UserId>,
}

/// Records the action as pending; `None` if an action with the same idempotency key exists.
pub fn request(
    conn: &mut DbConn,
    req: &ActionRequest<'_>,
    at: NaiveDateTime,
) -> QueryResult<Option<ActionId>> {
    crate::dispatch!(conn, c => diesel::insert_into(actions::table)
        .values((
            actions::ticket_id.eq(req.ticket_id),
            actions::customer_id.eq(req.customer_id),
            actions::kind.eq(req.kind.as_str()),
            actions::target.eq(req.target),
            actions::reason.eq(req.reason),
            actions::state.eq("pending"),
            actions::attempts.eq(0),
            actions::next_attempt_at.eq(Some(at)),
            actions::expires_at.eq(req.expires_at),
            actions::idempotency_key.eq(req.idempotency_key),
            actions::requested_by.eq(req.requested_by),
            actions::created_at.eq(at),
            actions::updated_at.eq(at),
        ))
        .on_conflict(actions::idempotency_key)
        .do_nothing()
        .returning(actions::id)
        .get_result(c)
        .optional())
}

/// Whether a lock of this kind on `target` is pending, running, or done and not yet expired
/// at `at` — so a rule does not pile up locks on an identity that is already locked.
pub fn lock_in_force(
    conn: &mut DbConn,
    kind: ActionKind,
    target: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        actions::table
            .filter(actions::kind.eq(kind.as_str()))
            .filter(actions::target.eq(target))
            .filter(
                actions::state
                    .eq_any(["pending", "running"])
                    .or(actions::state
                        .eq("succeeded")
                        .and(actions::expires_at.is_null().or(actions::expires_at.gt(at)))),
            ),
    ))
    .get_result(conn)
}

#[derive(Queryable, Selectable, Debug, Clone, Serialize)]
#[diesel(table_name = actions)]
pub struct Action {
    pub id: ActionId,
    pub ticket_id: Option<TicketId>,
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub state: String,
    pub expires_at: Option<NaiveDateTime>,
    pub requested_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

/// A ticket's actions, newest first.
pub fn for_ticket(conn: &mut DbConn, ticket: TicketId) -> QueryResult<Vec<Action>> {
    actions::table
        .filter(actions::ticket_id.eq(ticket))
        .order(actions::id.desc())
        .select(Action::as_select())
        .load(conn)
}
