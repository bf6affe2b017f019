//! Reading one batch from the server: whole messages up to the size limit, only the header
//! block of larger ones (by the RFC822.SIZE the listing gave), then hashing, compressing and
//! parsing them on worker threads, in UID order.

use std::thread;

use imap::types::Uid;
use tracing::info;

use super::client::Session;
use super::ImapError;
use crate::ingest::oversize::{header_block, HEADER_LIMIT};
use crate::ingest::{Compressor, Incoming, Ingestor, Prepared};

/// The messages of `batch`, ascending by UID. A UID expunged meanwhile is missing.
pub(super) fn read(
    session: &mut Session,
    ingestor: &Ingestor,
    batch: &[(Uid, u32)],
    mailbox: &str,
) -> Result<Vec<(Uid, Incoming)>, ImapError> {
    let limit = ingestor.max_message_bytes;
    let (large, fitting): (Vec<_>, Vec<_>) = batch
        .iter()
        .copied()
        .partition(|(_, size)| u64::from(*size) > limit);
    let mut messages = Vec::with_capacity(batch.len());
    if !fitting.is_empty() {
        let uids: Vec<Uid> = fitting.iter().map(|(uid, _)| *uid).collect();
        let whole = session.fetch(&uids)?;
        messages.extend(
            whole
                .into_iter()
                .map(|(uid, bytes)| (uid, Incoming::Whole(bytes))),
        );
    }
    if !large.is_empty() {
        let uids: Vec<Uid> = large.iter().map(|(uid, _)| *uid).collect();
        for (uid, headers) in session.fetch_headers(&uids, HEADER_LIMIT)? {
            let size = large
                .iter()
                .find(|(u, _)| *u == uid)
                .map_or(0, |(_, size)| u64::from(*size));
            info!(
                mailbox,
                uid,
                size,
                limit,
                "message over ingest.max_message_mb: quarantined as too large, headers kept"
            );
            let headers = header_block(&headers, HEADER_LIMIT).to_vec();
            messages.push((uid, Incoming::TooLarge { headers, size }));
        }
    }
    messages.sort_unstable_by_key(|(uid, _)| *uid);
    Ok(messages)
}

/// Hashes, compresses and parses a fetched batch on `workers` threads, keeping its order.
pub(super) fn prepare(
    ingestor: &Ingestor,
    messages: &[(Uid, Incoming)],
    workers: usize,
) -> Vec<Prepared> {
    let chunk = messages.len().div_ceil(workers.max(1)).max(1);
    let prepare_all = |part: &[(Uid, Incoming)], compressor: &mut Compressor| {
        part.iter()
            .map(|(_, message)| ingestor.prepare_incoming(compressor, message))
            .collect::<Vec<_>>()
    };
    thread::scope(|scope| {
        let handles: Vec<_> = messages
            .chunks(chunk)
            .map(|part| scope.spawn(move || prepare_all(part, &mut Compressor::new())))
            .collect();
        handles
            .into_iter()
            .zip(messages.chunks(chunk))
            .flat_map(|(handle, part)| {
                // A worker can only stop by panicking; prepare its share here instead.
                handle
                    .join()
                    .unwrap_or_else(|_| prepare_all(part, &mut Compressor::new()))
            })
            .collect()
    })
}
