//! `abuse-desk notify`: plan and send customer notices from the command line or cron.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::db::notices;
use crate::notify::deliver::Sender;
use crate::notify::plan::{plan, Planned};
use crate::notify::MailTemplates;
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Plan the notices due now (one digest per customer with news) and send them. With
    /// --once, one run and a summary (for cron); without, on `[notify].schedule` until
    /// interrupted.
    Run {
        #[arg(long)]
        once: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The latest notifications (one per recipient), newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Plans and sends on `[notify].schedule` until interrupted.
fn on_schedule(settings: &Settings, sender: Sender) -> Result<()> {
    use std::sync::Arc;
    let pool = crate::db::connect_pool(&settings.database()?, settings.database_pool_size)?;
    let job = Arc::new(crate::jobs::NoticeJob::new(
        settings.notify.clone(),
        Arc::new(sender),
        pool.clone(),
        Arc::new(tokio::sync::Notify::new()),
    ));
    let only_notices = Settings {
        mailboxes: Vec::new(),
        ..settings.clone()
    };
    tokio::runtime::Runtime::new()?.block_on(async {
        tokio::select! {
            ran = crate::jobs::run(Arc::new(only_notices), pool, None, Some(job), None, Default::default()) => ran,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

pub fn run(settings: &Settings, command: &NotifyCommand) -> Result<()> {
    match command {
        NotifyCommand::Run { once, json } => {
            if !settings.notify.enabled {
                bail!("notices are off: set [notify] enabled = true (and smtp_url, from)");
            }
            let sender = Sender::new(
                &settings.notify,
                MailTemplates::new(settings.web.templates_dir.clone()),
                &settings.web.public_url,
            )?;
            if !once {
                return on_schedule(settings, sender);
            }
            let mut conn = super::connect(settings)?;
            let planned: Planned = plan(
                &mut conn,
                &settings.notify,
                crate::db::now(),
                None,
                false,
                None,
            )?;
            let delivered = sender.run_once(&mut conn)?;
            if *json {
                outln!(
                    "{}",
                    serde_json::json!({ "planned": planned, "delivered": delivered })
                );
            } else {
                outln!(
                    "{} notice(s) planned for {} recipient(s); {} sent, {} to retry, {} failed",
                    planned.notices,
                    planned.notifications,
                    delivered.sent,
                    delivered.retried,
                    delivered.failed
                );
            }
        }
        NotifyCommand::List { limit, json } => {
            let mut conn = super::connect(settings)?;
            let rows = notices::recent(&mut conn, None, *limit)?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            for n in &rows {
                outln!(
                    "{:>6} {:<8} {:<40} {:<4} {}",
                    n.id,
                    n.state,
                    super::clip(&n.recipient, 40),
                    n.attempts,
                    n.last_error.as_deref().unwrap_or(&n.subject)
                );
            }
            outln!("{} notification(s)", rows.len());
        }
    }
    Ok(())
}
