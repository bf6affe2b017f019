//! Staff accounts: argon2 password hashes and the three roles.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::UserId;
use super::schema::users;
use super::{now, DbConn};

super::column::column_enum! {
    /// What a user may do: viewers read, agents work tickets, admins also manage users,
    /// customers and settings. Ordered: a role can do all that the ones before it can.
    #[derive(PartialOrd, Ord, clap::ValueEnum)]
    pub enum Role ("role") {
        Viewer => "viewer",
        Agent => "agent",
        Admin => "admin",
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
    #[error(transparent)]
    TooLong(#[from] crate::limits::TooLong),
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
    pub role: Role,
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
    crate::limits::PASSWORD.check(password)?;
    let hash = hash_password(password)?;
    crate::db::write(conn, |conn| {
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
                users::role.eq(role),
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
/// An account as a login needs it: enabled, by name.
pub fn for_login(conn: &mut DbConn, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .filter(users::disabled.eq(false))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Whether `password` is the password of `user` (when there is one). Without an account the
/// password is checked against a stand-in hash, so an unknown name takes as long to refuse
/// as a wrong password: the answer's timing does not tell which names exist. Slow by design
/// (argon2): run it off the async threads and without holding a database connection.
pub fn password_ok(user: Option<&User>, password: &str) -> bool {
    static STAND_IN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match user {
        Some(user) => password_matches(&user.password_hash, password),
        None => {
            let hash = STAND_IN
                .get_or_init(|| hash_password(&crate::secret::random_token()).unwrap_or_default());
            password_matches(hash, password);
            false
        }
    }
}

/// The enabled account `username` when `password` is its password.
pub fn verify(conn: &mut DbConn, username: &str, password: &str) -> QueryResult<Option<User>> {
    let user = for_login(conn, username)?;
    Ok(user.filter(|u| password_ok(Some(u), password)))
}

fn hash_password(password: &str) -> Result<String, UserError> {
    crate::password::hash(password).map_err(UserError::Hash)
}

fn password_matches(hash: &str, password: &str) -> bool {
    crate::password::matches(hash, password)
}

/// Records a successful login.
pub fn touch_login(conn: &mut DbConn, id: UserId) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// A staff account as the users page lists it.
#[derive(Queryable, Debug, Clone, serde::Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub last_login_at: Option<NaiveDateTime>,
}

/// Every account, by name.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<UserRow>> {
    users::table
        .order(users::username)
        .select((
            users::username,
            users::role,
            users::disabled,
            users::last_login_at,
        ))
        .load(conn)
}

/// The id of the account named `name`.
pub fn id_of(conn: &mut DbConn, name: &str) -> QueryResult<Option<UserId>> {
    users::table
        .filter(users::username.eq(name))
        .select(users::id)
        .first(conn)
        .optional()
}

/// The name of account `id`.
pub fn name_of(conn: &mut DbConn, id: UserId) -> QueryResult<Option<String>> {
    users::table
        .find(id)
        .select(users::username)
        .first(conn)
        .optional()
}
