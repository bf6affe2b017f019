//! The `[actions]` table: when the action worker runs, and how it retries what failed for a
//! passing reason.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;

/// The `[actions]` table: when the worker runs and how it retries.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ActionSettings {
    /// When the worker looks for due actions beside the wake-ups a request gives it (a cron
    /// string with seconds).
    pub schedule: String,
    /// Calls made for one action before a passing failure counts as final.
    pub max_attempts: i32,
    /// The pause after the first passing failure, doubled after each one.
    pub retry_after_secs: u64,
    /// The longest pause between two attempts.
    pub retry_max_secs: u64,
}

impl Default for ActionSettings {
    fn default() -> Self {
        Self {
            schedule: "*/15 * * * * *".into(),
            max_attempts: 8,
            retry_after_secs: 30,
            retry_max_secs: 3600,
        }
    }
}

impl ActionSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if tokio_cron_scheduler::Job::new_async(self.schedule.as_str(), |_, _| Box::pin(async {}))
            .is_err()
        {
            return Invalid::of(
                "actions.schedule",
                format!(
                    "'{}' is not a cron string with seconds such as \"*/15 * * * * *\"",
                    self.schedule
                ),
            );
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Invalid::of("actions.max_attempts", "must be 1 to 100");
        }
        if self.retry_after_secs == 0 || self.retry_max_secs < self.retry_after_secs {
            return Invalid::of(
                "actions.retry_after_secs",
                "must be at least 1 and at most retry_max_secs",
            );
        }
        Ok(())
    }

    /// The pause before attempt `attempts + 1`: doubling from `retry_after_secs`, at most
    /// `retry_max_secs`, give or take a fifth so that many actions failing together do not
    /// all come back at once.
    pub fn pause(&self, attempts: i32) -> Duration {
        let doubled = self
            .retry_after_secs
            .saturating_mul(1u64 << attempts.clamp(1, 30).saturating_sub(1));
        let base = doubled.min(self.retry_max_secs) as f64;
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        Duration::from_secs_f64(base * jitter)
    }
}
