//! The IMAP poller: reads feedback reports from the configured mailboxes, stores them with
//! the one ingest path, and only after the transaction holding a message committed moves it
//! to the done folder (or flags it). The highest stored UID is recorded in that same
//! transaction, so a crash at any point neither loses a message nor counts one twice: a
//! message stored but not yet moved is found again, recognised by its sha256 and moved.

mod batches;
mod client;
mod fetch;
mod idle;
mod lock;
mod oauth;
mod poll;
mod settings;

use std::time::Duration;

use serde::Serialize;

pub use client::uid_set;
pub use idle::wait_for_mail;
pub use poll::poll;
pub use settings::{AuthMethod, DoneAction, Invalid, MailboxSettings, TlsMode};

use crate::ingest::{IngestError, Summary};

/// Everything that can go wrong in one attempt at polling a mailbox.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("tls = starttls, but the server does not offer STARTTLS")]
    NoStartTls,
    #[error("login failed: {0}")]
    Login(imap::Error),
    #[error("cannot read password_file: {0}")]
    PasswordFile(std::io::Error),
    #[error("OAuth: {reason}")]
    OAuth { reason: String, transient: bool },
    #[error("IMAP: {0}")]
    Imap(imap::Error),
    #[error("the server gives no UIDVALIDITY for the folder")]
    NoUidValidity,
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("storing: {0}")]
    Ingest(#[from] IngestError),
    #[error("another poller took over the mailbox lease")]
    LeaseLost,
}

impl ImapError {
    /// Whether the database, not the message being stored, is at fault: it is unavailable
    /// or its disk is full. Such a failure says nothing about the message.
    pub fn database_at_fault(&self) -> bool {
        let e = match self {
            Self::Db(e) | Self::Ingest(IngestError::Db(e)) => e,
            _ => return false,
        };
        crate::db::is_unavailable(e) || crate::db::is_out_of_space(e)
    }

    /// Whether trying again soon may help. A certificate nobody vouches for, a server
    /// without STARTTLS or an unreadable password file stay so until someone acts: the poll
    /// gives up at once and the next scheduled one tries again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::OAuth { transient, .. } => *transient,
            _ => !matches!(
                self,
                Self::Tls(_) | Self::NoStartTls | Self::PasswordFile(_) | Self::NoUidValidity
            ),
        }
    }
}

/// How a poll runs. The defaults suit a production mailbox; tests shorten the waits.
#[derive(Clone, Debug)]
pub struct PollOptions {
    /// Messages per fetch and per write transaction.
    pub batch_size: usize,
    /// A batch also ends once its messages add up to this many bytes, so a mailbox of large
    /// messages does not have to fit in memory.
    pub batch_bytes: u64,
    /// Bound on every network read and write.
    pub timeout: Duration,
    /// Threads that hash, compress and parse a fetched batch.
    pub workers: usize,
    /// Attempts per poll: a failed attempt (dropped connection, timeout, login refused,
    /// server restart, database error) is retried after a growing pause.
    pub attempts: u32,
    /// The first pause; it doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            batch_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// What one poll of one mailbox did, as `poll --json` prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MailboxSummary {
    pub mailbox: String,
    /// Counts as `import` gives them. Messages read again after an interrupted move are
    /// counted as duplicates: their reports were counted the first time.
    #[serde(flatten)]
    pub ingest: Summary,
    /// Messages moved to the done folder.
    pub moved: u64,
    /// Messages flagged done (when `done_flag` is used).
    pub flagged: u64,
    /// Non-reports moved to the rejected folder.
    pub rejected: u64,
    /// Another poller (instance) was polling this mailbox, so this one left it alone.
    pub skipped: bool,
    /// Attempts made (1 unless something failed).
    pub attempts: u32,
    /// The last attempt's error, when every attempt failed.
    pub error: Option<String>,
}
