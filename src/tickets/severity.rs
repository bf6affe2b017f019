//! How a ticket's severity rises with its volume of events, with thresholds per class.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{Class, Severity};

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

impl SeverityPolicy {
    /// The severity a ticket of `class` has after `events` events, never below `current`.
    /// Reports from our own outgoing filter start at abuse: the filter already judged them.
    pub fn severity(
        &self,
        class: &Class,
        events: i64,
        own_filter: bool,
        current: Severity,
    ) -> Severity {
        let t = self.classes.get(class.as_str()).unwrap_or(&self.default);
        let by_volume = if events >= t.escalation_after {
            Severity::Escalation
        } else if events >= t.abuse_after || own_filter {
            Severity::Abuse
        } else {
            Severity::Info
        };
        by_volume.max(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_rises_with_volume_and_never_falls() {
        let mut policy = SeverityPolicy::default();
        assert_eq!(
            policy.severity(&Class::Abuse, 1, false, Severity::Info),
            Severity::Info
        );
        assert_eq!(
            policy.severity(&Class::Abuse, 1, true, Severity::Info),
            Severity::Abuse
        );
        assert_eq!(
            policy.severity(&Class::Abuse, 25, false, Severity::Info),
            Severity::Abuse
        );
        assert_eq!(
            policy.severity(&Class::Abuse, 100, false, Severity::Abuse),
            Severity::Escalation
        );
        assert_eq!(
            policy.severity(&Class::Abuse, 2, false, Severity::Escalation),
            Severity::Escalation
        );
        policy.classes.insert(
            "virus".into(),
            Thresholds {
                abuse_after: 1,
                escalation_after: 3,
            },
        );
        assert_eq!(
            policy.severity(&Class::Virus, 1, false, Severity::Info),
            Severity::Abuse
        );
        assert_eq!(
            policy.severity(&Class::Virus, 3, false, Severity::Info),
            Severity::Escalation
        );
    }
}
