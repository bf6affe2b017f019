//! Staff sessions held on the server. The session cookie carries a random token; only its
//! hash is stored, with the account, when it was last used and when it ends. Logging out,
//! disabling the account or staying idle too long ends it here, so a copy of the cookie
//! opens nothing afterwards.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor};
use super::ids::UserId;
use super::schema::{staff_sessions, users};
use super::users::Role;
use super::{now as at_now, DbConn};

/// The stored form of a token: its SHA-256, hex.
fn hashed(token: &str) -> String {
    crate::hex::hex(&Sha256::digest(token.as_bytes()))
}

/// How long sessions last: at most `absolute` after login, and `idle` after the last request.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub absolute: Duration,
    pub idle: Duration,
}

/// A session is touched at most this often, so reading pages does not write on every request.
const TOUCH_EVERY_SECS: i64 = 60;

/// Starts a session for `user`: the token for the cookie (256 random bits, hex). Sessions
/// that have ended are swept on the way.
pub fn start(
    conn: &mut DbConn,
    user: UserId,
    at: NaiveDateTime,
    lifetime: Lifetime,
) -> QueryResult<String> {
    diesel::delete(
        staff_sessions::table.filter(
            staff_sessions::expires_at
                .le(at)
                .or(staff_sessions::last_seen_at.le(at - lifetime.idle)),
        ),
    )
    .execute(conn)?;
    let token = crate::secret::random_token();
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::user_id.eq(user),
            staff_sessions::token_hash.eq(hashed(&token)),
            staff_sessions::created_at.eq(at),
            staff_sessions::last_seen_at.eq(at),
            staff_sessions::expires_at.eq(at + lifetime.absolute),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Who a session token belongs to (an enabled account's id, name and role), when the
/// session is live at `at`; it then counts as used.
pub fn check(
    conn: &mut DbConn,
    token: &str,
    at: NaiveDateTime,
    lifetime: Lifetime,
) -> QueryResult<Option<(UserId, String, Role)>> {
    let hash = hashed(token);
    let found: Option<(i64, NaiveDateTime, UserId, String, Role)> = staff_sessions::table
        .inner_join(users::table)
        .filter(staff_sessions::token_hash.eq(&hash))
        .filter(staff_sessions::expires_at.gt(at))
        .filter(staff_sessions::last_seen_at.gt(at - lifetime.idle))
        .filter(users::disabled.eq(false))
        .select((
            staff_sessions::id,
            staff_sessions::last_seen_at,
            users::id,
            users::username,
            users::role,
        ))
        .first(conn)
        .optional()?;
    let Some((id, last_seen, user, name, role)) = found else {
        return Ok(None);
    };
    if at - last_seen >= Duration::seconds(TOUCH_EVERY_SECS) {
        diesel::update(staff_sessions::table.find(id))
            .set(staff_sessions::last_seen_at.eq(at))
            .execute(conn)?;
    }
    Ok(Some((user, name, role)))
}

/// Ends the session of `token` (logging out).
pub fn end(conn: &mut DbConn, token: &str) -> QueryResult<()> {
    diesel::delete(staff_sessions::table.filter(staff_sessions::token_hash.eq(hashed(token))))
        .execute(conn)?;
    Ok(())
}

/// Disables or enables the account `name` on behalf of `actor`, recorded in the audit log;
/// disabling ends its sessions at once (and refuses its API tokens, which are checked against
/// the account on every use). Whether the account exists.
pub fn set_disabled(
    conn: &mut DbConn,
    name: &str,
    disabled: bool,
    actor: Actor<'_>,
) -> QueryResult<bool> {
    crate::db::write(conn, |conn| {
        let Some(id) = super::users::id_of(conn, name)? else {
            return Ok(false);
        };
        diesel::update(users::table.find(id))
            .set(users::disabled.eq(disabled))
            .execute(conn)?;
        if disabled {
            diesel::delete(staff_sessions::table.filter(staff_sessions::user_id.eq(id)))
                .execute(conn)?;
        }
        let (kind, done) = if disabled {
            ("user_disabled", "disabled")
        } else {
            ("user_enabled", "enabled")
        };
        let detail = format!("{done} user {name}");
        audit::record(conn, at_now(), actor, kind, None, None, &detail)?;
        Ok(true)
    })
}
