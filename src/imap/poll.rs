//! One poll of one mailbox: claim it, read what is new in batches, store each batch in one
//! transaction together with the new high-water UID, then move or flag exactly the
//! messages that transaction holds. Failed attempts are retried with a growing pause.

use std::collections::HashSet;
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};

use imap::types::Uid;
use tracing::{info, warn};

use super::batches::{batches, runs};
use super::client::{self, Session};
use super::fetch;
use super::lock::{self, Claim};
use super::settings::{DoneAction, MailboxSettings};
use super::{ImapError, MailboxSummary, PollOptions};
use crate::db::raw_messages::{self, ParseStatus, RawMessageInsertForm};
use crate::db::{mailbox_state, now, DbConn};
use crate::ingest::{self, Incoming, Ingestor, Origin, Outcome, Prepared};

/// Stored messages waiting to be moved or flagged.
#[derive(Default)]
struct Pending {
    done: Vec<Uid>,
    rejected: Vec<Uid>,
}

/// Pauses before storing a message that failed on its own again.
const SINGLE_RETRIES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(500)];

/// Polls `mailbox` once, retrying a failed attempt as `options` say; records the poll's
/// time and error in `mailbox_state`. `progress` sees the running totals after every
/// stored batch (messages are moved in bulk, see `batches::MOVE_EVERY`).
pub fn poll(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    mailbox: &MailboxSettings,
    options: &PollOptions,
    progress: &mut dyn FnMut(&MailboxSummary),
) -> MailboxSummary {
    let mut summary = MailboxSummary {
        mailbox: mailbox.name.clone(),
        ..Default::default()
    };
    let started = Instant::now();
    let mut pause = options.backoff;
    let attempts = options.attempts.max(1);
    let owner = lock::Owner::new();
    for attempt in 1..=attempts {
        summary.attempts = attempt;
        match attempt_once(
            conn,
            ingestor,
            mailbox,
            options,
            &owner,
            &mut summary,
            progress,
        ) {
            // Skipped after a failed attempt: another poller took over; the failure stands.
            Ok(()) if summary.skipped && attempt > 1 => break,
            Ok(()) => {
                summary.error = None;
                break;
            }
            Err(e) => {
                warn!(mailbox = %mailbox.name, attempt, attempts, error = %e, "poll failed");
                summary.error = Some(e.to_string());
                if !e.is_transient() {
                    break;
                }
                if attempt < attempts {
                    thread::sleep(pause);
                    pause = (pause * 2).min(options.max_backoff);
                    // A database that restarted took the connection with it.
                    crate::ingest::retry::reconnect_if_lost(conn, ingestor.reconnect.as_ref());
                }
            }
        }
    }
    if !summary.skipped {
        ingestor
            .metrics
            .polled(&mailbox.name, started.elapsed(), summary.error.is_some());
        if let Err(e) = mailbox_state::finish(conn, &mailbox.name, summary.error.as_deref()) {
            warn!(mailbox = %mailbox.name, error = %e, "cannot record the poll in mailbox_state");
        }
    }
    summary
}

fn attempt_once(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    mailbox: &MailboxSettings,
    options: &PollOptions,
    owner: &str,
    summary: &mut MailboxSummary,
    progress: &mut dyn FnMut(&MailboxSummary),
) -> Result<(), ImapError> {
    let Some(claim) = lock::claim(conn, &mailbox.name, owner)? else {
        info!(mailbox = %mailbox.name, "another poller is reading this mailbox; skipped");
        summary.skipped = true;
        return Ok(());
    };
    summary.skipped = false;
    let result = Cycle {
        conn,
        ingestor,
        mailbox,
        options,
        claim: &claim,
    }
    .run(summary, progress);
    let released = lock::release(conn, &mailbox.name, claim);
    result.and(released)
}

struct Cycle<'a> {
    conn: &'a mut DbConn,
    ingestor: &'a Ingestor,
    mailbox: &'a MailboxSettings,
    options: &'a PollOptions,
    claim: &'a Claim,
}

