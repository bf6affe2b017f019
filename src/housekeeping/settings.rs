//! The `[housekeeping]` table.

use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;

/// The `[housekeeping]` table: what is tidied away, and when.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingSettings {
    /// Close open and resolved tickets with no report and no staff change for this many days
    /// (audited as the system's doing; a later report opens a new ticket). 0 turns it off.
    /// Ignored tickets are never closed this way.
    pub close_idle_days: u32,
    /// Purge the stored content of raw messages received this many days ago or earlier; their
    /// events, tickets and counts stay, and the ticket page says the message was purged.
    /// 0 (the default) keeps every message.
    pub purge_raw_days: u32,
    /// When housekeeping runs (a cron string with seconds; by default daily at 03:17 UTC).
    pub schedule: String,
}

impl Default for HousekeepingSettings {
    fn default() -> Self {
        Self {
            close_idle_days: 30,
            purge_raw_days: 0,
            schedule: "0 17 3 * * *".into(),
        }
    }
}

impl HousekeepingSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if tokio_cron_scheduler::Job::new_async(self.schedule.as_str(), |_, _| Box::pin(async {}))
            .is_err()
        {
            return Invalid::of(
                "housekeeping.schedule",
                format!(
                    "'{}' is not a cron string with seconds such as \"0 17 3 * * *\"",
                    self.schedule
                ),
            );
        }
        // Beyond a century a date computed from it would leave the calendar.
        if self.close_idle_days > 36_500 {
            return Invalid::of(
                "housekeeping.close_idle_days",
                "must be at most 36500 (0: off)",
            );
        }
        if self.purge_raw_days > 36_500 {
            return Invalid::of(
                "housekeeping.purge_raw_days",
                "must be at most 36500 (0: off)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purging_is_off_and_closing_on_by_default_and_bad_values_are_named() {
        let s = HousekeepingSettings::default();
        assert_eq!((s.close_idle_days, s.purge_raw_days), (30, 0));
        assert!(s.validate().is_ok());
        let bad = HousekeepingSettings {
            schedule: "daily".into(),
            ..s.clone()
        };
        assert_eq!(bad.validate().unwrap_err().key, "housekeeping.schedule");
        let bad = HousekeepingSettings {
            purge_raw_days: 40_000,
            ..s
        };
        assert_eq!(
            bad.validate().unwrap_err().key,
            "housekeeping.purge_raw_days"
        );
    }
}
