//! Riding out a database that is briefly unavailable: SQLite held busy by another process
//! past its busy timeout, a Postgres server restarting. The writer's transaction is rolled
//! back, so nothing is half-applied; the writer waits with a growing pause, reconnects when
//! the connection itself is gone, and stores the same messages again.

use std::time::{Duration, Instant};

use diesel::result::Error;

use crate::db::{DatabaseUrl, DbConn};

/// Where the writer reconnects when its connection is lost.
#[derive(Clone, Debug)]
pub struct Reconnect(pub DatabaseUrl);

/// How long the writer keeps trying before it gives the error up, and its pauses.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub total: Duration,
    pub first_pause: Duration,
    pub longest_pause: Duration,
}

impl Default for Patience {
    /// Ten minutes: a database restart or a long maintenance transaction, not an outage
    /// (an MTA or the next poll tries again after that).
    fn default() -> Self {
        Self {
            total: Duration::from_secs(600),
            first_pause: Duration::from_millis(250),
            longest_pause: Duration::from_secs(15),
        }
    }
}

/// Whether `e` may pass if the same work is tried again: the database was unavailable
/// ([`crate::db::is_unavailable`]), or Postgres broke a serialization conflict or deadlock
/// ([`crate::db::is_conflict`]). A lost connection shows as many errors, so for Postgres the
/// connection is asked too: if it no longer answers, the error was the outage.
pub fn is_transient(e: &Error, conn: &mut DbConn) -> bool {
    crate::db::is_conflict(e)
        || crate::db::is_unavailable(e)
        || (matches!(conn, DbConn::Postgres(_)) && crate::db::ping(conn).is_err())
}

/// One writer's retries: the pause grows, and the patience runs out.
pub struct Retries {
    patience: Patience,
    started: Option<Instant>,
    pause: Duration,
}

impl Retries {
    pub fn new(patience: Patience) -> Self {
        Self {
            patience,
            started: None,
            pause: patience.first_pause,
        }
    }

    /// After a failed transaction: whether to try again. If so, it has waited, and
    /// `conn` answers again (reconnected through `reconnect` if it had to be).
    pub fn again(
        &mut self,
        error: &Error,
        conn: &mut DbConn,
        reconnect: Option<&Reconnect>,
    ) -> bool {
        if !is_transient(error, conn) {
            return false;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        loop {
            if started.elapsed() + self.pause > self.patience.total {
                return false;
            }
            tracing::warn!(
                error = %error,
                pause_ms = self.pause.as_millis() as u64,
                "the database is unavailable: waiting, then storing the same messages again"
            );
            std::thread::sleep(self.pause);
            self.pause = (self.pause * 2).min(self.patience.longest_pause);
            reconnect_if_lost(conn, reconnect);
            if crate::db::ping(conn).is_ok() {
                return true;
            }
        }
    }

    /// A transaction went through: the next outage gets the whole patience again.
    pub fn reset(&mut self) {
        self.started = None;
        self.pause = self.patience.first_pause;
    }
}

/// After a failure: if `conn` no longer answers, replaces it with a fresh connection through
/// `reconnect` (when that fails too, `conn` stays as it is and the caller's next attempt
/// fails and retries again).
pub fn reconnect_if_lost(conn: &mut DbConn, reconnect: Option<&Reconnect>) {
    if crate::db::ping(conn).is_ok() {
        return;
    }
    let Some(Reconnect(url)) = reconnect else {
        return;
    };
    match url.connect() {
        Ok(fresh) => {
            *conn = fresh;
            tracing::info!("reconnected to the database");
        }
        Err(e) => tracing::warn!(error = %e, "the database is still unavailable"),
    }
}
