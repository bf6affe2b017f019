//! The import pipeline: a reader thread, parse workers and the one writer, with batches in
//! input order and a transaction that commits every few batches or when the input stalls.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::retry::Retries;
use super::{store, Compressor, Incoming, IngestError, Ingestor, Origin, Prepared, Summary};
use crate::db::checkpoint::BackgroundCheckpoint;
use crate::db::DbConn;

/// Imports a stream of messages (whole, or [`Incoming::TooLarge`]): `workers` threads prepare
/// them, this thread writes batches. Memory stays bounded by the channel sizes whatever the
/// stream's length. `progress` is called after every committed batch.
pub fn import<I, M, E>(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    messages: I,
    workers: usize,
    progress: impl FnMut(&Summary),
) -> Result<(Summary, Vec<E>), IngestError>
where
    I: Iterator<Item = Result<M, E>> + Send,
    M: Into<Incoming>,
    E: Send,
{
    let checkpoint = BackgroundCheckpoint::start(conn)?;
    let imported = import_with(
        conn,
        ingestor,
        origin,
        messages,
        workers,
        progress,
        checkpoint.as_ref(),
    );
    // The import's own error, if any, is the one to report.
    let finished = checkpoint.map(|checkpoint| checkpoint.finish(conn));
    let imported = imported?;
    finished.transpose()?;
    // The import changed the tables a lot: the planner's statistics follow at once.
    if let DbConn::Sqlite(sqlite) = conn {
        crate::db::refresh_statistics(sqlite);
    }
    Ok(imported)
}

fn import_with<I, M, E>(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    messages: I,
    workers: usize,
    mut progress: impl FnMut(&Summary),
    checkpoint: Option<&BackgroundCheckpoint>,
) -> Result<(Summary, Vec<E>), IngestError>
where
    I: Iterator<Item = Result<M, E>> + Send,
    M: Into<Incoming>,
    E: Send,
{
    let workers = workers.max(1);
    // Messages travel between the threads in runs of CHUNK, numbered in input order: a thread
    // that waits is woken once per run rather than once per message. Prepared messages queue
    // up to a whole batch, so the workers keep going while the writer stores the previous one;
    // raw input only needs to keep the workers fed.
    let raw_depth = 256 / CHUNK;
    let prepared_depth = ingestor.batch_size.max(256).div_ceil(CHUNK);
    thread::scope(|scope| {
        let (raw_tx, raw_rx) = sync_channel::<Run<Incoming>>(raw_depth);
        let (prepared_tx, prepared_rx) = sync_channel::<Run<Prepared>>(prepared_depth);
        let errors = scope.spawn(move || {
            yield_to_writer();
            let mut errors = Vec::new();
            let mut sequence = 0;
            let mut run = Vec::with_capacity(CHUNK);
            for message in messages {
                match message {
                    Ok(message) => run.push(message.into()),
                    Err(e) => errors.push(e),
                }
                if run.len() == CHUNK {
                    let full = std::mem::replace(&mut run, Vec::with_capacity(CHUNK));
                    if raw_tx.send((sequence, full)).is_err() {
                        return errors;
                    }
                    sequence += 1;
                }
            }
            if !run.is_empty() {
                let _ = raw_tx.send((sequence, run));
            }
            errors
        });
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        for _ in 0..workers {
            let (rx, tx) = (Arc::clone(&raw_rx), prepared_tx.clone());
            scope.spawn(move || prepare_worker(ingestor, &rx, &tx));
        }
        drop(prepared_tx);

        let mut summary = Summary::default();
        let mut incoming = InOrder {
            runs: prepared_rx,
            waiting: BTreeMap::new(),
            next: 0,
            current: Vec::new().into_iter(),
        };
        let size = ingestor.batch_size;
        let mut retries = Retries::new(ingestor.patience);
        // The messages of the transaction at hand. They stay here until it commits: when it
        // fails because the database is briefly unavailable, the next one stores them again.
        let mut held: Vec<Prepared> = Vec::with_capacity(size);
        let mut finished = false;
        loop {
            // A transaction opens only once its first batch is at hand. Once written, it holds
            // locks (on SQLite the database's write lock), so it takes in more batches only
            // while the input keeps coming, and commits when the input stalls (a slow disk, a
            // stalled network mount).
            if !finished {
                if let Fill::Ended = incoming.fill(&mut held, size, None) {
                    finished = true;
                }
            }
            if held.is_empty() {
                break;
            }
            let mut outcomes = Vec::with_capacity(held.len());
            // `held[..stored]` is written in this transaction.
            let mut stored = 0;
            // On error the receiver drops, which stops the workers and the reader.
            let written = crate::db::write(conn, |conn| -> Result<(), IngestError> {
                let mut batches = 0;
                let mut accrued = store::Accrued::default();
                loop {
                    while stored < held.len() {
                        let end = (stored + size).min(held.len());
                        let batch = &held[stored..end];
                        outcomes.extend(store::store_in_transaction(
                            conn,
                            ingestor,
                            origin,
                            batch,
                            &mut accrued,
                        )?);
                        stored = end;
                        batches += 1;
                    }
                    if finished || batches >= BATCHES_PER_COMMIT {
                        break;
                    }
                    match incoming.fill(&mut held, stored + size, Some(INPUT_PATIENCE)) {
                        Fill::Full => {}
                        // What came is kept for the next transaction.
                        Fill::Stalled => break,
                        Fill::Ended => finished = true,
                    }
                }
                Ok(accrued.write(conn)?)
            });
            match written {
                Ok(()) => {
                    for (outcome, message) in outcomes.iter().zip(held.drain(..stored)) {
                        summary.add(outcome, message.size);
                    }
                    retries.reset();
                }
                Err(IngestError::Db(e)) if retries.again(&e, conn, ingestor.reconnect.as_ref()) => {
                    continue
                }
                Err(e) => return Err(e),
            }
            if let Some(checkpoint) = checkpoint {
                checkpoint.bound(conn)?;
            }
            progress(&summary);
        }
        let errors = errors.join().map_err(|_| IngestError::Workers)?;
        Ok((summary, errors))
    })
}

