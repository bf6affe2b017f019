//! Writing a batch's events onto their tickets: counters, dates and the newest event's
//! details in one statement per batch on Postgres (arrays), one prepared statement per
//! ticket on SQLite; and the per-ticket source IPs and reporters.

use std::collections::HashMap;

use diesel::prelude::*;

use super::update::{TicketBatchUpdate, TicketLatest};
use crate::db::ids::TicketId;
use crate::db::DbConn;

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
            .bind::<Array<Text>, _>(
                rows.iter()
                    .map(|r| r.update.status.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(
                rows.iter()
                    .map(|r| r.update.severity.as_str())
                    .collect::<Vec<_>>(),
            )
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
        super::apply_sqlite::ApplyCounters(row).execute(conn)?;
        if row.latest.is_some() {
            super::apply_sqlite::ApplyIdentity(row).execute(conn)?;
        }
    }
    Ok(())
}

/// Inserts `(ticket, value)` rows into the per-ticket table `$table` keyed by both, skipping
/// the rows it holds already.
macro_rules! add_per_ticket {
    ($conn:expr, $table:ident, $value:ident, $pairs:expr) => {{
        use crate::db::schema::$table as t;
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
    use crate::db::schema::reporters;
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
    use crate::db::schema::ticket_source_ips as ips;
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
