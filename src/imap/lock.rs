//! One poller per mailbox at a time. On Postgres, where several instances may share the
//! database, a session-level advisory lock keyed by the mailbox name, held on the poll's
//! own connection: it dies with the connection, so a crashed instance never blocks the
//! mailbox. SQLite has no such lock, and a process-local mutex would not stop a `poll --once`
//! from cron overlapping a running `serve`, so there the claim is a lease row in
//! `mailbox_state`, renewed with every batch and expiring on its own if its holder dies.
//! A SQLite database lives on one machine, so the lease also names its holder's process:
//! a poller finding the lease held by a process of this host that no longer runs (killed,
//! crashed) takes it over at once instead of leaving the mailbox unpolled until it expires.

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

/// The name a poll holds its SQLite lease under, the same for all its attempts: an attempt
/// whose release failed (the disk full, the connection lost) does not shut the next attempt
/// of the same poll out. While it lives, this process counts the name as a running poll's;
/// once dropped, a lease left under it (its release failed) is taken over by the next poll.
pub(super) struct Owner(String);

impl Owner {
    pub(super) fn new() -> Self {
        let name = holder::me();
        holder::running(&name, true);
        Self(name)
    }
}

impl std::ops::Deref for Owner {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        holder::running(&self.0, false);
    }
}

/// Claims the mailbox for `owner`, or returns None when another poller holds it.
pub(super) fn claim(
    conn: &mut DbConn,
    mailbox: &str,
    owner: &str,
) -> Result<Option<Claim>, ImapError> {
    mailbox_state::ensure(conn, mailbox)?;
    match conn {
        DbConn::Postgres(pg) => {
            let row: Locked = diesel::sql_query(ADVISORY_TRY)
                .bind::<Text, _>(mailbox)
                .get_result(pg)?;
            Ok(row.locked.then_some(Claim::Advisory))
        }
        DbConn::Sqlite(_) => {
            let length = Duration::minutes(LEASE_MINUTES);
            let mut taken = mailbox_state::take_lease(conn, mailbox, owner, length)?;
            if !taken {
                if let Some(held) = mailbox_state::lease_holder(conn, mailbox)? {
                    if holder::is_gone(&held) {
                        tracing::warn!(
                            mailbox,
                            "the mailbox's lease was held by a process that no longer runs: \
                             taking it over"
                        );
                        taken =
                            mailbox_state::take_over_lease(conn, mailbox, &held, owner, length)?;
                    }
                }
            }
            Ok(taken.then(|| Claim::Lease(owner.to_owned())))
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

/// A lease holder's name: `host/pid/start/random`, where `start` is the process's start time
/// (so a recycled process id is not mistaken for the holder). Where the process cannot be
/// described (no `/proc`), the name is only random and the lease simply expires.
mod holder {
    use std::collections::HashSet;
    use std::sync::{LazyLock, Mutex};

    /// The names this process's running polls hold their leases under.
    static RUNNING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

    pub(super) fn running(name: &str, yes: bool) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if yes {
            running.insert(name.to_owned());
        } else {
            running.remove(name);
        }
    }

    pub(super) fn me() -> String {
        let random = format!("{:032x}", rand::random::<u128>());
        match (host(), start_of(std::process::id())) {
            (Some(host), Some(start)) => {
                format!("{host}/{}/{start}/{random}", std::process::id())
            }
            _ => random,
        }
    }

    /// Whether `holder` names a process of this host that is no longer running.
    pub(super) fn is_gone(holder: &str) -> bool {
        let mut parts = holder.split('/');
        let (Some(host_named), Some(pid), Some(start), Some(_), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return false;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return false;
        };
        // Another machine's (or container's) processes cannot be seen from here.
        if host().as_deref() != Some(host_named) {
            return false;
        }
        let alive = start_of(pid).as_deref() == Some(start);
        if alive && pid == std::process::id() {
            // This process: gone unless one of its polls still runs under that name.
            let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
            return !running.contains(holder);
        }
        !alive
    }

    fn host() -> Option<String> {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        let name = name.trim();
        (!name.is_empty() && !name.contains('/')).then(|| name.to_owned())
    }

    /// The start time of process `pid` (field 22 of `/proc/PID/stat`), if it runs.
    fn start_of(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(19).map(str::to_owned)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_running_process_holds_and_a_finished_one_does_not() {
            let mine = me();
            running(&mine, true);
            assert!(!is_gone(&mine), "{mine}");
            running(&mine, false);
            if start_of(std::process::id()).is_some() {
                assert!(is_gone(&mine), "a poll of this process that ended: {mine}");
            }
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            let start = start_of(pid);
            child.wait().unwrap();
            if let (Some(host), Some(start)) = (host(), start) {
                assert!(is_gone(&format!("{host}/{pid}/{start}/x")));
                // The same process id started at another time is another process.
                let me = std::process::id();
                assert!(is_gone(&format!("{host}/{me}/1/x")));
                // Another host's processes are never judged from here.
                assert!(!is_gone(&format!("elsewhere.example/{pid}/{start}/x")));
            }
            assert!(!is_gone("0123456789abcdef"));
            assert!(!is_gone("a/b/c/d"));
        }
    }
}
