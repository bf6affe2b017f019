//! Customer notices in storage: which tickets are worth telling about (and what the last
//! notice said of each), a planned notice with its tickets and one notifications row per
//! recipient — committed before any SMTP transaction — and those rows claimed, sent, retried
//! or failed one by one (`delivery`).

mod delivery;

pub use delivery::{claim_due, finish, reap_stale, recent, Notification, Sent};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::schema::{customers, notice_tickets, notices, notifications, tickets};
use crate::db::DbConn;
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
    crate::db::audit::record(
        conn,
        at,
        crate::db::audit::Actor::System,
        "notice_bounced",
        None,
        Some(customer),
        &detail,
    )?;
    Ok(true)
}
