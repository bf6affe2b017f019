//! The API's errors: every answer under `/api/v1/` with a status of 400 or more is
//! `{"error":{"code":…,"message":…}}`, whatever produced it (a handler, an extractor, actix's
//! own body and query readers, an unknown route).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::WebError;

/// What an API error looks like.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable code for scripts, and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `snake_case`, e.g. `not_found`, `unauthorized`, `invalid`, `conflict`.
    pub code: String,
    pub message: String,
}

/// An error answered as JSON.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 422: well-formed, but not something the desk accepts.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// The API's view of a web error; causes of server errors stay in the log.
    pub fn of(e: &WebError) -> Self {
        let status = e.status_code();
        let code = match e {
            WebError::LoginRequired { .. } => "unauthorized",
            WebError::Forbidden | WebError::Csrf => "forbidden",
            WebError::NotFound => "not_found",
            WebError::BadRequest(_) => "bad_request",
            WebError::Refused(_) => "conflict",
            WebError::Invalid(_) => "invalid",
            WebError::Gone(_) => "gone",
            WebError::TooManyAttempts => "too_many_requests",
            _ => "internal",
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %e, "the database is unavailable");
            return Self::new(status, "unavailable", crate::web::error::UNAVAILABLE);
        }
        if status.is_server_error() {
            tracing::error!(error = %e, "API request failed");
            return Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "something went wrong on our side; the log has the details",
            );
        }
        Self::new(status, code, e.to_string())
    }

    /// An error known only by its status (actix's own, or one this module did not make).
    fn of_status(status: StatusCode, message: String) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            StatusCode::GONE => "gone",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            s if s.is_server_error() => {
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; the log has the details",
                )
            }
            _ => "error",
        };
        Self::new(status, code, message)
    }
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        Self::of(&e)
    }
}

impl From<crate::tickets::WorkError> for ApiError {
    fn from(e: crate::tickets::WorkError) -> Self {
        Self::of(&WebError::from(e))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        })
    }
}

/// Bodies and query strings actix cannot read: 415 for a wrong content type, 413 for a body
/// over the limit, 422 for JSON that does not fit the type, 400 for the rest.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|e, _req: &HttpRequest| {
            let message = e.to_string();
            match e {
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                }
                JsonPayloadError::Deserialize(e) if !e.is_syntax() && !e.is_eof() => {
                    ApiError::invalid(e.to_string())
                }
                _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", message),
            }
            .into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e: QueryPayloadError, _req: &HttpRequest| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string()).into()
    })
}

/// A path parameter that does not parse names no such thing: 404, or 405 where another
/// operation has that path (`PUT /customers/bulk` is not `PUT /customers/{id}`).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e: PathError, req: &HttpRequest| {
        match super::openapi::not_routed(req) {
            Ok(refused) => actix_web::error::InternalError::from_response(e, refused).into(),
            Err(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).into(),
        }
    })
}

/// Rewrites every error answer of the API that is not already an [`ApiError`] (the role
/// extractors' pages, actix's plain-text errors) into the JSON shape, keeping its status.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if status.as_u16() < 400 {
        return Ok(res);
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let api = match res.response().error() {
        Some(e) if e.as_error::<ApiError>().is_some() => return Ok(res),
        None if json => return Ok(res),
        Some(e) => match e.as_error::<WebError>() {
            Some(web) => ApiError::of(web),
            None => ApiError::of_status(status, e.to_string()),
        },
        None => ApiError::of_status(
            status,
            status.canonical_reason().unwrap_or("error").to_lowercase(),
        ),
    };
    let allow = res.headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut answer = api.error_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ServiceResponse::new(req, answer))
}
