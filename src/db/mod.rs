//! Storage: one diesel schema on SQLite (the embedded default) and Postgres, chosen by the
//! URL scheme. Storage functions are synchronous `fn(&mut DbConn, …)` so they compose inside
//! one transaction; callers in async code run them on a blocking thread.

pub mod actions;
pub mod audit;
pub mod checkpoint;
pub(crate) mod column;
pub mod customers;
pub mod dashboard;
pub mod events;
pub mod ids;
mod ingest_sqlite;
pub mod locks;
pub mod log;
pub mod mailbox_state;
pub mod notices;
pub mod outgoing;
pub mod plans;
mod pool;
pub(crate) mod prepared;
pub mod raw_messages;
pub mod schema;
pub mod selfservice;
pub mod sessions;
pub mod tokens;
pub mod users;
mod write;

pub use pool::{connect_pool, DbManager, Pool, PoolConn, PooledConn};
pub use write::write;

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

diesel::define_sql_function!(
    /// SQL's `lower(text)`.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

/// Migrations of each backend, embedded in the binary and run at start.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Ordinary queries go through the enum; the few statements
/// one backend spells differently (upserts) are written per backend with [`dispatch!`].
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same diesel expression on whichever concrete connection `conn` holds, for
/// statements the shared `MultiBackend` cannot express (`ON CONFLICT`, `RETURNING`).
#[macro_export]
macro_rules! dispatch {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "database_url: unknown scheme in '{0}' (use sqlite://PATH or postgres://USER@HOST/DB)"
    )]
    UnknownScheme(String),
    #[error("database_url: cannot connect: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Where the data lives, parsed from `database_url`. An unknown scheme is refused rather than
/// silently creating an empty SQLite file named after it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Shown with any password masked: a Postgres URL may hold one.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&crate::secret::mask_url_password(url))
                .finish(),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::UnknownScheme(crate::secret::mask_url_password(
                    url,
                )));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(DbError::UnknownScheme(crate::secret::mask_url_password(
            url,
        )))
    }

    /// The backend's name, for logs and `check-config`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Opens one connection, with the per-connection settings every pooled connection gets.
    pub fn connect(&self) -> Result<DbConn, DbError> {
        match self {
            Self::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // The busy timeout first: another process opening the database at the same
                // moment holds its lock briefly, and the other pragmas must wait for it.
                // 16 KB pages (for a new database) hold most compressed messages in one or
                // two; WAL lets the queue read while the writer commits; NORMAL sync is
                // durable across process crashes in WAL mode; the page cache keeps the ticket
                // indexes hot (docs/performance.md).
                conn.batch_execute(BUSY_TIMEOUT).map_err(DbError::Query)?;
                conn.batch_execute(
                    "PRAGMA page_size = 16384;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA temp_store = MEMORY;",
                )
                .map_err(DbError::Query)?;
                conn.batch_execute(CACHE_SIZE).map_err(DbError::Query)?;
                conn.batch_execute(WAL_AUTOCHECKPOINT)
                    .map_err(DbError::Query)?;
                refresh_statistics(&mut conn);
                Ok(DbConn::Sqlite(conn))
            }
            Self::Postgres(url) => {
                let mut conn = PgConnection::establish(url)?;
                // Plan for pages in memory or on SSD, as the queue's indexes and recent
                // tickets are: the default random page cost (for spinning disks) joins a
                // page of tickets to their customers by reading every customer.
                conn.batch_execute("SET random_page_cost = 1.1")
                    .map_err(DbError::Query)?;
                Ok(DbConn::Postgres(conn))
            }
        }
    }
}

/// SQLite: gathers the planner's statistics (`sqlite_stat1`) for every table that has none
/// or has grown or shrunk a lot since, as SQLite recommends when a connection opens (`PRAGMA
/// optimize` limits each analysis to a sample, so it is quick on any size); the queue's plans
/// depend on them. Pooled connections are replaced every half hour (r2d2's default lifetime), so the
/// statistics follow the data; an import refreshes them when it ends. Postgres keeps its own
/// (autovacuum). Statistics only speed queries up: when they cannot be written (another
/// process holding the write lock past the busy timeout), the connection goes on without.
///
/// Nor does it wait for them: with another process holding the write lock, the statistics
/// are left for the next connection instead of holding this one up for the busy timeout.
pub fn refresh_statistics(conn: &mut SqliteConnection) {
    let refreshed = conn.batch_execute("PRAGMA busy_timeout = 0; PRAGMA optimize = 0x10002;");
    if let Err(e) = conn.batch_execute(BUSY_TIMEOUT) {
        tracing::warn!(error = %e, "SQLite busy timeout not set back");
    }
    if let Err(e) = refreshed {
        tracing::debug!(error = %e, "SQLite statistics not refreshed");
    }
}

