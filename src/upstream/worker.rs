//! The action worker: carries out due actions through their upstreams, one call at a time,
//! recording every attempt; retries what failed for a passing reason with a growing pause;
//! takes back what a crash left running; and queues the unlock of every temporary lock whose
//! time is up. One run ([`Worker::run_once`]) does all that is due and returns; `serve` runs it
//! when an action is asked for and on the `[actions]` schedule, `abuse-desk actions run`
//! from the command line or cron.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub use super::action_settings::ActionSettings;

use super::{Call, Op, TargetKind, Upstream, UpstreamError, Upstreams};
use crate::db::actions::{self, Action, AttemptOutcome, Claimed, Finish};
use crate::db::audit::{self, Actor};
use crate::db::{now, DbConn};

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ran {
    pub succeeded: u64,
    pub failed: u64,
    pub retried: u64,
    /// Actions no upstream can carry out: left to staff.
    pub manual: u64,
    pub cancelled: u64,
    /// Unlocks queued for temporary locks whose time was up.
    pub expired: u64,
    /// Actions a crash had left running, taken back.
    pub interrupted: u64,
}

/// Carries out actions through the configured upstreams.
pub struct Worker {
    upstreams: Upstreams,
    settings: ActionSettings,
    /// Who claims actions: host and process, shown while an action runs.
    name: String,
    /// Where calls are counted.
    metrics: crate::metrics::Metrics,
}

/// A claim older than this is taken for a crashed worker's: longer than any call may take.
const CLAIM_LEASE: Duration = Duration::from_secs(15 * 60);

/// Actions claimed at a time: one, so that a claimed action never waits behind another's
/// call while a second worker is idle.
const CLAIM_BATCH: i64 = 1;

