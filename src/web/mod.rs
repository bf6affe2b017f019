//! The web queue: an actix-web server rendering minijinja templates. `Application::build`
//! binds the configured address (port 0 in tests) and everything a handler needs travels in
//! [`AppState`] through `web::Data`; there is no global state.

mod actions;
pub mod api;
pub mod auth;
mod client;
mod customers;
mod dashboard;
pub mod error;
mod events;
mod forms;
mod limiter;
mod login;
mod notices;
mod ops;
mod outgoing;
mod queue;
mod requests;
mod selfservice;
mod server;
mod settings;
mod templates;
mod ticket;
mod tokens;
mod users;
mod work;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use minijinja::Value;

use crate::db::actions::Routes;
use crate::db::{self, DbConn, Pool};
use crate::tickets::queue::QueueCaches;
pub use error::WebError;
pub use server::{Application, StartError};
pub use settings::WebSettings;

/// Figures fine to show a little old, kept between requests.
#[derive(Default)]
pub(crate) struct Caches {
    pub queue: QueueCaches,
    pub dashboard: DashboardCache,
}

/// The dashboard's figures: a minute old is fine.
pub(crate) struct DashboardCache(crate::cache::Cached<dashboard::Figures>);

impl Default for DashboardCache {
    fn default() -> Self {
        Self(crate::cache::Cached::new(Duration::from_secs(60)))
    }
}

impl std::ops::Deref for DashboardCache {
    type Target = crate::cache::Cached<dashboard::Figures>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// What the web hands on to the rest of the desk: which upstream carries out which action,
/// and the action worker to wake when one is asked for.
#[derive(Clone, Default)]
pub struct Services {
    pub routes: Routes,
    /// The configured upstreams' names, for staff to see.
    pub upstreams: Vec<String>,
    pub wake_actions: Option<Arc<tokio::sync::Notify>>,
    /// Customer notices, where `[notify]` is enabled.
    pub notices: Option<NoticeServices>,
    /// The desk's counters, shown at `/metrics` (the jobs beside the web record into it).
    pub metrics: crate::metrics::Metrics,
    /// The ingest policies, for reports posted to the API (none: the API refuses them).
    pub ingestor: Option<Arc<crate::ingest::Ingestor>>,
}

/// What the web needs of customer notices: their settings, the sender (which composes them:
/// the preview), and the job to wake when staff ask for one now.
#[derive(Clone)]
pub struct NoticeServices {
    pub settings: crate::notify::NotifySettings,
    pub sender: Arc<crate::notify::deliver::Sender>,
    pub wake: Arc<tokio::sync::Notify>,
}

/// Everything handlers share, built once from the settings.
pub struct AppState {
    services: Services,
    pub pool: Pool,
    templates: templates::Templates,
    limiter: limiter::LoginLimiter,
    /// Wrong self-service links, per client address.
    lookups: limiter::LoginLimiter,
    /// Who the client is behind a reverse proxy.
    proxies: client::TrustedProxies,
    caches: Caches,
    /// Storage work runs a few units at a time, in the order requests asked for it (see
    /// [`concurrent_storage_work`]).
    turns: tokio::sync::Semaphore,
    /// How long a login lasts (`web.session_hours`, `web.idle_minutes`).
    lifetime: db::sessions::Lifetime,
    /// `web.metrics_token`.
    metrics_token: crate::secret::Secret,
}

/// `web.session_hours` in whole seconds (at least one).
fn session_seconds(settings: &WebSettings) -> i64 {
    ((settings.session_hours * 3600.0) as i64).max(1)
}

fn lifetime(settings: &WebSettings) -> db::sessions::Lifetime {
    db::sessions::Lifetime {
        absolute: chrono::Duration::seconds(session_seconds(settings)),
        idle: chrono::Duration::minutes(i64::from(settings.idle_minutes.max(1))),
    }
}

/// How many units of storage work run at once: two per core, and no more than the pool has
/// connections (a unit beyond that would only wait for one, and not in turn). Queries are
/// CPU-bound, so more at once only share the cores, and every one of them takes longer; the
/// rest wait their turn first come, first served (the semaphore is fair). Under load that
/// keeps the slowest answers close to the typical one (figures in `docs/performance.md`).
fn concurrent_storage_work(pool_size: u32) -> usize {
    let per_cores = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    per_cores.min(pool_size as usize).max(1)
}

impl AppState {
    pub fn new(settings: &WebSettings, pool: Pool, services: Services) -> Self {
        Self {
            services,
            turns: tokio::sync::Semaphore::new(concurrent_storage_work(pool.max_size())),
            pool,
            templates: templates::Templates::new(settings.templates_dir.clone()),
            limiter: limiter::LoginLimiter::new(limiter::Limits::default()),
            lookups: limiter::LoginLimiter::new(limiter::Limits::links()),
            // Validated with the settings; a block that does not parse trusts nobody.
            proxies: client::TrustedProxies::new(settings.proxies().unwrap_or_default()),
            caches: Caches::default(),
            lifetime: lifetime(settings),
            metrics_token: settings.metrics_token.clone(),
        }
    }

