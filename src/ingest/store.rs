//! The writer: turns prepared messages into stored raw messages, events and tickets, a batch
//! at a time inside a transaction. It works a batch as sets — a few multi-row statements per
//! table rather than several round trips per message — and keeps each touched ticket and the
//! Outgoing Reports' counts in memory, written once before the transaction commits. Dedup at
//! every level rests on unique indexes (raw sha256, event dedup key, live-ticket key), so a
//! batch replayed after a crash counts nothing twice.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::facts::Facts;
use super::{Ingestor, Outcome, Prepared};
use crate::arf::FeedbackReport;
use crate::db::customers::{Clues, Resolver};
use crate::db::events::{self, EventInsertForm};
use crate::db::ids::RawMessageId;
use crate::db::outgoing::counts::{EventFacts, Tally};
use crate::db::raw_messages::{self, ParseStatus, RawMessageInsertForm};
use crate::db::{now, DbConn};
use crate::tickets::{autolock, Batch, NewEvent, TicketKey};

/// Where a batch of messages came from.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    pub source: &'a str,
    pub mailbox: Option<&'a str>,
}

/// What the batches of one transaction counted on their tickets and in the Outgoing Reports'
/// counts, kept in memory and written once before it commits ([`Accrued::write`]): a ticket
/// touched by every batch is updated once, not once per batch (each update of a ticket
/// writes every index of the table).
#[derive(Default)]
pub struct Accrued {
    tickets: Batch,
    counts: Tally<'static>,
}

impl Accrued {
    /// Writes what the transaction's batches counted.
    pub fn write(self, conn: &mut DbConn) -> QueryResult<()> {
        self.counts.apply(conn)?;
        self.tickets.flush(conn)
    }
}

/// Stores a batch in one transaction and returns each message's outcome, in order.
pub fn store_batch(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    batch: &[Prepared],
) -> QueryResult<Vec<Outcome>> {
    crate::db::write(conn, |conn| {
        let mut accrued = Accrued::default();
        let outcomes = store_in_transaction(conn, ingestor, origin, batch, &mut accrued)?;
        accrued.write(conn)?;
        Ok(outcomes)
    })
}

/// Stores a batch inside the caller's transaction, counting on tickets into `accrued`, which
/// the caller writes before it commits; the outcomes hold once it has.
pub fn store_in_transaction(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    batch: &[Prepared],
    accrued: &mut Accrued,
) -> QueryResult<Vec<Outcome>> {
    let at = now();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
    // The same bytes twice in one batch: the first is the message, the rest duplicates.
    let mut firsts: Vec<usize> = Vec::with_capacity(batch.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(batch.len());
    for (i, message) in batch.iter().enumerate() {
        if seen.insert(&message.sha256) {
            firsts.push(i);
        } else {
            outcomes[i] = Some(Outcome::Duplicate);
        }
    }
    let errors: Vec<Option<(&str, String)>> = firsts
        .iter()
        .map(|&i| {
            batch[i]
                .parsed
                .as_ref()
                .err()
                .map(|e| (e.kind(), e.reason()))
        })
        .collect();
    let forms: Vec<RawMessageInsertForm<'_>> = firsts
        .iter()
        .zip(&errors)
        .map(|(&i, error)| {
            let message = &batch[i];
            RawMessageInsertForm {
                sha256: &message.sha256,
                compression: message.compression,
                content: &message.compressed,
                size_bytes: message.size as i64,
                source: origin.source,
                mailbox: origin.mailbox,
                received_at: at,
                parse_status: if error.is_some() {
                    ParseStatus::Quarantined
                } else {
                    ParseStatus::Report
                }
                .as_str(),
                parse_error_kind: error.as_ref().map(|e| e.0),
                parse_error: error.as_ref().map(|e| e.1.as_str()),
                processed_at: Some(at),
            }
        })
        .collect();
    let stored = raw_messages::insert_new(conn, &forms)?;
    let mut reports = Vec::new();
    for &i in &firsts {
        let message = &batch[i];
        outcomes[i] = match (stored.get(&message.sha256), &message.parsed) {
            (None, _) => Some(Outcome::Duplicate),
            (Some(_), Err(e)) => {
                if let Some(bounce) = &message.bounce {
                    crate::db::notices::bounced(conn, &bounce.message_id, &bounce.failed, at)?;
                }
                Some(Outcome::Quarantined { reason: e.reason() })
            }
            (Some(&raw_id), Ok(report)) => {
                reports.push((i, raw_id, report));
                None
            }
        };
    }
    for (i, outcome) in record_reports(conn, ingestor, &reports, at, accrued)? {
        outcomes[i] = Some(outcome);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Duplicate))
        .collect())
}

/// Runs a stored, quarantined message through the parser again; if it is now a report it
/// becomes an event like any new one, all in one transaction.
pub fn reprocess(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    raw_id: RawMessageId,
    message: &Prepared,
) -> QueryResult<Outcome> {
    crate::db::write(conn, |conn| {
        let at = now();
        match &message.parsed {
            Ok(report) => {
                raw_messages::set_outcome(conn, raw_id, ParseStatus::Report, None, at)?;
                let mut accrued = Accrued::default();
                let outcome =
                    record_reports(conn, ingestor, &[(0, raw_id, report)], at, &mut accrued)?
                        .pop()
                        .map(|(_, o)| o);
                accrued.write(conn)?;
                Ok(outcome.unwrap_or(Outcome::DuplicateEvent))
            }
            Err(e) => Ok(Outcome::Quarantined { reason: e.reason() }),
        }
    })
}

