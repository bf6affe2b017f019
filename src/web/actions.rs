//! Actions on the web: the list (`/actions`), what staff do to one (retry, cancel, mark
//! done by hand), and `/locks`, where the Outgoing Reports and the log search ask for a lock
//! or its undoing on a target they name.

use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{Agent, Viewer};
use super::error::WebError;
use super::forms::{self, CsrfForm, Text};
use super::work::ActionForm;
use super::AppState;
use crate::db::actions::{self, ActionState};
use crate::db::ids::ActionId;
use crate::db::users::Role;
use crate::tickets::target;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/actions", web::get().to(list))
        .route("/actions/{id}/{op}", web::post().to(staff_op))
        .route("/locks", web::post().to(lock));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    state: Option<String>,
}

async fn list(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WebError> {
    let wanted = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<ActionState>().map_err(WebError::BadRequest)?),
        None => None,
    };
    let (rows, attempts) = state
        .db(move |conn| {
            let rows = actions::list(conn, wanted, 200)?;
            let ids: Vec<ActionId> = rows.iter().map(|a| a.id).collect();
            Ok((rows, actions::attempts_of(conn, &ids)?))
        })
        .await?;
    let here = match wanted {
        Some(s) => format!("/actions?state={s}"),
        None => "/actions".to_owned(),
    };
    state.page(
        "actions.html",
        Some(&staff),
        context! {
            actions => rows,
            attempts => attempts,
            state => wanted.map(ActionState::as_str),
            states => ActionState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            upstreams => state.upstream_names(),
            can_work => staff.can(Role::Agent),
            here => here,
        },
    )
}

#[derive(Deserialize)]
struct StaffForm {
    #[serde(default)]
    note: Text<forms::ActionNote>,
    #[serde(default)]
    back: Text<forms::Back>,
}

/// `/actions/{id}/retry`, `/cancel` or `/done`, then back where the form was.
async fn staff_op(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    path: web::Path<(ActionId, String)>,
    CsrfForm(form): CsrfForm<StaffForm>,
) -> Result<HttpResponse, WebError> {
    let (id, op) = path.into_inner();
    if op == "done" && form.note.is_empty() {
        return Err(WebError::BadRequest("say how it was done".into()));
    }
    let back = safe_back(&form.back, &["/actions", "/tickets/"]).unwrap_or("/actions".into());
    state
        .db(move |conn| {
            let done = match op.as_str() {
                "retry" => actions::retry(conn, id, staff.actor()),
                "cancel" => actions::cancel(conn, id, staff.actor(), &form.note),
                "done" => actions::mark_done(conn, id, staff.actor(), &form.note),
                _ => return Err(WebError::NotFound),
            };
            done?;
            Ok(())
        })
        .await?;
    Ok(state.changed(&back))
}

/// `back` when it is a path of this site under one of `prefixes`.
fn safe_back(back: &str, prefixes: &[&str]) -> Option<String> {
    let back = back.trim();
    (prefixes.iter().any(|p| back.starts_with(p)) && !back.contains("//") && !back.contains('\\'))
        .then(|| back.to_owned())
}

#[derive(Deserialize)]
struct LockForm {
    #[serde(flatten)]
    action: ActionForm,
    target: Text<forms::Target>,
    #[serde(default)]
    back: Text<forms::Back>,
}

/// A lock (or its undoing) of a target named by the Outgoing Reports or the log search.
async fn lock(
    Agent(staff): Agent,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LockForm>,
) -> Result<HttpResponse, WebError> {
    let back = safe_back(&form.back, &["/reports/outgoing", "/events"])
        .unwrap_or_else(|| "/reports/outgoing".into());
    let st = state.clone();
    state
        .db(move |conn| {
            let ask = form.action.ask(&staff, &st.services.routes)?;
            target::request(conn, None, &form.target, &ask, staff.actor())?;
            Ok(())
        })
        .await?;
    Ok(state.changed(&back))
}
