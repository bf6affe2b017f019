//! The HTTP server: binding `web.bind`, the session cookie, and what wraps every request
//! (security headers, the refusal of NUL characters, the request metrics).

use std::net::TcpListener;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{self, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};

use super::{api, forms, requests, routes, session_seconds, AppState, Services, WebSettings};
use crate::db::{self, Pool};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("web.bind: cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("web.session_key: {0}")]
    Key(String),
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `web.bind` and serves from `pool` (whose migrations have run), every action
    /// manual and no worker to wake.
    pub fn build(settings: &WebSettings, pool: Pool) -> Result<Self, StartError> {
        Self::build_with(settings, pool, Services::default())
    }

    /// [`Application::build`], handing actions on as `services` says.
    pub fn build_with(
        settings: &WebSettings,
        pool: Pool,
        services: Services,
    ) -> Result<Self, StartError> {
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.bind.clone(),
                source,
            })?
            .port();
        let key = session_key(settings)?;
        // The cookie travels only over https, except on loopback (the demo, a laptop).
        let secure = settings.https() || !settings.bound_to_loopback();
        if secure && !settings.https() {
            tracing::warn!(
                bind = %settings.bind,
                "web.public_url is plain http but the queue listens beyond loopback: browsers \
                 send the session cookie over https only, so put TLS in front and set \
                 web.public_url to its https address"
            );
        }
        let hsts = settings.https();
        let ttl = actix_web::cookie::time::Duration::seconds(session_seconds(settings));
        let state = web::Data::new(AppState::new(settings, pool, services));
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name("abuse_desk_session".into())
                .cookie_http_only(true)
                .cookie_secure(secure)
                .cookie_same_site(SameSite::Lax)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(PersistentSession::default().session_ttl(ttl))
                .build();
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(forms::FORM_LIMIT))
                .wrap(sessions)
                .wrap(security_headers(hsts))
                .wrap(middleware::from_fn(refuse_nul))
                .wrap(middleware::from_fn(requests::observe))
                .configure(routes)
        })
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: settings.bind.clone(),
            source,
        })?
        .run();
        Ok(Self { port, server })
    }

    /// The port bound (useful when `web.bind` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (Ctrl-C / SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn session_key(settings: &WebSettings) -> Result<Key, StartError> {
    settings.key_problem().map_err(StartError::Key)?;
    let secret = settings.session_key.expose();
    if secret.is_empty() {
        tracing::warn!(
            "web.session_key is empty: using a random key, so a restart logs everyone out"
        );
        return Ok(Key::generate());
    }
    // Signing and encryption keys are derived (HKDF) rather than cut from the text itself.
    Ok(Key::derive_from(secret.as_bytes()))
}

/// Headers on every response: no framing, no sniffing, a CSP that allows no script at all (so
/// even markup that slipped through escaping could not run), nothing kept in caches unless
/// the response says otherwise (the stylesheet), and HSTS where the queue is served by https.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    if hsts {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

/// Refuses an address holding a NUL character (`%00`) before any handler sees it: no text
/// the desk stores or searches may hold one (Postgres refuses it in text), and no legitimate
/// link carries one.
async fn refuse_nul(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let uri = req.uri().to_string();
    if uri.contains("%00") {
        const REFUSED: &str = "a NUL character (%00) is not allowed in an address";
        let res = if req.path().starts_with("/api/") {
            actix_web::ResponseError::error_response(&api::error::ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "bad_request",
                REFUSED,
            ))
        } else {
            HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(format!("{REFUSED}\n"))
        };
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req).await.map(|res| res.map_into_left_body())
}