/// Turns newly stored reports (with their position in the batch) into events, counted on
/// their tickets and in the Outgoing Reports' counts in `accrued`.
fn record_reports(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    reports: &[(usize, RawMessageId, &FeedbackReport)],
    at: NaiveDateTime,
    accrued: &mut Accrued,
) -> QueryResult<Vec<(usize, Outcome)>> {
    let facts: Vec<Facts<'_>> = reports
        .iter()
        .map(|(_, _, report)| Facts::new(report, at))
        .collect();
    let keys: Vec<String> = facts.iter().map(Facts::dedup_key).collect();
    let known = events::known_keys(conn, &keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut counted: HashSet<&str> = HashSet::new();
    let mut fresh = Vec::new();
    for (j, key) in keys.iter().enumerate() {
        if known.contains(key) || !counted.insert(key) {
            outcomes.push((reports[j].0, Outcome::DuplicateEvent));
        } else {
            fresh.push(j);
        }
    }

    let clues: Vec<Clues<'_>> = fresh.iter().map(|&j| facts[j].clues()).collect();
    let mut resolver = Resolver::default();
    resolver.prefetch(conn, &clues)?;
    let mut customers = Vec::with_capacity(fresh.len());
    for clue in &clues {
        customers.push(
            resolver
                .resolve(conn, clue, &ingestor.resolve_order)?
                .map(|(id, _)| id),
        );
    }
    let ticket_keys: Vec<TicketKey> = fresh
        .iter()
        .zip(&customers)
        .map(|(&j, customer)| {
            let (subject_kind, subject) = facts[j].subject();
            TicketKey {
                customer_id: *customer,
                subject_kind,
                subject,
                class: facts[j].class.clone(),
            }
        })
        .collect();
    let open_keys: Vec<String> = ticket_keys.iter().map(TicketKey::open_key).collect();
    let new_events: Vec<NewEvent<'_>> = fresh
        .iter()
        .zip(ticket_keys.iter().zip(&open_keys))
        .map(|(&j, (key, open_key))| {
            let (fact, report) = (&facts[j], reports[j].2);
            NewEvent {
                key,
                open_key,
                arrival: fact.arrival,
                incidents: report.incidents.max(1) as i64,
                own_filter: ingestor.is_own_filter(report),
                reporter: &fact.reporter,
                source_ip: fact.source_ip.as_deref(),
                original_subject: report.original.as_ref().and_then(|o| o.subject.as_deref()),
                identity: fact.identity.as_deref(),
                outgoing_user: report.outgoing_user.as_ref(),
            }
        })
        .collect();
    let batch = &mut accrued.tickets;
    batch.extend(conn, &ingestor.severity, &new_events, at)?;
    let rule = &ingestor.auto_lock;
    let window = rule.enabled.then_some(rule.within_minutes);
    // Identities the rule found locked, or asked to lock, in this batch: a spam run's further
    // reports of one need not ask again.
    let mut locked: HashSet<&str> = HashSet::new();

    let mut forms = Vec::with_capacity(fresh.len());
    for ((&j, event), customer) in fresh.iter().zip(&new_events).zip(&customers) {
        let (index, raw_id, report) = reports[j];
        let fact = &facts[j];
        let Some(counted) = batch.add(&ingestor.severity, event, window) else {
            continue;
        };
        let ticket_id = counted.ticket;
        let identity = fact.identity.as_deref();
        if rule.enabled && !counted.ignored && !identity.is_some_and(|i| locked.contains(i)) {
            let seen = autolock::Seen {
                ticket: ticket_id,
                customer: *customer,
                identity,
                arrival: fact.arrival,
                earlier_in_batch: counted.earlier_in_window,
                seen_between: counted.seen_between,
                outgoing_user: report.outgoing_user.as_ref(),
            };
            if autolock::apply(conn, rule, &ingestor.routes, &seen, at)? {
                locked.extend(identity);
            }
        }
        let original = report.original.as_ref();
        forms.push(EventInsertForm {
            raw_message_id: raw_id,
            ticket_id,
            customer_id: *customer,
            dedup_key: &keys[j],
            reporter: &fact.reporter,
            feedback_type: fact.class.as_str(),
            source_ip: fact.source_ip.as_deref(),
            original_mail_from: fact.sender.as_deref(),
            original_message_id: original.and_then(|o| o.message_id.as_deref()),
            original_envelope_id: report.original_envelope_id.as_deref(),
            original_subject: original.and_then(|o| o.subject.as_deref()),
            identity: fact.identity.as_deref(),
            arrival_at: fact.arrival,
            created_at: at,
            outgoing_user: report.outgoing_user.as_ref().map(|u| u.user.as_str()),
        });
        outcomes.push((
            index,
            if counted.opened {
                Outcome::NewTicket(ticket_id)
            } else {
                Outcome::UpdatedTicket(ticket_id)
            },
        ));
    }
    // Another writer may have counted one of these complaints since they were looked up:
    // the whole batch is stored again, and finds it known (nothing counts twice).
    if events::insert_many(conn, &forms)? != forms.len() {
        return Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::SerializationFailure,
            Box::new("an event of this batch was stored meanwhile by another writer".to_owned()),
        ));
    }
    let mut counts = Tally::default();
    for form in &forms {
        let facts = EventFacts {
            class: form.feedback_type,
            arrival: form.arrival_at,
            identity: form.identity,
            customer: form.customer_id,
            outgoing_user: form.outgoing_user,
        };
        counts.count(&facts, 1);
    }
    accrued.counts.absorb(counts);
    Ok(outcomes)
}
