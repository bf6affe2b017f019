//! The `[ingest]` table: how a report becomes an event on a ticket — identification rules,
//! the customer resolution chain, severity thresholds, the automatic lock rule and the
//! largest message read.

use serde::{Deserialize, Serialize};

use crate::arf::{IdentityRule, IdentityRules};
use crate::db::customers::ResolveStep;
use crate::invalid::Invalid;
use crate::tickets::{AutoLock, SeverityPolicy};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Order of the customer resolution chain.
    pub resolve_order: Vec<ResolveStep>,
    /// Identification rules, tried in order: a header name and an optional regex with one
    /// capture group, like the filter's "identification header" setting.
    pub identification: Vec<IdentityRule>,
    /// User-Agent prefixes of our own outgoing filter's reports (they start at severity abuse).
    pub own_filter_user_agents: Vec<String>,
    /// Severity thresholds by event count, with per-class overrides.
    pub severity: SeverityPolicy,
    /// The automatic temporary lock rule (off by default).
    pub auto_lock: AutoLock,
    /// Messages per write batch: one transaction for IMAP and HTTP; an import commits every
    /// few batches.
    pub batch_size: usize,
    /// The largest message read, in MiB: a larger one (by its IMAP RFC822.SIZE, its file's
    /// size, or as an mbox message grows) is not read whole but quarantined as too large,
    /// with its header block and true size kept.
    pub max_message_mb: u64,
}

/// The most `ingest.max_message_mb` may be: what a stored message may decompress to.
const MAX_MESSAGE_MB_CEILING: u64 = 256;

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            resolve_order: ResolveStep::DEFAULT_ORDER.to_vec(),
            identification: IdentityRules::default_rules(),
            own_filter_user_agents: vec!["SpamExperts".into()],
            severity: SeverityPolicy::default(),
            auto_lock: AutoLock::default(),
            batch_size: 2000,
            max_message_mb: 25,
        }
    }
}

impl IngestSettings {
    /// Checks what types alone cannot: the rules compile, thresholds are in order.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.resolve_order.is_empty() {
            return Invalid::of("ingest.resolve_order", "must name at least one step");
        }
        if let Err(e) = IdentityRules::compile(&self.identification) {
            return Invalid::of("ingest.identification", e.to_string());
        }
        let lock = &self.auto_lock;
        if lock.enabled && (lock.events < 1 || lock.within_minutes < 1 || lock.lock_hours < 1) {
            return Invalid::of(
                "ingest.auto_lock",
                "events, within_minutes and lock_hours must each be at least 1",
            );
        }
        for (class, t) in std::iter::once((&"(default)".to_owned(), &self.severity.default))
            .chain(&self.severity.classes)
        {
            if t.abuse_after < 1 || t.escalation_after < t.abuse_after {
                return Invalid::of(
                    "ingest.severity",
                    format!("{class}: need 1 <= abuse_after <= escalation_after"),
                );
            }
        }
        if self.batch_size == 0 {
            return Invalid::of("ingest.batch_size", "must be at least 1");
        }
        if !(1..=MAX_MESSAGE_MB_CEILING).contains(&self.max_message_mb) {
            return Invalid::of(
                "ingest.max_message_mb",
                format!("must be 1 to {MAX_MESSAGE_MB_CEILING}"),
            );
        }
        Ok(())
    }

    /// `max_message_mb` in bytes.
    pub fn max_message_bytes(&self) -> u64 {
        self.max_message_mb << 20
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_message_is_25_mib_and_must_be_sensible() {
        let settings = IngestSettings::default();
        assert_eq!(settings.max_message_bytes(), 26_214_400);
        for (mb, ok) in [(0, false), (1, true), (256, true), (257, false)] {
            let settings = IngestSettings {
                max_message_mb: mb,
                ..IngestSettings::default()
            };
            let checked = settings.validate();
            assert_eq!(checked.is_ok(), ok, "{mb}: {checked:?}");
            if let Err(e) = checked {
                assert_eq!(e.key, "ingest.max_message_mb");
            }
        }
    }
}
