//! Errors of the ARF parser and of identity-rule compilation.
//!
//! Reasons are written for an abuse agent reading the quarantine, not for a developer.

use thiserror::Error;

/// Why a message could not be turned into a [`super::FeedbackReport`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The message is mail, but not a feedback report (plain mail, bounce, DMARC aggregate, …).
    #[error("not a feedback report: {reason}")]
    NotAReport {
        /// Human-readable explanation.
        reason: String,
    },
    /// The input claims to be a report (or a mail at all) but is broken.
    #[error("malformed report: {reason}")]
    Malformed {
        /// Human-readable explanation.
        reason: String,
    },
    /// Larger than `ingest.max_message_mb`: only its header block was read and kept.
    #[error("too large: {size} bytes (limit {limit})")]
    TooLarge {
        /// The message's size in bytes.
        size: u64,
        /// The limit it exceeds, in bytes.
        limit: u64,
    },
}

impl ParseError {
    /// The kind of [`ParseError::TooLarge`].
    pub const TOO_LARGE: &'static str = "too_large";

    pub(crate) fn not_a_report(reason: impl Into<String>) -> Self {
        ParseError::NotAReport {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        ParseError::Malformed {
            reason: reason.into(),
        }
    }

    /// Stable snake_case name of the error kind, for JSON output and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::NotAReport { .. } => "not_a_report",
            ParseError::Malformed { .. } => "malformed",
            ParseError::TooLarge { .. } => Self::TOO_LARGE,
        }
    }

    /// The human-readable reason, without the kind prefix.
    pub fn reason(&self) -> String {
        match self {
            ParseError::NotAReport { reason } | ParseError::Malformed { reason } => reason.clone(),
            ParseError::TooLarge { .. } => self.to_string(),
        }
    }
}

/// A configured identification rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityRuleError {
    /// The rule names no header.
    #[error("identity rule #{index}: the header name is empty")]
    EmptyHeader {
        /// Position of the rule in the configured list (1-based).
        index: usize,
    },
    /// The regex does not compile.
    #[error("identity rule #{index} ({header}): invalid regex: {error}")]
    BadRegex {
        /// Position of the rule in the configured list (1-based).
        index: usize,
        /// Header the rule applies to.
        header: String,
        /// Compiler message.
        error: String,
    },
    /// The regex must have exactly one capture group: the identity.
    #[error("identity rule #{index} ({header}): the regex must have exactly one capture group, it has {groups}")]
    CaptureGroups {
        /// Position of the rule in the configured list (1-based).
        index: usize,
        /// Header the rule applies to.
        header: String,
        /// Number of capture groups found.
        groups: usize,
    },
}
