//! The writer: turns prepared messages into stored raw messages, events and tickets, a batch
//! at a time inside a transaction. It works a batch as sets — a few multi-row statements per
//! table rather than several round trips per message — and keeps each touched ticket in
//! memory, written once at the end. Dedup at every level rests on unique indexes (raw
//! sha256, event dedup key, live-ticket key), so a batch replayed after a crash counts
//! nothing twice.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::facts::Facts;
use super::{Ingestor, Outcome, Prepared};
use crate::arf::FeedbackReport;
use crate::db::actions::{self, ActionKind, ActionRequest};
use crate::db::audit::{self, Actor, AuditInsertForm};
use crate::db::customers::{Clues, Resolver};
use crate::db::events::{self, EventInsertForm};
use crate::db::ids::{CustomerId, RawMessageId, TicketId};
use crate::db::raw_messages::{self, ParseStatus, RawMessageInsertForm};
use crate::db::tickets::{
    self, Status, TicketBatchUpdate, TicketEventUpdate, TicketInsertForm, TicketKey, TicketLatest,
    TicketState,
};
use crate::db::{now, DbConn};

/// Where a batch of messages came from.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    pub source: &'a str,
    pub mailbox: Option<&'a str>,
}

/// Stores a batch in one transaction and returns each message's outcome, in order.
pub fn store_batch(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    batch: &[Prepared],
) -> QueryResult<Vec<Outcome>> {
    conn.transaction(|conn| store_in_transaction(conn, ingestor, origin, batch))
}

/// Stores a batch inside the caller's transaction; the outcomes hold once it commits.
pub fn store_in_transaction(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    batch: &[Prepared],
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
            (Some(_), Err(e)) => Some(Outcome::Quarantined { reason: e.reason() }),
            (Some(&raw_id), Ok(report)) => {
                reports.push((i, raw_id, report));
                None
            }
        };
    }
    for (i, outcome) in record_reports(conn, ingestor, &reports, at)? {
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
    conn.transaction(|conn| {
        let at = now();
        match &message.parsed {
            Ok(report) => {
                raw_messages::set_outcome(conn, raw_id, ParseStatus::Report, None, at)?;
                let outcome = record_reports(conn, ingestor, &[(0, raw_id, report)], at)?
                    .pop()
                    .map(|(_, o)| o);
                Ok(outcome.unwrap_or(Outcome::DuplicateEvent))
            }
            Err(e) => Ok(Outcome::Quarantined { reason: e.reason() }),
        }
    })
}

/// Turns newly stored reports (with their position in the batch) into events on tickets.
fn record_reports(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    reports: &[(usize, RawMessageId, &FeedbackReport)],
    at: NaiveDateTime,
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
    let mut work = Batch::load(
        conn,
        ingestor,
        &ticket_keys,
        &fresh.iter().map(|&j| &facts[j]).collect::<Vec<_>>(),
        at,
    )?;

    let mut forms = Vec::with_capacity(fresh.len());
    for ((&j, key), customer) in fresh.iter().zip(&ticket_keys).zip(&customers) {
        let (index, raw_id, report) = reports[j];
        let fact = &facts[j];
        let own_filter = ingestor.is_own_filter(report);
        let Some(ticket) = work.tickets.get_mut(&key.open_key()) else {
            continue;
        };
        let opened_here = ticket.event_count == 0;
        let was_ignored = ticket.status == Status::Ignored.as_str();
        ticket.add_event(ingestor, fact, report, own_filter, opened_here);
        let ticket_id = ticket.id;
        if ingestor.auto_lock.enabled && !was_ignored {
            let earlier_in_batch =
                ticket.arrivals_in_window(fact.arrival, ingestor.auto_lock.within_minutes);
            ticket.arrivals.push(fact.arrival);
            auto_lock(
                conn,
                ingestor,
                ticket_id,
                *customer,
                fact,
                earlier_in_batch,
                at,
            )?;
        }
        if let Some(ip) = &fact.source_ip {
            work.source_ips.insert((ticket_id, ip.clone()));
        }
        work.reporters.insert((ticket_id, fact.reporter.clone()));
        let original = report.original.as_ref();
        forms.push(EventInsertForm {
            raw_message_id: raw_id,
            ticket_id,
            customer_id: *customer,
            dedup_key: &keys[j],
            reporter: &fact.reporter,
            feedback_type: &fact.class,
            source_ip: fact.source_ip.as_deref(),
            original_mail_from: fact.sender.as_deref(),
            original_message_id: original.and_then(|o| o.message_id.as_deref()),
            original_envelope_id: report.original_envelope_id.as_deref(),
            original_subject: original.and_then(|o| o.subject.as_deref()),
            identity: fact.identity.as_deref(),
            arrival_at: fact.arrival,
            created_at: at,
        });
        outcomes.push((
            index,
            if opened_here {
                Outcome::NewTicket(ticket_id)
            } else {
                Outcome::UpdatedTicket(ticket_id)
            },
        ));
    }
    events::insert_many(conn, &forms)?;
    work.flush(conn)?;
    Ok(outcomes)
}

