//! The JSON API under `/api/v1/`: the same operations as the pages, for scripts. Reads take
//! an API token (`Authorization: Bearer`) or a logged-in session; writes take a token only,
//! so no other site can make a browser write through a session cookie. Every route is
//! registered through [`services`], which also collects its OpenAPI description: what is
//! served is what the document at `/api/v1/openapi.json` describes.

mod actions;
mod customers;
pub mod error;
mod openapi;
mod outgoing;
mod reports;
mod tickets;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{dev::Payload, middleware, web, FromRequest, HttpRequest};

use super::auth::{Admin, Agent, Staff};
use error::ApiError;
pub use openapi::document;

/// The largest JSON body accepted (a bulk upsert of some thousands of customers).
const JSON_LIMIT: usize = 8 << 20;

/// The API's scope, mounted by the application.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(middleware::from_fn(error::json_errors))
            .app_data(error::json_config(JSON_LIMIT))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .configure(|cfg| {
                services(&mut utoipa_actix_web::service_config::ServiceConfig::new(
                    cfg,
                ))
            })
            .default_service(web::to(openapi::unknown_route)),
    );
}

/// Every operation of the API (paths relative to `/api/v1`).
fn services(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(tickets::list)
        .service(tickets::get)
        .service(tickets::update)
        .service(tickets::notes)
        .service(tickets::add_note)
        .service(tickets::list_actions)
        .service(tickets::request_action)
        .service(tickets::events)
        .service(tickets::raw)
        .service(reports::post)
        .service(outgoing::report)
        .service(actions::list)
        .service(actions::retry)
        .service(actions::cancel)
        .service(customers::list)
        .service(customers::get)
        .service(customers::create)
        .service(customers::update)
        .service(customers::delete)
        .service(customers::bulk)
        .service(openapi::json)
        .service(openapi::docs);
}

/// A write through the API: the staff member behind an API token (never a session cookie
/// alone), with at least the role `R` requires.
pub struct TokenOf<R>(pub Staff, std::marker::PhantomData<R>);

/// What a role extractor yields.
pub trait RoleOf: FromRequest<Error = crate::web::WebError> + 'static {
    fn staff(self) -> Staff;
}

impl RoleOf for Agent {
    fn staff(self) -> Staff {
        self.0
    }
}

impl RoleOf for Admin {
    fn staff(self) -> Staff {
        self.0
    }
}

impl<R: RoleOf> FromRequest for TokenOf<R>
where
    R::Future: 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let found = R::from_request(req, payload);
        Box::pin(async move {
            let staff = found.await.map_err(ApiError::from)?.staff();
            if !staff.via_token {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "token_required",
                    "writes through the API need an API token (Authorization: Bearer)",
                ));
            }
            Ok(TokenOf(staff, std::marker::PhantomData))
        })
    }
}

/// A JSON object body read into `T` (a JSON array is not taken for an object, as serde
/// would); one that does not fit is 422.
pub struct Object<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for Object<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::invalid("the body is a JSON object").into());
            }
            serde_json::from_value(value)
                .map(Object)
                .map_err(|e| ApiError::invalid(e.to_string()).into())
        })
    }
}

/// Agents and admins, through a token: they work tickets and actions and feed reports.
pub type AgentToken = TokenOf<Agent>;
/// Admins, through a token: they change customers.
pub type AdminToken = TokenOf<Admin>;