    /// The configured upstreams' names.
    pub fn upstream_names(&self) -> &[String] {
        &self.services.upstreams
    }

    /// After a change: the queue's cached counts are forgotten (staff see their own change at
    /// once), the action worker is woken (the change may have asked for an action), and the
    /// browser goes to `location` (so a reload does not post twice).
    pub fn changed(&self, location: &str) -> HttpResponse {
        self.caches.queue.clear();
        self.actions_asked();
        HttpResponse::SeeOther()
            .insert_header(("Location", location))
            .finish()
    }

    /// Tells the action worker an action was asked for (it also runs on its schedule).
    pub fn actions_asked(&self) {
        if let Some(wake) = &self.services.wake_actions {
            wake.notify_one();
        }
    }

    /// Runs a unit of storage work on a pooled connection, off the async threads.
    pub async fn db<T, F>(&self, work: F) -> Result<T, WebError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, WebError> + Send + 'static,
        T: Send + 'static,
    {
        // The semaphore is never closed, so a permit always comes.
        let _turn = self.turns.acquire().await.ok();
        let pool = self.pool.clone();
        web::block(move || {
            // Not the pool's whole patience: while the database is down, pages answer 503
            // in a few seconds instead of hanging.
            let mut conn = pool.get_timeout(DATABASE_PATIENCE)?;
            let outcome = work(&mut conn);
            conn.record(&outcome);
            outcome
        })
        .await?
    }

    /// Runs a change that is one write transaction, as [`Self::db`] does, and tries it again
    /// when Postgres aborted it to break a deadlock: a merge moves events between two tickets
    /// an import may be counting on, each locking the other's ticket in turn. Nothing of an
    /// aborted try stays, so the change is applied once; staff see it done, not an error.
    pub async fn db_change<T, F>(&self, work: F) -> Result<T, WebError>
    where
        F: Fn(&mut DbConn) -> Result<T, WebError> + Send + 'static,
        T: Send + 'static,
    {
        self.db(move |conn| {
            let mut tried = 1;
            loop {
                match work(conn) {
                    Err(WebError::Query(e)) if tried < CHANGE_TRIES && db::is_conflict(&e) => {
                        tracing::info!(error = %e, tried, "a change was aborted to break a deadlock; trying it again");
                        std::thread::sleep(CONFLICT_PAUSE * tried);
                        tried += 1;
                    }
                    outcome => return outcome,
                }
            }
        })
        .await
    }

    /// Renders a page; `staff` (when logged in) gives the menu and the forms' CSRF token.
    pub fn page(
        &self,
        name: &str,
        staff: Option<&auth::Staff>,
        ctx: Value,
    ) -> Result<HttpResponse, WebError> {
        let ctx = minijinja::context! { me => staff, ..ctx };
        let html = self.templates.render(name, ctx)?;
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(html))
    }
}

/// How long a request waits for a database connection before it answers 503.
const DATABASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a change aborted by a deadlock is tried in all, and the pause before the
/// second try (growing with each): the other transaction gets the time to finish.
const CHANGE_TRIES: u32 = 4;
const CONFLICT_PAUSE: Duration = Duration::from_millis(50);

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/style.css", web::get().to(stylesheet))
        .route(
            "/",
            web::get().to(|| async {
                HttpResponse::SeeOther()
                    .insert_header(("Location", "/tickets"))
                    .finish()
            }),
        );
    ops::config(cfg);
    login::config(cfg);
    actions::config(cfg);
    events::config(cfg);
    notices::config(cfg);
    selfservice::config(cfg);
    queue::config(cfg);
    ticket::config(cfg);
    work::config(cfg);
    outgoing::config(cfg);
    dashboard::config(cfg);
    customers::config(cfg);
    users::config(cfg);
    tokens::config(cfg);
    api::config(cfg);
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(templates::STYLESHEET)
}
