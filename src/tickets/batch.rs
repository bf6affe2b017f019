//! New events applied to their tickets, a transaction's batches at a time: the live ticket of
//! every key read (or created) once, when it first comes up, each event counted on it in
//! memory — reopening a resolved ticket, raising severity with volume, following the newest
//! event's details — and every touched ticket written once at the end, with its audit trail.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::apply::{add_reporters, add_source_ips, apply_events, source_ip_counts};
use super::key::TicketKey;
use super::severity::SeverityPolicy;
use super::store::{self as tickets, TicketInsertForm, TicketState};
use super::types::{Severity, Status};
use super::update::{TicketBatchUpdate, TicketEventUpdate, TicketLatest};
use crate::arf::OutgoingUser;
use crate::db::audit::{self, AuditInsertForm};
use crate::db::ids::{CustomerId, TicketId};
use crate::db::{now, DbConn};

/// One new event, as a ticket counts it.
pub struct NewEvent<'a> {
    pub key: &'a TicketKey,
    /// `key`'s open key, made once by the caller.
    pub open_key: &'a str,
    pub arrival: NaiveDateTime,
    /// How many incidents the report stands for (at least 1).
    pub incidents: i64,
    /// From our own outgoing filter: the ticket starts at severity abuse.
    pub own_filter: bool,
    pub reporter: &'a str,
    pub source_ip: Option<&'a str>,
    pub original_subject: Option<&'a str>,
    pub identity: Option<&'a str>,
    pub outgoing_user: Option<&'a OutgoingUser>,
}

/// What counting an event did to its ticket.
#[derive(Clone, Copy, Debug)]
pub struct Counted {
    pub ticket: TicketId,
    /// The event opened the ticket.
    pub opened: bool,
    /// The ticket is ignored: it absorbs events quietly (no automatic rule acts on it).
    pub ignored: bool,
    /// This batch's earlier events on the ticket within the window asked for.
    pub earlier_in_window: i64,
    /// The first and last arrival of the events counted on the ticket before this one (in
    /// the database or earlier in the batch); none if it had none.
    pub seen_between: Option<(NaiveDateTime, NaiveDateTime)>,
}

