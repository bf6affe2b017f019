//! Housekeeping on a schedule (`[housekeeping]`): tickets idle for a number of days are closed
//! ([`crate::tickets::idle`]), raw messages past their retention lose their content while
//! their events, tickets and counts stay ([`crate::db::raw_messages::purge_batch`]), and the
//! Outgoing Reports' totals of ended periods go while the new day's standard ones are made
//! ([`crate::db::outgoing`]). `serve`
//! runs it beside the other jobs, `abuse-desk housekeeping run` by hand or from cron.
//!
//! [`forget`] removes a customer's personal data on request (`abuse-desk customers forget`).
//!
//! Several instances may run it at once: on Postgres the first one takes an advisory lock and
//! the others skip that run; on either backend every statement only changes rows that still
//! need it, so nothing is closed, audited or purged twice.

pub mod forget;
mod settings;

use chrono::{Duration, NaiveDateTime};
use diesel::sql_types::Bool;
use diesel::RunQueryDsl;
use serde::Serialize;

use crate::db::{raw_messages, DbConn};
pub use settings::HousekeepingSettings;

/// Messages purged per transaction: small enough that a run never holds a long write lock.
const PURGE_BATCH: i64 = 1000;

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Tickets closed for being idle.
    pub closed: usize,
    /// Raw messages whose content was purged.
    pub purged: usize,
    /// Outgoing Reports periods whose totals were made ahead of their first view.
    pub periods: usize,
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

// A namespace prefix keeps the key apart from other applications' advisory locks.
const ADVISORY_TRY: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('abuse-desk housekeeping', 0)) AS locked";
const ADVISORY_UNLOCK: &str =
    "SELECT pg_advisory_unlock(hashtextextended('abuse-desk housekeeping', 0)) AS locked";

/// One run as of `now`; `None` when another instance is running it (Postgres only).
pub fn run_once(
    conn: &mut DbConn,
    settings: &HousekeepingSettings,
    now: NaiveDateTime,
) -> diesel::QueryResult<Option<Swept>> {
    if let DbConn::Postgres(pg) = conn {
        let claim: Locked = diesel::sql_query(ADVISORY_TRY).get_result(pg)?;
        if !claim.locked {
            return Ok(None);
        }
    }
    let swept = sweep(conn, settings, now);
    if let DbConn::Postgres(pg) = conn {
        // The lock is the connection's: should the unlock fail, it ends with the connection.
        diesel::sql_query(ADVISORY_UNLOCK).get_result::<Locked>(pg)?;
    }
    swept.map(Some)
}

fn sweep(
    conn: &mut DbConn,
    settings: &HousekeepingSettings,
    now: NaiveDateTime,
) -> diesel::QueryResult<Swept> {
    let mut swept = Swept::default();
    // The Outgoing Reports' totals of periods that have ended go (one made again if anyone
    // shows it again); those of the new day's standard periods are made.
    let today = crate::db::outgoing::counts::day_number(now.date());
    crate::db::write(conn, |conn| crate::db::outgoing::drop_ended(conn, today))?;
    swept.periods = crate::db::outgoing::prepare_standard(conn, now.date())?;
    if settings.close_idle_days > 0 {
        swept.closed = crate::tickets::idle::close_idle(conn, settings.close_idle_days, now)?;
    }
    if settings.purge_raw_days > 0 {
        let cutoff = now - Duration::days(i64::from(settings.purge_raw_days));
        loop {
            let n = raw_messages::purge_batch(conn, cutoff, PURGE_BATCH, now)?;
            swept.purged += n;
            if n == 0 {
                break;
            }
        }
    }
    Ok(swept)
}
