//! Customer notices in storage: which tickets are worth telling about (and what the last
//! notice said of each), a planned notice with its tickets and one notifications row per
//! recipient — committed before any SMTP transaction — and those rows claimed, sent, retried
//! or failed one by one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::{CustomerId, TicketId, UserId};
use super::schema::{customers, notice_tickets, notices, notifications, tickets};
use super::DbConn;
use crate::tickets::{Severity, Status};

/// A ticket that may be worth a notice, with its customer's wish and what was said last.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub ticket: TicketId,
    pub customer: CustomerId,
    pub event_count: i64,
    pub severity: Severity,
    /// The last notice about it: when, with how many events and at which severity.
    pub last: Option<(NaiveDateTime, i64, Severity)>,
}

/// Live, not ignored tickets of customers who want notices, last seen at or after `since`;
/// `only` narrows them to one customer.
pub fn candidates(
    conn: &mut DbConn,
    since: NaiveDateTime,
    only: Option<CustomerId>,
) -> QueryResult<Vec<Candidate>> {
    let mut query = tickets::table
        .inner_join(customers::table)
        .filter(customers::notify.eq(true))
        .filter(tickets::status.eq_any([Status::Open, Status::Resolved]))
        .filter(tickets::last_seen.ge(since))
        .order(tickets::id)
        .select((
            tickets::id,
            tickets::customer_id.assume_not_null(),
            tickets::event_count,
            tickets::severity,
        ))
        .into_boxed();
    if let Some(customer) = only {
        query = query.filter(tickets::customer_id.eq(customer));
    }
    let rows: Vec<(TicketId, CustomerId, i64, Severity)> = query.load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        let ids: Vec<TicketId> = chunk.iter().map(|r| r.0).collect();
        let said: Vec<(TicketId, NaiveDateTime, i64, Severity)> = notice_tickets::table
            .inner_join(notices::table)
            .filter(notice_tickets::ticket_id.eq_any(&ids))
            .order(notice_tickets::notice_id)
            .select((
                notice_tickets::ticket_id,
                notices::created_at,
                notice_tickets::event_count,
                notice_tickets::severity,
            ))
            .load(conn)?;
        for &(ticket, customer, event_count, severity) in chunk {
            let last = said
                .iter()
                .rev()
                .find(|s| s.0 == ticket)
                .map(|s| (s.1, s.2, s.3));
            out.push(Candidate {
                ticket,
                customer,
                event_count,
                severity,
                last,
            });
        }
    }
    Ok(out)
}

/// One ticket of a planned notice: its counts now, and why it is in it.
#[derive(Debug, Clone)]
pub struct NoticeTicket {
    pub ticket: TicketId,
    pub event_count: i64,
    pub new_events: i64,
    pub severity: Severity,
    /// `new_ticket`, `new_reports` or `severity_rose`.
    pub why: &'static str,
}

/// A recipient of a notice: `to` (the customer, or `override_to` while testing) or `bcc`.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub kind: &'static str,
    pub address: String,
}

/// Records a notice with its tickets and a pending notifications row per recipient, in one
/// transaction; returns its id.
pub fn plan(
    conn: &mut DbConn,
    customer: CustomerId,
    message_id: &str,
    requested_by: Option<UserId>,
    tickets: &[NoticeTicket],
    recipients: &[Recipient],
    at: NaiveDateTime,
) -> QueryResult<i64> {
    crate::db::write(conn, |conn| {
        crate::dispatch!(conn, c => diesel::insert_into(notices::table)
            .values((
                notices::customer_id.eq(customer),
                notices::message_id.eq(message_id),
                notices::requested_by.eq(requested_by),
                notices::created_at.eq(at),
            ))
            .execute(c))?;
        let id: i64 = notices::table
            .filter(notices::message_id.eq(message_id))
            .select(notices::id)
            .first(conn)?;
        for t in tickets {
            diesel::insert_into(notice_tickets::table)
                .values((
                    notice_tickets::notice_id.eq(id),
                    notice_tickets::ticket_id.eq(t.ticket),
                    notice_tickets::event_count.eq(t.event_count),
                    notice_tickets::new_events.eq(t.new_events),
                    notice_tickets::severity.eq(t.severity),
                    notice_tickets::why.eq(t.why),
                ))
                .execute(conn)?;
        }
        for r in recipients {
            diesel::insert_into(notifications::table)
                .values((
                    notifications::customer_id.eq(customer),
                    notifications::notice_id.eq(Some(id)),
                    notifications::kind.eq(r.kind),
                    notifications::recipient.eq(&r.address),
                    notifications::subject.eq(""),
                    notifications::body.eq(""),
                    notifications::state.eq("pending"),
                    notifications::attempts.eq(0),
                    notifications::next_attempt_at.eq(Some(at)),
                    notifications::created_at.eq(at),
                ))
                .execute(conn)?;
        }
        Ok(id)
    })
}

