//! `import`, `parse` and `reprocess`: the ingest path from the command line.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::arf;
use crate::db::ids::RawMessageId;
use crate::db::raw_messages::{self, ParseStatus};
use crate::db::{now, DbConn};
use crate::ingest::{self, sources, Ingestor, Origin, Outcome, Summary};
use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Files, folders, Maildirs or mbox files; or `-`: one message from standard input (for
    /// an MTA's pipe), exit 75 (EX_TEMPFAIL) when it could not be stored so the MTA retries.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Source name recorded on each message (e.g. the feed it came from).
    #[arg(long, default_value = "import")]
    pub source: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    /// Whether the one message comes from standard input (`import -`).
    pub fn reads_stdin(&self) -> bool {
        matches!(self.paths.as_slice(), [path] if path.as_os_str() == "-")
    }
}

/// A failure the caller should retry later: exit status 75 (EX_TEMPFAIL), on which an MTA
/// keeps the message queued and delivers it again.
#[derive(Debug)]
pub struct TempFail(pub anyhow::Error);

/// The exit status of [`TempFail`] (`EX_TEMPFAIL` of sysexits.h).
pub const EX_TEMPFAIL: u8 = 75;

impl std::fmt::Display for TempFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line for the MTA's log, whatever line breaks the cause has.
        let cause = format!("{:#}", self.0);
        let cause = cause.split_whitespace().collect::<Vec<_>>().join(" ");
        write!(f, "not stored, try again later: {cause}")
    }
}

impl std::error::Error for TempFail {}

#[derive(Args, Debug)]
pub struct ParseArgs {
    /// The message (.eml) to parse.
    pub file: PathBuf,
    /// Print JSON (the report, or {"error": {"kind": …, "reason": …}}).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReprocessArgs {
    /// Re-parse quarantined messages: those that now parse become events and tickets.
    #[arg(long)]
    pub quarantined: bool,
    /// Resolve the customer of unresolved tickets again (after a customer import): events
    /// that now belong to a customer move to that customer's ticket.
    #[arg(long)]
    pub unresolved: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parse threads beside the writer: every core but the writer's, at least one.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2)
}

/// `import`: paths, or (with `-`) one message from standard input.
pub fn run(settings: &Settings, args: &ImportArgs) -> Result<()> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") && !args.reads_stdin() {
        bail!("`-` (standard input) cannot be mixed with paths");
    }
    if !args.reads_stdin() {
        return import(settings, &mut super::connect(settings)?, args);
    }
    // The MTA keeps its copy until the exit status says it was stored: every failure from
    // here on is temporary (see `cli::run`), so the message is delivered again later.
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("reading the message from standard input")?;
    let ingestor = settings.ingestor()?;
    let mut conn = super::connect(settings)?;
    let origin = Origin {
        source: &args.source,
        mailbox: None,
    };
    let started = Instant::now();
    let message = std::iter::once(Ok::<_, std::convert::Infallible>(bytes));
    let (summary, _) = ingest::import(&mut conn, &ingestor, &origin, message, 1, |_| {})?;
    print_summary(&summary, args.json, started.elapsed())
}

pub fn import(settings: &Settings, conn: &mut DbConn, args: &ImportArgs) -> Result<()> {
    let ingestor = settings.ingestor()?;
    let origin = Origin {
        source: &args.source,
        mailbox: None,
    };
    let started = Instant::now();
    let mut progress = Progress::new(started);
    let messages = sources::messages(args.paths.clone(), ingestor.max_message_bytes)
        .map(|m| m.map(|m| m.message));
    let (summary, errors) = ingest::import(conn, &ingestor, &origin, messages, workers(), |s| {
        progress.show(s)
    })?;
    progress.finish();
    for error in &errors {
        eprintln!("error: {error}");
    }
    print_summary(&summary, args.json, started.elapsed())?;
    if !errors.is_empty() {
        bail!(
            "{} path(s) could not be read; everything else was imported",
            errors.len()
        );
    }
    Ok(())
}

fn print_summary(summary: &Summary, json: bool, elapsed: Duration) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string(summary)?);
    } else {
        let secs = elapsed.as_secs_f64().max(1e-9);
        outln!(
            "{} messages ({:.1} MB) in {:.1}s, {:.0} messages/s: {} reports, {} new tickets, {} updated tickets, {} duplicates, {} quarantined",
            summary.messages,
            summary.bytes as f64 / 1e6,
            secs,
            summary.messages as f64 / secs,
            summary.reports,
            summary.new_tickets,
            summary.updated_tickets,
            summary.duplicates,
            summary.quarantined
        );
    }
    Ok(())
}

