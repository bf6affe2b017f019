//! The forms that work a ticket (claim, status, note, lock / suspend / unlock, merge) and the
//! queue's bulk form. Every one: agent role, CSRF token, one call into `tickets`, then a
//! redirect back (so a reload does not post twice).

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::auth::{Agent, Staff};
use super::error::WebError;
use super::forms::{self, CsrfForm, Text};
use super::AppState;
use crate::db::actions::{ActionKind, Routes};
use crate::db::ids::TicketId;
use crate::db::DbConn;
use crate::tickets::target::{self, Ask};
use crate::tickets::{work, Status};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets/bulk", web::post().to(bulk))
        .route("/tickets/{id}/claim", web::post().to(change::<Claim>))
        .route("/tickets/{id}/unclaim", web::post().to(change::<Unclaim>))
        .route("/tickets/{id}/status", web::post().to(change::<StatusForm>))
        .route("/tickets/{id}/notes", web::post().to(change::<NoteForm>))
        .route(
            "/tickets/{id}/actions",
            web::post().to(change::<ActionForm>),
        )
        .route("/tickets/{id}/merge", web::post().to(change::<MergeForm>));
}

/// Who changes a ticket, and where the actions they ask for go.
struct By<'a> {
    staff: &'a Staff,
    routes: &'a Routes,
}

/// A form that changes one ticket: checked here, applied in one write transaction (tried
/// again should Postgres abort it to break a deadlock, see [`AppState::db_change`]).
trait TicketChange: DeserializeOwned + Send + 'static {
    /// Refuses a form that cannot be right, before any storage work.
    fn check(&self) -> Result<(), WebError> {
        Ok(())
    }

    /// Applies the change to ticket `id`; returns the ticket to show next.
    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError>;
}

/// Every ticket form: agent role, CSRF token, the change in one transaction with its audit
/// entry, the queue's cached counts forgotten, and back to the ticket.
async fn change<C: TicketChange>(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    id: web::Path<TicketId>,
    CsrfForm(form): CsrfForm<C>,
) -> Result<HttpResponse, WebError> {
    let id = id.into_inner();
    form.check()?;
    let st = state.clone();
    let next = state
        .db_change(move |conn| {
            let by = By {
                staff: &staff,
                routes: &st.services.routes,
            };
            form.apply(conn, id, &by)
        })
        .await?;
    Ok(state.changed(&format!("/tickets/{}", next.0)))
}

#[derive(Deserialize)]
struct Claim {}

impl TicketChange for Claim {
    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        let me = Some((by.staff.id, by.staff.name.as_str()));
        work::assign(conn, id, me, by.staff.actor(), crate::db::now())?;
        Ok(id)
    }
}

#[derive(Deserialize)]
struct Unclaim {}

impl TicketChange for Unclaim {
    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        work::assign(conn, id, None, by.staff.actor(), crate::db::now())?;
        Ok(id)
    }
}

#[derive(Deserialize)]
struct StatusForm {
    status: Status,
}

impl TicketChange for StatusForm {
    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        let at = crate::db::now();
        work::change_status(conn, id, self.status, by.staff.actor(), at)?;
        Ok(id)
    }
}

#[derive(Deserialize)]
struct NoteForm {
    body: Text<forms::Note>,
}

impl TicketChange for NoteForm {
    fn check(&self) -> Result<(), WebError> {
        if self.body.is_empty() {
            return Err(WebError::BadRequest("write the note first".into()));
        }
        Ok(())
    }

    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        let at = crate::db::now();
        work::add_note(conn, id, by.staff.id, by.staff.actor(), &self.body, at)?;
        Ok(id)
    }
}

/// A lock, suspension or unlock asked for with a reason, and for locks optionally a duration.
#[derive(Deserialize)]
pub struct ActionForm {
    pub kind: ActionKind,
    pub reason: Text<forms::Reason>,
    /// Hours until a lock lifts itself; empty for a lock until unlocked.
    #[serde(default)]
    pub hours: String,
}

impl ActionForm {
    /// What staff asked for, with the duration checked.
    pub fn ask<'a>(&'a self, staff: &Staff, routes: &'a Routes) -> Result<Ask<'a>, WebError> {
        Ok(Ask {
            kind: self.kind,
            routes,
            reason: self.reason.as_str(),
            expires_at: parse_hours(&self.hours)?,
            requested_by: Some(staff.id),
        })
    }
}