impl Worker {
    pub fn new(upstreams: Upstreams, settings: ActionSettings) -> Self {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let name = format!("{}:{}", host.trim(), std::process::id());
        Self {
            upstreams,
            settings,
            name,
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// This worker, counting its calls in `metrics`.
    pub fn measured(self, metrics: crate::metrics::Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// The upstreams this worker calls.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Does everything due now and returns what it did.
    pub fn run_once(&self, conn: &mut DbConn) -> diesel::QueryResult<Ran> {
        let mut ran = Ran::default();
        let at = now();
        ran.expired = self.expire(conn, at)?;
        let lease = chrono::Duration::from_std(CLAIM_LEASE).unwrap_or_default();
        for action in actions::reap_stale(conn, at - lease, at)? {
            ran.interrupted += 1;
            note(
                conn,
                &action,
                "interrupted before its answer was recorded; taken up again",
            )?;
        }
        loop {
            let claimed = actions::claim_due(conn, &self.name, now(), CLAIM_BATCH)?;
            if claimed.is_empty() {
                return Ok(ran);
            }
            for claim in claimed {
                self.carry_out(conn, claim, &mut ran)?;
            }
        }
    }

    /// Queues the unlock of every carried-out temporary lock whose time is up, audited as the
    /// system's doing.
    fn expire(&self, conn: &mut DbConn, at: NaiveDateTime) -> diesel::QueryResult<u64> {
        let routes = self.upstreams.routes();
        let mut queued = 0;
        for lock in actions::expired_locks(conn, at)? {
            let key = format!("expiry-{}", lock.id);
            let until = lock
                .expires_at
                .map(|e| e.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            let reason = format!("the temporary lock of {until} ended");
            let kind = lock.kind.undo();
            let request = actions::ActionRequest {
                ticket_id: lock.ticket_id,
                customer_id: lock.customer_id,
                kind,
                target: &lock.target,
                target_domain: lock.target_domain.as_deref(),
                target_user: lock.target_user.as_deref(),
                reason: &reason,
                expires_at: None,
                idempotency_key: &key,
                requested_by: None,
                upstream: routes.upstream_for(kind),
            };
            diesel::Connection::transaction(conn, |conn| {
                if let Some(unlock) = actions::request(conn, &request, at)? {
                    actions::lifted(conn, lock.id, unlock)?;
                    let detail = format!("{kind} {} queued: {reason}", lock.target);
                    audit::record(
                        conn,
                        at,
                        Actor::System,
                        kind.as_str(),
                        lock.ticket_id,
                        lock.customer_id,
                        &detail,
                    )?;
                    queued += 1;
                }
                diesel::QueryResult::Ok(())
            })?;
        }
        Ok(queued)
    }

    /// One claimed action: its call, its answer, its next state.
    fn carry_out(
        &self,
        conn: &mut DbConn,
        claim: Claimed,
        ran: &mut Ran,
    ) -> diesel::QueryResult<()> {
        let action = claim.action;
        let at = now();
        if !action.kind.is_unlock() && action.expires_at.is_some_and(|e| e <= at) {
            let why = "its time was up before it could be carried out";
            actions::finish(conn, &action, Finish::Cancelled { why }, at)?;
            note(conn, &action, &format!("cancelled: {why}"))?;
            ran.cancelled += 1;
            return Ok(());
        }
        let Some(upstream) = self.upstream_of(&action) else {
            let why = format!(
                "no upstream handles {} targets: do it by hand in the panel, then mark it done",
                family_words(&action)
            );
            actions::to_staff(conn, &action, &why, at)?;
            note(conn, &action, &why)?;
            ran.manual += 1;
            return Ok(());
        };
        let call = call_of(conn, &action)?;
        if claim.interrupted && self.already_done(conn, &action, upstream, &call)? {
            ran.succeeded += 1;
            return Ok(());
        }
        let started = Instant::now();
        let result = upstream.execute(&call);
        let took = started.elapsed().as_millis() as i64;
        let name = upstream.name();
        let at = now();
        let status = result
            .as_ref()
            .map_or_else(UpstreamError::status, |a| a.status);
        // What the attempt came to, the upstream's words, and what becomes of the action.
        let (outcome, words, next) = match result {
            Ok(answer) => {
                let words = if answer.message.is_empty() {
                    format!("{} {}", call.kind.words(), call.op.done_word())
                } else {
                    answer.message
                };
                ran.succeeded += 1;
                (AttemptOutcome::Succeeded, words, Next::Done)
            }
            Err(UpstreamError::Unsupported(why)) => {
                ran.manual += 1;
                (AttemptOutcome::Failed, why, Next::Staff)
            }
            Err(e) if e.is_transient() && action.attempts < self.settings.max_attempts => {
                let pause = self.settings.pause(action.attempts);
                ran.retried += 1;
                let next = at + chrono::Duration::from_std(pause).unwrap_or_default();
                (AttemptOutcome::Retry, e.to_string(), Next::Retry(next))
            }
            Err(e) => {
                let words = if e.is_transient() {
                    format!("gave up after {} attempts: {e}", action.attempts)
                } else {
                    e.to_string()
                };
                ran.failed += 1;
                (AttemptOutcome::Failed, words, Next::Failed)
            }
        };
        actions::record_attempt(conn, action.id, name, at, took, status, outcome, &words)?;
        self.metrics.action(name, outcome.as_str());
        let trail = match next {
            Next::Done => {
                actions::finish(conn, &action, Finish::Succeeded { outcome: &words }, at)?;
                format!("done through {name} ({took} ms): {words}")
            }
            Next::Staff => {
                let why =
                    format!("{name} cannot do this ({words}): do it by hand, then mark it done");
                actions::to_staff(conn, &action, &why, at)?;
                why
            }
            Next::Retry(next) => {
                let how = Finish::Retry {
                    error: &words,
                    at: next,
                };
                actions::finish(conn, &action, how, at)?;
                let when = next.format("%H:%M:%S UTC");
                let attempt = action.attempts;
                format!("attempt {attempt} through {name} failed, trying again at {when}: {words}")
            }
            Next::Failed => {
                actions::finish(conn, &action, Finish::Failed { error: &words }, at)?;
                format!("failed through {name}: {words}")
            }
        };
        note(conn, &action, &trail)
    }

    /// The upstream an action goes to: the one it was asked for, while it still handles the
    /// target; else the one that handles it now.
    fn upstream_of(&self, action: &Action) -> Option<&dyn Upstream> {
        let kind: TargetKind = action.kind.family().parse().ok()?;
        action
            .upstream
            .as_deref()
            .and_then(|name| self.upstreams.by_name(name))
            .filter(|u| u.handles(kind))
            .or_else(|| self.upstreams.for_target(kind))
    }

    /// After an interruption: asks the upstream whether the call went through before the crash
    /// (where it can say), and if so records the action as done without repeating the call.
    fn already_done(
        &self,
        conn: &mut DbConn,
        action: &Action,
        upstream: &dyn Upstream,
        call: &Call,
    ) -> diesel::QueryResult<bool> {
        let started = Instant::now();
        let Ok(Some(locked)) = upstream.is_locked(call) else {
            return Ok(false);
        };
        let took = started.elapsed().as_millis() as i64;
        if locked != (call.op == Op::Lock) {
            return Ok(false);
        }
        let at = now();
        let words = format!(
            "{} already {} at {} (checked after an interruption)",
            call.kind.words(),
            call.op.done_word(),
            upstream.name()
        );
        actions::record_attempt(
            conn,
            action.id,
            upstream.name(),
            at,
            took,
            None,
            AttemptOutcome::Checked,
            &words,
        )?;
        self.metrics
            .action(upstream.name(), AttemptOutcome::Checked.as_str());
        actions::finish(conn, action, Finish::Succeeded { outcome: &words }, at)?;
        note(conn, action, &words)?;
        Ok(true)
    }
}

/// What becomes of an action after an attempt.
enum Next {
    Done,
    /// The upstream cannot do it: staff do it by hand.
    Staff,
    Retry(NaiveDateTime),
    Failed,
}

/// "identity", "outgoing user" or "account".
fn family_words(action: &Action) -> &'static str {
    action
        .kind
        .family()
        .parse::<TargetKind>()
        .map_or("these", TargetKind::words)
}

/// The call an action makes: the target with what the vendors need to know of it — the
/// outgoing user it belongs to, and for an account the customer's billing and hosting names.
fn call_of(conn: &mut DbConn, action: &Action) -> diesel::QueryResult<Call> {
    let kind: TargetKind = action.kind.family().parse().unwrap_or(TargetKind::Identity);
    let op = if action.kind.is_unlock() {
        Op::Unlock
    } else {
        Op::Lock
    };
    let customer = match action.customer_id {
        Some(id) => crate::db::customers::get(conn, id)?,
        None => None,
    };
    let requested_by = match action.requested_by {
        Some(id) => crate::db::users::name_of(conn, id)?.unwrap_or_else(|| format!("user {id}")),
        None => "system".to_owned(),
    };
    Ok(Call {
        domain: action.target_domain.clone(),
        outgoing_user: action.target_user.clone(),
        billing_ref: customer.as_ref().and_then(|c| c.billing_ref.clone()),
        hosting_user: customer.as_ref().and_then(|c| c.hosting_user.clone()),
        reason: action.reason.clone(),
        until: action.expires_at,
        ticket: action.ticket_id.map(|t| t.0),
        requested_by,
        ..Call::new(op, kind, &action.target, action_key(action))
    })
}

/// The key the upstream recognises a repeated call by.
fn action_key(action: &Action) -> String {
    format!("abuse-desk-action-{}", action.id)
}

/// Records what happened to an action in the audit log, as the system's doing.
fn note(conn: &mut DbConn, action: &Action, what: &str) -> diesel::QueryResult<()> {
    let detail = format!("{} {}: {what}", action.kind.label(), action.target);
    audit::record(
        conn,
        now(),
        Actor::System,
        "action",
        action.ticket_id,
        action.customer_id,
        &detail,
    )
}
