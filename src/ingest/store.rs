//! The writer: turns prepared messages into stored raw messages, events and tickets, one
//! transaction per batch. Dedup at every level rests on unique indexes (raw sha256, event
//! dedup key, live-ticket key), so a batch replayed after a crash counts nothing twice.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::{Ingestor, Outcome, Prepared};
use crate::arf::FeedbackReport;
use crate::db::actions::{self, ActionKind, ActionRequest};
use crate::db::audit::{self, Actor};
use crate::db::customers::{self, Clues};
use crate::db::events::{self, EventInsertForm};
use crate::db::ids::{CustomerId, RawMessageId, TicketId};
use crate::db::raw_messages::{self, ParseStatus, RawMessageInsertForm};
use crate::db::tickets::{
    self, Status, SubjectKind, TicketEventUpdate, TicketKey, TicketLatest, TicketState,
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
    conn.transaction(|conn| {
        let mut work = Batch::default();
        let outcomes = batch
            .iter()
            .map(|message| store_one(conn, ingestor, origin, message, &mut work))
            .collect::<QueryResult<Vec<_>>>()?;
        work.flush(conn)?;
        Ok(outcomes)
    })
}

fn store_one(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    origin: &Origin<'_>,
    message: &Prepared,
    work: &mut Batch,
) -> QueryResult<Outcome> {
    let received_at = now();
    let (status, error) = match &message.parsed {
        Ok(_) => (ParseStatus::Report, None),
        Err(e) => (ParseStatus::Quarantined, Some((e.kind(), e.reason()))),
    };
    let form = RawMessageInsertForm {
        sha256: &message.sha256,
        compression: message.compression,
        content: &message.compressed,
        size_bytes: message.size as i64,
        source: origin.source,
        mailbox: origin.mailbox,
        received_at,
        parse_status: status.as_str(),
        parse_error_kind: error.as_ref().map(|e| e.0),
        parse_error: error.as_ref().map(|e| e.1.as_str()),
        processed_at: Some(received_at),
    };
    let Some(raw_id) = raw_messages::insert_if_new(conn, &form)? else {
        return Ok(Outcome::Duplicate);
    };
    match &message.parsed {
        Ok(report) => record_report(conn, ingestor, raw_id, report, received_at, work),
        Err(e) => Ok(Outcome::Quarantined { reason: e.reason() }),
    }
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
                let mut work = Batch::default();
                let outcome = record_report(conn, ingestor, raw_id, report, at, &mut work)?;
                work.flush(conn)?;
                Ok(outcome)
            }
            Err(e) => Ok(Outcome::Quarantined { reason: e.reason() }),
        }
    })
}

/// What the ticket and event are built from, derived once per report.
struct Facts<'a> {
    report: &'a FeedbackReport,
    reporter: String,
    class: String,
    identity: Option<String>,
    outgoing_user: Option<String>,
    sender: Option<String>,
    source_ip: Option<String>,
    arrival: NaiveDateTime,
}

impl<'a> Facts<'a> {
    fn new(report: &'a FeedbackReport, received_at: NaiveDateTime) -> Self {
        let sender = report
            .original_mail_from
            .clone()
            .or_else(|| {
                report
                    .original
                    .as_ref()
                    .and_then(|o| o.from.as_deref())
                    .and_then(address_of)
            })
            .map(|s| s.to_lowercase());
        Facts {
            report,
            reporter: reporter(report),
            class: report.feedback_type.clone(),
            identity: report.identity.as_ref().map(|i| i.value.to_lowercase()),
            outgoing_user: report.outgoing_user.as_ref().map(|u| match &u.domain {
                Some(domain) => format!("{}@{}", u.user, domain).to_lowercase(),
                None => u.user.to_lowercase(),
            }),
            sender,
            source_ip: report.source_ip.map(|ip| ip.to_string()),
            arrival: report.arrival_date.map_or(received_at, |d| d.naive_utc()),
        }
    }

    fn sender_domain(&self) -> Option<&str> {
        self.sender
            .as_deref()
            .and_then(|s| s.rsplit_once('@'))
            .map(|(_, d)| d)
    }

    /// The ticket subject: the identity where known, else the sender, else the source IP.
    fn subject(&self) -> (SubjectKind, String) {
        if let Some(identity) = &self.identity {
            (SubjectKind::Identity, identity.clone())
        } else if let Some(sender) = &self.sender {
            (SubjectKind::Sender, sender.clone())
        } else if let Some(ip) = &self.source_ip {
            (SubjectKind::Ip, ip.clone())
        } else {
            (SubjectKind::Sender, "(unknown sender)".to_owned())
        }
    }

