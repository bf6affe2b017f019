//! The policies applied on ingest: severity by volume and the automatic temporary lock
//! ("about 5 spam in 10 minutes locks the identity").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Event counts at which a ticket's severity rises.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// info → abuse at this many events.
    pub abuse_after: i64,
    /// → escalation at this many events.
    pub escalation_after: i64,
}

/// Severity thresholds, with overrides per class (feedback type).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SeverityPolicy {
    #[serde(flatten)]
    pub default: Thresholds,
    /// Per-class overrides, e.g. `[ingest.severity.classes.virus]`.
    #[serde(default)]
    pub classes: BTreeMap<String, Thresholds>,
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        // Like Abuse.IO's feedback-loop path: informational until volume says otherwise.
        Self {
            default: Thresholds {
                abuse_after: 25,
                escalation_after: 100,
            },
            classes: BTreeMap::new(),
        }
    }
}

/// Ordered severities; a ticket's severity only ever rises.
pub const SEVERITIES: [&str; 3] = ["info", "abuse", "escalation"];

fn rank(severity: &str) -> usize {
    SEVERITIES.iter().position(|s| *s == severity).unwrap_or(0)
}

impl SeverityPolicy {
    /// The severity a ticket of `class` has after `events` events, never below `current`.
    /// Reports from our own outgoing filter start at abuse: the filter already judged them.
    pub fn severity(
        &self,
        class: &str,
        events: i64,
        own_filter: bool,
        current: &str,
    ) -> &'static str {
        let t = self.classes.get(class).unwrap_or(&self.default);
        let by_volume = if events >= t.escalation_after {
            2
        } else if events >= t.abuse_after || own_filter {
            1
        } else {
            0
        };
        SEVERITIES[by_volume.max(rank(current))]
    }
}

/// "N events for one subject within T minutes → request a temporary lock of the identity
/// for D hours". Off by default.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AutoLock {
    pub enabled: bool,
    pub events: i64,
    pub within_minutes: i64,
    pub lock_hours: i64,
}

impl Default for AutoLock {
    fn default() -> Self {
        Self {
            enabled: false,
            events: 5,
            within_minutes: 10,
            lock_hours: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_rises_with_volume_and_never_falls() {
        let mut policy = SeverityPolicy::default();
        assert_eq!(policy.severity("abuse", 1, false, "info"), "info");
        assert_eq!(policy.severity("abuse", 1, true, "info"), "abuse");
        assert_eq!(policy.severity("abuse", 25, false, "info"), "abuse");
        assert_eq!(policy.severity("abuse", 100, false, "abuse"), "escalation");
        assert_eq!(
            policy.severity("abuse", 2, false, "escalation"),
            "escalation"
        );
        policy.classes.insert(
            "virus".into(),
            Thresholds {
                abuse_after: 1,
                escalation_after: 3,
            },
        );
        assert_eq!(policy.severity("virus", 1, false, "info"), "abuse");
        assert_eq!(policy.severity("virus", 3, false, "info"), "escalation");
    }
}
