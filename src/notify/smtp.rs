//! Sending a composed notice over SMTP, with an outcome per recipient.
//!
//! Built on lettre's blocking client (`SmtpConnection`, what lettre's `SmtpTransport` uses
//! inside) rather than on `SmtpTransport::send`, because the outcome depends on which
//! command failed: a refused login or sender is the desk's own problem and must not mark a
//! customer's address as bouncing, while a 5xx to RCPT or to the message is about that
//! recipient. Each envelope recipient gets a transaction of its own on one connection, so a
//! 5xx for one rejects only that one. The caller runs `send` on a blocking thread.

use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;

use super::compose::ComposedMail;
use super::settings::{NotifySettings, SmtpEndpoint, SmtpSecurity};
use super::NotifyError;
use crate::secret::Secret;

/// The default for every connect, read and write.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest server answer kept, in characters.
const WORDS_MAX: usize = 500;

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The server took the message for this recipient.
    Sent,
    /// Try again later: a 4xx answer, or the server could not be reached, refused our
    /// login or sender, or timed out. Carries the server's words (or the network error).
    Retry(String),
    /// The server refused this recipient or the message for it for good (5xx).
    Rejected(String),
}

/// Sends notices through the `[notify]` SMTP server.
pub struct Mailer {
    endpoint: SmtpEndpoint,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    /// Kept only to scrub it out of any text we pass on.
    password: Option<Secret>,
    hello: ClientId,
    timeout: Duration,
}