/// The tickets a batch touches — or the several batches of one transaction — read once as
/// they first come up and written once at the end.
#[derive(Default)]
pub struct Batch {
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
    status: Status,
    severity: Severity,
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
    /// Takes in a batch of new events: the live ticket of every key not held yet is read, and
    /// those that do not exist are created, in three queries; the tickets held keep what the
    /// earlier batches of the transaction counted, to be written once at the end. Those
    /// batches' events are stored by now, so the arrivals kept for the automatic rule start
    /// afresh (the database counts those).
    pub fn extend(
        &mut self,
        conn: &mut DbConn,
        policy: &SeverityPolicy,
        events: &[NewEvent<'_>],
        at: NaiveDateTime,
    ) -> QueryResult<()> {
        for pending in self.tickets.values_mut() {
            pending.arrivals.clear();
        }
        let wanted: Vec<&str> = events
            .iter()
            .map(|e| e.open_key)
            .filter(|key| !self.tickets.contains_key(*key))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut live = tickets::live_many(conn, &wanted)?;
        let mut creating = HashSet::new();
        let mut forms = Vec::new();
        for event in events {
            let (key, open_key) = (event.key, event.open_key);
            if self.tickets.contains_key(open_key)
                || live.contains_key(open_key)
                || !creating.insert(open_key)
            {
                continue;
            }
            forms.push(TicketInsertForm {
                customer_id: key.customer_id,
                subject_kind: key.subject_kind,
                subject: &key.subject,
                class: &key.class,
                severity: policy.severity(&key.class, 1, event.own_filter, Severity::Info),
                status: Status::Open,
                open_key: Some(open_key.to_owned()),
                first_seen: event.arrival,
                last_seen: event.arrival,
                created_at: at,
                updated_at: at,
                identity: event.identity,
                outgoing_user: event.outgoing_user.map(|u| u.user.as_str()),
                outgoing_domain: event.outgoing_user.and_then(|u| u.domain.as_deref()),
            });
        }
        if !forms.is_empty() {
            tickets::create_many(conn, &forms)?;
            let created: Vec<&str> = creating.into_iter().collect();
            live.extend(tickets::live_many(conn, &created)?);
        }
        let customers: HashMap<&str, Option<CustomerId>> = events
            .iter()
            .map(|e| (e.open_key, e.key.customer_id))
            .collect();
        let tickets = live.into_iter().map(|(open_key, (id, stored))| {
            let customer = customers.get(open_key.as_str()).copied().flatten();
            let pending = Pending {
                id,
                customer,
                // A ticket with no events yet was made by this transaction.
                created: stored.event_count == 0,
                status: stored.status,
                severity: stored.severity,
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
        });
        self.tickets.extend(tickets);
        Ok(())
    }

    /// Writes what the batch changed: source IPs and reporters, then each ticket once, with
    /// its audit trail.
    pub fn flush(self, conn: &mut DbConn) -> QueryResult<()> {
        let at = now();
        let mut source_ips: Vec<_> = self.source_ips.into_iter().collect();
        source_ips.sort();
        add_source_ips(conn, &source_ips)?;
        let mut reporters: Vec<_> = self.reporters.into_iter().collect();
        reporters.sort();
        add_reporters(conn, &reporters)?;
        let mut pending: Vec<Pending> = self
            .tickets
            .into_values()
            .filter(|p| p.event_count != p.stored.event_count)
            .collect();
        pending.sort_by_key(|p| p.id);
        let ip_counts = source_ip_counts(conn, &pending.iter().map(|p| p.id).collect::<Vec<_>>())?;
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
        apply_events(conn, &updates)?;
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

impl Batch {
    /// Counts `event` on its ticket; `window` (minutes) asks how many of this batch's earlier
    /// events on the ticket fall within it, for the automatic rule. `None` when the event's
    /// ticket was not loaded.
    pub fn add(
        &mut self,
        policy: &SeverityPolicy,
        event: &NewEvent<'_>,
        window: Option<i64>,
    ) -> Option<Counted> {
        let ticket = self.tickets.get_mut(event.open_key)?;
        let opened = ticket.event_count == 0;
        let ignored = ticket.status == Status::Ignored;
        let seen_between = (!opened).then_some((ticket.first_seen, ticket.last_seen));
        ticket.add_event(policy, event, opened);
        let earlier_in_window = match window {
            Some(minutes) if !ignored => {
                let earlier = ticket.arrivals_in_window(event.arrival, minutes);
                ticket.arrivals.push(event.arrival);
                earlier
            }
            _ => 0,
        };
        let id = ticket.id;
        if let Some(ip) = event.source_ip {
            self.source_ips.insert((id, ip.to_owned()));
        }
        self.reporters.insert((id, event.reporter.to_owned()));
        Some(Counted {
            ticket: id,
            opened,
            ignored,
            earlier_in_window,
            seen_between,
        })
    }
}

impl Pending {
    /// Counts one event: lifecycle, counters, severity and the newest event's details.
    fn add_event(&mut self, policy: &SeverityPolicy, event: &NewEvent<'_>, opened_here: bool) {
        if self.status == Status::Resolved {
            // A resolved ticket comes back to the queue; an ignored one absorbs events quietly.
            self.status = Status::Open;
            self.reopened = true;
        }
        self.event_count += 1;
        self.incidents += event.incidents;
        self.severity = policy.severity(
            &event.key.class,
            self.event_count,
            event.own_filter,
            self.severity,
        );
        if opened_here {
            self.first_seen = event.arrival;
            self.last_seen = event.arrival;
        } else {
            self.first_seen = self.first_seen.min(event.arrival);
            self.last_seen = self.last_seen.max(event.arrival);
        }
        let newest_so_far = match &self.latest {
            Some((at, _)) => event.arrival >= *at,
            None => opened_here || event.arrival >= self.stored.last_seen,
        };
        if newest_so_far {
            let latest = TicketLatest {
                last_source_ip: event.source_ip.map(str::to_owned),
                last_original_subject: event.original_subject.map(str::to_owned),
                identity: event.identity.map(str::to_owned),
                outgoing_user: event.outgoing_user.map(|u| u.user.clone()),
                outgoing_domain: event.outgoing_user.and_then(|u| u.domain.clone()),
            };
            self.latest = Some((event.arrival, latest));
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