/// A one-line progress display on a terminal; silent otherwise.
struct Progress {
    started: Instant,
    last: Instant,
    shown: bool,
    tty: bool,
}

impl Progress {
    fn new(started: Instant) -> Self {
        Self {
            started,
            last: started,
            shown: false,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, s: &Summary) {
        if !self.tty || self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r{} messages, {:.0}/s, {:.1} MB/s: {} new tickets, {} duplicates, {} quarantined   ",
            s.messages,
            s.messages as f64 / secs,
            s.bytes as f64 / 1e6 / secs,
            s.new_tickets,
            s.duplicates,
            s.quarantined
        );
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

pub fn parse(settings: &Settings, args: &ParseArgs) -> Result<()> {
    let cannot_read = || format!("cannot read {}", args.file.display());
    let size = std::fs::metadata(&args.file)
        .with_context(cannot_read)?
        .len();
    let limit = settings.ingest.max_message_bytes();
    let parsed = if size > limit {
        Err(arf::ParseError::TooLarge { size, limit })
    } else {
        let bytes = std::fs::read(&args.file).with_context(cannot_read)?;
        let rules = arf::IdentityRules::compile(&settings.ingest.identification)?;
        arf::parse_with(&bytes, &rules)
    };
    match parsed {
        Ok(report) => {
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                out!("{}", as_text(&report)?);
            }
            Ok(())
        }
        Err(e) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::json!({"error": {"kind": e.kind(), "reason": e.reason()}})
                );
                std::process::exit(1);
            }
            bail!("{}: {} ({})", args.file.display(), e.reason(), e.kind())
        }
    }
}

/// Without a flag, both kinds of reprocessing run: the quarantine first, since a message
/// that now parses may land on an unresolved ticket.
pub fn reprocess(settings: &Settings, conn: &mut DbConn, args: &ReprocessArgs) -> Result<()> {
    let ingestor = settings.ingestor()?;
    let both = !args.quarantined && !args.unresolved;
    if args.quarantined || both {
        reprocess_quarantined(&ingestor, conn, args.json)?;
    }
    if args.unresolved || both {
        let started = Instant::now();
        let done = ingest::reresolve::unresolved_tickets(conn, &ingestor)?;
        if args.json {
            outln!("{}", serde_json::to_string(&done)?);
        } else {
            outln!(
                "{} unresolved tickets checked in {:.1}s: {} events moved to their customer, {} tickets merged",
                done.tickets_checked,
                started.elapsed().as_secs_f64(),
                done.events_moved,
                done.tickets_merged
            );
        }
    }
    Ok(())
}

fn reprocess_quarantined(ingestor: &Ingestor, conn: &mut DbConn, json: bool) -> Result<()> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut after = RawMessageId(0);
    loop {
        let page = raw_messages::quarantined(conn, after, 500)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for stored in page {
            // Only the header block of a message too large to read was kept: parsing it again
            // cannot make it a report, and its reason must stay.
            if stored.parse_error_kind.as_deref() == Some(arf::ParseError::TOO_LARGE) {
                continue;
            }
            let Some(bytes) = raw_messages::content(conn, stored.id)? else {
                eprintln!(
                    "error: message {} cannot be decompressed; left in quarantine",
                    stored.id
                );
                continue;
            };
            let prepared = ingestor.prepare(&bytes);
            let outcome = ingest::store::reprocess(conn, ingestor, stored.id, &prepared)?;
            summary.add(&outcome, bytes.len());
            if let Outcome::Quarantined { .. } = outcome {
                raw_messages::set_outcome(
                    conn,
                    stored.id,
                    ParseStatus::Quarantined,
                    prepared
                        .parsed
                        .as_ref()
                        .err()
                        .map(|e| (e.kind(), e.reason()))
                        .as_ref()
                        .map(|(k, r)| (*k, r.as_str())),
                    now(),
                )?;
            }
        }
    }
    print_summary(&summary, json, started.elapsed())
}

/// The report as `field: value` lines, empty fields left out.
fn as_text(report: &arf::FeedbackReport) -> Result<String> {
    fn flatten(prefix: &str, value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) if items.is_empty() => {}
            serde_json::Value::Object(map) if map.is_empty() => {}
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    let name = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&name, inner, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    flatten(prefix, item, out);
                }
            }
            serde_json::Value::String(s) => out.push_str(&format!("{prefix}: {s}\n")),
            other => out.push_str(&format!("{prefix}: {other}\n")),
        }
    }
    let mut out = String::new();
    flatten("", &serde_json::to_value(report)?, &mut out);
    Ok(out)
}