impl Mailer {
    /// A mailer for `settings` (its `smtp_url`, login and timeouts); no connection is made
    /// until [`Mailer::send`].
    pub fn new(settings: &NotifySettings) -> Result<Self, NotifyError> {
        let endpoint = settings.endpoint()?;
        let tls = match endpoint.security {
            SmtpSecurity::Plain => None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => Some(
                TlsParameters::new(endpoint.host.clone())
                    .map_err(|e| NotifyError::Tls(e.to_string()))?,
            ),
        };
        let credentials = match (&settings.smtp_username, &settings.smtp_password) {
            (Some(user), Some(password)) => {
                Some(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            _ => None,
        };
        Ok(Self {
            endpoint,
            tls,
            credentials,
            password: settings.smtp_password.clone(),
            hello: ClientId::default(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same mailer with another timeout for connecting and for each answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `mail` to each of its recipients in a transaction of its own and says what
    /// became of each, in the order of `mail.recipients`.
    pub fn send(&self, mail: &ComposedMail) -> Vec<(String, Delivery)> {
        let bytes = mail.message.formatted();
        let mut out = Vec::with_capacity(mail.recipients.len());
        let mut conn: Option<SmtpConnection> = None;
        for (i, recipient) in mail.recipients.iter().enumerate() {
            let mut c = match conn.take() {
                Some(c) => c,
                None => match self.connect() {
                    Ok(c) => c,
                    Err(why) => {
                        // Nobody else can be reached through this server now either.
                        for rest in &mail.recipients[i..] {
                            out.push((rest.clone(), Delivery::Retry(why.clone())));
                        }
                        return out;
                    }
                },
            };
            let (delivery, usable) = self.transaction(&mut c, mail, recipient, &bytes);
            if usable {
                conn = Some(c);
            } else {
                c.abort();
            }
            out.push((recipient.clone(), delivery));
        }
        if let Some(mut c) = conn {
            let _ = c.quit();
        }
        out
    }

    fn connect(&self) -> Result<SmtpConnection, String> {
        let SmtpEndpoint { host, port, .. } = &self.endpoint;
        let wrapper = match self.endpoint.security {
            SmtpSecurity::Tls => self.tls.as_ref(),
            SmtpSecurity::Plain | SmtpSecurity::StartTls => None,
        };
        let mut conn = SmtpConnection::connect(
            (host.as_str(), *port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .map_err(|e| self.words(&format!("cannot connect to {host}:{port}"), &e))?;
        if self.endpoint.security == SmtpSecurity::StartTls {
            let tls = self.tls.as_ref().ok_or("STARTTLS without TLS parameters")?;
            if !conn.can_starttls() {
                conn.abort();
                return Err(format!(
                    "{host}:{port} does not offer STARTTLS, which smtp_url requires"
                ));
            }
            conn.starttls(tls, &self.hello)
                .map_err(|e| self.words("STARTTLS failed", &e))?;
        }
        if let Some(credentials) = &self.credentials {
            if let Err(e) = conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials) {
                conn.abort();
                return Err(self.words("the server refused our login", &e));
            }
        }
        Ok(conn)
    }

    /// One transaction for one recipient: the outcome, and whether the connection can
    /// carry the next one.
    fn transaction(
        &self,
        conn: &mut SmtpConnection,
        mail: &ComposedMail,
        recipient: &str,
        bytes: &[u8],
    ) -> (Delivery, bool) {
        let Ok(address) = recipient.parse::<lettre::Address>() else {
            return (Delivery::Rejected("not a mail address".into()), true);
        };
        let mut params = Vec::new();
        let info = conn.server_info();
        let sender: &str = mail.envelope_from.as_ref();
        if !recipient.is_ascii() || !sender.is_ascii() {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return (
                    Delivery::Rejected(
                        "the mail server does not take internationalised addresses (SMTPUTF8)"
                            .into(),
                    ),
                    true,
                );
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() && info.supports_feature(Extension::EightBitMime) {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        match steps(conn, mail, address, params, bytes) {
            Ok(()) => (Delivery::Sent, true),
            Err((stage, e)) => {
                let (delivery, answered) = self.outcome(stage, &e);
                // The server answered: the session is in step once the transaction is reset.
                let usable = answered && conn.command(Rset).is_ok();
                (delivery, usable)
            }
        }
    }

    /// What a failed command means for the recipient, and whether the server answered (so
    /// the connection is still in step).
    fn outcome(&self, stage: Stage, e: &SmtpError) -> (Delivery, bool) {
        let answered = e.is_transient() || e.is_permanent();
        let delivery = match stage {
            Stage::Recipient if e.is_permanent() => Delivery::Rejected(self.words("", e)),
            Stage::Sender if answered => {
                Delivery::Retry(self.words("the server refused our sender", e))
            }
            _ => Delivery::Retry(self.words("", e)),
        };
        (delivery, answered)
    }

    /// The server's words (`550 5.1.1 …`) or the error, one line, bounded, with the password
    /// scrubbed in case a server echoes it.
    fn words(&self, context: &str, e: &SmtpError) -> String {
        let said = match (e.status(), std::error::Error::source(e)) {
            (Some(code), Some(text)) => format!("{code} {text}"),
            (Some(code), None) => code.to_string(),
            _ => error_chain(e),
        };
        let mut text = if context.is_empty() {
            said
        } else {
            format!("{context}: {said}")
        };
        if let Some(password) = self.password.as_ref().map(Secret::expose) {
            if !password.is_empty() {
                text = text.replace(password, "********");
            }
        }
        super::compose::one_line(&text, WORDS_MAX)
    }
}

/// Which part of a transaction a command belongs to.
#[derive(Clone, Copy)]
enum Stage {
    /// MAIL FROM: about us, not the recipient.
    Sender,
    /// RCPT TO, DATA and the message: about this recipient.
    Recipient,
}

/// MAIL, RCPT, DATA and the message, stopping at the first refusal.
fn steps(
    conn: &mut SmtpConnection,
    mail: &ComposedMail,
    address: lettre::Address,
    params: Vec<MailParameter>,
    bytes: &[u8],
) -> Result<(), (Stage, SmtpError)> {
    let recipient = |e: SmtpError| (Stage::Recipient, e);
    conn.command(Mail::new(Some(mail.envelope_from.clone()), params))
        .map_err(|e| (Stage::Sender, e))?;
    conn.command(Rcpt::new(address, Vec::new()))
        .map_err(recipient)?;
    conn.command(Data).map_err(recipient)?;
    conn.message(bytes).map_err(recipient)?;
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of logs: only where we send to.
        f.debug_struct("Mailer")
            .field("endpoint", &self.endpoint)
            .field("login", &self.credentials.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_credentials() {
        let settings: NotifySettings = toml::from_str(
            "smtp_url = \"smtps://mail.example.net\"\nsmtp_username = \"desk\"\nsmtp_password = \"hunter2\"",
        )
        .unwrap();
        let mailer = Mailer::new(&settings).unwrap();
        let shown = format!("{mailer:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("desk"),
            "{shown}"
        );
        assert!(shown.contains("mail.example.net"));
    }
}
