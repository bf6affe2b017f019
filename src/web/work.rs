//! The forms that work a ticket (claim, status, note, lock / suspend / unlock, merge) and the
//! queue's bulk form. Every one: agent role, CSRF token, one transaction with its audit entry,
//! then a redirect back (so a reload does not post twice).

use actix_session::Session;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::{check_csrf, Agent, Staff};
use super::error::WebError;
use super::ticket::lock_target;
use super::AppState;
use crate::db::actions::ActionKind;
use crate::db::ids::TicketId;
use crate::db::tickets::Status;
use crate::db::work::{self, ActionAsk};
use crate::db::{ticket_view, DbConn};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets/{id}/claim", web::post().to(claim))
        .route("/tickets/{id}/unclaim", web::post().to(unclaim))
        .route("/tickets/{id}/status", web::post().to(status))
        .route("/tickets/{id}/notes", web::post().to(note))
        .route("/tickets/{id}/actions", web::post().to(action))
        .route("/tickets/{id}/merge", web::post().to(merge));
}

fn back_to(id: TicketId) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", format!("/tickets/{}", id.0)))
        .finish()
}

#[derive(Deserialize)]
struct Plain {
    csrf_token: String,
}

/// Runs one change on a ticket, then sends the agent back to it.
async fn change<F>(state: &AppState, id: TicketId, work: F) -> Result<HttpResponse, WebError>
where
    F: FnOnce(&mut DbConn) -> Result<(), WebError> + Send + 'static,
{
    state.db(work).await?;
    state.caches.clear();
    Ok(back_to(id))
}

async fn claim(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<Plain>,
) -> Result<HttpResponse, WebError> {
    assign(staff, &state, &session, path.into_inner(), &form, true).await
}

async fn unclaim(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<Plain>,
) -> Result<HttpResponse, WebError> {
    assign(staff, &state, &session, path.into_inner(), &form, false).await
}

async fn assign(
    staff: Staff,
    state: &AppState,
    session: &Session,
    id: i64,
    form: &Plain,
    claim: bool,
) -> Result<HttpResponse, WebError> {
    check_csrf(session, &form.csrf_token)?;
    let id = TicketId(id);
    change(state, id, move |conn| {
        let me = claim.then_some((staff.id, staff.name.as_str()));
        Ok(work::assign(conn, id, me, staff.actor(), crate::db::now())?)
    })
    .await
}

#[derive(Deserialize)]
struct StatusForm {
    csrf_token: String,
    status: String,
}

async fn status(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let id = TicketId(path.into_inner());
    let new: Status = form.status.parse().map_err(WebError::BadRequest)?;
    change(&state, id, move |conn| {
        Ok(work::change_status(
            conn,
            id,
            new,
            staff.actor(),
            crate::db::now(),
        )?)
    })
    .await
}

#[derive(Deserialize)]
struct NoteForm {
    csrf_token: String,
    body: String,
}

async fn note(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let id = TicketId(path.into_inner());
    let body = form.into_inner().body.trim().to_owned();
    if body.is_empty() || body.len() > 20_000 {
        return Err(WebError::BadRequest(
            "a note has 1 to 20000 characters".into(),
        ));
    }
    state
        .db(move |conn| {
            let at = crate::db::now();
            Ok(work::add_note(
                conn,
                id,
                staff.id,
                staff.actor(),
                &body,
                at,
            )?)
        })
        .await?;
    Ok(back_to(id))
}

#[derive(Deserialize)]
struct ActionForm {
    csrf_token: String,
    kind: String,
    reason: String,
    /// Hours until a lock lifts itself; empty for a lock until unlocked.
    #[serde(default)]
    hours: String,
}

