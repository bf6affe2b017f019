//! Upstream actions (lock identity, lock outgoing user, suspend account, and their undoing):
//! a row first — `pending` for an upstream, or `manual` where none handles the target — then
//! carried out by the action worker ([`run`]) or by staff ([`staff`]), every attempt kept.

mod run;
mod staff;

pub use run::{
    claim_due, expired_locks, finish, lifted, reap_stale, record_attempt, to_staff, AttemptOutcome,
    Claimed, Finish,
};
pub use staff::{cancel, mark_done, retry, StaffError};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::column::column_enum;

use super::ids::{ActionId, CustomerId, TicketId, UserId};
use super::schema::{action_attempts, actions};
use super::DbConn;

column_enum! {
    /// What an action does upstream.
    pub enum ActionKind ("action") {
        LockIdentity => "lock_identity",
        LockOutgoingUser => "lock_outgoing_user",
        SuspendAccount => "suspend_account",
        UnlockIdentity => "unlock_identity",
        UnlockOutgoingUser => "unlock_outgoing_user",
        UnsuspendAccount => "unsuspend_account",
    }
}

impl ActionKind {
    /// The kinds that set a lock rather than lift one.
    pub const LOCKS: [Self; 3] = [
        Self::LockIdentity,
        Self::LockOutgoingUser,
        Self::SuspendAccount,
    ];

    /// Whether the action lifts a lock rather than setting one.
    pub fn is_unlock(self) -> bool {
        matches!(
            self,
            Self::UnlockIdentity | Self::UnlockOutgoingUser | Self::UnsuspendAccount
        )
    }

    /// What the action locks or unlocks: `identity`, `outgoing_user` or `account` (the
    /// upstreams' target kinds).
    pub fn family(self) -> &'static str {
        match self {
            Self::LockIdentity | Self::UnlockIdentity => "identity",
            Self::LockOutgoingUser | Self::UnlockOutgoingUser => "outgoing_user",
            Self::SuspendAccount | Self::UnsuspendAccount => "account",
        }
    }

    /// The action that undoes this one.
    pub fn undo(self) -> Self {
        match self {
            Self::LockIdentity => Self::UnlockIdentity,
            Self::UnlockIdentity => Self::LockIdentity,
            Self::LockOutgoingUser => Self::UnlockOutgoingUser,
            Self::UnlockOutgoingUser => Self::LockOutgoingUser,
            Self::SuspendAccount => Self::UnsuspendAccount,
            Self::UnsuspendAccount => Self::SuspendAccount,
        }
    }

    /// The kinds acting on the same family as this one (itself and its undoing).
    pub fn same_family(self) -> [Self; 2] {
        [self, self.undo()]
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
        /// No upstream handles the target: staff do it in the panel and mark it done.
        Manual => "manual",
    }
}

impl ActionState {
    /// The states of an action still to be carried out (by the worker or by staff).
    pub const OPEN: [Self; 3] = [Self::Pending, Self::Running, Self::Manual];

    /// Whether the action is still to be carried out (by the worker or by staff).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Running | Self::Manual)
    }
}

