//! The connection pool: r2d2 over either backend, with what it knows of each connection's
//! health, so that a checkout asks the server only when it has reason to.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};

use super::{run_migrations, DatabaseUrl, DbConn, DbError};

/// r2d2 manager that builds the right backend from the URL scheme.
#[derive(Clone, Debug)]
pub struct DbManager {
    url: DatabaseUrl,
}

/// How long a connection that just answered is taken to be alive without asking again.
const TRUSTED_FOR: Duration = Duration::from_secs(2);

/// A connection in the pool, with what the pool knows of its health. It derefs to the
/// [`DbConn`] inside.
pub struct PoolConn {
    conn: DbConn,
    /// When a statement last worked on it: the pool's own check, or work that succeeded.
    answered: Instant,
    /// Work on it failed since: the next checkout asks it before handing it out.
    suspect: bool,
}

impl PoolConn {
    /// Records how a unit of work on the connection went. Success vouches for it for a
    /// while; an error (perhaps the server went away) makes the next checkout test it.
    pub fn record<T, E>(&mut self, outcome: &Result<T, E>) {
        if outcome.is_ok() {
            self.vouch();
        } else {
            self.suspect = true;
        }
    }

    /// The connection has just answered.
    fn vouch(&mut self) {
        self.answered = Instant::now();
        self.suspect = false;
    }
}

impl std::ops::Deref for PoolConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl ManageConnection for DbManager {
    type Connection = PoolConn;
    type Error = DbError;

    fn connect(&self) -> Result<PoolConn, DbError> {
        Ok(PoolConn {
            conn: self.url.connect()?,
            answered: Instant::now(),
            suspect: false,
        })
    }

    /// Asks the server (`SELECT 1`) only when the connection has not answered within
    /// [`TRUSTED_FOR`] or its last work failed: under load a connection comes back to the
    /// pool every few milliseconds, and asking before each checkout took a round trip per
    /// request. A connection
    /// the server dropped fails one unit of work at most, and is replaced at the checkout
    /// after.
    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), DbError> {
        if !conn.suspect && conn.answered.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(DbError::Query)?;
        conn.vouch();
        Ok(())
    }

    fn has_broken(&self, _conn: &mut PoolConn) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<DbManager>;
pub type PooledConn = r2d2::PooledConnection<DbManager>;

/// Builds the pool and runs pending migrations on one of its connections.
pub fn connect_pool(url: &DatabaseUrl, size: u32) -> Result<Pool, DbError> {
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(30))
        .build(DbManager { url: url.clone() })?;
    let mut conn = pool.get()?;
    run_migrations(&mut conn)?;
    Ok(pool)
}
