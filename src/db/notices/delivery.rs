//! Delivering notices: one notifications row per recipient, claimed by a sender, then sent,
//! retried or failed; rows a dead sender left are put back.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::{CustomerId, TicketId};
use crate::db::schema::{notice_tickets, notifications};
use crate::db::DbConn;

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
