//! Staff accounts (`/admin/users`, admins only): the list and a form to add one.

use actix_session::Session;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use minijinja::context;
use serde::Deserialize;

use super::auth::{check_csrf, Admin};
use super::error::WebError;
use super::AppState;
use crate::db::schema::users;
use crate::db::users::{self as store, Role, UserError};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(list))
        .route("/admin/users", web::post().to(add));
}

async fn list(Admin(staff): Admin, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let rows: Vec<(String, String, bool, Option<chrono::NaiveDateTime>)> = state
        .db(|conn| {
            Ok(users::table
                .order(users::username)
                .select((
                    users::username,
                    users::role,
                    users::disabled,
                    users::last_login_at,
                ))
                .load(conn)?)
        })
        .await?;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(name, role, disabled, last)| context! { name => name, role => role, disabled => disabled, last_login_at => last })
        .collect();
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
    let role = Role::parse(&form.role)
        .ok_or_else(|| WebError::BadRequest("role is viewer, agent or admin".into()))?;
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