/// The action kinds staff may request from a form.
pub fn parse_kind(kind: &str) -> Result<ActionKind, WebError> {
    use ActionKind::*;
    [
        LockIdentity,
        LockOutgoingUser,
        SuspendAccount,
        UnlockIdentity,
        UnlockOutgoingUser,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
    .ok_or_else(|| WebError::BadRequest(format!("unknown action '{kind}'")))
}

/// `""` → no expiry; otherwise 1 to 8760 hours from now.
pub fn parse_hours(hours: &str) -> Result<Option<chrono::NaiveDateTime>, WebError> {
    let hours = hours.trim();
    if hours.is_empty() {
        return Ok(None);
    }
    match hours.parse::<i64>() {
        Ok(h) if (1..=8760).contains(&h) => Ok(Some(crate::db::now() + chrono::Duration::hours(h))),
        _ => Err(WebError::BadRequest("a duration is 1 to 8760 hours".into())),
    }
}

/// Requests `kind` on the ticket's own target (identity, outgoing user or customer).
fn request_on_ticket(
    conn: &mut DbConn,
    staff: &Staff,
    id: TicketId,
    kind: ActionKind,
    reason: &str,
    expires_at: Option<chrono::NaiveDateTime>,
) -> Result<(), WebError> {
    let t = ticket_view::detail(conn, id)?.ok_or(WebError::NotFound)?;
    let target = lock_target(&t, kind).ok_or_else(|| {
        WebError::Refused(format!(
            "this ticket has nothing to {}",
            kind.as_str().replace('_', " ")
        ))
    })?;
    request(conn, staff, Some(id), kind, &target, reason, expires_at)
}

/// Records `kind` on `target` as a pending action with its audit entry. Unlocks never
/// expire; a suspension names its customer.
pub fn request(
    conn: &mut DbConn,
    staff: &Staff,
    ticket: Option<TicketId>,
    kind: ActionKind,
    target: &str,
    reason: &str,
    expires_at: Option<chrono::NaiveDateTime>,
) -> Result<(), WebError> {
    use crate::db::schema::customers;
    use diesel::prelude::*;
    let customer = customers::table
        .filter(customers::external_id.eq(target))
        .select(customers::id)
        .first(conn)
        .optional()?
        .filter(|_| kind == ActionKind::SuspendAccount);
    let ask = ActionAsk {
        ticket,
        customer,
        kind,
        target,
        reason: reason.trim(),
        expires_at: expires_at.filter(|_| !kind.as_str().starts_with("unlock")),
        requested_by: staff.id,
    };
    work::request_action(conn, &ask, staff.actor(), crate::db::now())?;
    Ok(())
}

async fn action(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let id = TicketId(path.into_inner());
    let kind = parse_kind(&form.kind)?;
    let expires_at = parse_hours(&form.hours)?;
    let reason = form.into_inner().reason;
    state
        .db(move |conn| request_on_ticket(conn, &staff, id, kind, &reason, expires_at))
        .await?;
    Ok(back_to(id))
}

#[derive(Deserialize)]
struct MergeForm {
    csrf_token: String,
    into: String,
}

async fn merge(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<MergeForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let id = TicketId(path.into_inner());
    let into = form
        .into
        .trim()
        .trim_start_matches('#')
        .parse::<i64>()
        .map(TicketId)
        .map_err(|_| WebError::BadRequest("give the number of the ticket to merge into".into()))?;
    state
        .db(move |conn| {
            Ok(work::merge(
                conn,
                id,
                into,
                staff.actor(),
                crate::db::now(),
            )?)
        })
        .await?;
    state.caches.clear();
    Ok(back_to(into))
}

/// The queue's bulk form: `ids` repeated, `op` one of `status:STATUS`, `assign:me`,
/// `assign:none`, `lock`; `reason` and `hours` for locks.
pub async fn bulk(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    super::queue::csrf(&session, &pairs)?;
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
    };
    let ids: Vec<TicketId> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse().ok().map(TicketId))
        .take(500)
        .collect();
    if ids.is_empty() {
        return Err(WebError::BadRequest("select at least one ticket".into()));
    }
    let op = get("op").unwrap_or_default();
    let reason = get("reason").unwrap_or_default();
    let expires_at = parse_hours(&get("hours").unwrap_or_default())?;
    let back = get("back")
        .filter(|b| b.starts_with("/tickets") && !b.starts_with("//"))
        .unwrap_or_else(|| "/tickets".to_owned());
    state
        .db(move |conn| {
            let at = crate::db::now();
            for id in ids {
                match op.as_str() {
                    "assign:me" => {
                        work::assign(conn, id, Some((staff.id, &staff.name)), staff.actor(), at)?
                    }
                    "assign:none" => work::assign(conn, id, None, staff.actor(), at)?,
                    "lock" => {
                        let t = ticket_view::detail(conn, id)?.ok_or(WebError::NotFound)?;
                        let kind = if t.subject_kind == "ip" && t.identity.is_none() {
                            ActionKind::LockOutgoingUser
                        } else {
                            ActionKind::LockIdentity
                        };
                        request_on_ticket(conn, &staff, id, kind, &reason, expires_at)?;
                    }
                    other => match other.strip_prefix("status:") {
                        Some(s) => {
                            let status: Status = s.parse().map_err(WebError::BadRequest)?;
                            work::change_status(conn, id, status, staff.actor(), at)?;
                        }
                        None => {
                            return Err(WebError::BadRequest(format!(
                                "unknown bulk action '{other}'"
                            )))
                        }
                    },
                }
            }
            Ok(())
        })
        .await?;
    state.caches.clear();
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", back))
        .finish())
}
