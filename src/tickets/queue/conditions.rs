//! The WHERE of a queue page: the filters, free text and the feed as the indexes left them
//! to test, and the keyset cursor.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::search::{search_text_like, Search};
use super::{from_micros, Assignee, Cursor, QueueFilter, Sort};
use crate::db::ids::TicketId;
use crate::db::plans::{Replanned, RowBefore, Written};
use crate::db::schema::{ticket_reporters, tickets};
use crate::db::DbConn;

/// A condition on a ticket, whatever its shape.
pub(super) type Condition<'a> = Box<
    dyn BoxableExpression<
            tickets::table,
            <DbConn as diesel::Connection>::Backend,
            SqlType = diesel::sql_types::Bool,
        > + 'a,
>;

/// How a page's query treats free text and the feed filter: the tickets their indexes found,
/// and what is left to test on each ticket.
#[derive(Clone, Copy, Default)]
pub(super) struct Matching<'s> {
    /// Only these tickets, which the indexes found.
    pub(super) among: Option<&'s [TicketId]>,
    /// Free text, tested on each ticket.
    pub(super) text: Option<&'s Search>,
    /// The reporters the feed filter names, of which each ticket must have one.
    pub(super) reporters: Option<&'s [String]>,
}

/// Up to how many given tickets a page's statement is kept prepared: this few are best fetched
/// by id whatever else is asked (at most a few milliseconds), the plan Postgres keeps for a
/// statement without looking at its values.
pub const FETCHED_BY_ID: usize = 1000;

/// The WHERE of a page: `filter` with free text and the feed filter as `matching` says, after
/// `after` in `sort` order.
pub(super) fn conditions<'a>(
    filter: &'a QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    matching: Matching<'a>,
    sqlite: bool,
) -> Vec<Condition<'a>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Text as SqlText, Timestamp};
    let mut all: Vec<Condition<'a>> = Vec::new();
    if let Some(status) = filter.status {
        all.push(Box::new(tickets::status.eq(Written(status.as_str()))));
    }
    if let Some(severity) = &filter.severity {
        all.push(Box::new(tickets::severity.eq(*severity)));
    }
    if let Some(class) = &filter.class {
        all.push(Box::new(tickets::class.eq(class.clone())));
    }
    if let Some(customer) = filter.customer {
        all.push(Box::new(
            tickets::customer_id.eq(customer).assume_not_null(),
        ));
    }
    if filter.replied {
        all.push(Box::new(tickets::customer_replied_at.is_not_null()));
    }
    if filter.unresolved {
        all.push(Box::new(tickets::customer_id.is_null()));
    }
    match filter.assignee {
        Some(Assignee::User(user)) => {
            all.push(Box::new(tickets::assignee_id.eq(user).assume_not_null()))
        }
        Some(Assignee::Nobody) => all.push(Box::new(tickets::assignee_id.is_null())),
        None => {}
    }
    if let Some(ids) = matching.among {
        let among = tickets::id.eq_any(ids.to_vec());
        if ids.len() <= FETCHED_BY_ID {
            all.push(Box::new(among));
        } else {
            // Planned for these ids each time: thousands may be better tested while walking
            // the sort order.
            all.push(Box::new(Replanned(among)));
        }
    }
    if let Some(reporters) = matching.reporters {
        all.push(Box::new(diesel::dsl::exists(
            ticket_reporters::table
                .filter(ticket_reporters::ticket_id.eq(tickets::id))
                .filter(ticket_reporters::reporter.eq_any(reporters.to_vec())),
        )));
    }
    // Free text: anywhere in subject, identity or outgoing user; at the start of any of the
    // ticket's source IPs; or anywhere in the customer's name or external id.
    if let Some(search) = matching.text {
        let mut matches: Condition<'a> = if sqlite {
            // Column by column: SQLite's LIKE ignores ASCII case by itself.
            let pattern = || search.free.pattern.clone();
            Box::new(
                sql::<Bool>("(tickets.subject LIKE ")
                    .bind::<SqlText, _>(pattern())
                    .sql(" ESCAPE '\\' OR tickets.identity LIKE ")
                    .bind::<SqlText, _>(pattern())
                    .sql(" ESCAPE '\\' OR tickets.outgoing_user LIKE ")
                    .bind::<SqlText, _>(pattern())
                    .sql(" ESCAPE '\\')"),
            )
        } else {
            Box::new(search_text_like("tickets", &search.free.pattern))
        };
        if let Some(prefix) = &search.free.ip_prefix {
            matches = Box::new(matches.or(sql::<Bool>(&format!(
                "EXISTS (SELECT 1 FROM ticket_source_ips s WHERE s.ticket_id = tickets.id AND {})",
                prefix.condition("s.source_ip", sqlite)
            ))));
        }
        if !search.customers.is_empty() {
            let list: Vec<String> = search.customers.iter().map(|c| c.0.to_string()).collect();
            matches = Box::new(matches.or(sql::<Bool>(&format!(
                "tickets.customer_id IN ({})",
                list.join(",")
            ))));
        }
        all.push(matches);
    }
    // Keyset: the rows after the cursor, its values bound so that the statement is prepared.
    if let Some(c) = after {
        let id = c.id.0;
        let time = || from_micros(c.key).into_sql::<Timestamp>();
        all.push(match sort {
            Sort::LastSeen | Sort::Events24h => {
                Box::new(RowBefore::new(tickets::last_seen, tickets::id, time(), id))
            }
            Sort::FirstSeen => {
                Box::new(RowBefore::new(tickets::first_seen, tickets::id, time(), id))
            }
            Sort::Events => Box::new(RowBefore::new(
                tickets::event_count,
                tickets::id,
                c.key.into_sql::<BigInt>(),
                id,
            )),
        });
    }
    all
}
