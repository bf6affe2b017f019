//! `poll`: read the configured IMAP mailboxes, once or on their schedules.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use crate::db;
use crate::imap::{self, MailboxSummary, PollOptions};
use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct PollArgs {
    /// Poll each mailbox once and exit (default: poll on the schedules until interrupted).
    #[arg(long)]
    pub once: bool,
    /// Only this mailbox (its `name` in the settings).
    #[arg(long, value_name = "NAME")]
    pub mailbox: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn poll(settings: Settings, args: &PollArgs) -> Result<()> {
    if settings.mailboxes.is_empty() {
        bail!("no mailboxes configured: add a [[mailboxes]] table to the settings file");
    }
    if let Some(name) = &args.mailbox {
        if !settings.mailboxes.iter().any(|m| &m.name == name) {
            let known: Vec<&str> = settings.mailboxes.iter().map(|m| m.name.as_str()).collect();
            bail!(
                "no mailbox named '{name}' (configured: {})",
                known.join(", ")
            );
        }
    }
    if !args.once {
        let pool = db::connect_pool(&settings.database()?, settings.database_pool_size)?;
        let runtime = tokio::runtime::Runtime::new()?;
        let settings = Arc::new(settings);
        return runtime.block_on(crate::jobs::run_until(
            settings,
            pool,
            args.mailbox.as_deref(),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        ));
    }
    let ingestor = settings.ingestor()?;
    let mut conn = super::connect(&settings)?;
    let options = PollOptions {
        batch_size: settings.ingest.batch_size,
        ..PollOptions::default()
    };
    let started = Instant::now();
    let mut summaries = Vec::new();
    for mailbox in settings
        .mailboxes
        .iter()
        .filter(|m| args.mailbox.as_ref().is_none_or(|name| &m.name == name))
    {
        summaries.push(imap::poll(
            &mut conn,
            &ingestor,
            mailbox,
            &options,
            &mut |_| {},
        ));
    }
    print(&summaries, args.json, started.elapsed().as_secs_f64())?;
    let failed: Vec<&str> = summaries
        .iter()
        .filter(|s| s.error.is_some())
        .map(|s| s.mailbox.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} mailbox(es) could not be polled: {}; what was stored is kept",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn print(summaries: &[MailboxSummary], json: bool, seconds: f64) -> Result<()> {
    if json {
        outln!(
            "{}",
            serde_json::json!({ "mailboxes": summaries, "seconds": seconds })
        );
        return Ok(());
    }
    outln!(
        "{:<20} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {:>6} {:>8} {:>7}",
        "MAILBOX",
        "MESSAGES",
        "REPORTS",
        "NEW",
        "UPDATED",
        "DUPES",
        "QUARANT",
        "MOVED",
        "REJECTED",
        "FLAGGED"
    );
    for s in summaries {
        let i = &s.ingest;
        outln!(
            "{:<20} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {:>6} {:>8} {:>7}",
            s.mailbox,
            i.messages,
            i.reports,
            i.new_tickets,
            i.updated_tickets,
            i.duplicates,
            i.quarantined,
            s.moved,
            s.rejected,
            s.flagged
        );
        if s.skipped {
            outln!("  {}: skipped, another poller is reading it", s.mailbox);
        }
        if let Some(error) = &s.error {
            outln!(
                "  {}: failed after {} attempt(s): {error}",
                s.mailbox,
                s.attempts
            );
        }
    }
    outln!("{:.2}s", seconds);
    Ok(())
}
