//! What the desk counts for Prometheus: one registry per running desk, built once and handed
//! (cloned; the counters are shared) to the web, the ingest path, the IMAP poller, the action
//! worker and the notice sender, which record into it. `/metrics` encodes it as OpenMetrics
//! text. Every label value is bounded: outcomes and parse failure kinds are fixed words,
//! sources, mailboxes and upstreams come from the settings, routes are the application's own
//! patterns — nothing a report's author writes becomes a label.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::ingest::{Outcome, Prepared};
use crate::tickets::Status;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request no route matched, whatever its path.
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ingested {
    source: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TicketStatus {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionOutcome {
    upstream: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoticeOutcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Mailbox {
    mailbox: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRequest {
    route: String,
    status: u16,
}

struct Inner {
    registry: Registry,
    ingested: Family<Ingested, Counter>,
    parse_failures: Family<Kind, Counter>,
    ingest_seconds: Histogram,
    tickets: Family<TicketStatus, Gauge>,
    actions: Family<ActionOutcome, Counter>,
    notifications: Family<NoticeOutcome, Counter>,
    poll_seconds: Family<Mailbox, Histogram>,
    poll_errors: Family<Mailbox, Counter>,
    http_requests: Family<HttpRequest, Counter>,
}

/// The desk's counters; clones share them.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// Storing a batch: from a few milliseconds to a minute.
fn ingest_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// A poll of a mailbox: from a tenth of a second (nothing new) to an hour (a backlog).
fn poll_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 3.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("abuse_desk");
        let ingested = Family::default();
        let parse_failures = Family::default();
        let ingest_seconds = ingest_histogram();
        let tickets = Family::default();
        let actions = Family::default();
        let notifications = Family::default();
        let poll_seconds = Family::new_with_constructor(poll_histogram as fn() -> Histogram);
        let poll_errors = Family::default();
        let http_requests = Family::default();
        let r = &mut registry;
        r.register(
            "messages_ingested",
            "Messages stored, by source and by what became of them",
            Family::clone(&ingested),
        );
        r.register(
            "parse_failures",
            "Stored messages that are not feedback reports, by why",
            Family::clone(&parse_failures),
        );
        r.register(
            "ingest_seconds",
            "Seconds to store one batch of messages (one message when posted over HTTP)",
            ingest_seconds.clone(),
        );
        r.register(
            "tickets",
            "Tickets by status, as the database holds them when scraped",
            Family::clone(&tickets),
        );
        r.register(
            "actions",
            "Calls to upstreams, by upstream and outcome",
            Family::clone(&actions),
        );
        r.register(
            "notifications",
            "Customer notice deliveries, by outcome (sent, retry, failed)",
            Family::clone(&notifications),
        );
        r.register(
            "imap_poll_seconds",
            "Seconds one poll of a mailbox took, retries included",
            poll_seconds.clone(),
        );
        r.register(
            "imap_poll_errors",
            "Polls of a mailbox that ended in an error",
            Family::clone(&poll_errors),
        );
        r.register(
            "http_requests",
            "HTTP requests by matched route pattern and status",
            Family::clone(&http_requests),
        );
        Self(Arc::new(Inner {
            registry,
            ingested,
            parse_failures,
            ingest_seconds,
            tickets,
            actions,
            notifications,
            poll_seconds,
            poll_errors,
            http_requests,
        }))
    }

    /// A stored batch: each message's outcome (by `source`), each non-report's kind, and the
    /// time it took.
    pub fn ingested(&self, source: &str, batch: &[Prepared], outcomes: &[Outcome], took: Duration) {
        for (message, outcome) in batch.iter().zip(outcomes) {
            let label = match outcome {
                Outcome::NewTicket(_) => "new_ticket",
                Outcome::UpdatedTicket(_) => "updated_ticket",
                Outcome::Duplicate => "duplicate",
                Outcome::DuplicateEvent => "duplicate_event",
                Outcome::Quarantined { .. } => "quarantined",
            };
            self.0
                .ingested
                .get_or_create(&Ingested {
                    source: source.to_owned(),
                    outcome: label,
                })
                .inc();
            if let (Outcome::Quarantined { .. }, Err(e)) = (outcome, &message.parsed) {
                self.0
                    .parse_failures
                    .get_or_create(&Kind { kind: e.kind() })
                    .inc();
            }
        }
        self.0.ingest_seconds.observe(took.as_secs_f64());
    }

    /// One attempt at an action through `upstream`: `succeeded`, `retry`, `failed` or
    /// `checked`.
    pub fn action(&self, upstream: &str, outcome: &'static str) {
        self.0
            .actions
            .get_or_create(&ActionOutcome {
                upstream: upstream.to_owned(),
                outcome,
            })
            .inc();
    }

    /// One recipient of a notice: `sent`, `retry` or `failed`.
    pub fn notification(&self, outcome: &'static str) {
        self.0
            .notifications
            .get_or_create(&NoticeOutcome { outcome })
            .inc();
    }

    /// One poll of `mailbox`, and whether it ended in an error.
    pub fn polled(&self, mailbox: &str, took: Duration, failed: bool) {
        let label = Mailbox {
            mailbox: mailbox.to_owned(),
        };
        self.0
            .poll_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        // Created at zero on the first poll, so a rate over it exists before any error.
        let errors = self.0.poll_errors.get_or_create(&label);
        if failed {
            errors.inc();
        }
    }

    /// One answered request: `route` is the matched pattern (or [`UNMATCHED`]).
    pub fn request(&self, route: &str, status: u16) {
        self.0
            .http_requests
            .get_or_create(&HttpRequest {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Tickets per status now; every status is shown, zero included.
    pub fn set_tickets(&self, counts: &std::collections::HashMap<Status, i64>) {
        for status in Status::ALL {
            self.0
                .tickets
                .get_or_create(&TicketStatus {
                    status: status.as_str(),
                })
                .set(counts.get(status).copied().unwrap_or(0));
        }
    }

    /// The OpenMetrics text exposition of everything counted so far.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.0.registry);
        text
    }
}
