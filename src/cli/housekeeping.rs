//! `abuse-desk housekeeping`: closing idle tickets and purging old raw messages from the
//! command line or cron, and `customers forget`.

use std::sync::Arc;

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::housekeeping;
use crate::jobs::HousekeepingJob;
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub enum HousekeepingCommand {
    /// Close tickets idle for `[housekeeping].close_idle_days`, purge the content of raw
    /// messages older than `purge_raw_days` (events, tickets and counts stay), drop the
    /// Outgoing Reports' totals of ended periods and make the day's standard ones. With --once,
    /// one run and a summary (for cron); without, on `[housekeeping].schedule` until
    /// interrupted. Another instance running it at the same time is harmless.
    Run {
        #[arg(long)]
        once: bool,
        /// Print the summary as JSON: {"closed":…,"purged":…,"periods":…}.
        #[arg(long)]
        json: bool,
    },
}

impl HousekeepingCommand {
    pub fn keeps_running(&self) -> bool {
        matches!(self, Self::Run { once: false, .. })
    }
}

pub fn run(settings: &Settings, command: &HousekeepingCommand) -> Result<()> {
    let HousekeepingCommand::Run { once, json } = command;
    if !once {
        return on_schedule(settings);
    }
    let mut conn = super::connect(settings)?;
    let Some(swept) = housekeeping::run_once(&mut conn, &settings.housekeeping, crate::db::now())?
    else {
        bail!("housekeeping is running in another instance right now; try again later");
    };
    if *json {
        outln!("{}", serde_json::to_string(&swept)?);
    } else {
        outln!(
            "{} idle ticket(s) closed, {} raw message(s) purged, {} Outgoing Reports period(s) prepared",
            swept.closed,
            swept.purged,
            swept.periods
        );
    }
    Ok(())
}

/// Runs on `[housekeeping].schedule` until interrupted.
fn on_schedule(settings: &Settings) -> Result<()> {
    let pool = crate::db::connect_pool(&settings.database()?, settings.database_pool_size)?;
    let job = Arc::new(HousekeepingJob::new(
        settings.housekeeping.clone(),
        pool.clone(),
    ));
    let only_housekeeping = Settings {
        mailboxes: Vec::new(),
        ..settings.clone()
    };
    tokio::runtime::Runtime::new()?.block_on(async {
        tokio::select! {
            ran = crate::jobs::run(Arc::new(only_housekeeping), pool, None, None, Some(job), Default::default()) => ran,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// `customers forget EXTERNAL_ID`.
pub fn forget(settings: &Settings, external_id: &str, json: bool) -> Result<()> {
    let mut conn = super::connect(settings)?;
    let who = super::actions::who();
    let done = housekeeping::forget::forget(
        &mut conn,
        external_id,
        crate::db::audit::Actor::CommandLine(&who),
        crate::db::now(),
    )?;
    if json {
        outln!("{}", serde_json::to_string(&done)?);
    } else {
        outln!(
            "customer {} forgotten: {} ticket(s) with {} event(s) kept, {} raw message(s) purged",
            done.customer_id,
            done.tickets,
            done.events,
            done.raw_messages_purged
        );
    }
    Ok(())
}
