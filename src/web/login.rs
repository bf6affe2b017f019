//! Logging in and out. The login form carries a CSRF token like every other form (a session
//! exists before login for that) and is small (a few KiB at most); every attempt is counted
//! before its password is checked (see `limiter`); a successful login starts a session held
//! on the server and renews the cookie, so a planted cookie cannot ride along; logging out
//! ends the session on the server, so no copy of the cookie opens anything afterwards.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{self, check_csrf, csrf_token, Viewer};
use super::error::WebError;
use super::AppState;
use crate::db::sessions;
use crate::db::users as user_store;

/// The login form's largest body: a name, a password, a token and a path.
const LOGIN_FORM_LIMIT: usize = 8 * 1024;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .app_data(web::FormConfig::default().limit(LOGIN_FORM_LIMIT))
            .route(web::get().to(form))
            .route(web::post().to(login)),
    )
    .route("/logout", web::post().to(logout));
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path of this site: `next` is resolved against the site's own origin as a browser
/// would, and refused unless it stays there. Browsers drop tabs and line breaks inside URLs
/// and read `\\` as `/`, so `/\t/evil.example` or `/\\evil.example` would leave the site:
/// anything holding a control character, whitespace or a backslash is refused first.
fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/tickets";
    let Some(next) = next else {
        return HOME.to_owned();
    };
    let odd = |c: char| c.is_control() || c.is_whitespace() || c == '\\';
    if !next.starts_with('/') || next.starts_with("//") || next.chars().any(odd) {
        return HOME.to_owned();
    }
    let Ok(base) = url::Url::parse("http://desk.invalid/") else {
        return HOME.to_owned();
    };
    match base.join(next) {
        // `/.//evil.example` resolves to the path `//evil.example`: still refused.
        Ok(url) if url.origin() == base.origin() && !url.path().starts_with("//") => {
            let mut path = url.path().to_owned();
            if let Some(q) = url.query() {
                path.push('?');
                path.push_str(q);
            }
            path
        }
        _ => HOME.to_owned(),
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
    let ip = state.proxies.client(&req);
    let username = form.username.trim().to_owned();
    let Some(attempt) = state.limiter.reserve(&username, ip) else {
        // The name as typed is not logged: it may be a password typed into the wrong field.
        tracing::warn!(%ip, "login refused: too many failed attempts");
        return login_page(
            &state,
            &session,
            &next,
            &username,
            Some("Too many failed logins. Wait 15 minutes and try again."),
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        );
    };
    let name = username.clone();
    let account = state
        .db(move |conn| Ok(user_store::for_login(conn, &name)?))
        .await?;
    // The password hash is slow by design: checked off the async threads, holding no
    // connection, and as long for a name without an account.
    let known = account.is_some();
    let password = form.password;
    let user = web::block(move || {
        let right = user_store::password_ok(account.as_ref(), &password);
        account.filter(|_| right)
    })
    .await?;
    let Some(user) = user else {
        if known {
            tracing::info!(%ip, user = ?username, "login failed: wrong password");
        } else {
            tracing::info!(%ip, "login failed: no such account");
        }
        return login_page(
            &state,
            &session,
            &next,
            &username,
            Some("Wrong username or password."),
            actix_web::http::StatusCode::UNAUTHORIZED,
        );
    };
    state.limiter.succeeded(attempt);
    let lifetime = state.lifetime;
    let id = user.id;
    let token = state
        .db(move |conn| {
            let now = crate::db::now();
            user_store::touch_login(conn, id)?;
            Ok(sessions::start(conn, id, now, lifetime)?)
        })
        .await?;
    session.renew();
    let set = |k: &str, v: String| {
        session
            .insert(k, v)
            .map_err(|e| WebError::Session(e.to_string()))
    };
    set(auth::SESSION, token)?;
    // A fresh CSRF token for the logged-in session.
    set(auth::CSRF, auth::random_token())?;
    tracing::info!(user = ?user.username, %ip, "logged in");
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
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    if let Some(token) = session.get::<String>(auth::SESSION).ok().flatten() {
        state
            .db(move |conn| Ok(sessions::end(conn, &token)?))
            .await?;
    }
    session.purge();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/login"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_never_leaves_the_site() {
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "http:evil.example",
            "/.//evil.example",
            "/x/..//evil.example",
            "\\\\evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/tickets", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/tickets");
        assert_eq!(
            safe_next(Some("/tickets?status=all&q=a%20b")),
            "/tickets?status=all&q=a%20b"
        );
        assert_eq!(safe_next(Some("/tickets/7")), "/tickets/7");
        // Encoded slashes stay in the path, on this site.
        assert_eq!(
            safe_next(Some("/%2F%2Fevil.example")),
            "/%2F%2Fevil.example"
        );
    }
}
