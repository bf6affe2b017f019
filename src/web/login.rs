//! Logging in and out. The login form carries a CSRF token like every other form (a session
//! exists before login for that), failed attempts are limited per username and address, and
//! a successful login renews the session so a planted cookie cannot ride along.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{self, check_csrf, csrf_token, Viewer};
use super::error::WebError;
use super::AppState;
use crate::db::users as user_store;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths of this site: never an absolute URL or `//host` from a crafted link.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/tickets".to_owned(),
    }
}

fn login_page(
    state: &AppState,
    session: &Session,
    next: &str,
    username: &str,
    error: Option<&str>,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, WebError> {
    let mut page = state.page(
        "login.html",
        None,
        context! { csrf => csrf_token(session)?, next => next, username => username, error => error },
    )?;
    *page.status_mut() = status;
    Ok(page)
}

async fn form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, WebError> {
    let next = safe_next(query.next.as_deref());
    login_page(
        &state,
        &session,
        &next,
        "",
        None,
        actix_web::http::StatusCode::OK,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

async fn login(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let ip = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let username = form.username.trim().to_owned();
    if !state.limiter.allowed(&username, ip) {
        tracing::warn!(%ip, user = %username, "login refused: too many failures");
        return login_page(
            &state,
            &session,
            &next,
            &username,
            Some("Too many failed logins. Wait 15 minutes and try again."),
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let name = username.clone();
    let user = state
        .db(move |conn| {
            let user = user_store::verify(conn, &name, &form.password)?;
            if let Some(user) = &user {
                user_store::touch_login(conn, user.id)?;
            }
            Ok(user)
        })
        .await?;
    let Some(user) = user else {
        state.limiter.failed(&username, ip);
        tracing::info!(%ip, user = %username, "login failed");
        return login_page(
            &state,
            &session,
            &next,
            &username,
            Some("Wrong username or password."),
            actix_web::http::StatusCode::UNAUTHORIZED,
        );
    };
    state.limiter.succeeded(&username, ip);
    session.renew();
    let expires = chrono::Utc::now().timestamp() + state.session_seconds;
    let set = |k: &str, v: i64| {
        session
            .insert(k, v)
            .map_err(|e| WebError::Session(e.to_string()))
    };
    set(auth::USER_ID, user.id.0)?;
    set(auth::EXPIRES, expires)?;
    // A fresh CSRF token for the logged-in session.
    session
        .insert("csrf", auth::random_token())
        .map_err(|e| WebError::Session(e.to_string()))?;
    tracing::info!(user = %user.username, "logged in");
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", next))
        .finish())
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf_token: String,
}

async fn logout(
    Viewer(_staff): Viewer,
    session: Session,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    session.purge();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/login"))
        .finish())
}