    /// Same reporter, feedback type, original message, source and arrival: same complaint.
    fn dedup_key(&self) -> String {
        let original = self
            .report
            .original
            .as_ref()
            .and_then(|o| o.message_id.as_deref())
            .or(self.report.original_envelope_id.as_deref())
            .unwrap_or("");
        let mut hash = Sha256::new();
        // A report without an arrival date falls back to our receive time for display, but
        // its key leaves the date empty: a re-sent copy must still be recognised.
        let arrival = self
            .report
            .arrival_date
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        for part in [
            self.reporter.as_str(),
            &self.class,
            original,
            self.source_ip.as_deref().unwrap_or(""),
            &arrival,
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hex(&hash.finalize())
    }
}

/// Who sent the report: the reporting software, else the reporting MTA.
fn reporter(report: &FeedbackReport) -> String {
    report
        .user_agent
        .as_deref()
        .or(report.reporting_mta.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "unknown ({})",
                serde_json::to_value(report.format)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        })
}

/// `Name <user@host>` → `user@host`; a bare address is returned as is.
fn address_of(from: &str) -> Option<String> {
    let address = match (from.rfind('<'), from.rfind('>')) {
        (Some(start), Some(end)) if start < end => &from[start + 1..end],
        _ => from.trim(),
    };
    address.contains('@').then(|| address.trim().to_owned())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a batch has learnt and changed so far. Tickets are read once per batch and written
/// once at its end, however many of the batch's events land on them.
#[derive(Default)]
struct Batch {
    resolver: customers::Resolver,
    tickets: HashMap<String, Pending>,
    source_ips: std::collections::HashSet<(TicketId, String)>,
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
    updated_at: NaiveDateTime,
}

impl Batch {
    /// The live ticket for `key`, from this batch's memory or the database.
    fn ticket(
        &mut self,
        conn: &mut DbConn,
        key: &TicketKey,
        severity: &'static str,
        arrival: NaiveDateTime,
    ) -> QueryResult<&mut Pending> {
        match self.tickets.entry(key.open_key()) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let (id, created, stored) = match tickets::live(conn, key)? {
                    Some((id, stored)) => (id, false, stored),
                    None => {
                        let (id, created) = tickets::live_or_create(conn, key, severity, arrival)?;
                        (id, created, tickets::state(conn, id)?)
                    }
                };
                let pending = Pending {
                    id,
                    customer: key.customer_id,
                    created,
                    status: status_name(&stored.status),
                    severity: severity_name(&stored.severity),
                    event_count: stored.event_count,
                    first_seen: stored.first_seen,
                    last_seen: stored.last_seen,
                    incidents: 0,
                    latest: None,
                    reopened: false,
                    updated_at: arrival,
                    stored,
                };
                Ok(entry.insert(pending))
            }
        }
    }

    /// Writes what the batch changed: source IPs, then each ticket once, with its audit trail.
    fn flush(self, conn: &mut DbConn) -> QueryResult<()> {
        let mut source_ips: Vec<_> = self.source_ips.into_iter().collect();
        source_ips.sort();
        let ip_counts: HashMap<TicketId, i64> = tickets::add_source_ips(conn, &source_ips)?
            .into_iter()
            .collect();
        let mut pending: Vec<Pending> = self.tickets.into_values().collect();
        pending.sort_by_key(|p| p.id);
        for p in pending {
            if p.event_count == p.stored.event_count {
                continue;
            }
            let update = TicketEventUpdate {
                status: p.status,
                severity: p.severity,
                event_count: p.event_count,
                first_seen: p.first_seen,
                last_seen: p.last_seen,
                updated_at: p.updated_at,
            };
            let latest = p.latest.as_ref().map(|(_, latest)| latest);
            tickets::apply_events(
                conn,
                p.id,
                &update,
                p.incidents,
                ip_counts.get(&p.id).copied(),
                latest,
            )?;
            let at = p.updated_at;
            if p.created {
                audit::record(
                    conn,
                    at,
                    Actor::System,
                    "opened",
                    Some(p.id),
                    p.customer,
                    "opened by the first report",
                )?;
            }
            if p.reopened {
                audit::record(
                    conn,
                    at,
                    Actor::System,
                    "reopened",
                    Some(p.id),
                    p.customer,
                    "a new report arrived for this resolved ticket",
                )?;
            }
            if p.severity != p.stored.severity && !p.created {
                let detail = format!(
                    "{} → {} after {} events",
                    p.stored.severity, p.severity, p.event_count
                );
                audit::record(
                    conn,
                    at,
                    Actor::System,
                    "severity",
                    Some(p.id),
                    p.customer,
                    &detail,
                )?;
            }
        }
        Ok(())
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

fn record_report(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    raw_id: RawMessageId,
    report: &FeedbackReport,
    received_at: NaiveDateTime,
    work: &mut Batch,
) -> QueryResult<Outcome> {
    let facts = Facts::new(report, received_at);
    let dedup_key = facts.dedup_key();
    if events::known(conn, &dedup_key)? {
        return Ok(Outcome::DuplicateEvent);
    }
    let clues = Clues {
        identity: facts.identity.as_deref(),
        outgoing_user: facts.outgoing_user.as_deref(),
        sender_domain: facts.sender_domain(),
        source_ip: report.source_ip,
    };
    let customer = work
        .resolver
        .resolve(conn, &clues, &ingestor.resolve_order)?
        .map(|(id, _)| id);
    let (subject_kind, subject) = facts.subject();
    let key = TicketKey {
        customer_id: customer,
        subject_kind,
        subject,
        class: facts.class.clone(),
    };
    let own_filter = ingestor.is_own_filter(report);
    let opening_severity = ingestor
        .severity
        .severity(&facts.class, 1, own_filter, "info");
    let ticket = work.ticket(conn, &key, opening_severity, facts.arrival)?;
    let ticket_id = ticket.id;

    let original = report.original.as_ref();
    let inserted = events::insert(
        conn,
        &EventInsertForm {
            raw_message_id: raw_id,
            ticket_id,
            customer_id: customer,
            dedup_key: &dedup_key,
            reporter: &facts.reporter,
            feedback_type: &facts.class,
            source_ip: facts.source_ip.as_deref(),
            original_mail_from: facts.sender.as_deref(),
            original_message_id: original.and_then(|o| o.message_id.as_deref()),
            original_envelope_id: report.original_envelope_id.as_deref(),
            original_subject: original.and_then(|o| o.subject.as_deref()),
            identity: facts.identity.as_deref(),
            arrival_at: facts.arrival,
            created_at: received_at,
        },
    )?;
    if !inserted {
        return Ok(Outcome::DuplicateEvent);
    }
    // This message opened the ticket only if it is the ticket's first event.
    let opened_here = ticket.created && ticket.event_count == 0;
    let was_ignored = ticket.status == Status::Ignored.as_str();
    if ticket.status == Status::Resolved.as_str() {
        // A resolved ticket comes back to the queue; an ignored one absorbs events quietly.
        ticket.status = Status::Open.as_str();
        ticket.reopened = true;
    }
    ticket.event_count += 1;
    ticket.incidents += report.incidents.max(1) as i64;
    ticket.severity = ingestor.severity.severity(
        &facts.class,
        ticket.event_count,
        own_filter,
        ticket.severity,
    );
    if opened_here {
        ticket.first_seen = facts.arrival;
        ticket.last_seen = facts.arrival;
    } else {
        ticket.first_seen = ticket.first_seen.min(facts.arrival);
        ticket.last_seen = ticket.last_seen.max(facts.arrival);
    }
    ticket.updated_at = received_at;
    let newest_so_far = match &ticket.latest {
        Some((at, _)) => facts.arrival >= *at,
        None => opened_here || facts.arrival >= ticket.stored.last_seen,
    };
    if newest_so_far {
        let outgoing = report.outgoing_user.as_ref();
        let latest = TicketLatest {
            last_source_ip: facts.source_ip.clone(),
            last_original_subject: original.and_then(|o| o.subject.clone()),
            identity: facts.identity.clone(),
            outgoing_user: outgoing.map(|u| u.user.clone()),
            outgoing_domain: outgoing.and_then(|u| u.domain.clone()),
        };
        ticket.latest = Some((facts.arrival, latest));
    }
    if let Some(ip) = &facts.source_ip {
        work.source_ips.insert((ticket_id, ip.clone()));
    }
    if !was_ignored {
        auto_lock(conn, ingestor, ticket_id, customer, &facts, received_at)?;
    }
    Ok(if opened_here {
        Outcome::NewTicket(ticket_id)
    } else {
        Outcome::UpdatedTicket(ticket_id)
    })
}

/// The automatic rule: enough events for one identity within the window request a
/// temporary lock, unless a lock is already pending or in force.
fn auto_lock(
    conn: &mut DbConn,
    ingestor: &Ingestor,
    ticket: TicketId,
    customer: Option<CustomerId>,
    facts: &Facts<'_>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let rule = ingestor.auto_lock;
    let Some(identity) = facts.identity.as_deref() else {
        return Ok(());
    };
    if !rule.enabled {
        return Ok(());
    }
    let window_start = facts.arrival - Duration::minutes(rule.within_minutes);
    let recent = events::count_in_window(conn, ticket, window_start, facts.arrival)?;
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