/// Which upstream carries out each family of action (`identity`, `outgoing_user`,
/// `account`), by name, as the settings configure them; a family without one is manual.
#[derive(Clone, Debug, Default)]
pub struct Routes(Vec<(&'static str, String)>);

impl Routes {
    /// `upstream` carries out actions of `family` (the first named for a family wins).
    pub fn with(mut self, family: &'static str, upstream: impl Into<String>) -> Self {
        if self.upstream_for_family(family).is_none() {
            self.0.push((family, upstream.into()));
        }
        self
    }

    fn upstream_for_family(&self, family: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, name)| name.as_str())
    }

    /// The upstream that carries out `kind`, if any.
    pub fn upstream_for(&self, kind: ActionKind) -> Option<&str> {
        self.upstream_for_family(kind.family())
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
    /// For an identity or outgoing user: the outgoing user's domain, where known.
    pub target_domain: Option<&'a str>,
    /// For an identity: the outgoing user it sends through, where known.
    pub target_user: Option<&'a str>,
    pub reason: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub idempotency_key: &'a str,
    pub requested_by: Option<UserId>,
    /// The upstream that will carry it out; `None` makes it a manual action.
    pub upstream: Option<&'a str>,
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

/// Records the action, pending for its upstream or manual without one; `None` if an action
/// with the same idempotency key exists.
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
            actions::state.eq(if req.upstream.is_some() {
                ActionState::Pending
            } else {
                ActionState::Manual
            }),
            actions::upstream.eq(req.upstream),
            actions::target_domain.eq(req.target_domain),
            actions::target_user.eq(req.target_user),
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

/// Cancels the actions of `kind` on `target` that nobody has carried out yet (pending or
/// manual), with `why`: an unlock makes the locks it overtakes moot.
pub fn cancel_open(
    conn: &mut DbConn,
    kind: ActionKind,
    target: &str,
    why: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        actions::table
            .filter(actions::kind.eq(kind))
            .filter(actions::target.eq(target))
            .filter(actions::state.eq_any([ActionState::Pending, ActionState::Manual])),
    )
    .set((
        actions::state.eq(ActionState::Cancelled),
        actions::outcome.eq(Some(why)),
        actions::completed_at.eq(Some(at)),
        actions::updated_at.eq(at),
    ))
    .execute(conn)
}

/// Whether a lock of this kind on `target` is pending, running, awaiting staff, or done and
/// neither lifted nor expired at `at` — so a rule does not pile up locks on an identity that
/// is already locked.
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
                actions::state.eq_any(ActionState::OPEN).or(actions::state
                    .eq(ActionState::Succeeded)
                    .and(actions::lifted_by.is_null())
                    .and(actions::expires_at.is_null().or(actions::expires_at.gt(at)))),
            ),
    ))
    .get_result(conn)
}

/// An action as staff, the worker and the command line see it.
#[derive(Queryable, Selectable, Debug, Clone, Serialize, utoipa::ToSchema)]
#[diesel(table_name = actions)]
pub struct Action {
    pub id: ActionId,
    pub ticket_id: Option<TicketId>,
    pub customer_id: Option<CustomerId>,
    pub kind: ActionKind,
    pub target: String,
    pub target_domain: Option<String>,
    pub target_user: Option<String>,
    pub reason: String,
    pub state: ActionState,
    pub upstream: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub requested_by: Option<UserId>,
    pub last_error: Option<String>,
    /// The upstream's (or the person's) last words on it.
    pub outcome: Option<String>,
    pub claimed_at: Option<NaiveDateTime>,
    pub lifted_by: Option<ActionId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

/// A ticket's actions, newest first.
pub fn for_ticket(conn: &mut DbConn, ticket: TicketId) -> QueryResult<Vec<Action>> {
    actions::table
        .filter(actions::ticket_id.eq(ticket))
        .order(actions::id.desc())
        .select(Action::as_select())
        .load(conn)
}

/// One action.
pub fn get(conn: &mut DbConn, id: ActionId) -> QueryResult<Option<Action>> {
    actions::table
        .find(id)
        .select(Action::as_select())
        .first(conn)
        .optional()
}

/// The newest `limit` actions, of `state` when given.
pub fn list(conn: &mut DbConn, state: Option<ActionState>, limit: i64) -> QueryResult<Vec<Action>> {
    let mut query = actions::table
        .order(actions::id.desc())
        .limit(limit)
        .select(Action::as_select())
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(actions::state.eq(state));
    }
    query.load(conn)
}

/// One call made for an action.
#[derive(Queryable, Selectable, Debug, Clone, Serialize, utoipa::ToSchema)]
#[diesel(table_name = action_attempts)]
pub struct Attempt {
    pub action_id: ActionId,
    pub upstream: String,
    pub at: NaiveDateTime,
    pub duration_ms: i64,
    pub http_status: Option<i32>,
    /// `succeeded`, `retry`, `failed`, or `checked` (the state asked before repeating a call).
    pub outcome: String,
    pub message: String,
}

/// The attempts of `ids`, oldest first.
pub fn attempts_of(conn: &mut DbConn, ids: &[ActionId]) -> QueryResult<Vec<Attempt>> {
    let numbers: Vec<i64> = ids.iter().map(|a| a.0).collect();
    action_attempts::table
        .filter(crate::db::plans::OneOf::new(
            action_attempts::action_id,
            action_attempts::action_id.eq_any(ids),
            &numbers,
        ))
        .order(action_attempts::id)
        .select(Attempt::as_select())
        .load(conn)
}
