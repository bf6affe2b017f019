//! The sender: takes the due recipients' rows, composes each notice once (the tickets as they
//! are now, with a fresh self-service link), sends it to each recipient in a transaction of
//! its own, and records what the server said: sent, tried again later (4xx, no connection;
//! a growing pause), or failed (5xx). A row a crash left `sending` is sent again at most once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{
    compose, ComposedMail, Delivery, Digest, DigestTicket, MailTemplates, Mailer, NotifyError,
    NotifySettings, RateLimit, SelfServiceLink, Why,
};
use crate::db::notices::{self, Notification, Sent};
use crate::db::{now, selfservice, DbConn};

/// What a sending run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// Sends notices through the configured SMTP server.
pub struct Sender {
    settings: NotifySettings,
    templates: MailTemplates,
    mailer: Mailer,
    /// `web.public_url`, which self-service links start with.
    public_url: String,
    limit: Mutex<RateLimit>,
    /// Where deliveries are counted.
    metrics: crate::metrics::Metrics,
}

/// A `sending` row older than this belongs to a sender that died mid-send.
const SEND_LEASE: chrono::Duration = chrono::Duration::minutes(15);

impl Sender {
    pub fn new(
        settings: &NotifySettings,
        templates: MailTemplates,
        public_url: &str,
    ) -> Result<Self, NotifyError> {
        Ok(Self {
            mailer: Mailer::new(settings)?,
            settings: settings.clone(),
            templates,
            public_url: public_url.trim_end_matches('/').to_owned(),
            limit: Mutex::new(RateLimit::new(settings.rate_per_minute)),
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// This sender, counting its deliveries in `metrics`.
    pub fn measured(self, metrics: crate::metrics::Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// Sends everything due now (within the rate limit; the rest waits for the next run).
    pub fn run_once(&self, conn: &mut DbConn) -> Result<Delivered, DeliverError> {
        let mut done = Delivered::default();
        notices::reap_stale(conn, now() - SEND_LEASE)?;
        loop {
            let claimed = notices::claim_due(conn, now(), 50)?;
            if claimed.is_empty() {
                return Ok(done);
            }
            let mut by_notice: BTreeMap<i64, Vec<Notification>> = BTreeMap::new();
            for row in claimed {
                by_notice
                    .entry(row.notice_id.unwrap_or(0))
                    .or_default()
                    .push(row);
            }
            for (notice, rows) in by_notice {
                let allowed = self
                    .limit
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .try_take(Instant::now());
                if !allowed {
                    // Over the rate: these wait, uncounted, for a later run.
                    for row in &rows {
                        let at = now() + chrono::Duration::seconds(60);
                        notices::finish(
                            conn,
                            row.id,
                            Sent::Retry {
                                error: "waiting for the rate limit",
                                at,
                            },
                            now(),
                        )?;
                    }
                    continue;
                }
                self.send_notice(conn, notice, &rows, &mut done)?;
            }
        }
    }

    /// Composes notice `id` and sends it to `rows`' recipients.
    fn send_notice(
        &self,
        conn: &mut DbConn,
        id: i64,
        rows: &[Notification],
        done: &mut Delivered,
    ) -> Result<(), DeliverError> {
        let mut mail = match self.compose_notice(conn, id) {
            Ok(mail) => mail,
            Err(DeliverError::Notify(e)) => {
                // A notice that cannot be composed (a broken template override) fails loudly
                // on every row rather than being retried forever.
                let error = e.to_string();
                for row in rows {
                    notices::finish(conn, row.id, Sent::Failed { error: &error }, now())?;
                    done.failed += 1;
                    self.metrics.notification("failed");
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        mail.recipients = rows.iter().map(|r| r.recipient.clone()).collect();
        let results = self.mailer.send(&mail);
        let body = mail.text_for_archive();
        for row in rows {
            let at = now();
            let delivery = results
                .iter()
                .find(|(to, _)| *to == row.recipient)
                .map(|(_, d)| d.clone())
                .unwrap_or(Delivery::Retry("not attempted".into()));
            let how = match &delivery {
                Delivery::Sent => {
                    done.sent += 1;
                    self.metrics.notification("sent");
                    Sent::Sent {
                        subject: &mail.subject,
                        body: &body,
                    }
                }
                Delivery::Retry(why) => {
                    done.retried += 1;
                    self.metrics.notification("retry");
                    Sent::Retry {
                        error: why,
                        at: at + pause(row.attempts),
                    }
                }
                Delivery::Rejected(why) => {
                    done.failed += 1;
                    self.metrics.notification("failed");
                    Sent::Failed { error: why }
                }
            };
            notices::finish(conn, row.id, how, at)?;
        }
        Ok(())
    }

    /// The mail of notice `id`: its tickets as they are now, the latest report of each
    /// attached (redacted), a fresh self-service link.
    pub fn compose_notice(&self, conn: &mut DbConn, id: i64) -> Result<ComposedMail, DeliverError> {
        let notice = notices::notice(conn, id)?;
        let at = now();
        let customer = crate::db::customers::get(conn, notice.customer)?
            .ok_or(diesel::result::Error::NotFound)?;
        let mut tickets = Vec::with_capacity(notice.tickets.len());
        for &(ticket, new_events, why) in &notice.tickets {
            let Some(t) = crate::tickets::detail::detail(conn, ticket)? else {
                continue;
            };
            tickets.push(DigestTicket {
                id: t.id.0,
                class: t.class.as_str().to_owned(),
                subject_kind: t.subject_kind.as_str().to_owned(),
                subject: t.subject,
                identity: t.identity,
                outgoing_user: t.outgoing_user,
                severity: t.severity.as_str().to_owned(),
                status: t.status.as_str().to_owned(),
                event_count: t.event_count,
                new_events,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                source_ips: crate::tickets::page::source_ips(conn, ticket, 10)?,
                why: match why {
                    "new_ticket" => Why::NewTicket,
                    "severity_rose" => Why::SeverityRose,
                    _ => Why::NewReports,
                },
                latest_report: crate::tickets::page::latest_report(conn, ticket)?,
            });
        }
        let valid_until = at + chrono::Duration::days(self.settings.token_days.into());
        let token = selfservice::issue(conn, customer.id, at, valid_until)?;
        let digest = Digest {
            customer_name: customer.name.clone(),
            customer_external_id: customer.external_id.clone(),
            language: customer.language.clone(),
            recipients: customer.addresses().map(str::to_owned).collect(),
            tickets,
            self_service: Some(SelfServiceLink {
                url: format!("{}/self/{token}", self.public_url),
                valid_until,
            }),
            message_id: notice.message_id.clone(),
            references: notice.references.clone(),
            at,
            public_url: self.public_url.clone(),
            desk_name: self.desk_name(),
        };
        Ok(compose(&self.settings, &self.templates, &digest)?)
    }

    /// The notice `customer` would get now if staff asked for one, composed inside a
    /// transaction that is then rolled back: nothing is queued, no link is issued.
    /// `Ok(None)` when there is nothing to tell.
    pub fn preview(
        &self,
        conn: &mut DbConn,
        customer: crate::db::ids::CustomerId,
    ) -> Result<Option<ComposedMail>, DeliverError> {
        /// What ends the transaction: the mail (to roll back all the same), or a failure.
        enum End {
            Made(Option<Box<ComposedMail>>),
            Failed(DeliverError),
        }
        impl From<diesel::result::Error> for End {
            fn from(e: diesel::result::Error) -> Self {
                Self::Failed(e.into())
            }
        }
        let outcome = diesel::Connection::transaction::<(), End, _>(conn, |conn| {
            let planned =
                super::plan::plan(conn, &self.settings, now(), Some(customer), true, None)?;
            if planned.notices == 0 {
                return Err(End::Made(None));
            }
            let notice = notices::latest_of(conn, customer)?;
            match self.compose_notice(conn, notice) {
                Ok(mail) => Err(End::Made(Some(Box::new(mail)))),
                Err(e) => Err(End::Failed(e)),
            }
        });
        match outcome {
            Err(End::Made(mail)) => Ok(mail.map(|m| *m)),
            Err(End::Failed(e)) => Err(e),
            Ok(()) => Ok(None),
        }
    }

    /// How the desk signs: the sender's display name, else "Abuse Desk".
    fn desk_name(&self) -> String {
        self.settings
            .from_mailbox()
            .ok()
            .and_then(|m| m.name)
            .unwrap_or_else(|| "Abuse Desk".to_owned())
    }
}

/// The pause before a row's next attempt: a minute, doubling, at most six hours.
fn pause(attempts: i32) -> chrono::Duration {
    let minutes = 1i64 << attempts.clamp(1, 9).saturating_sub(1);
    chrono::Duration::minutes(minutes.min(360))
}
