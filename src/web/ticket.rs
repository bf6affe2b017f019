//! The ticket page (`/tickets/{id}`): summary, event timeline, evidence, notes, actions and
//! audit trail, plus the raw report download for agents.

use actix_web::{web, HttpResponse};
use minijinja::{context, Value};
use serde::Deserialize;

use super::auth::{Agent, Claim};
use super::error::WebError;
use super::AppState;
use crate::db::ids::{EventId, TicketId};
use crate::db::users::Role;
use crate::tickets::page::{self, PageRequest, TicketPage};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets/{id}", web::get().to(show))
        .route("/tickets/{id}/raw/{event}", web::get().to(raw));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShowQuery {
    /// Timeline cursor: `MICROS_EVENTID`.
    before: Option<String>,
    /// The event whose evidence is shown.
    event: Option<i64>,
    /// `recipients` shows third-party recipients unmasked (agents only).
    show: Option<String>,
}

async fn show(
    claim: Claim,
    state: web::Data<AppState>,
    id: web::Path<TicketId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, WebError> {
    let id = id.into_inner();
    let q = query.into_inner();
    let (staff, (req, loaded)) = state
        .db_as(claim, Role::Viewer, move |conn, staff| {
            let before = match q.before.as_deref() {
                Some(b) => Some(
                    page::parse_before(b).ok_or_else(|| WebError::BadRequest("bad page".into()))?,
                ),
                None => None,
            };
            let req = PageRequest {
                before,
                event: q.event.map(EventId),
                unmasked: q.show.as_deref() == Some("recipients") && staff.can(Role::Agent),
            };
            let loaded = TicketPage::load(conn, id, req)?.ok_or(WebError::NotFound)?;
            if req.unmasked && loaded.evidence.is_some() {
                let shown = loaded.shown_event.as_ref().map(|e| e.id);
                page::recipients_shown(conn, id, shown, staff.actor())?;
            }
            Ok((req, loaded))
        })
        .await?;
    state.page(
        "ticket.html",
        Some(&staff),
        context! {
            unmasked => req.unmasked,
            can_work => staff.can(Role::Agent),
            notices_on => state.services.notices.is_some(),
            ..Value::from_serialize(&loaded)
        },
    )
}

/// The stored report as it arrived, as a download (never rendered by the browser).
async fn raw(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    path: web::Path<(TicketId, EventId)>,
) -> Result<HttpResponse, WebError> {
    let (ticket, event) = path.into_inner();
    raw_download(&state, staff, ticket, event, "application/octet-stream").await
}

/// One event's stored report as an attachment of `content_type` (audited), 410 when it was
/// purged, 404 when the ticket has no such event. The page and the API answer with it.
pub(super) async fn raw_download(
    state: &AppState,
    staff: crate::web::auth::Staff,
    ticket: TicketId,
    event: EventId,
    content_type: &'static str,
) -> Result<HttpResponse, WebError> {
    let bytes = state
        .db(
            move |conn| match page::raw_report(conn, ticket, event, staff.actor())? {
                Some(bytes) => Ok(bytes),
                None => match page::purged_at(conn, ticket, event)? {
                    Some(at) => Err(WebError::Gone(format!(
                        "the stored report of this event was purged on {} UTC (older than the \
                     retention of raw messages); its parsed fields remain on the ticket page",
                        at.format("%Y-%m-%d %H:%M")
                    ))),
                    None => Err(WebError::NotFound),
                },
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"ticket-{}-event-{}.eml\"",
                ticket.0, event.0
            ),
        ))
        .body(bytes))
}
