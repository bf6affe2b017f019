//! Customer notices for staff: the latest notifications (`/notifications`), the preview of
//! the notice a ticket's customer would get now, and "send it now" (the ticket page and the
//! queue's bulk form share it).

use actix_web::{web, HttpResponse};
use minijinja::context;

use super::auth::{Agent, Staff, Viewer};
use super::error::WebError;
use super::forms::{CsrfForm, Nothing};
use super::{AppState, NoticeServices};
use crate::db::ids::TicketId;
use crate::db::{notices, DbConn};
use crate::notify::deliver::DeliverError;
use crate::notify::plan::{customer_of, plan};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list))
        .route("/tickets/{id}/notice", web::get().to(preview))
        .route("/tickets/{id}/notify", web::post().to(now));
}

async fn list(Viewer(staff): Viewer, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let rows = state
        .db(|conn| Ok(notices::recent(conn, None, 200)?))
        .await?;
    state.page(
        "notifications.html",
        Some(&staff),
        context! { rows => rows, on => state.services.notices.is_some() },
    )
}

const NOTHING_TO_TELL: &str = "nothing to tell: the customer's tickets are ignored, closed or older than notify.min_last_seen_days, notices are off for it, or it has no working address";

fn services(state: &AppState) -> Result<NoticeServices, WebError> {
    state.services.notices.clone().ok_or_else(|| {
        WebError::Refused("customer notices are off: set [notify] enabled = true".into())
    })
}

/// Plans a notice of every ticket of `ticket`'s customer still being worked; its id.
fn plan_now(
    conn: &mut DbConn,
    n: &NoticeServices,
    ticket: TicketId,
    staff: &Staff,
) -> Result<i64, WebError> {
    let customer = customer_of(conn, ticket)?
        .ok_or_else(|| WebError::Refused("this ticket has no customer to tell".into()))?;
    let planned = plan(
        conn,
        &n.settings,
        crate::db::now(),
        Some(customer),
        true,
        Some(staff.id),
    )?;
    if planned.notices == 0 {
        return Err(WebError::Refused(NOTHING_TO_TELL.into()));
    }
    Ok(notices::latest_of(conn, customer)?)
}

/// The notice the customer would get now (nothing is queued, no link is issued).
async fn preview(
    Agent(_staff): Agent,
    state: web::Data<AppState>,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, WebError> {
    let n = services(&state)?;
    let ticket = id.into_inner();
    let mail = state
        .db(move |conn| {
            let customer = customer_of(conn, ticket)?
                .ok_or_else(|| WebError::Refused("this ticket has no customer to tell".into()))?;
            match n.sender.preview(conn, customer) {
                Ok(Some(mail)) => Ok(mail),
                Ok(None) => Err(WebError::Refused(NOTHING_TO_TELL.into())),
                Err(DeliverError::Db(e)) => Err(e.into()),
                Err(DeliverError::Notify(e)) => Err(WebError::Refused(e.to_string())),
            }
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "To: {}\nSubject: {}\n\n{}",
            mail.recipients.join(", "),
            mail.subject,
            mail.text_for_archive()
        )))
}

/// Queues a notice for the ticket's customer now and wakes the sender.
async fn now(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    id: web::Path<TicketId>,
    _: CsrfForm<Nothing>,
) -> Result<HttpResponse, WebError> {
    let n = services(&state)?;
    let ticket = id.into_inner();
    let wake = n.wake.clone();
    state
        .db(move |conn| plan_now(conn, &n, ticket, &staff).map(|_| ()))
        .await?;
    wake.notify_one();
    Ok(state.changed(&format!("/tickets/{}", ticket.0)))
}
