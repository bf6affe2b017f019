//! The customer's self-service page in storage: links with a random token of which only the
//! hash is kept, scoped to one customer and expiring; the customer's open tickets; and what
//! the customer says there (a reply becomes a note on the ticket, "fixed" a customer status).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor};
use super::ids::{CustomerId, TicketId};
use super::schema::{customer_tokens, notes, tickets};
use super::DbConn;
use crate::tickets::Status;

/// The stored form of a token: its SHA-256, hex.
fn hashed(token: &str) -> String {
    crate::hex::hex(&Sha256::digest(token.as_bytes()))
}

/// A new link for `customer`, valid until `expires_at`: the token (128 random bits, hex),
/// shown once, in the notice that carries it.
pub fn issue(
    conn: &mut DbConn,
    customer: CustomerId,
    at: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<String> {
    let bytes: [u8; 16] = rand::random();
    let token = crate::hex::hex(&bytes);
    diesel::insert_into(customer_tokens::table)
        .values((
            customer_tokens::customer_id.eq(customer),
            customer_tokens::token_hash.eq(hashed(&token)),
            customer_tokens::created_at.eq(at),
            customer_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The customer a token opens the page of, while it has not expired at `at`.
pub fn customer_of(
    conn: &mut DbConn,
    token: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<CustomerId>> {
    // Anything but a token's shape is not looked up at all.
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    customer_tokens::table
        .filter(customer_tokens::token_hash.eq(hashed(&token.to_ascii_lowercase())))
        .filter(customer_tokens::expires_at.gt(at))
        .select(customer_tokens::customer_id)
        .first(conn)
        .optional()
}

/// The customer's tickets still being worked (open or resolved), newest first.
pub fn open_tickets(conn: &mut DbConn, customer: CustomerId) -> QueryResult<Vec<TicketId>> {
    tickets::table
        .filter(tickets::customer_id.eq(customer))
        .filter(tickets::status.eq_any([Status::Open, Status::Resolved]))
        .order(tickets::last_seen.desc())
        .limit(100)
        .select(tickets::id)
        .load(conn)
}

/// What the customer wrote on one ticket's page, oldest first (at most 50 answers): when, and
/// the text. Staff notes are not shown to the customer.
pub fn answers(conn: &mut DbConn, ticket: TicketId) -> QueryResult<Vec<(NaiveDateTime, String)>> {
    notes::table
        .filter(notes::ticket_id.eq(ticket))
        .filter(notes::by_customer.eq(true))
        .order((notes::created_at.asc(), notes::id.asc()))
        .limit(50)
        .select((notes::created_at, notes::body))
        .load(conn)
}

/// What the customer did on the page.
#[derive(Clone, Copy, Debug)]
pub enum Said<'a> {
    Reply(&'a str),
    Fixed,
}

/// Records what the customer said about one of its own tickets (a ticket of another customer
/// is refused as not found): a reply as a note by the customer, "fixed" as its status; both
/// mark the ticket as answered by the customer, for the queue. Audited.
pub fn say(
    conn: &mut DbConn,
    customer: CustomerId,
    ticket: TicketId,
    said: Said<'_>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::write(conn, |conn| {
        let owned: Option<TicketId> = tickets::table
            .filter(tickets::id.eq(ticket))
            .filter(tickets::customer_id.eq(customer))
            .filter(tickets::status.eq_any([Status::Open, Status::Resolved]))
            .select(tickets::id)
            .first(conn)
            .optional()?;
        if owned.is_none() {
            return Ok(false);
        }
        let (detail, status) = match said {
            Said::Reply(body) => {
                diesel::insert_into(notes::table)
                    .values((
                        notes::ticket_id.eq(ticket),
                        notes::author_id.eq(None::<i64>),
                        notes::body.eq(body),
                        notes::created_at.eq(at),
                        notes::by_customer.eq(true),
                    ))
                    .execute(conn)?;
                ("the customer replied", None)
            }
            Said::Fixed => ("the customer says it is fixed", Some("fixed")),
        };
        diesel::update(tickets::table.find(ticket))
            .set((
                tickets::customer_replied_at.eq(Some(at)),
                tickets::updated_at.eq(at),
            ))
            .execute(conn)?;
        if let Some(status) = status {
            diesel::update(tickets::table.find(ticket))
                .set(tickets::customer_status.eq(Some(status)))
                .execute(conn)?;
        }
        audit::record(
            conn,
            at,
            Actor::Customer,
            "customer",
            Some(ticket),
            Some(customer),
            detail,
        )?;
        Ok(true)
    })
}