impl TicketChange for ActionForm {
    fn check(&self) -> Result<(), WebError> {
        parse_hours(&self.hours).map(|_| ())
    }

    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        target::request_on_ticket(conn, id, &self.ask(by.staff, by.routes)?, by.staff.actor())?;
        Ok(id)
    }
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

#[derive(Deserialize)]
struct MergeForm {
    into: String,
}

impl MergeForm {
    fn target(&self) -> Result<TicketId, WebError> {
        self.into
            .trim()
            .trim_start_matches('#')
            .parse::<i64>()
            .map(TicketId)
            .map_err(|_| WebError::BadRequest("give the number of the ticket to merge into".into()))
    }
}

impl TicketChange for MergeForm {
    fn check(&self) -> Result<(), WebError> {
        self.target().map(|_| ())
    }

    /// Merged, the ticket to show is the one it went into.
    fn apply(&self, conn: &mut DbConn, id: TicketId, by: &By<'_>) -> Result<TicketId, WebError> {
        let into = self.target()?;
        crate::tickets::merge::merge(conn, id, into, by.staff.actor(), crate::db::now())?;
        Ok(into)
    }
}

/// The queue's bulk form: `ids` repeated, `op` one of `status:STATUS`, `assign:me`,
/// `assign:none`, `lock`; `reason` and `hours` for locks.
#[derive(Deserialize)]
struct BulkForm {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    op: String,
    #[serde(default)]
    reason: Text<forms::Reason>,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    back: Text<forms::Back>,
}

/// One operation of the bulk form.
enum BulkOp {
    Assign(bool),
    Lock,
    Status(Status),
    /// A notice now to each selected ticket's customer.
    Notify,
}

impl BulkOp {
    fn parse(op: &str) -> Result<Self, WebError> {
        match op.trim() {
            "assign:me" => Ok(Self::Assign(true)),
            "assign:none" => Ok(Self::Assign(false)),
            "lock" => Ok(Self::Lock),
            "notify" => Ok(Self::Notify),
            other => match other.strip_prefix("status:") {
                Some(s) => Ok(Self::Status(s.parse().map_err(WebError::BadRequest)?)),
                None => Err(WebError::BadRequest(format!(
                    "unknown bulk action '{other}'"
                ))),
            },
        }
    }
}

async fn bulk(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<BulkForm>,
) -> Result<HttpResponse, WebError> {
    let ids: Vec<TicketId> = form
        .ids
        .iter()
        .filter_map(|v| v.trim().parse().ok().map(TicketId))
        .take(500)
        .collect();
    if ids.is_empty() {
        return Err(WebError::BadRequest("select at least one ticket".into()));
    }
    let op = BulkOp::parse(&form.op)?;
    let expires_at = parse_hours(&form.hours)?;
    let back = Some(form.back.into_string())
        .filter(|b| b.starts_with("/tickets") && !b.starts_with("//"))
        .unwrap_or_else(|| "/tickets".to_owned());
    let reason = form.reason.into_string();
    let st = state.clone();
    state
        .db(move |conn| {
            let at = crate::db::now();
            if let BulkOp::Notify = op {
                let n = st.services.notices.as_ref().ok_or_else(|| {
                    WebError::Refused(
                        "customer notices are off: set [notify] enabled = true".into(),
                    )
                })?;
                let mut customers: Vec<_> = ids
                    .iter()
                    .filter_map(|id| crate::notify::plan::customer_of(conn, *id).transpose())
                    .collect::<Result<_, _>>()?;
                customers.sort_unstable();
                customers.dedup();
                for customer in customers {
                    crate::notify::plan::plan(
                        conn,
                        &n.settings,
                        at,
                        Some(customer),
                        true,
                        Some(staff.id),
                    )?;
                }
                if let Some(n) = &st.services.notices {
                    n.wake.notify_one();
                }
                return Ok(());
            }
            if let BulkOp::Lock = op {
                let ask = Ask {
                    kind: ActionKind::LockIdentity,
                    routes: &st.services.routes,
                    reason: &reason,
                    expires_at,
                    requested_by: Some(staff.id),
                };
                target::bulk_lock(conn, &ids, &ask, staff.actor())?;
                return Ok(());
            }
            for id in ids {
                match op {
                    BulkOp::Assign(me) => {
                        let who = me.then_some((staff.id, staff.name.as_str()));
                        work::assign(conn, id, who, staff.actor(), at)?
                    }
                    BulkOp::Status(status) => {
                        work::change_status(conn, id, status, staff.actor(), at)?
                    }
                    BulkOp::Lock | BulkOp::Notify => {}
                }
            }
            Ok(())
        })
        .await?;
    Ok(state.changed(&back))
}
