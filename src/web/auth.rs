//! Who is asking: the staff member behind the session (or an API bearer token), the role
//! checks every route makes, and the per-session CSRF token every form carries.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::Serialize;

use super::error::WebError;
use super::AppState;
use crate::db::ids::UserId;
use crate::db::tokens;
use crate::db::users::Role;

/// Cookie keys: the server-side session's token, and the CSRF token.
pub(crate) const SESSION: &str = "sid";
pub(crate) const CSRF: &str = "csrf";

/// A logged-in staff member.
#[derive(Clone, Debug, Serialize)]
pub struct Staff {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for the forms of the page (empty for API tokens).
    pub csrf: String,
    /// Whether this request came with an API token rather than a session cookie.
    #[serde(skip)]
    pub via_token: bool,
}

impl Staff {
    /// The audit log's view of this person.
    pub fn actor(&self) -> crate::db::audit::Actor<'_> {
        crate::db::audit::Actor::User(self.id, &self.name)
    }

    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// The session's CSRF token, made on first use.
pub fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Some(token) = session
        .get::<String>(CSRF)
        .map_err(|e| WebError::Session(e.to_string()))?
    {
        return Ok(token);
    }
    let token = random_token();
    session
        .insert(CSRF, &token)
        .map_err(|e| WebError::Session(e.to_string()))?;
    Ok(token)
}

/// Refuses a form whose token is not the session's.
pub fn check_csrf(session: &Session, given: &str) -> Result<(), WebError> {
    let expected = session
        .get::<String>(CSRF)
        .map_err(|e| WebError::Session(e.to_string()))?
        .ok_or(WebError::Csrf)?;
    // Compared in constant time so the token cannot be guessed byte by byte.
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

pub use crate::hex::hex;
pub use crate::secret::random_token;

async fn identify(req: &HttpRequest) -> Result<Staff, WebError> {
    // `/metrics` is read by scrapers: a bearer token, and 401 rather than the login page.
    let api = req.path().starts_with("/api/") || req.path() == "/metrics";
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| WebError::Session("no application state".into()))?;
    let login = || WebError::LoginRequired {
        api,
        next: req
            .uri()
            .path_and_query()
            .map_or("/tickets".to_owned(), ToString::to_string),
    };
    if api {
        if let Some(token) = bearer(req) {
            let found = state
                .db(move |conn| Ok(tokens::check(conn, &token, crate::db::now())?))
                .await?;
            return match found {
                Some(owner) => Ok(Staff {
                    id: owner.id,
                    name: owner.name,
                    role: owner.role,
                    csrf: String::new(),
                    via_token: true,
                }),
                None => Err(login()),
            };
        }
    }
    let session = req.get_session();
    let Some(token) = session.get::<String>(SESSION).ok().flatten() else {
        return Err(login());
    };
    // The session is read on every request: logging out, disabling the account, a role
    // change or an idle timeout take effect at once, not when the cookie runs out.
    let lifetime = state.lifetime;
    let found = state
        .db(move |conn| {
            Ok(crate::db::sessions::check(
                conn,
                &token,
                crate::db::now(),
                lifetime,
            )?)
        })
        .await?;
    let Some((id, name, role)) = found else {
        session.purge();
        return Err(login());
    };
    Ok(Staff {
        id,
        name,
        role,
        csrf: csrf_token(&session)?,
        via_token: false,
    })
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

macro_rules! role_extractor {
    ($($(#[$doc:meta])* $name:ident => $role:expr),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name(pub Staff);

        impl FromRequest for $name {
            type Error = WebError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let staff = identify(&req).await?;
                    if staff.can($role) {
                        Ok($name(staff))
                    } else {
                        Err(WebError::Forbidden)
                    }
                })
            }
        }
    )*};
}

role_extractor!(
    /// Anyone logged in: viewers read.
    Viewer => Role::Viewer,
    /// Agents and admins: they work tickets.
    Agent => Role::Agent,
    /// Admins: users and customers.
    Admin => Role::Admin,
);
