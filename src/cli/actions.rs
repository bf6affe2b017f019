//! `abuse-desk lock`, `unlock` and `actions`: asking for locks from the command line, and
//! the action worker run by hand or by cron.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use crate::db::actions::{self, ActionKind, ActionState};
use crate::db::audit::Actor;
use crate::db::ids::{ActionId, TicketId};
use crate::settings::Settings;
use crate::tickets::target::{self, Ask};
use crate::upstream::worker::Worker;

/// What a lock or unlock acts on.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TargetArg {
    /// A sender address inside an outgoing user.
    Identity,
    /// The filter's authenticating user (or IP, or domain): all of its mail.
    OutgoingUser,
    /// The customer's account (by its external id), in the billing or hosting panel.
    Account,
}

impl TargetArg {
    fn lock(self) -> ActionKind {
        match self {
            Self::Identity => ActionKind::LockIdentity,
            Self::OutgoingUser => ActionKind::LockOutgoingUser,
            Self::Account => ActionKind::SuspendAccount,
        }
    }
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// identity, outgoing-user or account.
    #[arg(value_enum)]
    pub what: TargetArg,
    /// The identity address, the outgoing user, or the customer's external id.
    pub target: String,
    /// Why (shown to staff and in the audit log; no upstream receives it but the webhook).
    #[arg(long)]
    pub reason: String,
    /// A temporary lock: lifted again after this many hours (1 to 8760).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=8760))]
    pub hours: Option<i64>,
    /// The ticket the lock belongs to.
    #[arg(long)]
    pub ticket: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum ActionsCommand {
    /// List actions, newest first.
    List {
        /// Only actions in this state: pending, running, succeeded, failed, cancelled, manual.
        #[arg(long)]
        state: Option<ActionState>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON: a list of objects with id, kind, target, state, attempts, last_error,
        /// upstream and more.
        #[arg(long)]
        json: bool,
    },
    /// Carry out the due actions through their upstreams. With --once, one run and a summary;
    /// without, on the `[actions]` schedule until interrupted.
    Run {
        #[arg(long)]
        once: bool,
        /// Print the summary as JSON (with --once).
        #[arg(long)]
        json: bool,
    },
    /// Queue a failed or cancelled action again.
    Retry { id: i64 },
    /// Cancel an action not carried out yet.
    Cancel {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Mark an action done that was carried out by hand (in the filter's or the billing panel).
    Done {
        id: i64,
        /// How it was done.
        #[arg(long)]
        note: String,
    },
}

/// Who is at the command line, for the audit log.
pub(super) fn who() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

/// `lock` (or, with `unlock`, `unlock`): records the action for its upstream (or for staff,
/// where none handles the target); `actions run` or `serve` carries it out.
pub fn lock(settings: &Settings, args: &LockArgs, unlock: bool) -> Result<()> {
    let kind = if unlock {
        args.what.lock().undo()
    } else {
        args.what.lock()
    };
    let routes = settings.upstreams()?.routes();
    let ask = Ask {
        kind,
        routes: &routes,
        reason: &args.reason,
        expires_at: args
            .hours
            .filter(|_| !unlock)
            .map(|h| crate::db::now() + chrono::Duration::hours(h)),
        requested_by: None,
    };
    let mut conn = super::connect(settings)?;
    let who = who();
    let id = target::request(
        &mut conn,
        args.ticket.map(TicketId),
        args.target.trim(),
        &ask,
        Actor::CommandLine(&who),
    )?;
    let action = actions::get(&mut conn, id)?.context("the action just recorded is gone")?;
    match &action.upstream {
        Some(upstream) => outln!(
            "action {} ({} {}) pending for {upstream}: `abuse-desk actions run --once` or `serve` carries it out",
            id,
            kind.label(),
            action.target
        ),
        None => outln!(
            "action {} ({} {}) is manual: no upstream handles it; do it in the panel, then `abuse-desk actions done {id} --note …`",
            id,
            kind.label(),
            action.target
        ),
    }
    Ok(())
}

impl ActionsCommand {
    /// Whether this runs on the schedule until interrupted.
    pub fn keeps_running(&self) -> bool {
        matches!(self, ActionsCommand::Run { once: false, .. })
    }
}

pub fn run(settings: Settings, command: &ActionsCommand) -> Result<()> {
    match command {
        ActionsCommand::List { state, limit, json } => {
            let mut conn = super::connect(&settings)?;
            let rows = actions::list(&mut conn, *state, *limit)?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            outln!(
                "{:>6} {:<20} {:<32} {:<10} {:>8} {:<12} LAST ERROR",
                "ID",
                "KIND",
                "TARGET",
                "STATE",
                "ATTEMPTS",
                "UPSTREAM"
            );
            for a in &rows {
                outln!(
                    "{:>6} {:<20} {:<32} {:<10} {:>8} {:<12} {}",
                    a.id,
                    a.kind.as_str(),
                    super::clip(&a.target, 32),
                    a.state.as_str(),
                    a.attempts,
                    a.upstream.as_deref().unwrap_or("-"),
                    a.last_error.as_deref().unwrap_or("")
                );
            }
            outln!("{} action(s)", rows.len());
        }
        ActionsCommand::Run { once: true, json } => {
            let worker = Worker::new(settings.upstreams()?, settings.actions.clone());
            let mut conn = super::connect(&settings)?;
            let ran = worker.run_once(&mut conn)?;
            if *json {
                outln!("{}", serde_json::to_string(&ran)?);
            } else {
                outln!(
                    "{} succeeded, {} failed, {} to retry, {} manual, {} cancelled, {} expired locks to unlock, {} interrupted taken up",
                    ran.succeeded, ran.failed, ran.retried, ran.manual, ran.cancelled, ran.expired, ran.interrupted
                );
            }
        }
        ActionsCommand::Run { once: false, .. } => {
            let worker = Worker::new(settings.upstreams()?, settings.actions.clone());
            let pool = crate::db::connect_pool(&settings.database()?, settings.database_pool_size)?;
            let wake = Arc::new(tokio::sync::Notify::new());
            let job = Arc::new(crate::jobs::ActionJob::new(worker, pool.clone(), wake));
            let only_actions = Settings {
                mailboxes: Vec::new(),
                ..settings
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                tokio::select! {
                    ran = crate::jobs::run(Arc::new(only_actions), pool, Some(job), None, None, Default::default()) => ran,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })?;
        }
        ActionsCommand::Retry { id } => staff(&settings, *id, |conn, id, actor| {
            actions::retry(conn, id, actor)
        })?,
        ActionsCommand::Cancel { id, note } => staff(&settings, *id, |conn, id, actor| {
            actions::cancel(conn, id, actor, note)
        })?,
        ActionsCommand::Done { id, note } => {
            if note.trim().is_empty() {
                bail!("say how it was done: --note \"…\"");
            }
            staff(&settings, *id, |conn, id, actor| {
                actions::mark_done(conn, id, actor, note)
            })?
        }
    }
    Ok(())
}

/// Runs one staff operation on action `id` and says what became of it.
fn staff(
    settings: &Settings,
    id: i64,
    op: impl FnOnce(
        &mut crate::db::DbConn,
        ActionId,
        Actor<'_>,
    ) -> Result<actions::Action, actions::StaffError>,
) -> Result<()> {
    let mut conn = super::connect(settings)?;
    let who = who();
    let id = ActionId(id);
    op(&mut conn, id, Actor::CommandLine(&who))?;
    let action = actions::get(&mut conn, id)?.context("the action is gone")?;
    outln!(
        "action {} ({} {}) is {}",
        action.id,
        action.kind.label(),
        action.target,
        action.state
    );
    Ok(())
}
