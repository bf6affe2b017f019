//! Housekeeping as `serve` runs it: on `[housekeeping].schedule`, one run at a time in this
//! process (the run itself keeps other instances from doing the same work twice).

use std::sync::Mutex;

use tracing::{info, warn};

use crate::db::Pool;
use crate::housekeeping::{self, HousekeepingSettings, Swept};

/// The housekeeping settings and the pool it runs on.
pub struct HousekeepingJob {
    settings: HousekeepingSettings,
    pool: Pool,
    busy: Mutex<()>,
}

impl HousekeepingJob {
    pub fn new(settings: HousekeepingSettings, pool: Pool) -> Self {
        Self {
            settings,
            pool,
            busy: Mutex::new(()),
        }
    }

    /// One run (blocking); `None` when one is running already, here or in another instance,
    /// or when it failed (logged; the next run tries again).
    pub fn run_once(&self) -> Option<Swept> {
        let Ok(_busy) = self.busy.try_lock() else {
            return None;
        };
        let mut conn = match self.pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "no database connection for housekeeping");
                return None;
            }
        };
        let ran = housekeeping::run_once(&mut conn, &self.settings, crate::db::now());
        conn.record(&ran);
        match ran {
            Ok(Some(swept)) => {
                if swept != Swept::default() {
                    info!(
                        closed = swept.closed,
                        purged = swept.purged,
                        periods = swept.periods,
                        "housekeeping done"
                    );
                }
                Some(swept)
            }
            Ok(None) => {
                info!("housekeeping is running in another instance; skipped");
                None
            }
            Err(e) => {
                warn!(error = %e, "housekeeping stopped early; the next run tries again");
                None
            }
        }
    }
}
