//! The one ingest path every source uses (files, IMAP, HTTP): store the raw message
//! (compressed, sha256-unique) → parse → identify → resolve the customer → dedup → event and
//! ticket, in batches: a batch is one transaction for IMAP and HTTP, and an import commits
//! every few batches. Parsing and compression run in parallel on worker threads; one writer
//! owns the database connection.

mod facts;
pub mod oversize;
mod pipeline;
pub mod reresolve;
pub mod retry;
mod settings;
pub mod sources;
pub mod store;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::arf::{self, FeedbackReport, IdentityRules, ParseError};
use crate::db::actions::Routes;
use crate::db::customers::ResolveStep;
use crate::db::ids::TicketId;
use crate::db::DbConn;
pub use oversize::Incoming;
pub use pipeline::import;
pub use settings::IngestSettings;
pub use store::Origin;

/// The ingest policies, compiled from settings once.
#[derive(Debug)]
pub struct Ingestor {
    pub rules: IdentityRules,
    pub resolve_order: Vec<ResolveStep>,
    pub severity: crate::tickets::SeverityPolicy,
    pub auto_lock: crate::tickets::AutoLock,
    pub own_filter_user_agents: Vec<String>,
    pub batch_size: usize,
    /// Messages larger than this many bytes are quarantined as too large, not parsed.
    pub max_message_bytes: u64,
    /// Which upstream carries out the automatic rule's locks (none: staff, by hand).
    pub routes: Routes,
    /// Where a writer whose connection was lost connects again (none: it only waits).
    pub reconnect: Option<retry::Reconnect>,
    /// How long a writer rides out an unavailable database before giving the error up.
    pub patience: retry::Patience,
    /// Where stored messages are counted.
    pub metrics: crate::metrics::Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest.identification: {0}")]
    Rules(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("the parse workers stopped unexpectedly")]
    Workers,
}

impl Ingestor {
    pub fn from_settings(settings: &IngestSettings) -> Result<Self, IngestError> {
        Ok(Self {
            rules: IdentityRules::compile(&settings.identification)
                .map_err(|e| IngestError::Rules(e.to_string()))?,
            resolve_order: settings.resolve_order.clone(),
            severity: settings.severity.clone(),
            auto_lock: settings.auto_lock,
            own_filter_user_agents: settings.own_filter_user_agents.clone(),
            batch_size: settings.batch_size.max(1),
            max_message_bytes: settings.max_message_bytes(),
            routes: Routes::default(),
            reconnect: None,
            patience: retry::Patience::default(),
            metrics: crate::metrics::Metrics::default(),
        })
    }

    /// This ingestor, reconnecting to `database` when the connection is lost.
    pub fn reconnecting(self, database: crate::db::DatabaseUrl) -> Self {
        Self {
            reconnect: Some(retry::Reconnect(database)),
            ..self
        }
    }

    /// This ingestor, with the automatic rule's locks going to the upstreams of `routes`.
    pub fn routed(self, routes: Routes) -> Self {
        Self { routes, ..self }
    }

    /// This ingestor, counting what it stores (and the IMAP polls it serves) in `metrics`.
    pub fn measured(self, metrics: crate::metrics::Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// Whether the report comes from our own outgoing filter (by its User-Agent).
    pub fn is_own_filter(&self, report: &FeedbackReport) -> bool {
        let agent = report
            .user_agent
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        self.own_filter_user_agents
            .iter()
            .any(|prefix| agent.starts_with(&prefix.to_ascii_lowercase()))
    }

    /// Hashes, compresses and parses one message: the CPU-bound part, safe to run anywhere.
    pub fn prepare(&self, bytes: &[u8]) -> Prepared {
        self.prepare_with(&mut Compressor::new(), bytes)
    }

    /// [`Ingestor::prepare`] reusing a worker's compression context. A message over the size
    /// limit that reached here whole (a server that gave no size, or a wrong one) is still
    /// only kept by its header block.
    pub fn prepare_with(&self, compressor: &mut Compressor, bytes: &[u8]) -> Prepared {
        if bytes.len() as u64 > self.max_message_bytes {
            let headers = oversize::header_block(bytes, oversize::HEADER_LIMIT);
            return self.prepare_too_large(compressor, headers, bytes.len() as u64);
        }
        let sha256 = crate::hex::hex(&Sha256::digest(bytes));
        let (compression, compressed) = compressor.compress(bytes);
        let parsed = arf::parse_with(bytes, &self.rules);
        let bounce = parsed
            .is_err()
            .then(|| crate::notify::bounce::read(bytes))
            .flatten();
        Prepared {
            sha256,
            compression,
            compressed,
            size: bytes.len(),
            parsed,
            bounce,
        }
    }

    /// Prepares a message as its source handed it over.
    pub fn prepare_incoming(&self, compressor: &mut Compressor, message: &Incoming) -> Prepared {
        match message {
            Incoming::Whole(bytes) => self.prepare_with(compressor, bytes),
            Incoming::TooLarge { headers, size } => {
                self.prepare_too_large(compressor, headers, *size)
            }
        }
    }

    /// A message over the size limit, of which only `headers` were read: stored as they are
    /// (hashed as they are, so the same message seen again is a duplicate) with its true
    /// `size`, and quarantined as too large without being parsed.
    pub fn prepare_too_large(
        &self,
        compressor: &mut Compressor,
        headers: &[u8],
        size: u64,
    ) -> Prepared {
        let (compression, compressed) = compressor.compress(headers);
        Prepared {
            sha256: crate::hex::hex(&Sha256::digest(headers)),
            compression,
            compressed,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            parsed: Err(ParseError::TooLarge {
                size,
                limit: self.max_message_bytes,
            }),
            bounce: None,
        }
    }
}

/// LZ4: compressing before the writer saves it far more I/O than it costs the workers (every
/// blob goes to the WAL and again to the database at checkpoint); zstd costs the workers
/// several times more and capped the import rate (docs/performance.md). Rows stored as zstd
/// earlier stay readable.
#[derive(Debug, Default)]
pub struct Compressor;

impl Compressor {
    pub fn new() -> Self {
        Self
    }

