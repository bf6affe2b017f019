//! What a handler can fail with, and how each failure looks to the user: a short page (or
//! JSON under `/api/`), while the log gets the whole cause chain.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;
use crate::tickets::WorkError;

/// Errors of the web layer.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Nobody is logged in: pages send the browser to the login form, the API answers 401.
    #[error("please log in")]
    LoginRequired { api: bool, next: String },
    #[error("your role does not allow this")]
    Forbidden,
    #[error("the form expired or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("not found")]
    NotFound,
    /// It was there once and was removed on purpose (a purged raw message).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Refused(String),
    /// Well-formed, but not something the desk accepts (422).
    #[error("{0}")]
    Invalid(String),
    #[error("too many failed logins; wait a few minutes")]
    TooManyAttempts,
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("background task failed")]
    Blocking(#[from] actix_web::error::BlockingError),
    #[error("template: {0:#}")]
    Template(#[from] minijinja::Error),
    #[error("session: {0}")]
    Session(String),
    #[error("ingest: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
}

impl From<WorkError> for WebError {
    fn from(e: WorkError) -> Self {
        match e {
            WorkError::NotFound => Self::NotFound,
            WorkError::Refused(why) => Self::Refused(why),
            WorkError::Query(e) => Self::Query(e),
        }
    }
}

impl From<crate::db::actions::StaffError> for WebError {
    fn from(e: crate::db::actions::StaffError) -> Self {
        use crate::db::actions::StaffError;
        match e {
            StaffError::NotFound => Self::NotFound,
            StaffError::Refused(why) => Self::Refused(why),
            StaffError::Query(e) => Self::Query(e),
        }
    }
}

impl From<crate::tickets::queue::BadQueueParam> for WebError {
    fn from(e: crate::tickets::queue::BadQueueParam) -> Self {
        Self::BadRequest(e.0)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::LoginRequired { api: true, .. } => StatusCode::UNAUTHORIZED,
            Self::LoginRequired { api: false, .. } => StatusCode::SEE_OTHER,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Refused(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            _ if self.database_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::LoginRequired { api: false, next } = self {
            let location = format!("/login?next={}", url_encode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        // Internal causes go to the log only; the user sees the short message.
        let shown = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "the database is unavailable");
            UNAVAILABLE.to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "something went wrong on our side; the log has the details".to_owned()
        } else {
            self.to_string()
        };
        if let Self::LoginRequired { api: true, .. } = self {
            return HttpResponse::build(status)
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(
                    serde_json::json!({ "error": { "code": "unauthorized", "message": shown } }),
                );
        }
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response
            .content_type("text/html; charset=utf-8")
            .body(error_page(status, &shown))
    }
}

/// What a page says while the database cannot be reached.
pub const UNAVAILABLE: &str =
    "the database cannot be reached at the moment; nothing was changed. Try again in a few \
     seconds: the desk reconnects by itself once the database is back";

impl WebError {
    /// Whether the failure is the database being unreachable (down, restarting, or on
    /// SQLite held busy by another process), not a fault of the request or of the desk.
    fn database_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Db(DbError::Query(e)) | Self::Query(e) => crate::db::is_unavailable(e),
            Self::Db(DbError::Connect(_) | DbError::Pool(_)) => true,
            _ => false,
        }
    }
}

/// A self-contained page (no template engine needed, so it renders even when templates fail).
fn error_page(status: StatusCode, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code}</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main class=\"error\">\
         <h1>{code} {reason}</h1><p>{message}</p><p><a href=\"/tickets\">Back to the queue</a></p>\
         </main></body></html>",
        code = status.as_u16(),
        reason = status.canonical_reason().unwrap_or(""),
        message = html_escape(message),
    )
}

/// Escapes text for HTML content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
