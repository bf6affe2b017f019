//! The ticket page (`/tickets/{id}`): summary, event timeline, evidence, notes, actions and
//! audit trail, plus the raw report download for agents.

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{Agent, Viewer};
use super::error::WebError;
use crate::evidence::{evidence_of, Evidence};
use super::AppState;
use crate::db::events::Event;
use crate::db::ids::{EventId, TicketId};
use crate::db::locks::{self, Lock};
use crate::db::queue::micros;
use crate::db::ticket_view::{self, TicketDetail};
use crate::db::{actions, audit, queue, raw_messages, work};

pub use super::work::bulk;

/// Events per timeline page.
const EVENTS_PAGE: i64 = 25;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets/{id}", web::get().to(show))
        .route("/tickets/{id}/raw/{event}", web::get().to(raw));
    super::work::config(cfg);
}

/// What each action acts on, derived from the ticket (never taken from the form).
pub fn lock_target(t: &TicketDetail, kind: actions::ActionKind) -> Option<String> {
    use actions::ActionKind::*;
    match kind {
        LockIdentity | UnlockIdentity => t
            .identity
            .clone()
            .or_else(|| (t.subject_kind != "ip").then(|| t.subject.clone())),
        LockOutgoingUser | UnlockOutgoingUser => t
            .outgoing_user
            .clone()
            .or_else(|| t.outgoing_domain.clone())
            .or_else(|| t.last_source_ip.clone()),
        SuspendAccount => t.customer_external_id.clone(),
    }
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

fn parse_before(s: &str) -> Option<(chrono::NaiveDateTime, EventId)> {
    let (m, id) = s.split_once('_')?;
    let at = chrono::DateTime::from_timestamp_micros(m.parse().ok()?)?.naive_utc();
    Some((at, EventId(id.parse().ok()?)))
}

async fn show(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, WebError> {
    let id = TicketId(path.into_inner());
    let q = query.into_inner();
    let before = match q.before.as_deref() {
        Some(b) => Some(parse_before(b).ok_or_else(|| WebError::BadRequest("bad page".into()))?),
        None => None,
    };
    let unmasked =
        q.show.as_deref() == Some("recipients") && staff.can(crate::db::users::Role::Agent);
    let chosen = q.event.map(EventId);
    let loaded = state
        .db(move |conn| {
            let Some(t) = ticket_view::detail(conn, id)? else {
                return Err(WebError::NotFound);
            };
            let mut events = ticket_view::timeline(conn, id, before, EVENTS_PAGE + 1)?;
            let more = events.len() > EVENTS_PAGE as usize;
            events.truncate(EVENTS_PAGE as usize);
            let shown: Option<Event> = match chosen {
                Some(e) => ticket_view::event(conn, id, e)?,
                None => events.first().cloned(),
            };
            let evidence: Option<Evidence> = match &shown {
                Some(e) => raw_messages::content(conn, e.raw_message_id)?
                    .map(|bytes| evidence_of(&bytes, !unmasked)),
                None => None,
            };
            let now = crate::db::now();
            let last_24h = queue::events_since(conn, &[id], now - queue::RECENT)?
                .get(&id)
                .copied()
                .unwrap_or(0);
            let kinds = [
                actions::ActionKind::LockIdentity,
                actions::ActionKind::LockOutgoingUser,
                actions::ActionKind::SuspendAccount,
            ];
            let targets: Vec<Option<String>> = kinds.iter().map(|k| lock_target(&t, *k)).collect();
            let lookup: Vec<&str> = targets.iter().flatten().map(String::as_str).collect();
            let held = locks::in_force(conn, &lookup, now)?;
            let lock_of = |i: usize| -> Option<Lock> {
                targets[i].as_ref().and_then(|target| held.get(target).cloned())
            };
            Ok(context! {
                identity_target => targets[0].clone(),
                user_target => targets[1].clone(),
                account_target => targets[2].clone(),
                identity_lock => lock_of(0),
                user_lock => lock_of(1),
                account_lock => lock_of(2),
                next_before => more.then(|| events.last().map(|e| format!("{}_{}", micros(e.arrival_at), e.id.0))).flatten(),
                events => events,
                shown_event => shown,
                evidence => evidence,
                events_24h => last_24h,
                source_ips => ticket_view::source_ips(conn, id, 20)?,
                notes => work::notes_of(conn, id)?,
                audit => audit::for_ticket(conn, id)?,
                actions => actions::for_ticket(conn, id)?,
                t => t,
            })
        })
        .await?;
    state.page(
        "ticket.html",
        Some(&staff),
        context! {
            unmasked => unmasked,
            can_work => staff.can(crate::db::users::Role::Agent),
            ..loaded
        },
    )
}

/// The stored report as it arrived, as a download (never rendered by the browser).
async fn raw(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, WebError> {
    let (ticket, event) = path.into_inner();
    let (ticket, event) = (TicketId(ticket), EventId(event));
    let bytes = state
        .db(move |conn| {
            let Some(e) = ticket_view::event(conn, ticket, event)? else {
                return Err(WebError::NotFound);
            };
            let bytes = raw_messages::content(conn, e.raw_message_id)?.ok_or(WebError::NotFound)?;
            let detail = format!("downloaded the raw report of event {}", event.0);
            audit::record(
                conn,
                crate::db::now(),
                staff.actor(),
                "raw_download",
                Some(ticket),
                None,
                &detail,
            )?;
            Ok(bytes)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"ticket-{}-event-{}.eml\"",
                ticket.0, event.0
            ),
        ))
        .body(bytes))
}
