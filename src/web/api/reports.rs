//! Reports posted by scripts and systems that cannot send mail: one raw message a request,
//! stored and ingested exactly as a mailbox's message is.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::AgentToken;
use crate::db::ids::{EventId, RawMessageId, TicketId};
use crate::ingest::{self, Origin, Outcome};
use crate::web::AppState;

/// The source name the API's messages are stored with.
pub const SOURCE: &str = "api";

/// A message as it would arrive by mail (any bytes).
pub struct RawMessage;

impl utoipa::PartialSchema for RawMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .into()
    }
}

impl ToSchema for RawMessage {
    fn name() -> std::borrow::Cow<'static, str> {
        "RawMessage".into()
    }
}

/// What a posted message became.
#[derive(Serialize, ToSchema)]
pub struct ReportOutcome {
    /// `new_ticket`, `updated_ticket`, `duplicate` (the same bytes came before),
    /// `duplicate_event` (a new message, but the same complaint was counted before) or
    /// `quarantined` (not a feedback report; kept with the reason).
    pub outcome: String,
    /// The stored message (for a duplicate, the one stored before).
    pub raw_message_id: Option<RawMessageId>,
    /// The ticket it landed on.
    pub ticket_id: Option<TicketId>,
    /// The events it became.
    pub event_ids: Vec<EventId>,
    /// Why it was quarantined.
    pub reason: Option<String>,
}

impl From<ingest::Received> for ReportOutcome {
    fn from(r: ingest::Received) -> Self {
        let (outcome, ticket_id, reason) = match r.outcome {
            Outcome::NewTicket(t) => ("new_ticket", Some(t), None),
            Outcome::UpdatedTicket(t) => ("updated_ticket", Some(t), None),
            Outcome::Duplicate => ("duplicate", None, None),
            Outcome::DuplicateEvent => ("duplicate_event", None, None),
            Outcome::Quarantined { reason } => ("quarantined", None, Some(reason)),
        };
        Self {
            outcome: outcome.to_owned(),
            raw_message_id: r.stored.map(|m| m.id),
            ticket_id,
            event_ids: r.events.into_iter().map(|(e, _)| e).collect(),
            reason,
        }
    }
}

/// Ingests one message (`message/rfc822`, up to `ingest.max_message_mb`) as if it had come by
/// mail. 201 with what it became; 200 when the same bytes were stored before.
#[utoipa::path(
    tag = "reports",
    request_body(content = RawMessage, content_type = "message/rfc822", description = "The message, as it would arrive by mail"),
    responses(
        (status = 201, description = "Stored: what it became", body = ReportOutcome),
        (status = 200, description = "The same message was stored before", body = ReportOutcome),
    ),
    security(("bearer" = []))
)]
#[post("/reports")]
pub async fn post(
    _: AgentToken,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let rfc822 = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("message/rfc822"));
    if !rfc822 {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the message as message/rfc822",
        ));
    }
    let ingestor = state.services.ingestor.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_accepting_reports",
            "this instance does not take reports",
        )
    })?;
    let limit = usize::try_from(ingestor.max_message_bytes).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a message is at most {limit} bytes (ingest.max_message_mb)"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body is empty: send the message",
        ));
    }
    let received = state
        .db(move |conn| {
            let origin = Origin {
                source: SOURCE,
                mailbox: None,
            };
            Ok(ingest::receive(conn, &ingestor, &origin, &bytes)?)
        })
        .await?;
    let status = match received.outcome {
        Outcome::Duplicate => StatusCode::OK,
        Outcome::NewTicket(_) | Outcome::UpdatedTicket(_) => {
            state.caches.queue.clear();
            state.actions_asked();
            StatusCode::CREATED
        }
        _ => StatusCode::CREATED,
    };
    Ok(HttpResponse::build(status).json(ReportOutcome::from(received)))
}
