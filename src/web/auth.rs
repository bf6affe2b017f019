//! Who is asking: the staff member behind the session cookie (or an API bearer token), the
//! role checks every route makes, the per-session CSRF token every form carries, and the
//! limit on failed logins.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_session::{Session, SessionExt};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::AppState;
use crate::db::ids::UserId;
use crate::db::users::{self, Role};

/// Session keys.
pub(crate) const USER_ID: &str = "uid";
pub(crate) const EXPIRES: &str = "exp";
const CSRF: &str = "csrf";

/// A logged-in staff member.
#[derive(Clone, Debug, Serialize)]
pub struct Staff {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    /// The session's CSRF token, for the forms of the page (empty for API tokens).
    pub csrf: String,
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

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn identify(req: &HttpRequest) -> Result<Staff, WebError> {
    let api = req.path().starts_with("/api/");
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
            let hash = hex(&Sha256::digest(token.as_bytes()));
            let found = state
                .db(move |conn| Ok(users::by_token_hash(conn, &hash)?))
                .await?;
            let now = crate::db::now();
            return match found {
                Some((id, name, role, expires)) if expires.is_none_or(|e| e > now) => Ok(Staff {
                    id,
                    name,
                    role,
                    csrf: String::new(),
                }),
                _ => Err(login()),
            };
        }
    }
    let session = req.get_session();
    let uid = session.get::<i64>(USER_ID).ok().flatten();
    let expires = session.get::<i64>(EXPIRES).ok().flatten();
    let (Some(uid), Some(expires)) = (uid, expires) else {
        return Err(login());
    };
    if expires < unix_now() {
        session.purge();
        return Err(login());
    }
    // The account is read on every request, so disabling a user or changing a role takes
    // effect at once, not when the cookie runs out.
    let user = state
        .db(move |conn| Ok(users::enabled(conn, UserId(uid))?))
        .await?;
    let Some((name, role)) = user else {
        session.purge();
        return Err(login());
    };
    Ok(Staff {
        id: UserId(uid),
        name,
        role,
        csrf: csrf_token(&session)?,
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

/// Failed logins per (username, address) within a sliding window.
pub struct LoginLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<(String, IpAddr), VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, IpAddr), VecDeque<Instant>>) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update; the counts are
        // still usable.
        let mut guard = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Whether this username may try again from this address now.
    pub fn allowed(&self, user: &str, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.with(|map| {
            let key = (user.to_lowercase(), ip);
            let Some(times) = map.get_mut(&key) else {
                return true;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.window)
            {
                times.pop_front();
            }
            times.len() < self.max
        })
    }

    pub fn failed(&self, user: &str, ip: IpAddr) {
        self.with(|map| {
            // Bounded memory: a flood of distinct names drops the oldest records wholesale.
            if map.len() > 100_000 {
                map.clear();
            }
            map.entry((user.to_lowercase(), ip))
                .or_default()
                .push_back(Instant::now());
        });
    }

    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        self.with(|map| map.remove(&(user.to_lowercase(), ip)));
    }
}
