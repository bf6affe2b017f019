//! Upstream actions (lock identity, lock outgoing user, suspend account, unlock): a row
//! first, in state `pending`; executing them upstream is the job of the upstream adapters.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::column::column_enum;

use super::ids::{ActionId, CustomerId, TicketId, UserId};
use super::schema::actions;
use super::DbConn;

column_enum! {
    /// What an action does upstream.
    pub enum ActionKind ("action") {
        LockIdentity => "lock_identity",
        LockOutgoingUser => "lock_outgoing_user",
        SuspendAccount => "suspend_account",
        UnlockIdentity => "unlock_identity",
        UnlockOutgoingUser => "unlock_outgoing_user",
    }
}

impl ActionKind {
    /// Whether the action lifts a lock rather than setting one.
    pub fn is_unlock(self) -> bool {
        matches!(self, Self::UnlockIdentity | Self::UnlockOutgoingUser)
    }

    /// The action as staff read it: "lock identity".
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }
}

column_enum! {
    /// Where an action is on its way upstream.
    pub enum ActionState ("action state") {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

/// An action to record as pending. The idempotency key makes a request that may be made
/// twice (a rule re-run on the same events) count once; [`fresh_key`] makes one for a
/// request that is meant each time it is made.
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

/// A key no other request has: staff pressing a button twice mean it twice (the form's CSRF
/// token already stops replays from elsewhere).
pub fn fresh_key(origin: &str, at: NaiveDateTime) -> String {
    format!(
        "{origin}-{}-{:016x}",
        at.and_utc().timestamp_micros(),
        rand::random::<u64>()
    )
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
            actions::kind.eq(req.kind),
            actions::target.eq(req.target),
            actions::reason.eq(req.reason),
            actions::state.eq(ActionState::Pending),
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
            .filter(actions::kind.eq(kind))
            .filter(actions::target.eq(target))
            .filter(
                actions::state
                    .eq_any([ActionState::Pending, ActionState::Running])
                    .or(actions::state
                        .eq(ActionState::Succeeded)
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
    pub kind: ActionKind,
    pub target: String,
    pub reason: String,
    pub state: ActionState,
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