/// The tickets a batch touches, read once at its start and written once at its end.
#[derive(Default)]
struct Batch {
    tickets: HashMap<String, Pending>,
    source_ips: HashSet<(TicketId, String)>,
    reporters: HashSet<(TicketId, String)>,
}

/// A ticket touched by the batch: its stored state and what the batch added.
struct Pending {
    id: TicketId,
    customer: Option<CustomerId>,
    created: bool,
    stored: TicketState,
    status: &'static str,
    severity: &'static str,
    event_count: i64,
    first_seen: NaiveDateTime,
    last_seen: NaiveDateTime,
    incidents: i64,
    latest: Option<(NaiveDateTime, TicketLatest)>,
    reopened: bool,
    /// Arrival times of this batch's events so far (for the automatic rule).
    arrivals: Vec<NaiveDateTime>,
}

impl Batch {
    /// The live ticket of every key, creating those that do not exist yet, in three queries.
    fn load(
        conn: &mut DbConn,
        ingestor: &Ingestor,
        keys: &[TicketKey],
        facts: &[&Facts<'_>],
        at: NaiveDateTime,
    ) -> QueryResult<Self> {
        let open_keys: Vec<String> = keys.iter().map(TicketKey::open_key).collect();
        let wanted: Vec<&str> = open_keys
            .iter()
            .map(String::as_str)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut live = tickets::live_many(conn, &wanted)?;
        let mut creating = HashSet::new();
        let mut forms = Vec::new();
        for ((key, open_key), fact) in keys.iter().zip(&open_keys).zip(facts) {
            if live.contains_key(open_key) || !creating.insert(open_key.as_str()) {
                continue;
            }
            let own_filter = ingestor.is_own_filter(fact.report);
            forms.push(TicketInsertForm {
                customer_id: key.customer_id,
                subject_kind: key.subject_kind.as_str(),
                subject: &key.subject,
                class: &key.class,
                severity: ingestor
                    .severity
                    .severity(&key.class, 1, own_filter, "info"),
                status: Status::Open.as_str(),
                open_key: Some(open_key.clone()),
                first_seen: fact.arrival,
                last_seen: fact.arrival,
                created_at: at,
                updated_at: at,
                identity: fact.identity.as_deref(),
                outgoing_user: fact.report.outgoing_user.as_ref().map(|u| u.user.as_str()),
                outgoing_domain: fact
                    .report
                    .outgoing_user
                    .as_ref()
                    .and_then(|u| u.domain.as_deref()),
            });
        }
        if !forms.is_empty() {
            tickets::create_many(conn, &forms)?;
            let created: Vec<&str> = creating.into_iter().collect();
            live.extend(tickets::live_many(conn, &created)?);
        }
        let customers: HashMap<&str, Option<CustomerId>> = open_keys
            .iter()
            .map(String::as_str)
            .zip(keys.iter().map(|k| k.customer_id))
            .collect();
        let tickets = live
            .into_iter()
            .map(|(open_key, (id, stored))| {
                let customer = customers.get(open_key.as_str()).copied().flatten();
                let pending = Pending {
                    id,
                    customer,
                    // A ticket with no events yet was made by this batch.
                    created: stored.event_count == 0,
                    status: status_name(&stored.status),
                    severity: severity_name(&stored.severity),
                    event_count: stored.event_count,
                    first_seen: stored.first_seen,
                    last_seen: stored.last_seen,
                    incidents: 0,
                    latest: None,
                    reopened: false,
                    arrivals: Vec::new(),
                    stored,
                };
                (open_key, pending)
            })
            .collect();
        Ok(Self {
            tickets,
            source_ips: HashSet::new(),
            reporters: HashSet::new(),
        })
    }

    /// Writes what the batch changed: source IPs and reporters, then each ticket once, with
    /// its audit trail.
    fn flush(self, conn: &mut DbConn) -> QueryResult<()> {
        let at = now();
        let mut source_ips: Vec<_> = self.source_ips.into_iter().collect();
        source_ips.sort();
        tickets::add_source_ips(conn, &source_ips)?;
        let mut reporters: Vec<_> = self.reporters.into_iter().collect();
        reporters.sort();
        tickets::add_reporters(conn, &reporters)?;
        let mut pending: Vec<Pending> = self
            .tickets
            .into_values()
            .filter(|p| p.event_count != p.stored.event_count)
            .collect();
        pending.sort_by_key(|p| p.id);
        let ip_counts =
            tickets::source_ip_counts(conn, &pending.iter().map(|p| p.id).collect::<Vec<_>>())?;
        let updates: Vec<TicketBatchUpdate<'_>> = pending
            .iter()
            .map(|p| TicketBatchUpdate {
                id: p.id,
                update: TicketEventUpdate {
                    status: p.status,
                    severity: p.severity,
                    event_count: p.event_count,
                    first_seen: p.first_seen,
                    last_seen: p.last_seen,
                    updated_at: at,
                },
                incidents: p.incidents,
                source_ips: ip_counts.get(&p.id).copied().unwrap_or(0),
                latest: p.latest.as_ref().map(|(_, latest)| latest),
            })
            .collect();
        tickets::apply_events(conn, &updates)?;
        let mut trail: Vec<(TicketId, Option<CustomerId>, &'static str, String)> = Vec::new();
        for p in &pending {
            if p.created {
                trail.push((
                    p.id,
                    p.customer,
                    "opened",
                    "opened by the first report".into(),
                ));
            }
            if p.reopened {
                trail.push((
                    p.id,
                    p.customer,
                    "reopened",
                    "a new report arrived for this resolved ticket".into(),
                ));
            }
            if p.severity != p.stored.severity && !p.created {
                let detail = format!(
                    "{} → {} after {} events",
                    p.stored.severity, p.severity, p.event_count
                );
                trail.push((p.id, p.customer, "severity", detail));
            }
        }
        let entries: Vec<AuditInsertForm<'_>> = trail
            .iter()
            .map(|(ticket, customer, action, detail)| AuditInsertForm {
                at,
                actor_id: None,
                actor: "system",
                action,
                ticket_id: Some(*ticket),
                customer_id: *customer,
                detail,
            })
            .collect();
        audit::record_many(conn, &entries)
    }
}

impl Pending {
    /// Counts one event: lifecycle, counters, severity and the newest event's details.
    fn add_event(
        &mut self,
        ingestor: &Ingestor,
        fact: &Facts<'_>,
        report: &FeedbackReport,
        own_filter: bool,
        opened_here: bool,
    ) {
        if self.status == Status::Resolved.as_str() {
            // A resolved ticket comes back to the queue; an ignored one absorbs events quietly.
            self.status = Status::Open.as_str();
            self.reopened = true;
        }
        self.event_count += 1;
        self.incidents += report.incidents.max(1) as i64;
        self.severity =
            ingestor
                .severity
                .severity(&fact.class, self.event_count, own_filter, self.severity);
        if opened_here {
            self.first_seen = fact.arrival;
            self.last_seen = fact.arrival;
        } else {
            self.first_seen = self.first_seen.min(fact.arrival);
            self.last_seen = self.last_seen.max(fact.arrival);
        }
        let newest_so_far = match &self.latest {
            Some((at, _)) => fact.arrival >= *at,
            None => opened_here || fact.arrival >= self.stored.last_seen,
        };
        if newest_so_far {
            let outgoing = report.outgoing_user.as_ref();
            let latest = TicketLatest {
                last_source_ip: fact.source_ip.clone(),
                last_original_subject: report.original.as_ref().and_then(|o| o.subject.clone()),
                identity: fact.identity.clone(),
                outgoing_user: outgoing.map(|u| u.user.clone()),
                outgoing_domain: outgoing.and_then(|u| u.domain.clone()),
            };
            self.latest = Some((fact.arrival, latest));
        }
    }

    /// This batch's earlier events within `minutes` before `arrival`.
    fn arrivals_in_window(&self, arrival: NaiveDateTime, minutes: i64) -> i64 {
        let start = arrival - Duration::minutes(minutes);
        self.arrivals
            .iter()
            .filter(|a| **a >= start && **a <= arrival)
            .count() as i64
    }
}

fn status_name(status: &str) -> &'static str {
    Status::ALL
        .into_iter()
        .map(Status::as_str)
        .find(|s| *s == status)
        .unwrap_or("open")
}

fn severity_name(severity: &str) -> &'static str {
    super::rules::SEVERITIES
        .into_iter()
        .find(|s| *s == severity)
        .unwrap_or("info")
}

