//! The planner: per customer, one notice of its tickets with news since the last notice — a
//! new ticket, a severity that rose, or new reports once the severity's interval has passed —
//! never for ignored tickets, customers with notices off, or tickets without a customer, nor
//! about reports older than `min_last_seen_days`. A notice and its recipients' rows are
//! committed before anything is sent.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::NotifySettings;
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::notices::{self, Candidate, NoticeTicket, Recipient};
use crate::db::DbConn;

/// What a planning run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub notices: u64,
    /// Recipient rows queued (customers' addresses, copies).
    pub notifications: u64,
}

/// Whether `c` is news at `at`, and why.
fn news(
    settings: &NotifySettings,
    c: &Candidate,
    at: NaiveDateTime,
) -> Option<(&'static str, i64)> {
    match c.last {
        None => Some(("new_ticket", c.event_count)),
        Some((_, _, severity)) if c.severity > severity => {
            Some(("severity_rose", c.event_count - c.last.map_or(0, |l| l.1)))
        }
        Some((told, count, _)) if c.event_count > count => {
            let interval = settings.intervals.for_severity(c.severity.as_str());
            (at - told >= interval).then_some(("new_reports", c.event_count - count))
        }
        Some(_) => None,
    }
}

/// Plans the notices due at `at`. With `only`, for that customer alone, and `force` (staff's
/// "send now") tells of every ticket of it still being worked, news or not.
pub fn plan(
    conn: &mut DbConn,
    settings: &NotifySettings,
    at: NaiveDateTime,
    only: Option<CustomerId>,
    force: bool,
    requested_by: Option<UserId>,
) -> diesel::QueryResult<Planned> {
    let since = at - chrono::Duration::days(settings.min_last_seen_days.into());
    let mut due: BTreeMap<CustomerId, Vec<NoticeTicket>> = BTreeMap::new();
    for c in notices::candidates(conn, since, only)? {
        let (why, new_events) = match news(settings, &c, at) {
            Some(news) => news,
            None if force => ("new_reports", 0),
            None => continue,
        };
        due.entry(c.customer).or_default().push(NoticeTicket {
            ticket: c.ticket,
            event_count: c.event_count,
            new_events,
            severity: c.severity,
            why,
        });
    }
    let mut planned = Planned::default();
    for (customer, tickets) in due {
        let Some(row) = crate::db::customers::get(conn, customer)? else {
            continue;
        };
        let recipients = recipients(settings, row.addresses().filter(|a| !row.bounces(a)));
        if recipients.is_empty() {
            continue;
        }
        let message_id = settings.message_id(i64::from(rand::random::<u32>()));
        notices::plan(
            conn,
            customer,
            &message_id,
            requested_by,
            &tickets,
            &recipients,
            at,
        )?;
        planned.notices += 1;
        planned.notifications += recipients.len() as u64;
    }
    Ok(planned)
}

/// Who gets a notice: the customer's addresses (or, while testing, only `override_to`), and
/// the copies of `bcc` (none while testing).
fn recipients<'a>(
    settings: &NotifySettings,
    addresses: impl Iterator<Item = &'a str>,
) -> Vec<Recipient> {
    let to = |address: &str| Recipient {
        kind: "to",
        address: address.to_owned(),
    };
    match &settings.override_to {
        Some(only) => vec![to(only)],
        None => addresses
            .map(to)
            .chain(settings.bcc.iter().map(|b| Recipient {
                kind: "bcc",
                address: b.clone(),
            }))
            .collect(),
    }
}

/// The ticket `id`'s customer, for staff's "send now" from a ticket.
pub fn customer_of(conn: &mut DbConn, id: TicketId) -> diesel::QueryResult<Option<CustomerId>> {
    Ok(crate::tickets::detail::detail(conn, id)?.and_then(|t| t.customer_id))
}
