//! Tickets: one live ticket per (customer, subject, class), kept unique by the `open_key`
//! index inside the writing transaction rather than by read-then-write.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, EventId, TicketId};
use super::schema::{customers, tickets};
use super::DbConn;

/// What a ticket is about: the identity where known, else the sender, else the source IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Identity,
    Sender,
    Ip,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Sender => "sender",
            Self::Ip => "ip",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Identity, Self::Sender, Self::Ip]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }
}

/// A ticket's place in its lifecycle. Open, resolved and ignored tickets are "live": a new
/// event lands on them. Closed and merged ones are history; a new event opens a new ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Resolved,
    Ignored,
    Closed,
    Merged,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Self::Open,
        Self::Resolved,
        Self::Ignored,
        Self::Closed,
        Self::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Ignored => "ignored",
            Self::Closed => "closed",
            Self::Merged => "merged",
        }
    }

    pub fn is_live(self) -> bool {
        matches!(self, Self::Open | Self::Resolved | Self::Ignored)
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status '{s}' (one of: open, resolved, ignored, closed, merged)")
            })
    }
}

/// The key a live ticket is unique by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketKey {
    pub customer_id: Option<CustomerId>,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub class: String,
}

impl TicketKey {
    /// The value of `tickets.open_key` while the ticket is live.
    pub fn open_key(&self) -> String {
        open_key(self.customer_id, &self.subject, &self.class)
    }
}

/// One live ticket per customer, subject and class. The subject's kind is not part of the
/// key: an address seen as a sender and later as an identity is one mailbox, one ticket.
/// Customer 0 stands for "unresolved", so tickets without a customer are deduplicated too.
fn open_key(customer: Option<CustomerId>, subject: &str, class: &str) -> String {
    format!("{}|{subject}|{class}", customer.map_or(0, |c| c.0))
}

#[derive(Insertable)]
#[diesel(table_name = tickets, treat_none_as_default_value = false)]
pub struct TicketInsertForm<'a> {
    pub customer_id: Option<CustomerId>,
    pub subject_kind: &'a str,
    pub subject: &'a str,
    pub class: &'a str,
    pub severity: &'a str,
    pub status: &'a str,
    pub open_key: Option<String>,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The first event's identity and outgoing user: written now so that the search index
    /// is not rewritten when the batch's newest details follow.
    pub identity: Option<&'a str>,
    pub outgoing_user: Option<&'a str>,
    pub outgoing_domain: Option<&'a str>,
}

/// The live tickets of `open_keys` with their state, by open key.
pub fn live_many(
    conn: &mut DbConn,
    open_keys: &[&str],
) -> QueryResult<HashMap<String, (TicketId, TicketState)>> {
    let mut found = HashMap::with_capacity(open_keys.len());
    for chunk in open_keys.chunks(500) {
        let rows: Vec<(Option<String>, TicketId, TicketState)> = tickets::table
            .filter(tickets::open_key.eq_any(chunk))
            .select((
                tickets::open_key,
                tickets::id,
                (
                    tickets::status,
                    tickets::severity,
                    tickets::event_count,
                    tickets::first_seen,
                    tickets::last_seen,
                ),
            ))
            .load(conn)?;
        found.extend(
            rows.into_iter()
                .filter_map(|(key, id, state)| key.map(|k| (k, (id, state)))),
        );
    }
    Ok(found)
}

