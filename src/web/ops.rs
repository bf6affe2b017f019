//! What operators' tools ask: `/healthz` (the process answers), `/readyz` (the database
//! answers and holds every migration this build expects) and `/metrics` (the desk's counters
//! as OpenMetrics text). The two probes are open to anyone, as load balancers and
//! orchestrators call them without credentials, and so say nothing beyond up or ready;
//! `/metrics` needs a login, an API token or `web.metrics_token`.

use std::time::Duration;

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use super::auth::Viewer;
use super::{AppState, WebError};
use crate::db;

/// How long `/readyz` waits for a database connection before calling the database gone.
const READY_WAIT: Duration = Duration::from_secs(5);

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

fn plain(mut res: actix_web::HttpResponseBuilder, text: &'static str) -> HttpResponse {
    res.content_type("text/plain; charset=utf-8").body(text)
}

/// The process is up and serving; nothing else is asked.
async fn healthz() -> HttpResponse {
    plain(HttpResponse::Ok(), "ok\n")
}

/// Ready when a pooled connection answers and no embedded migration is pending. What is
/// wrong in detail goes to the log; the answer only names which of the two it is.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let checked = web::block(move || {
        let mut conn = pool.get_timeout(READY_WAIT)?;
        let pending = db::pending_migrations(&mut conn);
        conn.record(&pending);
        pending
    })
    .await;
    match checked {
        Ok(Ok(pending)) if pending.is_empty() => plain(HttpResponse::Ok(), "ready\n"),
        Ok(Ok(pending)) => {
            tracing::warn!(pending = ?pending, "not ready: database migrations are pending");
            plain(
                HttpResponse::ServiceUnavailable(),
                "not ready: the database lacks migrations of this version (run abuse-desk migrate)\n",
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            plain(
                HttpResponse::ServiceUnavailable(),
                "not ready: the database does not answer\n",
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the readiness check did not finish");
            plain(
                HttpResponse::ServiceUnavailable(),
                "not ready: the database does not answer\n",
            )
        }
    }
}

/// The counters, with tickets per status read from the database now.
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    if !is_scraper(&req, state.metrics_token.expose()) {
        Viewer::extract(&req).await?;
    }
    let counts = state
        .db(|conn| Ok(crate::tickets::queue::status_counts(conn)?))
        .await?;
    let metrics = &state.services.metrics;
    metrics.set_tickets(&counts);
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(metrics.encode()))
}

/// Whether the request carries `web.metrics_token` (never when none is set).
fn is_scraper(req: &HttpRequest, token: &str) -> bool {
    let Some(given) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in constant time so the token cannot be guessed byte by byte.
    !token.is_empty()
        && given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
