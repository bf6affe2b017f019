//! Staff accounts (`/admin/users`, admins only): the list, a form to add one, and disabling
//! or enabling one (disabling ends its sessions at once).

use actix_session::Session;
use actix_web::{web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use super::auth::{check_csrf, Admin};
use super::error::WebError;
use super::forms::{CsrfForm, Nothing};
use super::AppState;
use crate::db::users::{self as store, Role, UserError};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(list))
        .route("/admin/users", web::post().to(add))
        .route("/admin/users/{name}/{change}", web::post().to(switch));
}

async fn list(Admin(staff): Admin, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let rows = state.db(|conn| Ok(store::list(conn)?)).await?;
    state.page("users.html", Some(&staff), context! { users => rows })
}

#[derive(Deserialize)]
struct AddForm {
    csrf_token: String,
    username: String,
    password: String,
    role: String,
}

async fn add(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let form = form.into_inner();
    let role: Role = form.role.parse().map_err(WebError::BadRequest)?;
    state
        .db(move |conn| {
            store::add(conn, form.username.trim(), role, &form.password).map_err(|e| match e {
                UserError::Query(e) => WebError::Query(e),
                other => WebError::BadRequest(other.to_string()),
            })?;
            let detail = format!("added user {} ({})", form.username.trim(), role.as_str());
            crate::db::audit::record(
                conn,
                crate::db::now(),
                staff.actor(),
                "user_added",
                None,
                None,
                &detail,
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/admin/users"))
        .finish())
}

/// `disable` or `enable` the account `name`.
async fn switch(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _: CsrfForm<Nothing>,
) -> Result<HttpResponse, WebError> {
    let (name, change) = path.into_inner();
    let disable = match change.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(WebError::NotFound),
    };
    if disable && name == staff.name {
        return Err(WebError::BadRequest(
            "you cannot disable your own account".into(),
        ));
    }
    state
        .db(move |conn| {
            let found = crate::db::sessions::set_disabled(conn, &name, disable, staff.actor())?;
            found.then_some(()).ok_or(WebError::NotFound)
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/admin/users"))
        .finish())
}
