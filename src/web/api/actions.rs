//! Actions (locks, suspensions, unlocks): the list, and what agents do to one (retry a failed
//! or cancelled one, cancel one not yet carried out).

use actix_web::http::StatusCode;
use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::{AgentToken, TokenOf};
use crate::db::actions::{self, Action, ActionState, Attempt};
use crate::db::ids::ActionId;
use crate::web::auth::Viewer;
use crate::web::forms::{self, Text};
use crate::web::{AppState, WebError};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only actions in this state.
    pub state: Option<ActionState>,
    /// At most this many (1 to 500; 200 without).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Actions, newest first, with the calls made for them.
#[derive(Serialize, ToSchema)]
pub struct ActionList {
    pub items: Vec<Action>,
    pub attempts: Vec<Attempt>,
}

#[utoipa::path(
    tag = "actions",
    params(ListQuery),
    responses((status = 200, description = "Actions, newest first", body = ActionList)),
    security(("bearer" = []))
)]
#[get("/actions")]
pub async fn list(
    _: Viewer,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<ActionList>, ApiError> {
    let wanted = query.state;
    let limit = query.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 500"));
    }
    let list = state
        .db(move |conn| {
            let items = actions::list(conn, wanted, limit)?;
            let ids: Vec<ActionId> = items.iter().map(|a| a.id).collect();
            let attempts = actions::attempts_of(conn, &ids)?;
            Ok(ActionList { items, attempts })
        })
        .await?;
    Ok(web::Json(list))
}

/// Queues a failed or cancelled action again, due now.
#[utoipa::path(
    tag = "actions",
    responses((status = 200, description = "The action as it is now", body = Action)),
    security(("bearer" = []))
)]
#[post("/actions/{id}/retry")]
pub async fn retry(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<Action>, ApiError> {
    let id = ActionId(id.into_inner());
    let action = state
        .db(move |conn| {
            actions::retry(conn, id, staff.actor())?;
            now(conn, id)
        })
        .await?;
    state.actions_asked();
    Ok(web::Json(action))
}

#[derive(Deserialize, ToSchema)]
pub struct CancelBody {
    /// Why it is cancelled (up to 2,000 characters).
    #[serde(default)]
    #[schema(value_type = String, max_length = 2000)]
    pub note: Text<forms::ActionNote>,
}

/// Cancels an action not yet carried out.
#[utoipa::path(
    tag = "actions",
    request_body(content = Option<CancelBody>, description = "Optional"),
    responses((status = 200, description = "The action as it is now", body = Action)),
    security(("bearer" = []))
)]
#[post("/actions/{id}/cancel")]
pub async fn cancel(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<web::Json<Action>, ApiError> {
    let id = ActionId(id.into_inner());
    // The body is optional; one that is given is a JSON object as the document says.
    let note = match body.is_empty() {
        true => String::new(),
        false => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v @ serde_json::Value::Object(_)) => serde_json::from_value::<CancelBody>(v)
                .map_err(|e| ApiError::invalid(e.to_string()))?
                .note
                .into_string(),
            Ok(_) => return Err(ApiError::invalid("the body is a JSON object")),
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_json",
                    e.to_string(),
                ))
            }
        },
    };
    let action = state
        .db(move |conn| {
            actions::cancel(conn, id, staff.actor(), &note)?;
            now(conn, id)
        })
        .await?;
    Ok(web::Json(action))
}

/// The action as it is after a change.
fn now(conn: &mut crate::db::DbConn, id: ActionId) -> Result<Action, WebError> {
    actions::get(conn, id)?.ok_or(WebError::NotFound)
}
