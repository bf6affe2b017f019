//! Every request: an id (`X-Request-Id` on the response, and on every log line written while
//! it is served, through a `tracing` span), one log line when it is answered, and its count in
//! the metrics by route pattern and status. A reverse proxy of `web.trusted_proxies` may hand
//! its own id on, so one request can be followed through both logs; from anyone else, or
//! when it is long or holds odd characters, the header is ignored and an id is made here.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use super::AppState;
use crate::metrics::UNMATCHED;

const HEADER: &str = "x-request-id";

/// The longest id taken from a proxy.
const MAX_ID: usize = 64;

/// Identifies, logs and counts one request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let handed_on = state
        .as_ref()
        .filter(|s| s.proxies.is_proxy(&req))
        .and_then(|_| req.headers().get(HEADER))
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_safe_id(id))
        .map(str::to_owned);
    let id = handed_on.unwrap_or_else(|| crate::hex::hex(&rand::random::<[u8; 8]>()));
    let span = tracing::info_span!("request", request_id = %id);
    // The pattern is read from the application's routes and the path alone, before the
    // request is routed (nothing may hold on to the request while it is).
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let served = next.call(req).instrument(span.clone()).await;
    let status = match &served {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    }
    .as_u16();
    if let Some(state) = &state {
        state.services.metrics.request(&route, status);
    }
    let ms = started.elapsed().as_millis() as u64;
    // Probes and scrapes come every few seconds: their lines only when debugging.
    if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
        tracing::debug!(parent: &span, %method, %route, status, ms, "answered");
    } else {
        tracing::info!(parent: &span, %method, %route, status, ms, "answered");
    }
    let mut res = served?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}

/// An id a proxy may hand on: short, and only letters, digits, `-`, `_`, `.`.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_safe_id;

    #[test]
    fn only_short_plain_ids_are_taken() {
        assert!(is_safe_id("f3a9c0de-12.ab_C"));
        assert!(!is_safe_id(""));
        assert!(!is_safe_id(&"a".repeat(65)));
        assert!(!is_safe_id("a b"));
        assert!(!is_safe_id("id\"><script>"));
        assert!(!is_safe_id("line\nbreak"));
    }
}
