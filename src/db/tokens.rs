//! API tokens: bearer secrets for `/api/` that act as the staff member who made them, with
//! that member's role. Only the SHA-256 of a token is stored; the token itself is shown
//! once, when it is made. A revoked token is deleted (the audit log keeps the record).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor};
use super::ids::{TokenId, UserId};
use super::schema::{api_tokens, users};
use super::users::Role;
use super::DbConn;

/// `last_used_at` is written at most this often per token, not on every request.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// A token as lists show it: never the token or its hash.
#[derive(Queryable, Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: TokenId,
    pub user: String,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

/// Who a valid token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

fn hash(token: &str) -> String {
    crate::hex::hex(&Sha256::digest(token.as_bytes()))
}

/// Makes a token for `user`, recorded in the audit log as done by `actor`. Returns its id
/// and the token itself, which is not stored and cannot be shown again.
pub fn create(
    conn: &mut DbConn,
    user: UserId,
    name: &str,
    expires_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
    actor: Actor<'_>,
) -> QueryResult<(TokenId, String)> {
    let token = crate::secret::random_token();
    let token_hash = hash(&token);
    crate::db::write(conn, |conn| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::user_id.eq(user),
                api_tokens::name.eq(name),
                api_tokens::token_hash.eq(&token_hash),
                api_tokens::created_at.eq(now),
                api_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        let id: TokenId = api_tokens::table
            .filter(api_tokens::token_hash.eq(&token_hash))
            .select(api_tokens::id)
            .first(conn)?;
        let owner: String = users::table
            .find(user)
            .select(users::username)
            .first(conn)?;
        let detail = format!("API token {id} '{name}' for {owner}");
        audit::record(conn, now, actor, "token_created", None, None, &detail)?;
        Ok((id, token))
    })
}

/// The tokens of `user`, or of everyone, oldest first.
pub fn list(conn: &mut DbConn, user: Option<UserId>) -> QueryResult<Vec<TokenRow>> {
    let mut query = api_tokens::table
        .inner_join(users::table)
        .select((
            api_tokens::id,
            users::username,
            api_tokens::name,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::last_used_at,
        ))
        .order(api_tokens::id)
        .into_boxed();
    if let Some(user) = user {
        query = query.filter(api_tokens::user_id.eq(user));
    }
    query.load(conn)
}

/// Revokes token `id` (only if it is `owner`'s, when given). False when there is no such
/// token.
pub fn revoke(
    conn: &mut DbConn,
    id: TokenId,
    owner: Option<UserId>,
    now: NaiveDateTime,
    actor: Actor<'_>,
) -> QueryResult<bool> {
    crate::db::write(conn, |conn| {
        let mut query = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::id.eq(id))
            .select((api_tokens::name, users::username))
            .into_boxed();
        if let Some(owner) = owner {
            query = query.filter(api_tokens::user_id.eq(owner));
        }
        let Some((name, user)) = query.first::<(String, String)>(conn).optional()? else {
            return Ok(false);
        };
        diesel::delete(api_tokens::table.find(id)).execute(conn)?;
        let detail = format!("API token {id} '{name}' of {user}");
        audit::record(conn, now, actor, "token_revoked", None, None, &detail)?;
        Ok(true)
    })
}

/// Who `token` acts as: a stored, unexpired token of an enabled account. Notes the use in
/// `last_used_at`, at most once a minute.
pub fn check(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<TokenOwner>> {
    let found = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash(token)))
        .filter(users::disabled.eq(false))
        .select((
            api_tokens::id,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            users::id,
            users::username,
            users::role,
        ))
        .first::<(
            TokenId,
            Option<NaiveDateTime>,
            Option<NaiveDateTime>,
            UserId,
            String,
            Role,
        )>(conn)
        .optional()?;
    let Some((token_id, expires_at, last_used_at, id, name, role)) = found else {
        return Ok(None);
    };
    if expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    if last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        diesel::update(api_tokens::table.find(token_id))
            .set(api_tokens::last_used_at.eq(Some(now)))
            .execute(conn)?;
    }
    Ok(Some(TokenOwner { id, name, role }))
}