/// Messages handed from thread to thread at a time.
const CHUNK: usize = 16;

/// A run of messages: its number in input order, and the messages.
type Run<T> = (u64, Vec<T>);

/// Batches the import writer stores per transaction. A batch bounds the memory the writer
/// holds; a commit writes every page the transaction touched to the log, and the indexes on
/// random keys (sha256, dedup key) touch most of their pages in every transaction, so fewer,
/// larger transactions write far less.
const BATCHES_PER_COMMIT: usize = 4;

/// How long a transaction that has written waits for more input before it commits.
const INPUT_PATIENCE: Duration = Duration::from_millis(100);

/// The prepared messages in input order: workers finish runs out of order, and the writer
/// takes them in sequence, so the outcome (ticket ids, what the automatic rule sees) is the
/// same on every run.
struct InOrder {
    runs: Receiver<Run<Prepared>>,
    /// Runs received ahead of their turn.
    waiting: BTreeMap<u64, Vec<Prepared>>,
    next: u64,
    current: std::vec::IntoIter<Prepared>,
}

/// How [`InOrder::fill`] left a batch.
enum Fill {
    /// It holds its size.
    Full,
    /// No run came within the patience given; it holds what there was.
    Stalled,
    /// The input has ended; it holds the rest.
    Ended,
}

impl InOrder {
    /// Fills `batch` until it holds `size` messages, waiting for the workers as long as it takes, or,
    /// given a `patience`, at most that long for each run.
    fn fill(&mut self, batch: &mut Vec<Prepared>, size: usize, patience: Option<Duration>) -> Fill {
        while batch.len() < size {
            if let Some(prepared) = self.current.next() {
                batch.push(prepared);
                continue;
            }
            if let Some(run) = self.waiting.remove(&self.next) {
                self.next += 1;
                self.current = run.into_iter();
                continue;
            }
            let received = match patience {
                None => self.runs.recv().ok(),
                Some(patience) => match self.runs.recv_timeout(patience) {
                    Ok(run) => Some(run),
                    Err(RecvTimeoutError::Timeout) => return Fill::Stalled,
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some((sequence, run)) = received else {
                return Fill::Ended;
            };
            self.waiting.insert(sequence, run);
        }
        Fill::Full
    }
}

fn prepare_worker(
    ingestor: &Ingestor,
    rx: &Mutex<Receiver<Run<Incoming>>>,
    tx: &std::sync::mpsc::SyncSender<Run<Prepared>>,
) {
    yield_to_writer();
    let mut compressor = Compressor::new();
    loop {
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((sequence, run)) = next else { return };
        let prepared = run
            .iter()
            .map(|message| ingestor.prepare_incoming(&mut compressor, message))
            .collect();
        if tx.send((sequence, prepared)).is_err() {
            return;
        }
    }
}

/// Lowers the calling thread's scheduling priority: the reader and the parse workers run
/// beside the writer, which is the import's bottleneck, and on a machine with few cores the
/// scheduler otherwise keeps the writer waiting for a core while they take their turns. They
/// still get every cycle the writer leaves.
fn yield_to_writer() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %e, "could not lower an ingest thread's priority");
    }
}
