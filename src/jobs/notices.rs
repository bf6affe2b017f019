//! Customer notices as `serve` runs them: planned and sent on `[notify].schedule`, and sent at
//! once when staff ask for a notice now.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tracing::{info, warn};

use crate::db::Pool;
use crate::notify::deliver::Sender;
use crate::notify::plan::plan;
use crate::notify::NotifySettings;

/// The planner and the sender, their pool, and what wakes them.
pub struct NoticeJob {
    settings: NotifySettings,
    sender: Arc<Sender>,
    pool: Pool,
    /// Notified by the web when staff ask for a notice now, and by the schedule.
    pub wake: Arc<Notify>,
    busy: Mutex<()>,
}

impl NoticeJob {
    pub fn new(
        settings: NotifySettings,
        sender: Arc<Sender>,
        pool: Pool,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            settings,
            sender,
            pool,
            wake,
            busy: Mutex::new(()),
        }
    }

    /// Plans what is due and sends what is queued (blocking); one run at a time.
    pub fn run_once(&self) {
        let Ok(_busy) = self.busy.try_lock() else {
            return;
        };
        let mut conn = match self.pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "no database connection for the notices");
                return;
            }
        };
        let planned = plan(
            &mut conn,
            &self.settings,
            crate::db::now(),
            None,
            false,
            None,
        );
        conn.record(&planned);
        if let Err(e) = &planned {
            warn!(error = %e, "notices not planned; the next run tries again");
        }
        match self.sender.run_once(&mut conn) {
            Ok(done) if done.sent + done.retried + done.failed > 0 => info!(
                sent = done.sent,
                retried = done.retried,
                failed = done.failed,
                "notices sent"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "notices not sent; the next run tries again"),
        }
    }

    /// Runs whenever woken, until the task is dropped.
    pub async fn serve(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            let job = Arc::clone(&self);
            if let Err(e) = tokio::task::spawn_blocking(move || job.run_once()).await {
                tracing::error!(error = %e, "a notice run did not finish");
            }
        }
    }
}