/// One recipient's notification row.
#[derive(Queryable, Selectable, Debug, Clone, Serialize)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i64,
    pub customer_id: CustomerId,
    pub notice_id: Option<i64>,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Takes the due pending rows (at most `limit`): `sending` from now on, attempt counted. Only
/// a row still pending is taken, so two senders never send one row.
pub fn claim_due(
    conn: &mut DbConn,
    at: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Notification>> {
    crate::db::write(conn, |conn| {
        let due = notifications::table
            .filter(notifications::state.eq("pending"))
            .filter(notifications::next_attempt_at.le(at))
            .filter(notifications::notice_id.is_not_null())
            .order(notifications::id)
            .limit(limit)
            .select(notifications::id);
        let ids: Vec<i64> = match conn {
            DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            DbConn::Sqlite(_) => due.load(conn)?,
        };
        diesel::update(
            notifications::table
                .filter(notifications::id.eq_any(&ids))
                .filter(notifications::state.eq("pending")),
        )
        .set((
            notifications::state.eq("sending"),
            notifications::claimed_at.eq(Some(at)),
            notifications::attempts.eq(notifications::attempts + 1),
        ))
        .execute(conn)?;
        notifications::table
            .filter(notifications::id.eq_any(&ids))
            .filter(notifications::state.eq("sending"))
            .filter(notifications::claimed_at.eq(at))
            .order(notifications::id)
            .select(Notification::as_select())
            .load(conn)
    })
}

/// What became of one recipient's transaction.
#[derive(Clone, Debug)]
pub enum Sent<'a> {
    Sent { subject: &'a str, body: &'a str },
    Retry { error: &'a str, at: NaiveDateTime },
    Failed { error: &'a str },
}

/// Records what became of a row.
pub fn finish(conn: &mut DbConn, id: i64, how: Sent<'_>, at: NaiveDateTime) -> QueryResult<()> {
    let row = notifications::table.find(id);
    let release = notifications::claimed_at.eq(None::<NaiveDateTime>);
    match how {
        Sent::Sent { subject, body } => diesel::update(row)
            .set((
                notifications::state.eq("sent"),
                notifications::subject.eq(subject),
                notifications::body.eq(body),
                notifications::sent_at.eq(Some(at)),
                notifications::last_error.eq(None::<String>),
                release,
            ))
            .execute(conn)?,
        Sent::Retry { error, at: next } => diesel::update(row)
            .set((
                notifications::state.eq("pending"),
                notifications::last_error.eq(Some(error)),
                notifications::next_attempt_at.eq(Some(next)),
                release,
            ))
            .execute(conn)?,
        Sent::Failed { error } => diesel::update(row)
            .set((
                notifications::state.eq("failed"),
                notifications::last_error.eq(Some(error)),
                release,
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Puts back rows a sender left `sending` before `before` (it died mid-send): the mail is
/// sent again at most once more.
pub fn reap_stale(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::state.eq("sending"))
            .filter(notifications::claimed_at.lt(before)),
    )
    .set((
        notifications::state.eq("pending"),
        notifications::claimed_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// A planned notice: whose, its Message-ID, and its tickets as the notice saw them.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub customer: CustomerId,
    pub message_id: String,
    pub created_at: NaiveDateTime,
    pub tickets: Vec<(TicketId, i64, &'static str)>,
    /// Message-IDs of earlier notices about the same tickets, oldest first.
    pub references: Vec<String>,
}

/// The notice `id`.
pub fn notice(conn: &mut DbConn, id: i64) -> QueryResult<Notice> {
    let (customer, message_id, created_at): (CustomerId, String, NaiveDateTime) = notices::table
        .find(id)
        .select((
            notices::customer_id,
            notices::message_id,
            notices::created_at,
        ))
        .first(conn)?;
    let rows: Vec<(TicketId, i64, String)> = notice_tickets::table
        .filter(notice_tickets::notice_id.eq(id))
        .order(notice_tickets::id)
        .select((
            notice_tickets::ticket_id,
            notice_tickets::new_events,
            notice_tickets::why,
        ))
        .load(conn)?;
    let ids: Vec<TicketId> = rows.iter().map(|r| r.0).collect();
    let earlier: Vec<(i64, String)> = notice_tickets::table
        .inner_join(notices::table)
        .filter(notice_tickets::ticket_id.eq_any(&ids))
        .filter(notices::id.lt(id))
        .order(notices::id)
        .select((notices::id, notices::message_id))
        .distinct()
        .load(conn)?;
    let mut references: Vec<String> = earlier.into_iter().map(|(_, m)| m).collect();
    references.dedup();
    let why = |w: &str| match w {
        "new_ticket" => "new_ticket",
        "severity_rose" => "severity_rose",
        _ => "new_reports",
    };
    Ok(Notice {
        id,
        customer,
        message_id,
        created_at,
        tickets: rows.iter().map(|(t, n, w)| (*t, *n, why(w))).collect(),
        references,
    })
}

/// The customer's newest notice.
pub fn latest_of(conn: &mut DbConn, customer: CustomerId) -> QueryResult<i64> {
    notices::table
        .filter(notices::customer_id.eq(customer))
        .order(notices::id.desc())
        .select(notices::id)
        .first(conn)
}

/// Recent notifications, newest first (for the staff page and the command line), of one
/// ticket's notices when given.
pub fn recent(
    conn: &mut DbConn,
    ticket: Option<TicketId>,
    limit: i64,
) -> QueryResult<Vec<Notification>> {
    let mut query = notifications::table
        .order(notifications::id.desc())
        .limit(limit)
        .select(Notification::as_select())
        .into_boxed();
    if let Some(ticket) = ticket {
        let of_ticket = notice_tickets::table
            .filter(notice_tickets::ticket_id.eq(ticket))
            .select(notice_tickets::notice_id.nullable());
        query = query.filter(notifications::notice_id.eq_any(of_ticket));
    }
    query.load(conn)
}

/// Links a bounce of notice `message_id` to it: the rows of the failed recipients become
/// `bounced`, and the customer's addresses among them are marked as bouncing (notices skip
/// them until staff edit the customer). Audited; `false` when the notice is not ours.
pub fn bounced(
    conn: &mut DbConn,
    message_id: &str,
    failed: &[String],
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let Some((notice, customer)) = notices::table
        .filter(notices::message_id.eq(message_id))
        .select((notices::id, notices::customer_id))
        .first::<(i64, CustomerId)>(conn)
        .optional()?
    else {
        return Ok(false);
    };
    let rows: Vec<(i64, String)> = notifications::table
        .filter(notifications::notice_id.eq(notice))
        .select((notifications::id, notifications::recipient))
        .load(conn)?;
    for (id, recipient) in rows {
        if failed
            .iter()
            .any(|f| f.eq_ignore_ascii_case(recipient.trim()))
        {
            diesel::update(notifications::table.find(id))
                .set((
                    notifications::state.eq("bounced"),
                    notifications::last_error
                        .eq(Some("bounced: the recipient's server returned it")),
                ))
                .execute(conn)?;
        }
    }
    let current: Option<String> = customers::table
        .find(customer)
        .select(customers::bouncing)
        .first(conn)?;
    let mut bouncing: Vec<String> = current
        .as_deref()
        .unwrap_or("")
        .split(';')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    for address in failed {
        if !bouncing.iter().any(|b| b.eq_ignore_ascii_case(address)) {
            bouncing.push(address.clone());
        }
    }
    diesel::update(customers::table.find(customer))
        .set(customers::bouncing.eq(Some(bouncing.join(";"))))
        .execute(conn)?;
    let detail = format!("a notice bounced for {}", failed.join(", "));
    super::audit::record(
        conn,
        at,
        super::audit::Actor::System,
        "notice_bounced",
        None,
        Some(customer),
        &detail,
    )?;
    Ok(true)
}
