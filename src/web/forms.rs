//! The form every page posts: an urlencoded body whose `csrf_token` must be the session's,
//! read into the handler's own type. Handlers take `CsrfForm<T>` and never see a form that
//! failed the check. Free-text fields are [`Text`]: a form whose text is over its bound
//! (`crate::limits`) is refused as a whole, with a message naming the field.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use super::auth::check_csrf;
use super::error::WebError;
use crate::limits::{self, TextLimit};

/// The largest form body read (a pasted customers CSV is the largest form there is).
pub const FORM_LIMIT: usize = 4 << 20;

/// A form with no fields of its own but the CSRF token (a button).
#[derive(Deserialize)]
pub struct Nothing {}

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

/// A free-text form field, trimmed, within the bound `B` gives it.
pub struct Text<B>(String, PhantomData<B>);

/// Which bound a [`Text`] field has.
pub trait Bound {
    const LIMIT: TextLimit;
}

macro_rules! bounds {
    ($($(#[$doc:meta])* $name:ident => $limit:path),* $(,)?) => {$(
        $(#[$doc])*
        pub enum $name {}
        impl Bound for $name {
            const LIMIT: TextLimit = $limit;
        }
    )*};
}

bounds! {
    /// Why an action is asked for.
    Reason => limits::REASON,
    /// How an action was cancelled or done by hand.
    ActionNote => limits::ACTION_NOTE,
    /// A note on a ticket.
    Note => limits::NOTE,
    /// A customer's reply.
    Reply => limits::REPLY,
    /// What a lock acts on.
    Target => limits::TARGET,
    /// The page to return to.
    Back => limits::BACK,
}

impl<B> Text<B> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<B> Default for Text<B> {
    fn default() -> Self {
        Self(String::new(), PhantomData)
    }
}

impl<B> Deref for Text<B> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de, B: Bound> Deserialize<'de> for Text<B> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let trimmed = B::LIMIT.check(text.trim()).map_err(D::Error::custom)?;
        Ok(Self(trimmed.to_owned(), PhantomData))
    }
}
