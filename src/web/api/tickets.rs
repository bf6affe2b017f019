//! Tickets: the queue (its filters and keyset pages), one ticket, its status and assignee,
//! notes, actions, and events with the raw report behind each.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::{AgentToken, Object, TokenOf};
use crate::db::actions::{self, Action, ActionKind};
use crate::db::events::Event;
use crate::db::ids::{EventId, TicketId};
use crate::db::locks::Lock;
use crate::db::users::{self, Role};
use crate::tickets::detail::{detail, TicketDetail};
use crate::tickets::page::{self, PageRequest, TicketPage};
use crate::tickets::queue::{load_page, QueuePage, QueueParams};
use crate::tickets::target::{self, Ask};
use crate::tickets::work::{self, Note};
use crate::tickets::Status;
use crate::web::auth::{Agent, Claim, Viewer};
use crate::web::forms::{self, Text};
use crate::web::work::parse_hours;
use crate::web::{AppState, WebError};

/// The queue: open tickets by default (`status=all` for every one), 50 a page; `after` is the
/// `next` of the page before.
#[utoipa::path(
    tag = "tickets",
    params(QueueParams),
    responses((status = 200, description = "A page of the queue", body = QueuePage)),
    security(("bearer" = []))
)]
#[get("/tickets")]
pub async fn list(
    claim: Claim,
    state: web::Data<AppState>,
    query: web::Query<QueueParams>,
) -> Result<web::Json<QueuePage>, ApiError> {
    let params = query.into_inner();
    let st = state.clone();
    let (_, page) = state
        .db_as(claim, Role::Viewer, move |conn, staff| {
            let req = params.request(staff.id)?;
            Ok(load_page(conn, &st.caches.queue, &req)?)
        })
        .await?;
    Ok(web::Json(page))
}

/// One ticket: its summary, notes, actions and the locks holding on its targets.
#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub ticket: TicketDetail,
    /// Events of the last 24 hours.
    pub events_24h: i64,
    /// Up to 20 of its source IPs.
    pub source_ips: Vec<String>,
    pub notes: Vec<Note>,
    pub actions: Vec<Action>,
    pub identity_lock: Option<Lock>,
    pub user_lock: Option<Lock>,
    pub account_lock: Option<Lock>,
}

#[utoipa::path(
    tag = "tickets",
    responses((status = 200, description = "The ticket", body = TicketView)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}")]
pub async fn get(
    claim: Claim,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<TicketView>, ApiError> {
    let id = TicketId(id.into_inner());
    let (_, p) = state
        .db_as(claim, Role::Viewer, move |conn, _| {
            TicketPage::load(conn, id, PageRequest::default())?.ok_or(WebError::NotFound)
        })
        .await?;
    Ok(web::Json(TicketView {
        ticket: p.t,
        events_24h: p.events_24h,
        source_ips: p.source_ips,
        notes: p.notes,
        actions: p.actions,
        identity_lock: p.identity_lock,
        user_lock: p.user_lock,
        account_lock: p.account_lock,
    }))
}

/// A change of status and/or assignee; a field left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    pub status: Option<Status>,
    /// A user name; `null` unassigns.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    tag = "tickets",
    request_body = TicketUpdate,
    responses((status = 200, description = "The ticket as it is now", body = TicketDetail)),
    security(("bearer" = []))
)]
#[patch("/tickets/{id}")]
pub async fn update(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    Object(body): Object<TicketUpdate>,
) -> Result<web::Json<TicketDetail>, ApiError> {
    let id = TicketId(id.into_inner());
    let change = body;
    let ticket = state
        .db(move |conn| {
            let at = crate::db::now();
            detail(conn, id)?.ok_or(WebError::NotFound)?;
            if let Some(status) = change.status {
                work::change_status(conn, id, status, staff.actor(), at)?;
            }
            if let Some(assignee) = change.assignee {
                let user = match assignee.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(name) => Some(
                        users::id_of(conn, name)?
                            .map(|uid| (uid, name.to_owned()))
                            .ok_or_else(|| WebError::Invalid(format!("no user '{name}'")))?,
                    ),
                };
                let who = user.as_ref().map(|(uid, name)| (*uid, name.as_str()));
                work::assign(conn, id, who, staff.actor(), at)?;
            }
            detail(conn, id)?.ok_or(WebError::NotFound)
        })
        .await?;
    state.caches.queue.clear();
    Ok(web::Json(ticket))
}

