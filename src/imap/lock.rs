//! One poller per mailbox at a time. On Postgres, where several instances may share the
//! database, a session-level advisory lock keyed by the mailbox name, held on the poll's
//! own connection: it dies with the connection, so a crashed instance never blocks the
//! mailbox. SQLite has no such lock, and a process-local mutex would not stop a `poll --once`
//! from cron overlapping a running `serve`, so there the claim is a lease row in
//! `mailbox_state`, renewed with every batch and expiring on its own if its holder dies.

use chrono::Duration;
use diesel::sql_types::{Bool, Text};
use diesel::RunQueryDsl;

use super::ImapError;
use crate::db::{mailbox_state, DbConn};

/// How long a SQLite lease holds without renewal: far longer than one batch takes, and
/// the longest a mailbox stays unpolled after a crashed poller.
const LEASE_MINUTES: i64 = 10;

/// A held claim on a mailbox.
pub(super) enum Claim {
    Advisory,
    Lease(String),
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

// A namespace prefix keeps our keys apart from other applications' advisory locks.
const ADVISORY_TRY: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('abuse-desk mailbox ' || $1, 0)) AS locked";
const ADVISORY_UNLOCK: &str =
    "SELECT pg_advisory_unlock(hashtextextended('abuse-desk mailbox ' || $1, 0)) AS locked";

/// Claims the mailbox, or returns None when another poller holds it.
pub(super) fn claim(conn: &mut DbConn, mailbox: &str) -> Result<Option<Claim>, ImapError> {
    mailbox_state::ensure(conn, mailbox)?;
    match conn {
        DbConn::Postgres(pg) => {
            let row: Locked = diesel::sql_query(ADVISORY_TRY)
                .bind::<Text, _>(mailbox)
                .get_result(pg)?;
            Ok(row.locked.then_some(Claim::Advisory))
        }
        DbConn::Sqlite(_) => {
            let owner = format!("{:032x}", rand::random::<u128>());
            let taken =
                mailbox_state::take_lease(conn, mailbox, &owner, Duration::minutes(LEASE_MINUTES))?;
            Ok(taken.then_some(Claim::Lease(owner)))
        }
    }
}

/// Extends a lease after a batch; an advisory lock needs nothing.
pub(super) fn renew(conn: &mut DbConn, mailbox: &str, claim: &Claim) -> Result<(), ImapError> {
    match claim {
        Claim::Advisory => Ok(()),
        Claim::Lease(owner) => {
            if mailbox_state::take_lease(conn, mailbox, owner, Duration::minutes(LEASE_MINUTES))? {
                Ok(())
            } else {
                Err(ImapError::LeaseLost)
            }
        }
    }
}

/// Gives the claim up.
pub(super) fn release(conn: &mut DbConn, mailbox: &str, claim: Claim) -> Result<(), ImapError> {
    match (claim, conn) {
        (Claim::Advisory, DbConn::Postgres(pg)) => {
            diesel::sql_query(ADVISORY_UNLOCK)
                .bind::<Text, _>(mailbox)
                .get_result::<Locked>(pg)?;
            Ok(())
        }
        (Claim::Lease(owner), conn) => Ok(mailbox_state::release_lease(conn, mailbox, &owner)?),
        (Claim::Advisory, DbConn::Sqlite(_)) => Ok(()),
    }
}
