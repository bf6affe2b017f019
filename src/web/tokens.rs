//! "My tokens" (`/tokens`): any staff member's own API tokens, made (the token shown once, on
//! the answer page) and revoked. A token acts with its owner's role, on `/api/` only.

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{Staff, Viewer};
use super::error::WebError;
use super::forms::{CsrfForm, Nothing};
use super::AppState;
use crate::db::ids::TokenId;
use crate::db::{now, tokens};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tokens", web::get().to(list))
        .route("/tokens", web::post().to(create))
        .route("/tokens/{id}/revoke", web::post().to(revoke));
}

async fn list(Viewer(staff): Viewer, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    page(&state, staff, None).await
}

/// The page, with `created` (a token just made) shown once above the list.
async fn page(
    state: &AppState,
    staff: Staff,
    created: Option<String>,
) -> Result<HttpResponse, WebError> {
    let id = staff.id;
    let rows = state
        .db(move |conn| Ok(tokens::list(conn, Some(id))?))
        .await?;
    state.page(
        "tokens.html",
        Some(&staff),
        context! { tokens => rows, created => created },
    )
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    /// Days until the token stops working; empty for never.
    #[serde(default)]
    expires_days: String,
}

async fn create(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<HttpResponse, WebError> {
    let name = match form.name.trim() {
        "" => "web".to_owned(),
        name if name.chars().count() > 100 => {
            return Err(WebError::BadRequest(
                "a name has at most 100 characters".into(),
            ))
        }
        name => name.to_owned(),
    };
    let days = match form.expires_days.trim() {
        "" => None,
        days => Some(
            days.parse::<i64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| WebError::BadRequest("expiry: 1 to 3650 days, or empty".into()))?,
        ),
    };
    let (id, owner) = (staff.id, staff.clone());
    let (_, token) = state
        .db(move |conn| {
            let now = now();
            let expires_at = days.map(|d| now + chrono::Duration::days(d));
            Ok(tokens::create(
                conn,
                id,
                &name,
                expires_at,
                now,
                owner.actor(),
            )?)
        })
        .await?;
    page(&state, staff, Some(token)).await
}

/// Revokes one of the viewer's own tokens; someone else's is not found.
async fn revoke(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    _: CsrfForm<Nothing>,
) -> Result<HttpResponse, WebError> {
    let token = TokenId(path.into_inner());
    state
        .db(move |conn| {
            let done = tokens::revoke(conn, token, Some(staff.id), now(), staff.actor())?;
            done.then_some(()).ok_or(WebError::NotFound)
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/tokens"))
        .finish())
}
