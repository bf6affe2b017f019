//! Upstream adapters: the part of acting that talks to a vendor. A lock or unlock decided by
//! staff (or by the planner) becomes a [`Call`]; the [`Upstream`] configured for its target
//! kind sends it to the spam filter, the billing system or the hosting panel and says what
//! the vendor answered, or why it failed and whether trying again can help.
//!
//! Everything here is synchronous (`reqwest::blocking`): the action worker runs each call on a
//! blocking thread, one call at a time per action, and records the outcome itself. Wire
//! formats follow DESIGN.md, "Upstream APIs". No URL of a call and no credential ever reaches
//! an error, an answer or the log: URLs can carry identities and, with some vendors, secrets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod action_settings;
mod cpanel;
mod demo;
mod error;
mod http;
mod registry;
mod settings;
mod spamexperts;
mod spamexperts_cp;
mod webhook;
mod whmcs;
pub mod worker;

pub use cpanel::Cpanel;
pub use demo::Demo;
pub use error::{CpErrorKind, UpstreamError};
pub use registry::{InvalidUpstream, Upstreams};
pub use settings::{Invalid, UpstreamKind, UpstreamSettings};
pub use spamexperts::SpamExperts;
pub use spamexperts_cp::SpamExpertsCp;
pub use webhook::Webhook;
pub use whmcs::Whmcs;

/// What an action locks: the three kinds of target an abuse desk shuts down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// One sender address inside an outgoing user (the filter's "identity").
    Identity,
    /// The filter's authenticating user, IP or domain: locking it stops all of its mail.
    OutgoingUser,
    /// The customer's hosting or billing service.
    Account,
}

impl TargetKind {
    /// Every kind, in the order staff see them.
    pub const ALL: [TargetKind; 3] = [Self::Identity, Self::OutgoingUser, Self::Account];

    /// The name used in settings, the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::OutgoingUser => "outgoing_user",
            Self::Account => "account",
        }
    }

    /// The words for staff and vendor answers ("outgoing user", not `outgoing_user`).
    pub fn words(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::OutgoingUser => "outgoing user",
            Self::Account => "account",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target kind name that is none of `identity`, `outgoing_user`, `account`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown target '{0}' (expected identity, outgoing_user or account)")]
pub struct UnknownTarget(pub String);

impl FromStr for TargetKind {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownTarget(s.to_owned()))
    }
}

/// Lock or unlock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Lock,
    Unlock,
}

impl Op {
    /// `lock` or `unlock`, as sent to a webhook and shown in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lock => "lock",
            Self::Unlock => "unlock",
        }
    }

    /// The past participle for answers: "locked", "unlocked".
    pub fn done_word(self) -> &'static str {
        match self {
            Self::Lock => "locked",
            Self::Unlock => "unlocked",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lock or unlock to carry out upstream, with everything any vendor may need to know.
/// Vendors that do not use a field ignore it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Call {
    pub op: Op,
    pub kind: TargetKind,
    /// The identity address, the outgoing user's name, or for an account the customer's
    /// external id.
    pub target: String,
    /// The outgoing user's domain (the filter's authenticating domain), when known.
    pub domain: Option<String>,
    /// The outgoing user an identity sends through, when known.
    pub outgoing_user: Option<String>,
    /// The customer's service id in the billing system (WHMCS `serviceid`).
    pub billing_ref: Option<String>,
    /// The customer's hosting panel user (cPanel account user).
    pub hosting_user: Option<String>,
    /// Our own reason, shown to staff; sent to vendors that take one.
    pub reason: String,
    /// When a temporary lock ends (UTC); `None` for a lock until further notice.
    pub until: Option<chrono::NaiveDateTime>,
    /// The ticket that led to the action.
    pub ticket: Option<i64>,
    /// The staff username that asked for it, or "system".
    pub requested_by: String,
    /// Unique per action and stable across retries; sent to vendors that take one, so a
    /// call repeated after a crash is recognised there.
    pub idempotency_key: String,
}

impl Call {
    /// A call with only what every call needs; set the other fields with struct update
    /// syntax (`Call { reason, ..Call::new(…) }`).
    pub fn new(
        op: Op,
        kind: TargetKind,
        target: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Self {
            op,
            kind,
            target: target.into(),
            domain: None,
            outgoing_user: None,
            billing_ref: None,
            hosting_user: None,
            reason: String::new(),
            until: None,
            ticket: None,
            requested_by: "system".into(),
            idempotency_key: idempotency_key.into(),
        }
    }

    /// "lock identity bob@example.net", for answers and messages.
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.op, self.kind.words(), self.target)
    }
}

/// What the vendor said to a call that went through: its own words where it gave any,
/// at most 500 characters, with any configured credential masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The HTTP status of the answer; `None` for an upstream that is not reached over HTTP.
    pub status: Option<u16>,
    pub message: String,
}

/// One configured vendor connection.
///
/// Synchronous: run `execute` and `is_locked` on a blocking thread. Implementations hold their
/// own HTTP client with the configured timeouts, so a call never hangs longer than that.
pub trait Upstream: Send + Sync {
    /// The configured name, shown to staff and in the audit log.
    fn name(&self) -> &str;

    /// The kind of vendor API (`spamexperts`, `whmcs`, …), as written in the settings.
    fn kind(&self) -> &'static str;

    /// Whether this upstream is configured to act on targets of this kind.
    fn handles(&self, kind: TargetKind) -> bool;

    /// Sends the call. `Transient` errors are worth retrying; the others are not.
    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError>;

    /// Whether the vendor reports the target as locked now: `Some` where the vendor has a
    /// call that says so, `None` where it has not. The worker asks before repeating a lock
    /// that may have gone through before a crash.
    fn is_locked(&self, _call: &Call) -> Result<Option<bool>, UpstreamError> {
        Ok(None)
    }

    /// A harmless call that proves the URL and credentials work (for `check-config`):
    /// `Ok(None)` where the vendor offers no such call.
    fn check(&self) -> Result<Option<Answer>, UpstreamError> {
        Ok(None)
    }
}
