//! Staff accounts: argon2 password hashes and the three roles.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::UserId;
use super::schema::users;
use super::{now, DbConn};

/// What a user may do: viewers read, agents work tickets, admins also manage users,
/// customers and settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Viewer, Self::Agent, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user '{0}' already exists")]
    Exists(String),
    #[error("a username is 1 to 64 letters, digits, '.', '-', '_' or '@'")]
    BadName,
    #[error("a password needs at least 12 characters")]
    WeakPassword,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: chrono::NaiveDateTime,
    pub last_login_at: Option<chrono::NaiveDateTime>,
}

/// Creates a user with an argon2 hash of `password`.
pub fn add(
    conn: &mut DbConn,
    username: &str,
    role: Role,
    password: &str,
) -> Result<UserId, UserError> {
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if !valid_name {
        return Err(UserError::BadName);
    }
    if password.chars().count() < 12 {
        return Err(UserError::WeakPassword);
    }
    let hash = hash_password(password)?;
    conn.transaction(|conn| {
        let taken: bool = diesel::select(diesel::dsl::exists(
            users::table.filter(users::username.eq(username)),
        ))
        .get_result(conn)?;
        if taken {
            return Err(UserError::Exists(username.to_owned()));
        }
        diesel::insert_into(users::table)
            .values((
                users::username.eq(username),
                users::password_hash.eq(&hash),
                users::role.eq(role.as_str()),
                users::disabled.eq(false),
                users::created_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(users::table
            .filter(users::username.eq(username))
            .select(users::id)
            .first(conn)?)
    })
}

/// The user, if the name exists, is enabled and the password matches.
pub fn verify(conn: &mut DbConn, username: &str, password: &str) -> QueryResult<Option<User>> {
    let user: Option<User> = users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()?;
    Ok(user.filter(|u| !u.disabled && password_matches(&u.password_hash, password)))
}

fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}
