//! `abuse-desk serve`: the web queue, and beside it the background jobs, on one pool.

use anyhow::Result;
use clap::Args;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::db;
use crate::jobs::{ActionJob, HousekeepingJob, NoticeJob};
use crate::notify::deliver::Sender;
use crate::notify::MailTemplates;
use crate::settings::Settings;
use crate::upstream::worker::Worker;
use crate::upstream::Upstreams;
use crate::web::{Application, NoticeServices, Services};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Listen here instead of `web.bind`, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// On an empty database, load a sample (customers and a few hundred generated reports)
    /// and create an `admin` account whose password is printed once. A database that holds
    /// data already is served as it is.
    #[arg(long)]
    pub demo: bool,
    /// Serve the web queue only, without polling the mailboxes (for extra web instances
    /// beside one that runs the jobs).
    #[arg(long)]
    pub no_jobs: bool,
}

/// Runs the web queue on actix's runtime until it is stopped.
pub fn serve(mut settings: Settings, args: &ServeArgs) -> Result<()> {
    if let Some(bind) = &args.bind {
        settings.web.bind = bind.clone();
        settings.validate()?;
    }
    if args.demo {
        let mut conn = super::connect(&settings)?;
        match crate::demo::prepare(&mut conn, &settings)? {
            Some(password) => {
                println!("demo data loaded into {}", crate::settings::mask_url_password(&settings.database_url));
                println!("log in at {}/login as admin with password: {password}", login_base(&settings));
                println!("(shown only now; add accounts with `abuse-desk user add`)");
            }
            None => println!("the database holds data already; serving it as it is (the demo admin's password was shown at the first start)"),
        }
    }
    let upstreams = match settings.upstreams()? {
        // The demo shows a lock go from pending to done without a filter to call.
        none if none.is_empty() && args.demo => {
            println!("demo: locks and suspensions go to a built-in demo upstream");
            Upstreams::demo(DEMO_UPSTREAM_DELAY)
        }
        upstreams => upstreams,
    };
    actix_web::rt::System::new().block_on(run(settings, upstreams, !args.no_jobs))
}

/// How long the demo upstream takes to answer: long enough to see a lock pending.
const DEMO_UPSTREAM_DELAY: Duration = Duration::from_secs(2);

/// Where staff open the queue: `web.public_url` when it is set, else the address the server
/// listens on (`--bind` may have moved it from the default).
fn login_base(settings: &Settings) -> String {
    if settings.web.public_url != Settings::default().web.public_url {
        return settings.web.public_url.clone();
    }
    match settings.web.bind.split_once(':') {
        // Every interface: this machine reaches it on loopback.
        Some(("0.0.0.0", port)) => format!("http://127.0.0.1:{port}"),
        _ => format!("http://{}", settings.web.bind),
    }
}

/// Starts the server from the settings and serves until stopped. With `jobs`, the mailbox
/// pollers and the action worker run beside it on the same pool (see [`crate::jobs::run`])
/// and stop with it.
async fn run(settings: Settings, upstreams: Upstreams, jobs: bool) -> Result<()> {
    let pool = db::connect_pool(&settings.database()?, settings.database_pool_size)?;
    let wake = Arc::new(Notify::new());
    // One set of counters for the whole process: the web shows them at /metrics.
    let metrics = crate::metrics::Metrics::new();
    let notices = match settings.notify.enabled {
        true => Some(NoticeServices {
            settings: settings.notify.clone(),
            sender: Arc::new(
                Sender::new(
                    &settings.notify,
                    MailTemplates::new(settings.web.templates_dir.clone()),
                    &settings.web.public_url,
                )?
                .measured(metrics.clone()),
            ),
            wake: Arc::new(Notify::new()),
        }),
        false => None,
    };
    let services = Services {
        notices: notices.clone(),
        routes: upstreams.routes(),
        upstreams: upstreams.names().into_iter().map(str::to_owned).collect(),
        wake_actions: jobs.then(|| Arc::clone(&wake)),
        metrics: metrics.clone(),
        ingestor: Some(Arc::new(settings.ingestor()?.measured(metrics.clone()))),
    };
    let app = Application::build_with(&settings.web, pool.clone(), services)?;
    tracing::info!(
        port = app.port(),
        "web queue listening on {}",
        settings.web.bind
    );
    if !jobs {
        app.run_until_stopped().await?;
        return Ok(());
    }
    tracing::info!(
        mailboxes = settings.mailboxes.len(),
        upstreams = upstreams.len(),
        "polling the mailboxes and carrying out actions on their schedules"
    );
    let worker = Worker::new(upstreams, settings.actions.clone()).measured(metrics.clone());
    let actions = Arc::new(ActionJob::new(worker, pool.clone(), wake));
    let notices =
        notices.map(|n| Arc::new(NoticeJob::new(n.settings, n.sender, pool.clone(), n.wake)));
    // Always: besides what `[housekeeping]` asks, it keeps the Outgoing Reports' totals.
    let housekeeping = Some(Arc::new(HousekeepingJob::new(
        settings.housekeeping.clone(),
        pool.clone(),
    )));
    tokio::select! {
        served = app.run_until_stopped() => served?,
        // Returns only when the scheduler cannot start; runs log their own errors.
        ran = crate::jobs::run(Arc::new(settings), pool, Some(actions), notices, housekeeping, metrics) => ran?,
    }
    Ok(())
}