/// Creates live tickets; a key that another writer made live meanwhile is left as it is.
pub fn create_many(conn: &mut DbConn, forms: &[TicketInsertForm<'_>]) -> QueryResult<()> {
    for chunk in forms.chunks(500) {
        crate::dispatch!(conn, c => diesel::insert_into(tickets::table)
            .values(chunk)
            .on_conflict(tickets::open_key)
            .do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// The live ticket for `key`, created (open, at `severity`) if there is none. Returns the id
/// and whether it was created. Safe against a concurrent writer creating the same ticket:
/// the insert yields to the unique index instead of failing.
pub fn live_or_create(
    conn: &mut DbConn,
    key: &TicketKey,
    severity: &str,
    seen: NaiveDateTime,
) -> QueryResult<(TicketId, bool)> {
    let open_key = key.open_key();
    let form = TicketInsertForm {
        customer_id: key.customer_id,
        subject_kind: key.subject_kind.as_str(),
        subject: &key.subject,
        class: &key.class,
        severity,
        status: Status::Open.as_str(),
        open_key: Some(open_key.clone()),
        first_seen: seen,
        last_seen: seen,
        created_at: seen,
        updated_at: seen,
        identity: None,
        outgoing_user: None,
        outgoing_domain: None,
    };
    let inserted = crate::dispatch!(conn, c => diesel::insert_into(tickets::table)
        .values(&form)
        .on_conflict(tickets::open_key)
        .do_nothing()
        .execute(c))?;
    let id = tickets::table
        .filter(tickets::open_key.eq(&open_key))
        .select(tickets::id)
        .first(conn)?;
    Ok((id, inserted == 1))
}

/// Moves a ticket to `status`, keeping `open_key` in step: history statuses release the key
/// so the next event opens a fresh ticket.
pub fn set_status(
    conn: &mut DbConn,
    id: TicketId,
    status: Status,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let (customer, subject, class): (Option<CustomerId>, String, String) = tickets::table
        .find(id)
        .select((tickets::customer_id, tickets::subject, tickets::class))
        .first(conn)?;
    let open_key = status
        .is_live()
        .then(|| open_key(customer, &subject, &class));
    diesel::update(tickets::table.find(id))
        .set((
            tickets::status.eq(status.as_str()),
            tickets::open_key.eq(open_key),
            tickets::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A ticket as lists show it.
#[derive(Queryable, Debug, Clone, Serialize)]
pub struct TicketRow {
    pub id: TicketId,
    pub customer_external_id: Option<String>,
    pub customer_name: Option<String>,
    pub subject_kind: String,
    pub subject: String,
    pub class: String,
    pub severity: String,
    pub status: String,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

/// Tickets, most recently seen first, optionally of one status.
pub fn list(conn: &mut DbConn, status: Option<Status>, limit: i64) -> QueryResult<Vec<TicketRow>> {
    let mut query = tickets::table
        .left_join(customers::table)
        .select((
            tickets::id,
            customers::external_id.nullable(),
            customers::name.nullable(),
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::event_count,
            tickets::first_seen,
            tickets::last_seen,
        ))
        .order((tickets::last_seen.desc(), tickets::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(tickets::status.eq(status.as_str()));
    }
    query.load(conn)
}

/// What the ingest path needs to know of a live ticket to apply events to it.
#[derive(Queryable, Debug, Clone)]
pub struct TicketState {
    pub status: String,
    pub severity: String,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

/// A ticket after a batch of events: every counter and date the ingest path keeps current.
#[derive(Debug)]
pub struct TicketEventUpdate<'a> {
    pub status: &'a str,
    pub severity: &'a str,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The fields that follow the newest event by arrival time. They are only written when the
/// batch brought a newer event than the ticket had, so the result does not depend on the
/// order events are processed in.
#[derive(Debug, Clone, Default)]
pub struct TicketLatest {
    pub last_source_ip: Option<String>,
    pub last_original_subject: Option<String>,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub outgoing_domain: Option<String>,
}

/// One ticket's share of a batch: the new counters, `incidents` to add to the stored total,
/// the distinct source IP count, and the newest event's details when the batch brought a
/// newer event than the ticket had.
pub struct TicketBatchUpdate<'a> {
    pub id: TicketId,
    pub update: TicketEventUpdate<'a>,
    pub incidents: i64,
    pub source_ips: i64,
    pub latest: Option<&'a TicketLatest>,
}

/// Postgres takes every ticket of a batch in one statement, the columns passed as arrays:
/// one round trip instead of one per ticket.
const APPLY_EVENTS_PG: &str = "UPDATE tickets AS t SET \
    status = v.status, severity = v.severity, event_count = v.event_count, \
    first_seen = v.first_seen, last_seen = v.last_seen, updated_at = $15, \
    incident_count = t.incident_count + v.incidents, source_ip_count = v.source_ips, \
    last_source_ip = CASE WHEN v.has_latest THEN v.last_source_ip ELSE t.last_source_ip END, \
    last_original_subject = CASE WHEN v.has_latest THEN v.last_original_subject ELSE t.last_original_subject END, \
    identity = CASE WHEN v.has_latest THEN v.identity ELSE t.identity END, \
    outgoing_user = CASE WHEN v.has_latest THEN v.outgoing_user ELSE t.outgoing_user END, \
    outgoing_domain = CASE WHEN v.has_latest THEN v.outgoing_domain ELSE t.outgoing_domain END \
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::timestamp[], \
        $6::timestamp[], $7::bigint[], $8::bigint[], $9::bool[], $10::text[], $11::text[], \
        $12::text[], $13::text[], $14::text[]) \
    AS v(id, status, severity, event_count, first_seen, last_seen, incidents, source_ips, \
        has_latest, last_source_ip, last_original_subject, identity, outgoing_user, \
        outgoing_domain) \
    WHERE t.id = v.id";

/// Applies a batch's events to its tickets. All rows must share `update.updated_at`.
pub fn apply_events(conn: &mut DbConn, rows: &[TicketBatchUpdate<'_>]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
    let Some(first) = rows.first() else {
        return Ok(());
    };
    if let DbConn::Postgres(pg) = conn {
        let latest = |f: fn(&TicketLatest) -> &Option<String>| -> Vec<Option<&str>> {
            rows.iter()
                .map(|r| r.latest.and_then(|l| f(l).as_deref()))
                .collect()
        };
        diesel::sql_query(APPLY_EVENTS_PG)
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.id.0).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.update.status).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows.iter().map(|r| r.update.severity).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(
                rows.iter()
                    .map(|r| r.update.event_count)
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamp>, _>(
                rows.iter().map(|r| r.update.first_seen).collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamp>, _>(
                rows.iter().map(|r| r.update.last_seen).collect::<Vec<_>>(),
            )
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.incidents).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.source_ips).collect::<Vec<_>>())
            .bind::<Array<Bool>, _>(rows.iter().map(|r| r.latest.is_some()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(latest(|l| &l.last_source_ip))
            .bind::<Array<Nullable<Text>>, _>(latest(|l| &l.last_original_subject))
            .bind::<Array<Nullable<Text>>, _>(latest(|l| &l.identity))
            .bind::<Array<Nullable<Text>>, _>(latest(|l| &l.outgoing_user))
            .bind::<Array<Nullable<Text>>, _>(latest(|l| &l.outgoing_domain))
            .bind::<Timestamp, _>(first.update.updated_at)
            .execute(pg)?;
        return Ok(());
    }
    let DbConn::Sqlite(conn) = conn else {
        return Ok(());
    };
    // SQLite runs in-process: a statement per ticket costs microseconds once prepared.
    for row in rows {
        super::sqlite_batch::ApplyCounters(row).execute(conn)?;
        if row.latest.is_some() {
            super::sqlite_batch::ApplyIdentity(row).execute(conn)?;
        }
    }
    Ok(())
}

/// Inserts `(ticket, value)` rows into the per-ticket table `$table` keyed by both, skipping
/// the rows it holds already.
macro_rules! add_per_ticket {
    ($conn:expr, $table:ident, $value:ident, $pairs:expr) => {{
        use super::schema::$table as t;
        for chunk in $pairs.chunks(500) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(id, value)| (t::ticket_id.eq(*id), t::$value.eq(value)))
                .collect();
            crate::dispatch!($conn, c => diesel::insert_into(t::table)
                .values(&rows)
                .on_conflict((t::ticket_id, t::$value))
                .do_nothing()
                .execute(c))?;
        }
    }};
}

/// Records the source IPs tickets were seen from (known pairs are skipped).
pub fn add_source_ips(conn: &mut DbConn, pairs: &[(TicketId, String)]) -> QueryResult<()> {
    add_per_ticket!(conn, ticket_source_ips, source_ip, pairs);
    Ok(())
}

/// Records the reporters (feeds) that reported on tickets, and each reporter among those seen
/// at all (known pairs and reporters are skipped).
pub fn add_reporters(conn: &mut DbConn, pairs: &[(TicketId, String)]) -> QueryResult<()> {
    use super::schema::reporters;
    let mut names: Vec<&String> = pairs.iter().map(|(_, reporter)| reporter).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<_> = names.iter().map(|r| reporters::reporter.eq(*r)).collect();
    for chunk in rows.chunks(500) {
        crate::dispatch!(conn, c => diesel::insert_into(reporters::table)
            .values(chunk)
            .on_conflict(reporters::reporter)
            .do_nothing()
            .execute(c))?;
    }
    add_per_ticket!(conn, ticket_reporters, reporter, pairs);
    Ok(())
}

/// How many distinct source IPs each of `ids` has (tickets with none are left out).
pub fn source_ip_counts(
    conn: &mut DbConn,
    ids: &[TicketId],
) -> QueryResult<HashMap<TicketId, i64>> {
    use super::schema::ticket_source_ips as ips;
    let mut counts = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(TicketId, i64)> = ips::table
            .filter(ips::ticket_id.eq_any(chunk))
            .group_by(ips::ticket_id)
            .select((ips::ticket_id, diesel::dsl::count_star()))
            .load(conn)?;
        counts.extend(rows);
    }
    Ok(counts)
}

/// Moves events to another ticket (and customer). Counters and source IPs are the caller's
/// to [`recount`] on both tickets.
pub fn move_events(
    conn: &mut DbConn,
    events: &[EventId],
    to: TicketId,
    customer: Option<CustomerId>,
) -> QueryResult<()> {
    use super::schema::events as ev;
    for chunk in events.chunks(500) {
        diesel::update(ev::table.filter(ev::id.eq_any(chunk)))
            .set((ev::ticket_id.eq(to), ev::customer_id.eq(customer)))
            .execute(conn)?;
    }
    Ok(())
}

/// Recomputes a ticket's counters from the events it holds after events moved in or out:
/// count, first and last seen, distinct source IPs and reporters, and the newest event's
/// details.
/// `incidents` is added to the stored incident total (negative for events moved out).
/// Returns the new event count.
pub fn recount(
    conn: &mut DbConn,
    id: TicketId,
    incidents: i64,
    at: NaiveDateTime,
) -> QueryResult<i64> {
    use super::schema::{events as ev, ticket_reporters, ticket_source_ips as ips};
    let (count, first, last): (i64, Option<NaiveDateTime>, Option<NaiveDateTime>) = ev::table
        .filter(ev::ticket_id.eq(id))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(ev::arrival_at),
            diesel::dsl::max(ev::arrival_at),
        ))
        .first(conn)?;
    // The ticket's source IP list becomes exactly its events' distinct source IPs.
    let present: Vec<String> = ev::table
        .filter(ev::ticket_id.eq(id))
        .filter(ev::source_ip.is_not_null())
        .select(ev::source_ip.assume_not_null())
        .distinct()
        .load(conn)?;
    diesel::delete(
        ips::table
            .filter(ips::ticket_id.eq(id))
            .filter(ips::source_ip.ne_all(&present)),
    )
    .execute(conn)?;
    let pairs: Vec<(TicketId, String)> = present.iter().map(|ip| (id, ip.clone())).collect();
    add_source_ips(conn, &pairs)?;
    // And its reporters exactly its events' distinct reporters.
    let reporters: Vec<String> = ev::table
        .filter(ev::ticket_id.eq(id))
        .select(ev::reporter)
        .distinct()
        .load(conn)?;
    diesel::delete(
        ticket_reporters::table
            .filter(ticket_reporters::ticket_id.eq(id))
            .filter(ticket_reporters::reporter.ne_all(&reporters)),
    )
    .execute(conn)?;
    let pairs: Vec<(TicketId, String)> = reporters.into_iter().map(|r| (id, r)).collect();
    add_reporters(conn, &pairs)?;
    let newest: Option<(Option<String>, Option<String>, Option<String>)> = ev::table
        .filter(ev::ticket_id.eq(id))
        .order((ev::arrival_at.desc(), ev::id.desc()))
        .select((ev::source_ip, ev::original_subject, ev::identity))
        .first(conn)
        .optional()?;
    let counters = (
        tickets::event_count.eq(count),
        tickets::source_ip_count.eq(present.len() as i64),
        tickets::incident_count.eq(tickets::incident_count + incidents),
        tickets::updated_at.eq(at),
    );
    match (first, last, newest) {
        (Some(first), Some(last), Some((source_ip, subject, identity))) => {
            diesel::update(tickets::table.find(id))
                .set((
                    counters,
                    tickets::first_seen.eq(first),
                    tickets::last_seen.eq(last),
                    tickets::last_source_ip.eq(source_ip),
                    tickets::last_original_subject.eq(subject),
                    tickets::identity.eq(identity),
                ))
                .execute(conn)?;
        }
        // No events left: the dates stay as the ticket's history.
        _ => {
            diesel::update(tickets::table.find(id))
                .set(counters)
                .execute(conn)?;
        }
    }
    Ok(count)
}

/// Sets the outgoing user of a ticket whose newest event arrived at `arrival`; a ticket
/// with a newer event keeps its own.
pub fn set_outgoing_user_if_newest(
    conn: &mut DbConn,
    id: TicketId,
    arrival: NaiveDateTime,
    user: Option<&crate::arf::OutgoingUser>,
) -> QueryResult<()> {
    diesel::update(
        tickets::table
            .find(id)
            .filter(tickets::last_seen.le(arrival)),
    )
    .set((
        tickets::outgoing_user.eq(user.map(|u| u.user.as_str())),
        tickets::outgoing_domain.eq(user.and_then(|u| u.domain.as_deref())),
    ))
    .execute(conn)?;
    Ok(())
}

/// Marks an emptied ticket as merged into `into`, releasing its live key.
pub fn mark_merged(
    conn: &mut DbConn,
    id: TicketId,
    into: TicketId,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(tickets::table.find(id))
        .set((
            tickets::status.eq(Status::Merged.as_str()),
            tickets::open_key.eq(None::<String>),
            tickets::merged_into_id.eq(Some(into)),
            tickets::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