/// The automatic rule: enough events for one identity within the window request a
/// temporary lock, unless a lock is already pending or in force. `earlier_in_batch` counts
/// this batch's events in the window, which the database does not hold yet.
fn auto_lock(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    ticket: TicketId,
    customer: Option<CustomerId>,
    facts: &Facts<'_>,
    earlier_in_batch: i64,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let rule = ingestor.auto_lock;
    let Some(identity) = facts.identity.as_deref() else {
        return Ok(());
    };
    let window_start = facts.arrival - Duration::minutes(rule.within_minutes);
    let recent =
        events::count_in_window(conn, ticket, window_start, facts.arrival)? + earlier_in_batch + 1;
    if recent < rule.events || actions::lock_in_force(conn, ActionKind::LockIdentity, identity, at)?
    {
        return Ok(());
    }
    let reason = format!(
        "automatic: {recent} reports within {} minutes",
        rule.within_minutes
    );
    let key = format!("auto-lock:{identity}:{}", facts.arrival);
    let requested = actions::request(
        conn,
        &ActionRequest {
            ticket_id: Some(ticket),
            customer_id: customer,
            kind: ActionKind::LockIdentity,
            target: identity,
            reason: &reason,
            expires_at: Some(at + Duration::hours(rule.lock_hours)),
            idempotency_key: &key,
            requested_by: None,
        },
        at,
    )?;
    if requested.is_some() {
        let detail = format!(
            "temporary lock of identity {identity} for {} hours requested ({reason})",
            rule.lock_hours
        );
        audit::record(
            conn,
            at,
            Actor::System,
            "lock_identity",
            Some(ticket),
            customer,
            &detail,
        )?;
    }
    Ok(())
}
