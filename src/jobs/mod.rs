//! Background work on a schedule: the mailbox pollers, the action worker, customer notices
//! and housekeeping. The scheduler
//! only wires cron strings (and IDLE and request wake-ups) to one run on a blocking thread
//! ([`MailboxJob::run_once`], [`ActionJob::run_once`]); everything that matters happens in
//! `imap::poll` and `upstream::worker`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio_cron_scheduler::{Job, JobScheduler};
use tracing::{info, warn};

use crate::db::{mailbox_state, Pool};
use crate::imap::{self, MailboxSettings, MailboxSummary, PollOptions};
use crate::ingest::Ingestor;
use crate::metrics::Metrics;
pub use actions::ActionJob;
pub use housekeeping::HousekeepingJob;
pub use notices::NoticeJob;

mod actions;
mod housekeeping;
mod notices;
use crate::settings::Settings;

/// How long one IDLE wait lasts before the connection is renewed (servers drop idle
/// connections after 30 minutes; NAT boxes often sooner).
const IDLE_WAIT: Duration = Duration::from_secs(300);

/// Runs every configured mailbox poller on its `schedule`, and an IDLE watcher for each
/// mailbox with `idle = true`, until the returned future is dropped (e.g. by the `select!`
/// of `serve` on shutdown). Polls of one mailbox never overlap, in this process or across
/// instances sharing a database. Errors of a single poll are logged and recorded in
/// `mailbox_state`, never returned; an error here means the scheduler could not start.
/// With `actions`, the action worker runs beside the pollers, on its schedule and whenever
/// woken; with `housekeeping`, housekeeping runs on its schedule.
pub async fn run(
    settings: Arc<Settings>,
    pool: Pool,
    actions: Option<Arc<ActionJob>>,
    notices: Option<Arc<NoticeJob>>,
    housekeeping: Option<Arc<HousekeepingJob>>,
    metrics: Metrics,
) -> anyhow::Result<()> {
    let _notices = match notices {
        Some(job) => Some(schedule_notices(&settings, job).await?),
        None => None,
    };
    let _housekeeping = match housekeeping {
        Some(job) => Some(schedule_housekeeping(&settings, job).await?),
        None => None,
    };
    run_jobs(
        settings,
        pool,
        None,
        actions,
        metrics,
        std::future::pending(),
    )
    .await
}

/// Starts the notice job on `[notify].schedule`; it runs until the returned scheduler and
/// task are dropped.
async fn schedule_notices(
    settings: &Settings,
    job: Arc<NoticeJob>,
) -> anyhow::Result<(JobScheduler, AbortOnDrop)> {
    let scheduler = JobScheduler::new().await?;
    let wake = Arc::clone(&job.wake);
    scheduler
        .add(
            Job::new_async(settings.notify.schedule.as_str(), move |_, _| {
                wake.notify_one();
                Box::pin(async {})
            })
            .context("notify.schedule")?,
        )
        .await?;
    scheduler.start().await?;
    info!(schedule = %settings.notify.schedule, "sending customer notices");
    Ok((scheduler, AbortOnDrop(tokio::spawn(job.serve()))))
}

/// Starts housekeeping on `[housekeeping].schedule`; it runs until the returned scheduler is
/// dropped.
async fn schedule_housekeeping(
    settings: &Settings,
    job: Arc<HousekeepingJob>,
) -> anyhow::Result<JobScheduler> {
    let hk = &settings.housekeeping;
    let scheduler = JobScheduler::new().await?;
    scheduler
        .add(
            Job::new_async(hk.schedule.as_str(), move |_, _| {
                let job = Arc::clone(&job);
                Box::pin(async move {
                    if let Err(e) = tokio::task::spawn_blocking(move || job.run_once()).await {
                        tracing::error!(error = %e, "a housekeeping run did not finish");
                    }
                })
            })
            .context("housekeeping.schedule")?,
        )
        .await?;
    scheduler.start().await?;
    info!(
        schedule = %hk.schedule,
        close_idle_days = hk.close_idle_days,
        purge_raw_days = hk.purge_raw_days,
        "housekeeping"
    );
    Ok(scheduler)
}

/// The pollers of the mailbox named `only` (all when None), until `shutdown` completes; then
/// the scheduler is stopped and the IDLE watchers end at their next wake-up.
pub async fn run_until(
    settings: Arc<Settings>,
    pool: Pool,
    only: Option<&str>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_jobs(settings, pool, only, None, Metrics::default(), shutdown).await
}

