//! Where the poller stands in each mailbox: the folder's UIDVALIDITY, the highest UID whose
//! message is stored (written in the same transaction as the batch), the last poll and its
//! error, and on SQLite the lease that keeps two pollers of one mailbox apart.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use super::schema::mailbox_state;
use super::{now, DbConn};

/// One mailbox's row.
#[derive(Queryable, Selectable, Debug, Clone, PartialEq, Eq, Serialize)]
#[diesel(table_name = mailbox_state)]
pub struct MailboxState {
    pub mailbox: String,
    /// 0 until the folder was first selected (IMAP UIDVALIDITY is never 0).
    pub uid_validity: i64,
    pub last_uid: i64,
    pub last_poll_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = mailbox_state)]
struct NewRow<'a> {
    mailbox: &'a str,
    uid_validity: i64,
    last_uid: i64,
    updated_at: NaiveDateTime,
}

/// Makes sure the mailbox has a row (so it can be leased) and returns it.
pub fn ensure(conn: &mut DbConn, mailbox: &str) -> QueryResult<MailboxState> {
    let row = NewRow {
        mailbox,
        uid_validity: 0,
        last_uid: 0,
        updated_at: now(),
    };
    crate::dispatch!(conn, c => diesel::insert_into(mailbox_state::table)
        .values(&row)
        .on_conflict(mailbox_state::mailbox)
        .do_nothing()
        .execute(c))?;
    get(conn, mailbox)
}

pub fn get(conn: &mut DbConn, mailbox: &str) -> QueryResult<MailboxState> {
    mailbox_state::table
        .filter(mailbox_state::mailbox.eq(mailbox))
        .select(MailboxState::as_select())
        .first(conn)
}

/// The mailbox's row, if it was ever polled.
pub fn find(conn: &mut DbConn, mailbox: &str) -> QueryResult<Option<MailboxState>> {
    get(conn, mailbox).optional()
}

/// Every mailbox's row, by name (for status pages and tests).
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<MailboxState>> {
    mailbox_state::table
        .order(mailbox_state::mailbox)
        .select(MailboxState::as_select())
        .load(conn)
}

/// The folder has a new UIDVALIDITY (first poll, or it was recreated): every UID known so
/// far means nothing any more, so reading starts again from the first message. What was
/// stored before is recognised by its sha256 and counted once.
pub fn reset(conn: &mut DbConn, mailbox: &str, uid_validity: u32) -> QueryResult<()> {
    diesel::update(mailbox_state::table.filter(mailbox_state::mailbox.eq(mailbox)))
        .set((
            mailbox_state::uid_validity.eq(i64::from(uid_validity)),
            mailbox_state::last_uid.eq(0),
            mailbox_state::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that every message up to `uid` is stored; called inside the batch's transaction.
/// Never moves backwards.
pub fn advance(conn: &mut DbConn, mailbox: &str, uid: u32) -> QueryResult<()> {
    diesel::update(
        mailbox_state::table
            .filter(mailbox_state::mailbox.eq(mailbox))
            .filter(mailbox_state::last_uid.lt(i64::from(uid))),
    )
    .set((
        mailbox_state::last_uid.eq(i64::from(uid)),
        mailbox_state::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(())
}

/// Records the end of a poll: when, and its error (None clears an earlier one).
pub fn finish(conn: &mut DbConn, mailbox: &str, error: Option<&str>) -> QueryResult<()> {
    let at = now();
    diesel::update(mailbox_state::table.filter(mailbox_state::mailbox.eq(mailbox)))
        .set((
            mailbox_state::last_poll_at.eq(Some(at)),
            mailbox_state::last_error.eq(error),
            mailbox_state::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claims the mailbox for `owner` until `now + length`, unless another owner holds an
/// unexpired lease. Returns whether the claim succeeded. The single conditional UPDATE is
/// atomic, so two pollers racing for it cannot both win.
pub fn take_lease(
    conn: &mut DbConn,
    mailbox: &str,
    owner: &str,
    length: Duration,
) -> QueryResult<bool> {
    let at = now();
    let taken = diesel::update(
        mailbox_state::table
            .filter(mailbox_state::mailbox.eq(mailbox))
            .filter(
                mailbox_state::lease_until
                    .is_null()
                    .or(mailbox_state::lease_until.lt(at))
                    .or(mailbox_state::lease_owner.eq(owner)),
            ),
    )
    .set((
        mailbox_state::lease_owner.eq(owner),
        mailbox_state::lease_until.eq(at + length),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Who holds the mailbox's lease now, if anyone (expired or not).
pub fn lease_holder(conn: &mut DbConn, mailbox: &str) -> QueryResult<Option<String>> {
    Ok(mailbox_state::table
        .filter(mailbox_state::mailbox.eq(mailbox))
        .select(mailbox_state::lease_owner)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Takes the lease over from `holder`, known to be dead, unless someone else took it
/// meanwhile. One conditional UPDATE, like [`take_lease`].
pub fn take_over_lease(
    conn: &mut DbConn,
    mailbox: &str,
    holder: &str,
    owner: &str,
    length: Duration,
) -> QueryResult<bool> {
    let taken = diesel::update(
        mailbox_state::table
            .filter(mailbox_state::mailbox.eq(mailbox))
            .filter(mailbox_state::lease_owner.eq(holder)),
    )
    .set((
        mailbox_state::lease_owner.eq(owner),
        mailbox_state::lease_until.eq(now() + length),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Gives the lease up, if `owner` still holds it.
pub fn release_lease(conn: &mut DbConn, mailbox: &str, owner: &str) -> QueryResult<()> {
    diesel::update(
        mailbox_state::table
            .filter(mailbox_state::mailbox.eq(mailbox))
            .filter(mailbox_state::lease_owner.eq(owner)),
    )
    .set((
        mailbox_state::lease_owner.eq(None::<String>),
        mailbox_state::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}
