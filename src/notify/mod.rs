//! Customer notifications, the mail half: the `[notify]` settings, a digest of a customer's
//! due tickets composed into one mail from templates (text + HTML, redacted ARF evidence
//! attached), and sent over SMTP with an outcome per recipient.
//!
//! The flow, as the planner drives it: build a [`Digest`] from the database, give it a
//! Message-ID ([`NotifySettings::message_id`]), [`compose`] it, store the row, then
//! [`Mailer::send`] it on a blocking thread (waiting on a [`RateLimit`] between mails) and
//! record each recipient's [`Delivery`].

pub mod attach;
pub mod bounce;
pub mod compose;
pub mod deliver;
pub mod digest;
pub mod plan;
pub mod rate;
pub mod settings;
pub mod smtp;
pub mod templates;

pub use compose::{compose, ComposedMail};
pub use digest::{new_message_id, Digest, DigestTicket, SelfServiceLink, Why};
pub use rate::RateLimit;
pub use settings::{Intervals, NotifySettings, SmtpEndpoint, SmtpSecurity};
pub use smtp::{Delivery, Mailer};
pub use templates::{MailTemplates, Part};

/// Why a notice could not be composed or the mailer not be built.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A `[notify]` setting is wrong (normally caught by `validate` at start).
    #[error("notify.{key}: {reason}")]
    Setting { key: &'static str, reason: String },
    /// A mail template is missing, broken or used an undefined value.
    #[error("mail template {name}: {reason}")]
    Template { name: String, reason: String },
    /// None of the customer's addresses is a mail address.
    #[error("the customer has no valid mail address")]
    NoRecipients,
    /// The digest's Message-ID cannot be written into a header.
    #[error("not a usable Message-ID: {0}")]
    MessageId(String),
    /// lettre refused to build the message.
    #[error("the mail could not be built: {0}")]
    Build(#[from] lettre::error::Error),
    /// The TLS set-up for the SMTP server failed.
    #[error("TLS for the SMTP server: {0}")]
    Tls(String),
}

impl From<settings::Invalid> for NotifyError {
    fn from(e: settings::Invalid) -> Self {
        NotifyError::Setting {
            key: e.key,
            reason: e.reason,
        }
    }
}