#[utoipa::path(
    tag = "tickets",
    responses((status = 200, description = "The ticket's notes, oldest first", body = Vec<Note>)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/notes")]
pub async fn notes(
    _: Viewer,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<Note>>, ApiError> {
    let id = TicketId(id.into_inner());
    let found = state
        .db(move |conn| {
            detail(conn, id)?.ok_or(WebError::NotFound)?;
            Ok(work::notes_of(conn, id)?)
        })
        .await?;
    Ok(web::Json(found))
}

#[derive(Deserialize, ToSchema)]
pub struct NewNote {
    /// The note (up to 20,000 characters).
    #[schema(value_type = String, pattern = r"\S", max_length = 20000)]
    pub body: Text<forms::Note>,
}

#[utoipa::path(
    tag = "tickets",
    request_body = NewNote,
    responses((status = 201, description = "The ticket's notes with the new one", body = Vec<Note>)),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/notes")]
pub async fn add_note(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    Object(body): Object<NewNote>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId(id.into_inner());
    let note = body.body;
    if note.is_empty() {
        return Err(ApiError::invalid("write the note first"));
    }
    let all = state
        .db(move |conn| {
            let at = crate::db::now();
            work::add_note(conn, id, staff.id, staff.actor(), &note, at)?;
            Ok(work::notes_of(conn, id)?)
        })
        .await?;
    Ok(HttpResponse::Created().json(all))
}

#[utoipa::path(
    tag = "tickets",
    responses((status = 200, description = "The ticket's actions, newest first", body = Vec<Action>)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/actions")]
pub async fn list_actions(
    _: Viewer,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<Action>>, ApiError> {
    let id = TicketId(id.into_inner());
    let found = state
        .db(move |conn| {
            detail(conn, id)?.ok_or(WebError::NotFound)?;
            Ok(actions::for_ticket(conn, id)?)
        })
        .await?;
    Ok(web::Json(found))
}

/// A lock, suspension or unlock of the ticket's own target.
#[derive(Deserialize, ToSchema)]
pub struct NewAction {
    pub kind: ActionKind,
    /// Why (up to 1,000 characters).
    #[schema(value_type = String, pattern = r"\S", max_length = 1000)]
    pub reason: Text<forms::Reason>,
    /// Hours (1 to 8760) until a lock lifts itself; none for a lock until unlocked.
    #[schema(minimum = 1, maximum = 8760)]
    #[serde(default, deserialize_with = "whole")]
    pub hours: Option<i64>,
}

/// A whole number, also when written with a fraction of zero (`24.0`).
fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => Ok(Some(n as i64)),
        Some(n) => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number"
        ))),
    }
}

#[utoipa::path(
    tag = "tickets",
    request_body = NewAction,
    responses((status = 201, description = "The action asked for", body = Action)),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/actions")]
pub async fn request_action(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    Object(body): Object<NewAction>,
) -> Result<HttpResponse, ApiError> {
    let id = TicketId(id.into_inner());
    let asked = body;
    if asked.reason.is_empty() {
        return Err(ApiError::invalid("give a reason"));
    }
    let hours = asked.hours.map(|h| h.to_string()).unwrap_or_default();
    let expires_at = parse_hours(&hours).map_err(|e| ApiError::invalid(e.to_string()))?;
    let st = state.clone();
    let action = state
        .db(move |conn| {
            let ask = Ask {
                kind: asked.kind,
                routes: &st.services.routes,
                reason: &asked.reason,
                expires_at,
                requested_by: Some(staff.id),
            };
            let action = target::request_on_ticket(conn, id, &ask, staff.actor())?;
            actions::get(conn, action)?.ok_or(WebError::NotFound)
        })
        .await?;
    state.caches.queue.clear();
    state.actions_asked();
    Ok(HttpResponse::Created().json(action))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The `next` of the page before.
    #[param(pattern = r"^\s*(-?[0-9]{1,15}_-?[0-9]{1,18})?\s*$")]
    pub before: Option<String>,
}

/// A page of a ticket's events, newest first.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// The cursor of the next (older) page.
    pub next: Option<String>,
}

#[utoipa::path(
    tag = "tickets",
    params(EventsQuery),
    responses((status = 200, description = "A page of the ticket's events", body = EventPage)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/events")]
pub async fn events(
    _: Viewer,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<EventsQuery>,
) -> Result<web::Json<EventPage>, ApiError> {
    let id = TicketId(id.into_inner());
    let before = match query
        .before
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(b) => {
            Some(page::parse_before(b).ok_or_else(|| WebError::BadRequest("bad page".into()))?)
        }
        None => None,
    };
    let (items, next) = state
        .db(move |conn| {
            detail(conn, id)?.ok_or(WebError::NotFound)?;
            Ok(page::timeline_page(conn, id, before)?)
        })
        .await?;
    Ok(web::Json(EventPage { items, next }))
}

/// The stored report behind an event, byte for byte as it arrived (agents; audited).
#[utoipa::path(
    tag = "tickets",
    responses(
        (status = 200, description = "The message as it arrived", content_type = "message/rfc822", body = super::reports::RawMessage),
        (status = 410, description = "The message was purged after the retention of raw messages; the event remains", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/events/{event}/raw")]
pub async fn raw(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (ticket, event) = path.into_inner();
    Ok(crate::web::ticket::raw_download(
        &state,
        staff,
        TicketId(ticket),
        EventId(event),
        "message/rfc822",
    )
    .await?)
}
