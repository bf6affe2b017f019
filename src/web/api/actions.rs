//! Actions (locks, suspensions, unlocks): the list, and what agents do to one (retry a failed
//! or cancelled one, cancel one not yet carried out).

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
        .db(move |conn| Ok(actions::retry(conn, id, staff.actor())?))
        .await?;
    state.actions_asked();
    Ok(web::Json(action))
}

#[derive(Deserialize, ToSchema)]
pub struct CancelBody {
    /// Why it is cancelled.
    #[serde(default)]
    #[schema(value_type = String)]
    pub note: Text<forms::ActionNote>,
}

/// Cancels an action not yet carried out.
#[utoipa::path(
    tag = "actions",
    request_body(content = CancelBody, description = "Optional"),
    responses((status = 200, description = "The action as it is now", body = Action)),
    security(("bearer" = []))
)]
#[post("/actions/{id}/cancel")]
pub async fn cancel(
    TokenOf(staff, _): AgentToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: Option<web::Json<CancelBody>>,
) -> Result<web::Json<Action>, ApiError> {
    let id = ActionId(id.into_inner());
    let note = body
        .map(|b| b.into_inner().note.into_string())
        .unwrap_or_default();
    let action = state
        .db(move |conn| actions::cancel(conn, id, staff.actor(), &note).map_err(WebError::from))
        .await?;
    Ok(web::Json(action))
}
