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
use crate::db::sessions::{self, Lifetime};
use crate::db::users::Role;
use crate::db::{tokens, DbConn};

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

/// What a request shows to prove who asks: an API bearer token, or the token of a
/// server-side session; not yet checked against the database.
enum Credential {
    Bearer(String),
    Session { token: String, csrf: String },
}

/// A request's credential with what its check needs, read from the request alone, so that
/// the check can run in the same unit of storage work as the page asked for (see
/// [`AppState::db_as`]): one trip to a pooled connection per page instead of two.
pub struct Claim {
    credential: Credential,
    /// Under `/api/` (and `/metrics`): 401 rather than the login page.
    api: bool,
    /// Where the login form sends the browser back to.
    next: String,
    session: Session,
}

impl Claim {
    /// The request's credential, or the login the request needs first.
    fn of(req: &HttpRequest) -> Result<Self, WebError> {
        // `/metrics` is read by scrapers: a bearer token, and 401 rather than the login page.
        let api = req.path().starts_with("/api/") || req.path() == "/metrics";
        let next = req
            .uri()
            .path_and_query()
            .map_or("/tickets".to_owned(), ToString::to_string);
        let session = req.get_session();
        let credential = match bearer(req).filter(|_| api) {
            Some(token) => Credential::Bearer(token),
            None => match session.get::<String>(SESSION).ok().flatten() {
                Some(token) => Credential::Session {
                    token,
                    csrf: csrf_token(&session)?,
                },
                None => return Err(WebError::LoginRequired { api, next }),
            },
        };
        Ok(Self {
            credential,
            api,
            next,
            session,
        })
    }

    /// What the storage work needs to check the claim (sendable to its thread).
    fn check(&self, lifetime: Lifetime) -> Check {
        let credential = match &self.credential {
            Credential::Bearer(token) => Credential::Bearer(token.clone()),
            Credential::Session { token, csrf } => Credential::Session {
                token: token.clone(),
                csrf: csrf.clone(),
            },
        };
        Check {
            credential,
            lifetime,
            login: WebError::LoginRequired {
                api: self.api,
                next: self.next.clone(),
            },
        }
    }

    /// After the check: a session that is no longer live is dropped from the cookie.
    fn settle<T>(&self, outcome: Result<T, WebError>) -> Result<T, WebError> {
        if let (Err(WebError::LoginRequired { .. }), Credential::Session { .. }) =
            (&outcome, &self.credential)
        {
            self.session.purge();
        }
        outcome
    }
}

/// A claim on its way to the database.
struct Check {
    credential: Credential,
    lifetime: Lifetime,
    login: WebError,
}

impl Check {
    /// The staff member behind the claim, at least of `role`. The session is read on every
    /// request: logging out, disabling the account, a role change or an idle timeout take
    /// effect at once, not when the cookie runs out.
    fn staff(self, conn: &mut DbConn, role: Role) -> Result<Staff, WebError> {
        let now = crate::db::now();
        let staff = match self.credential {
            Credential::Bearer(token) => tokens::check(conn, &token, now)?.map(|owner| Staff {
                id: owner.id,
                name: owner.name,
                role: owner.role,
                csrf: String::new(),
                via_token: true,
            }),
            Credential::Session { token, csrf } => {
                sessions::check(conn, &token, now, self.lifetime)?.map(|(id, name, role)| Staff {
                    id,
                    name,
                    role,
                    csrf,
                    via_token: false,
                })
            }
        };
        match staff {
            None => Err(self.login),
            Some(staff) if staff.can(role) => Ok(staff),
            Some(_) => Err(WebError::Forbidden),
        }
    }
}

impl AppState {
    /// Checks `claim` for `role` and runs `work` for the staff member behind it, both in one
    /// unit of storage work.
    pub async fn db_as<T, F>(
        &self,
        claim: Claim,
        role: Role,
        work: F,
    ) -> Result<(Staff, T), WebError>
    where
        F: FnOnce(&mut DbConn, &Staff) -> Result<T, WebError> + Send + 'static,
        T: Send + 'static,
    {
        let check = claim.check(self.lifetime);
        let outcome = self
            .db(move |conn| {
                let staff = check.staff(conn, role)?;
                let done = work(conn, &staff)?;
                Ok((staff, done))
            })
            .await;
        claim.settle(outcome)
    }
}

impl FromRequest for Claim {
    type Error = WebError;
    type Future = std::future::Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::of(req))
    }
}

async fn identify(req: &HttpRequest, role: Role) -> Result<Staff, WebError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| WebError::Session("no application state".into()))?;
    let claim = Claim::of(req)?;
    let check = claim.check(state.lifetime);
    let outcome = state.db(move |conn| check.staff(conn, role)).await;
    claim.settle(outcome)
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
                Box::pin(async move { Ok($name(identify(&req, $role).await?)) })
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