impl Cycle<'_> {
    fn run(
        &mut self,
        summary: &mut MailboxSummary,
        progress: &mut dyn FnMut(&MailboxSummary),
    ) -> Result<(), ImapError> {
        let name = &self.mailbox.name;
        let state = mailbox_state::get(self.conn, name)?;
        tracing::debug!(mailbox = %name, "connecting");
        let (mut session, selected) = client::open(self.mailbox, self.options.timeout)?;
        tracing::debug!(mailbox = %name, "selected");
        let mut last_uid = u32::try_from(state.last_uid).unwrap_or(0);
        if state.uid_validity != i64::from(selected.uid_validity) {
            if state.uid_validity != 0 {
                warn!(mailbox = %name, old = state.uid_validity, new = selected.uid_validity,
                    "UIDVALIDITY changed (folder recreated?): reading it from the start; known messages count as duplicates");
            }
            mailbox_state::reset(self.conn, name, selected.uid_validity)?;
            last_uid = 0;
        }
        let action = self.mailbox.done_action();
        if let DoneAction::Move(folder) = action {
            session.ensure_folder(folder)?;
        }
        if let Some(folder) = &self.mailbox.rejected_folder {
            session.ensure_folder(folder)?;
        }
        let done_flag = match action {
            DoneAction::Flag(flag) => Some(flag),
            DoneAction::Move(_) => None,
        };
        let leftovers = session.leftover_uids(last_uid, done_flag)?;
        if !leftovers.is_empty() {
            info!(mailbox = %name, count = leftovers.len(),
                "messages stored earlier but not yet moved or flagged; finishing them");
        }
        let mut todo = leftovers;
        todo.extend(session.new_uids(last_uid)?);
        tracing::debug!(mailbox = %name, messages = todo.len(), "listed");
        let mut pending = Pending::default();
        for run in runs(&batches(&todo, self.options)) {
            self.run_of_batches(&mut session, run, summary, &mut pending, progress)?;
            self.finish(&mut session, &mut pending, summary)?;
        }
        session.logout();
        Ok(())
    }

    /// Fetches and stores a run of batches, reading each batch from the server while the one
    /// before it is prepared and stored. A batch is stored only once every batch before it
    /// is; a failed fetch ends the run after the batches before it.
    fn run_of_batches(
        &mut self,
        session: &mut Session,
        run: &[&[(Uid, u32)]],
        summary: &mut MailboxSummary,
        pending: &mut Pending,
        progress: &mut dyn FnMut(&MailboxSummary),
    ) -> Result<(), ImapError> {
        let (ingestor, name) = (self.ingestor, self.mailbox.name.as_str());
        thread::scope(|scope| {
            // A rendezvous: the reader holds at most the one batch it read ahead.
            let (fetched_tx, fetched_rx) = sync_channel(0);
            scope.spawn(move || {
                for &batch in run {
                    let started = Instant::now();
                    let fetched = fetch::read(session, ingestor, batch, name);
                    let failed = fetched.is_err();
                    // The storing side stops taking batches when it fails.
                    if fetched_tx
                        .send((batch, fetched, started.elapsed()))
                        .is_err()
                        || failed
                    {
                        break;
                    }
                }
            });
            for (batch, fetched, fetch_time) in fetched_rx {
                self.batch(batch, fetched?, fetch_time, summary, pending)?;
                progress(summary);
            }
            Ok(())
        })
    }

    /// Prepares, stores and finishes one fetched batch (a message over the size limit by its
    /// header block only).
    fn batch(
        &mut self,
        batch: &[(Uid, u32)],
        fetched: Vec<(Uid, Incoming)>,
        fetch_time: Duration,
        summary: &mut MailboxSummary,
        pending: &mut Pending,
    ) -> Result<(), ImapError> {
        let high = batch.iter().map(|(uid, _)| *uid).max().unwrap_or(0);
        let fetch_ms = fetch_time.as_millis();
        let started = Instant::now();
        let prepared = fetch::prepare(self.ingestor, &fetched, self.options.workers);
        // Only the prepared (compressed) form is kept from here on.
        let uids: Vec<Uid> = fetched.iter().map(|(uid, _)| *uid).collect();
        drop(fetched);
        let prepare_ms = started.elapsed().as_millis();
        let (outcomes, quarantined) = match self.store(&prepared, high) {
            Ok(stored) => stored,
            Err(e) => {
                warn!(mailbox = %self.mailbox.name, error = %e,
                    "storing a batch failed; storing its messages one by one");
                self.store_one_by_one(&uids, &prepared)?
            }
        };
        let store_ms = (started.elapsed().as_millis() - prepare_ms) as u64;
        for ((uid, message), outcome) in uids.iter().zip(&prepared).zip(&outcomes) {
            summary.ingest.add(outcome, message.size);
            let not_a_report = match outcome {
                Outcome::Quarantined { .. } => true,
                Outcome::Duplicate => quarantined.contains(&message.sha256),
                _ => false,
            };
            if not_a_report && self.mailbox.rejected_folder.is_some() {
                pending.rejected.push(*uid);
            } else {
                pending.done.push(*uid);
            }
        }
        tracing::debug!(mailbox = %self.mailbox.name, messages = uids.len(), fetch_ms, prepare_ms, store_ms, "batch stored");
        Ok(())
    }

    /// Moves or flags stored messages. Everything here is after the commit: if it fails,
    /// the messages stay in the folder, and the next attempt finds them as leftovers and
    /// only moves them.
    fn finish(
        &mut self,
        session: &mut Session,
        pending: &mut Pending,
        summary: &mut MailboxSummary,
    ) -> Result<(), ImapError> {
        let started = Instant::now();
        if let Some(folder) = &self.mailbox.rejected_folder {
            session.move_to(&pending.rejected, folder)?;
            summary.rejected += pending.rejected.len() as u64;
        }
        match self.mailbox.done_action() {
            DoneAction::Move(folder) => {
                session.move_to(&pending.done, folder)?;
                summary.moved += pending.done.len() as u64;
            }
            DoneAction::Flag(flag) => {
                session.flag(&pending.done, flag)?;
                summary.flagged += pending.done.len() as u64;
            }
        }
        tracing::debug!(mailbox = %self.mailbox.name, done = pending.done.len(),
            rejected = pending.rejected.len(), ms = started.elapsed().as_millis() as u64, "moved");
        *pending = Pending::default();
        Ok(())
    }

    /// Stores a batch and advances the high-water UID in one transaction; also tells which
    /// of the batch's already known messages are quarantined ones, to route them alike.
    fn store(
        &mut self,
        prepared: &[Prepared],
        high: Uid,
    ) -> Result<(Vec<Outcome>, HashSet<String>), ImapError> {
        let origin = Origin {
            source: self.mailbox.source(),
            mailbox: Some(&self.mailbox.name),
        };
        let (ingestor, name, claim) = (self.ingestor, &self.mailbox.name, self.claim);
        crate::db::write(self.conn, |conn| {
            let outcomes = ingest::store(conn, ingestor, &origin, prepared)?;
            let known: Vec<&str> = prepared
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| matches!(o, Outcome::Duplicate))
                .map(|(p, _)| p.sha256.as_str())
                .collect();
            let quarantined = raw_messages::quarantined_among(conn, &known)?;
            mailbox_state::advance(conn, name, high)?;
            lock::renew(conn, name, claim)?;
            Ok((outcomes, quarantined))
        })
    }

    /// After a batch failed to store: each message on its own. One that still fails is
    /// kept raw in the quarantine with the reason, so it is neither lost nor retried
    /// forever. When the failure is the database's (unavailable, its disk full) rather than
    /// the message's, or the quarantine fails too, the attempt stops here: the high-water
    /// UID stays before the message, which stays in the mailbox for the next attempt.
    fn store_one_by_one(
        &mut self,
        uids: &[Uid],
        prepared: &[Prepared],
    ) -> Result<(Vec<Outcome>, HashSet<String>), ImapError> {
        let mut outcomes = Vec::with_capacity(prepared.len());
        let mut quarantined = HashSet::new();
        for (uid, message) in uids.iter().zip(prepared) {
            // A few tries before giving up on the message: a conflict with another writer
            // (an import running at the same time) passes; a message the database refuses
            // does not.
            let mut stored = self.store(std::slice::from_ref(message), *uid);
            for pause in SINGLE_RETRIES {
                if stored.is_ok() {
                    break;
                }
                thread::sleep(pause);
                stored = self.store(std::slice::from_ref(message), *uid);
            }
            match stored {
                Ok((mut one, known)) => {
                    quarantined.extend(known);
                    outcomes.push(one.pop().unwrap_or(Outcome::Duplicate));
                }
                Err(e) if e.database_at_fault() => return Err(e),
                Err(e) => {
                    warn!(mailbox = %self.mailbox.name, uid, sha256 = %message.sha256, error = %e,
                        "a message cannot be stored; keeping it in the quarantine");
                    let reason = format!("could not be stored: {e}");
                    self.quarantine(message, *uid, &reason)?;
                    outcomes.push(Outcome::Quarantined { reason });
                }
            }
        }
        Ok((outcomes, quarantined))
    }

    fn quarantine(&mut self, message: &Prepared, uid: Uid, reason: &str) -> Result<(), ImapError> {
        let form = RawMessageInsertForm {
            sha256: &message.sha256,
            compression: message.compression,
            content: &message.compressed,
            size_bytes: message.size as i64,
            source: self.mailbox.source(),
            mailbox: Some(&self.mailbox.name),
            received_at: now(),
            parse_status: ParseStatus::Quarantined.as_str(),
            parse_error_kind: Some("store_failed"),
            parse_error: Some(reason),
            processed_at: None,
        };
        let name = &self.mailbox.name;
        crate::db::write(self.conn, |conn| {
            raw_messages::insert_new(conn, std::slice::from_ref(&form))?;
            mailbox_state::advance(conn, name, uid)
        })?;
        Ok(())
    }
}
