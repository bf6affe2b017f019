//! The action worker as `serve` runs it: woken when staff or a rule ask for an action, and
//! on the `[actions]` schedule; one run at a time in this process (claims keep other
//! processes' workers off the same actions).

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tracing::{info, warn};

use crate::db::Pool;
use crate::upstream::worker::{Ran, Worker};

/// The worker, its pool, and what wakes it.
pub struct ActionJob {
    worker: Worker,
    pool: Pool,
    /// Notified by the web when an action is asked for, and by the schedule.
    pub wake: Arc<Notify>,
    busy: Mutex<()>,
}

impl ActionJob {
    pub fn new(worker: Worker, pool: Pool, wake: Arc<Notify>) -> Self {
        Self {
            worker,
            pool,
            wake,
            busy: Mutex::new(()),
        }
    }

    /// One run (blocking), unless one is running already; `None` then, or when the database
    /// could not be reached (logged).
    pub fn run_once(&self) -> Option<Ran> {
        let Ok(_busy) = self.busy.try_lock() else {
            return None;
        };
        let mut conn = match self.pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "no database connection for the action worker");
                return None;
            }
        };
        let ran = self.worker.run_once(&mut conn);
        conn.record(&ran);
        match ran {
            Ok(ran) => {
                if ran != Ran::default() {
                    info!(
                        succeeded = ran.succeeded,
                        failed = ran.failed,
                        retried = ran.retried,
                        manual = ran.manual,
                        cancelled = ran.cancelled,
                        expired = ran.expired,
                        interrupted = ran.interrupted,
                        "actions carried out"
                    );
                }
                Some(ran)
            }
            Err(e) => {
                warn!(error = %e, "the action worker stopped early; it runs again at its next wake-up");
                None
            }
        }
    }

    /// Runs whenever woken, until the task is dropped.
    pub async fn serve(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            let job = Arc::clone(&self);
            if let Err(e) = tokio::task::spawn_blocking(move || job.run_once()).await {
                tracing::error!(error = %e, "an action worker run did not finish");
            }
        }
    }
}
