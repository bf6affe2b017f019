//! The customer's self-service page (`/self/{token}`), behind the random, expiring link each
//! notice carries — no login: the customer's open tickets with what they are about, advice,
//! and the evidence without third-party recipients; a reply (a note on the ticket) and "this
//! is fixed" per ticket. A wrong and an expired token get the same page, with status 404;
//! failed lookups are limited per address like logins.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::csrf_token;
use super::error::WebError;
use super::forms::{CsrfForm, Reply, Text};
use super::AppState;
use crate::db::ids::{CustomerId, TicketId};
use crate::db::selfservice::{self, Said};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/self/{token}", web::get().to(page))
        .route("/self/{token}/tickets/{id}/{what}", web::post().to(say));
}

/// The limiter's name for token lookups (counted per client address).
const LOOKUPS: &str = "self-service link";

/// The customer behind `token`, or the friendly "this link does not work" page (404), or 429
/// after too many wrong tokens from one address.
async fn customer(
    state: &AppState,
    req: &HttpRequest,
    token: String,
) -> Result<Result<CustomerId, HttpResponse>, WebError> {
    let ip = state.proxies.client(req);
    let Some(attempt) = state.lookups.reserve(LOOKUPS, ip) else {
        return Ok(Err(unknown(state, StatusCode::TOO_MANY_REQUESTS)?));
    };
    let found = state
        .db(move |conn| Ok(selfservice::customer_of(conn, &token, crate::db::now())?))
        .await?;
    match found {
        Some(customer) => {
            state.lookups.succeeded(attempt);
            Ok(Ok(customer))
        }
        None => Ok(Err(unknown(state, StatusCode::NOT_FOUND)?)),
    }
}

fn unknown(state: &AppState, status: StatusCode) -> Result<HttpResponse, WebError> {
    let mut res = state.page("self_unknown.html", None, context! {})?;
    *res.status_mut() = status;
    Ok(res)
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let token = token.into_inner();
    let customer = match customer(&state, &req, token.clone()).await? {
        Ok(customer) => customer,
        Err(page) => return Ok(page),
    };
    let (name, tickets) = state
        .db(move |conn| {
            let c = crate::db::customers::get(conn, customer)?.ok_or(WebError::NotFound)?;
            Ok((c.name, crate::tickets::page::for_customer(conn, customer)?))
        })
        .await?;
    state.page(
        "self.html",
        None,
        context! {
            customer => name,
            tickets => tickets,
            token => token,
            csrf => csrf_token(&session)?,
        },
    )
}

#[derive(Deserialize)]
struct SayForm {
    #[serde(default)]
    body: Text<Reply>,
}

async fn say(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, TicketId, String)>,
    CsrfForm(form): CsrfForm<SayForm>,
) -> Result<HttpResponse, WebError> {
    let (token, ticket, what) = path.into_inner();
    let customer = match customer(&state, &req, token.clone()).await? {
        Ok(customer) => customer,
        Err(page) => return Ok(page),
    };
    let body = form.body.into_string();
    if what == "reply" && body.is_empty() {
        return Err(WebError::BadRequest("write your reply first".into()));
    }
    let said = state
        .db(move |conn| {
            let said = match what.as_str() {
                "reply" => Said::Reply(&body),
                "fixed" => Said::Fixed,
                _ => return Err(WebError::NotFound),
            };
            Ok(selfservice::say(
                conn,
                customer,
                ticket,
                said,
                crate::db::now(),
            )?)
        })
        .await?;
    if !said {
        return Err(WebError::NotFound);
    }
    Ok(state.changed(&format!("/self/{token}#ticket-{}", ticket.0)))
}