/// How long a SQLite statement waits for another connection's write lock before it fails
/// as busy (and the writer's retries take over, see `ingest::retry`).
const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000";

/// A SQLite connection's page cache: 64 MB, which keeps the queue's indexes hot. A bulk
/// import gives its writer a smaller one while it runs (see `checkpoint`), and sets this back.
pub(crate) const CACHE_SIZE: &str = "PRAGMA cache_size = -65536";

/// How often a SQLite connection checkpoints the WAL itself after committing: every 8192
/// pages (128 MB at 16 KB pages). A bulk import turns this off while it checkpoints in the
/// background, and sets it back from here.
pub(crate) const WAL_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 8192";

/// `%text%` for LIKE (with `ESCAPE '\\'`), LIKE's own wildcards in `text` taken literally.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Runs every pending migration of the connection's backend; returns the versions applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = dispatch!(conn, c => c
        .run_pending_migrations(migrations_for(c))
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| DbError::Migration(e.to_string())))?;
    Ok(applied)
}

/// Reverts every applied migration (used by the migrations test and by operators who need
/// a clean slate).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    dispatch!(conn, c => c
        .revert_all_migrations(migrations_for(c))
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| DbError::Migration(e.to_string())))
}

/// Picks the embedded migrations for a concrete connection type.
trait MigrationSource {
    fn migrations() -> EmbeddedMigrations;
}
impl MigrationSource for SqliteConnection {
    fn migrations() -> EmbeddedMigrations {
        SQLITE_MIGRATIONS
    }
}
impl MigrationSource for PgConnection {
    fn migrations() -> EmbeddedMigrations {
        POSTGRES_MIGRATIONS
    }
}
fn migrations_for<C: MigrationSource>(_conn: &C) -> EmbeddedMigrations {
    C::migrations()
}

/// Whether `e` says the database could not be used just now, rather than that the work was
/// wrong: SQLite held busy by another process past the busy timeout, a Postgres connection
/// closed or terminated, a server shutting down or starting up.
pub fn is_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::BrokenTransactionManager => true,
        Error::DatabaseError(_, info) => [
            "database is locked",
            "database table is locked",
            "terminating connection",
            "the database system is",
            "server closed the connection",
            "no connection to the server",
            "connection to server",
        ]
        .iter()
        .any(|m| info.message().contains(m)),
        _ => false,
    }
}

/// Whether `e` says the disk holding the database is full (SQLite's SQLITE_FULL, Postgres's
/// "could not extend file … No space left on device").
pub fn is_out_of_space(e: &diesel::result::Error) -> bool {
    match e {
        diesel::result::Error::DatabaseError(_, info) => {
            ["database or disk is full", "No space left on device"]
                .iter()
                .any(|m| info.message().contains(m))
        }
        _ => false,
    }
}

/// Whether Postgres aborted the transaction to break a deadlock or a serialization conflict
/// with another one: the same work, tried again from the start, may pass.
pub fn is_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// Asks the server whether the connection still works.
pub fn ping(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// The current time as stored in the database: UTC, without zone, to the microsecond
/// (both backends keep microseconds, so a value read back equals the value written).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// The times a filter or a page cursor may name: the years 1 to 9999. Both backends store
/// them (Postgres refuses a time before 4713 BC, and chrono's own last year overflows when a
/// day is added), and every event lies within them.
pub const TIMES: std::ops::RangeInclusive<chrono::NaiveDateTime> = {
    use chrono::{NaiveDate, NaiveTime};
    let (Some(first), Some(last), Some(end)) = (
        NaiveDate::from_ymd_opt(1, 1, 1),
        NaiveDate::from_ymd_opt(9999, 12, 31),
        NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999),
    ) else {
        // Evaluated while compiling: a date that is not one stops the build.
        panic!("the years 1 to 9999 are dates")
    };
    first.and_time(NaiveTime::MIN)..=last.and_time(end)
};

/// `t` held to [`TIMES`]. A cursor from a URL may name any time; held to the times events
/// have, it finds the same rows.
pub fn clamp_time(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    t.clamp(*TIMES.start(), *TIMES.end())
}

/// The embedded migrations not yet applied to the connection's database, by version.
pub fn pending_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    dispatch!(conn, c => c
        .pending_migrations(migrations_for(c))
        .map(|pending| pending.iter().map(|m| m.name().version().to_string()).collect())
        .map_err(|e| DbError::Migration(e.to_string())))
}