async fn run_jobs(
    settings: Arc<Settings>,
    pool: Pool,
    only: Option<&str>,
    actions: Option<Arc<ActionJob>>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let ingestor = Arc::new(settings.ingestor()?.measured(metrics));
    let mut scheduler = JobScheduler::new().await?;
    let worker = match actions {
        Some(job) => {
            let wake = Arc::clone(&job.wake);
            scheduler
                .add(
                    Job::new_async(settings.actions.schedule.as_str(), move |_, _| {
                        wake.notify_one();
                        Box::pin(async {})
                    })
                    .context("actions.schedule")?,
                )
                .await?;
            // Whatever was due while the desk was down is carried out at once.
            job.wake.notify_one();
            info!(schedule = %settings.actions.schedule, "carrying out actions");
            Some(AbortOnDrop(tokio::spawn(job.serve())))
        }
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    for mailbox in settings
        .mailboxes
        .iter()
        .filter(|m| only.is_none_or(|name| m.name == name))
    {
        let mut job = MailboxJob::new(mailbox.clone(), Arc::clone(&ingestor), pool.clone());
        job.options.batch_size = settings.ingest.batch_size;
        let job = Arc::new(job);
        let scheduled = Arc::clone(&job);
        scheduler
            .add(
                Job::new_async(mailbox.schedule.as_str(), move |_, _| {
                    let job = Arc::clone(&scheduled);
                    Box::pin(async move {
                        let name = job.mailbox.name.clone();
                        if let Err(e) = tokio::task::spawn_blocking(move || job.run_once()).await {
                            tracing::error!(mailbox = %name, error = %e, "a poll did not finish");
                        }
                    })
                })
                .with_context(|| format!("mailboxes[{}].schedule", mailbox.name))?,
            )
            .await?;
        if mailbox.idle {
            let stop = Arc::clone(&stop);
            // A plain thread, not the runtime's blocking pool: an IDLE wait cannot be
            // interrupted, and the runtime must not wait for it on shutdown.
            std::thread::Builder::new()
                .name(format!("idle-{}", mailbox.name))
                .spawn(move || job.idle_loop(&stop))?;
        }
        info!(mailbox = %mailbox.name, schedule = %mailbox.schedule, idle = mailbox.idle, "polling");
    }
    scheduler.start().await?;
    shutdown.await;
    stop.store(true, Ordering::Relaxed);
    drop(worker);
    scheduler.shutdown().await?;
    Ok(())
}

/// Ends a spawned task when its owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One mailbox's poller as the scheduler and the IDLE watcher share it.
pub struct MailboxJob {
    pub mailbox: MailboxSettings,
    pub ingestor: Arc<Ingestor>,
    pub pool: Pool,
    pub options: PollOptions,
    /// Keeps this process's polls of the mailbox from piling up when one outlasts the
    /// schedule's interval (the database claim keeps other processes out).
    busy: Mutex<()>,
}

impl MailboxJob {
    pub fn new(mailbox: MailboxSettings, ingestor: Arc<Ingestor>, pool: Pool) -> Self {
        Self {
            mailbox,
            ingestor,
            pool,
            options: PollOptions::default(),
            busy: Mutex::new(()),
        }
    }

    /// One poll (blocking), unless one is running already; None then or when no
    /// database connection could be had.
    pub fn run_once(&self) -> Option<MailboxSummary> {
        let Ok(_busy) = self.busy.try_lock() else {
            info!(mailbox = %self.mailbox.name, "the previous poll is still running; skipped");
            return None;
        };
        let mut conn = match self.pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                warn!(mailbox = %self.mailbox.name, error = %e, "no database connection for the poll");
                return None;
            }
        };
        let summary = imap::poll(
            &mut conn,
            &self.ingestor,
            &self.mailbox,
            &self.options,
            &mut |_| {},
        );
        conn.record(&match &summary.error {
            Some(error) => Err(error),
            None => Ok(()),
        });
        match &summary.error {
            Some(error) => {
                warn!(mailbox = %summary.mailbox, %error, "poll gave up until the next schedule")
            }
            None if summary.ingest.messages > 0 => info!(
                mailbox = %summary.mailbox,
                messages = summary.ingest.messages,
                new_tickets = summary.ingest.new_tickets,
                updated_tickets = summary.ingest.updated_tickets,
                duplicates = summary.ingest.duplicates,
                quarantined = summary.ingest.quarantined,
                moved = summary.moved,
                "polled"
            ),
            None => {}
        }
        Some(summary)
    }

    /// The highest UID stored from the mailbox, for IDLE to wait past; 0 (any message wakes
    /// it, and the poll then finds nothing new) when it cannot be read, which is logged.
    fn last_uid(&self) -> u32 {
        let stored = self
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                mailbox_state::find(&mut conn, &self.mailbox.name).map_err(|e| e.to_string())
            });
        match stored {
            Ok(state) => state.map_or(0, |s| u32::try_from(s.last_uid).unwrap_or(0)),
            Err(error) => {
                warn!(mailbox = %self.mailbox.name, %error, "mailbox state unreadable; IDLE waits for any message");
                0
            }
        }
    }

    /// Polls, then waits with IDLE for new mail, and again, until `stop` is set. A failed
    /// wait is retried after a growing pause; the schedule keeps polling meanwhile.
    pub fn idle_loop(&self, stop: &AtomicBool) {
        let mut pause = self.options.backoff;
        let mut poll_now = true;
        while !stop.load(Ordering::Relaxed) {
            if poll_now && self.run_once().is_none() {
                // A scheduled poll is running (or the database is away): let it finish.
                std::thread::sleep(Duration::from_secs(1));
            }
            let last_uid = self.last_uid();
            match imap::wait_for_mail(&self.mailbox, last_uid, IDLE_WAIT, self.options.timeout) {
                Ok(mail) => {
                    poll_now = mail;
                    pause = self.options.backoff;
                }
                Err(e) => {
                    warn!(mailbox = %self.mailbox.name, error = %e, "IDLE failed; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(self.options.max_backoff);
                    poll_now = true;
                }
            }
        }
    }
}