    /// The stored form and its `compression` label.
    pub fn compress(&mut self, bytes: &[u8]) -> (&'static str, Vec<u8>) {
        ("lz4", lz4_flex::block::compress_prepend_size(bytes))
    }
}

/// A message ready for the writer.
#[derive(Debug)]
pub struct Prepared {
    pub sha256: String,
    pub compression: &'static str,
    pub compressed: Vec<u8>,
    pub size: usize,
    pub parsed: Result<FeedbackReport, ParseError>,
    /// Not a report but a bounce of one of our notices: linked to it when stored.
    pub bounce: Option<crate::notify::bounce::Bounce>,
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    NewTicket(TicketId),
    UpdatedTicket(TicketId),
    /// The same bytes were stored before.
    Duplicate,
    /// A new message, but the same complaint was counted before.
    DuplicateEvent,
    Quarantined {
        reason: String,
    },
}

/// Counts for one run, as `import --json` prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Messages read.
    pub messages: u64,
    /// New feedback reports among them (parsed, not stored before).
    pub reports: u64,
    /// Reports that opened a ticket.
    pub new_tickets: u64,
    /// Reports that landed on an existing ticket.
    pub updated_tickets: u64,
    /// Messages stored before, or complaints counted before.
    pub duplicates: u64,
    /// Messages that are not feedback reports, kept with the reason.
    pub quarantined: u64,
    /// Bytes read.
    #[serde(skip)]
    pub bytes: u64,
}

impl Summary {
    pub fn add(&mut self, outcome: &Outcome, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
        match outcome {
            Outcome::NewTicket(_) => {
                self.reports += 1;
                self.new_tickets += 1;
            }
            Outcome::UpdatedTicket(_) => {
                self.reports += 1;
                self.updated_tickets += 1;
            }
            Outcome::DuplicateEvent => {
                self.reports += 1;
                self.duplicates += 1;
            }
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }
}

/// What one message became, with the rows it is stored as.
#[derive(Debug, Clone)]
pub struct Received {
    pub outcome: Outcome,
    /// The stored message (the earlier one for a duplicate).
    pub stored: Option<crate::db::raw_messages::StoredMessage>,
    /// The events it became, each with its ticket (none for a duplicate complaint or a
    /// quarantined message).
    pub events: Vec<(crate::db::ids::EventId, TicketId)>,
}

/// Stores and ingests one message from `origin`, as a mailbox's message would be (the same
/// size limit, dedup and quarantine), in one transaction; then reads back what it became.
pub fn receive(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    bytes: &[u8],
) -> Result<Received, IngestError> {
    let prepared = ingestor.prepare(bytes);
    let outcome = store(conn, ingestor, origin, std::slice::from_ref(&prepared))?
        .pop()
        .unwrap_or(Outcome::Duplicate);
    let stored = crate::db::raw_messages::by_sha256(conn, &prepared.sha256)?;
    let events = match (&stored, &outcome) {
        (Some(m), Outcome::NewTicket(_) | Outcome::UpdatedTicket(_)) => {
            crate::db::events::of_raw_message(conn, m.id)?
        }
        _ => Vec::new(),
    };
    Ok(Received {
        outcome,
        stored,
        events,
    })
}

/// Stores already prepared messages from one origin in one transaction (IMAP and HTTP use
/// this directly: they act on the outcome only after it returns, i.e. after the commit), and
/// counts them in the ingestor's metrics.
pub fn store(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    batch: &[Prepared],
) -> Result<Vec<Outcome>, IngestError> {
    let started = std::time::Instant::now();
    let outcomes = store::store_batch(conn, ingestor, origin, batch)?;
    ingestor
        .metrics
        .ingested(origin.source, batch, &outcomes, started.elapsed());
    Ok(outcomes)
}
