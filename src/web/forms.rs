//! The form every page posts: an urlencoded body whose `csrf_token` must be the session's,
//! read into the handler's own type. Handlers take `CsrfForm<T>` and never see a form that
//! failed the check.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::auth::check_csrf;
use super::error::WebError;

/// The largest form body read (a pasted customers CSV is the largest form there is).
pub const FORM_LIMIT: usize = 4 << 20;

/// A posted form that carried the session's CSRF token. Fields repeat for lists
/// (`ids=1&ids=2` into a `Vec`).
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| WebError::BadRequest(format!("cannot read the form: {e}")))?;
            if body.len() > FORM_LIMIT {
                return Err(WebError::BadRequest("the form is too large".into()));
            }
            let token = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            check_csrf(&req.get_session(), &token)?;
            serde_html_form::from_bytes(&body)
                .map(CsrfForm)
                .map_err(|e| WebError::BadRequest(format!("the form is not as expected: {e}")))
        })
    }
}
