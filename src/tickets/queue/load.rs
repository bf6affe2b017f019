//! One page of the queue as staff see it: the request's names resolved, the page found (by
//! its sort, or by walking the cached 24-hour ranking), each row's lock state, and the
//! counts per status.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;

use super::{
    page, ranking_since, status_counts, Assignee, Cursor, QueueFilter, QueueRow, Sort, TextSample,
    RECENT,
};
use crate::cache::Cached;
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::locks::{self, Lock};
use crate::db::DbConn;
use crate::tickets::{Class, Severity, Status};

/// Rows per page.
pub const PAGE: i64 = 50;
/// Tickets of the 24-hour ranking looked at by the first query of a page; by the next ones,
/// as many as the filter's pass rate so far says will fill the page (quadrupling while
/// nothing passes), up to the largest chunk; and at most per page.
const RANK_FIRST: usize = PAGE as usize + 1;
const RANK_CHUNK: usize = 2_000;
const RANK_SCAN: usize = 20_000;
/// Tickets in the sample that tells free text how common it is: enough that a text in one
/// ticket of fifty shows in about eighty of them.
const TEXT_SAMPLE: usize = 4_096;

/// The queue's figures that are fine a few seconds old. Writes made through the web drop the
/// counts and the ranking, so staff see their own changes at once.
pub struct QueueCaches {
    pub status_counts: Cached<HashMap<Status, i64>>,
    pub ranking_24h: Cached<Vec<(TicketId, i64)>>,
    /// How common a free text or a feed is, estimated from a sample of the tickets; the
    /// share of tickets holding a text changes slowly, so a sample serves for minutes and is
    /// not dropped by writes.
    pub text_sample: Cached<TextSample>,
}

impl Default for QueueCaches {
    fn default() -> Self {
        Self {
            status_counts: Cached::new(Duration::from_secs(10)),
            ranking_24h: Cached::new(Duration::from_secs(30)),
            text_sample: Cached::new(Duration::from_secs(300)),
        }
    }
}

impl QueueCaches {
    /// Forgets the counts and the ranking, after a write.
    pub fn clear(&self) {
        self.status_counts.clear();
        self.ranking_24h.clear();
    }
}

/// Who a page is filtered to, by name as the URL gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssigneeName {
    User(UserId),
    Nobody,
    Named(String),
}

/// A page of the queue as asked for, names unresolved.
#[derive(Clone, Debug)]
pub struct QueueRequest {
    /// None: every status.
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub class: Option<Class>,
    /// A customer's external id (an unknown one matches nothing).
    pub customer: Option<String>,
    pub unresolved: bool,
    pub replied: bool,
    pub assignee: Option<AssigneeName>,
    pub feed: Option<String>,
    pub text: Option<String>,
    pub sort: Sort,
    pub after: Option<Cursor>,
}

impl Default for QueueRequest {
    fn default() -> Self {
        Self {
            status: Some(Status::Open),
            severity: None,
            class: None,
            customer: None,
            unresolved: false,
            replied: false,
            assignee: None,
            feed: None,
            text: None,
            sort: Sort::LastSeen,
            after: None,
        }
    }
}

impl QueueRequest {
    /// The filter, with the names looked up: an unknown customer or user matches nothing
    /// rather than everything.
    fn filter(&self, conn: &mut DbConn) -> QueryResult<QueueFilter> {
        let customer = match &self.customer {
            None => None,
            Some(external) => Some(
                crate::db::customers::id_by_external(conn, external)?.unwrap_or(CustomerId(-1)),
            ),
        };
        let assignee = match &self.assignee {
            None => None,
            Some(AssigneeName::User(id)) => Some(Assignee::User(*id)),
            Some(AssigneeName::Nobody) => Some(Assignee::Nobody),
            Some(AssigneeName::Named(name)) => Some(Assignee::User(
                crate::db::users::id_of(conn, name)?.unwrap_or(UserId(-1)),
            )),
        };
        Ok(QueueFilter {
            status: self.status,
            severity: self.severity,
            class: self.class.clone(),
            customer,
            unresolved: self.unresolved,
            replied: self.replied,
            assignee,
            feed: self.feed.clone(),
            text: self.text.clone(),
        })
    }
}

/// A queue row with its lock state.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    pub row: QueueRow,
    pub lock: Option<Lock>,
}

/// One page of the queue.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// The cursor of the next page.
    pub next: Option<String>,
    pub counts: HashMap<Status, i64>,
}

/// The targets a row's lock state is looked up by.
fn lock_targets(row: &QueueRow) -> Vec<&str> {
    let mut targets = vec![row.subject.as_str()];
    targets.extend(row.identity.as_deref());
    targets.extend(row.outgoing_user.as_deref());
    // A suspended account is locked as a whole.
    targets.extend(row.customer_external_id.as_deref());
    targets
}

/// Loads one page of the queue: the rows, their 24-hour counts and locks, the status counts.
pub fn load_page(
    conn: &mut DbConn,
    caches: &QueueCaches,
    req: &QueueRequest,
) -> QueryResult<QueuePage> {
    let (sort, after) = (req.sort, req.after);
    let filter = req.filter(conn)?;
    let now = crate::db::now();
    let (rows, scanned_to) = if sort == Sort::Events24h {
        ranked_page(conn, caches, &filter, after, now - RECENT)?
    } else {
        // The sample tells how common a text or a feed is, and how many tickets there are.
        let sample = if filter.text.is_some() || filter.feed.is_some() {
            Some(
                caches
                    .text_sample
                    .get_or_compute(|| TextSample::take(conn, TEXT_SAMPLE))?,
            )
        } else {
            None
        };
        let rows = page(
            conn,
            &filter,
            sort,
            after,
            PAGE + 1,
            None,
            sample.as_deref(),
        )?;
        (rows, None)
    };
    let more = rows.len() > PAGE as usize || scanned_to.is_some();
    let rows: Vec<QueueRow> = rows.into_iter().take(PAGE as usize).collect();
    let targets: Vec<&str> = rows.iter().flat_map(lock_targets).collect();
    let held = locks::in_force(conn, &targets)?;
    let next = if more {
        scanned_to.or_else(|| rows.last().map(|r| r.cursor(sort).encode()))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let lock = lock_targets(&row)
                .into_iter()
                .find_map(|t| held.get(t).cloned());
            QueueItem { lock, row }
        })
        .collect();
    let counts = (*caches
        .status_counts
        .get_or_compute(|| status_counts(conn))?)
    .clone();
    Ok(QueuePage {
        items,
        next,
        counts,
    })
}

/// A page in the order of the (cached) 24-hour ranking: walks the ranking from the cursor in
/// chunks, keeping the tickets that pass the filter, each with the ranking's count. Returns a
/// resume cursor when it stopped scanning before filling the page.
fn ranked_page(
    conn: &mut DbConn,
    caches: &QueueCaches,
    filter: &QueueFilter,
    after: Option<Cursor>,
    since: chrono::NaiveDateTime,
) -> QueryResult<(Vec<QueueRow>, Option<String>)> {
    let ranking = caches
        .ranking_24h
        .get_or_compute(|| ranking_since(conn, since))?;
    let mut pos = after.map_or(0, |c| {
        ranking.partition_point(|&(id, n)| n > c.key || (n == c.key && id > c.id))
    });
    if let (Some(c), Some(&(id, n))) = (after, ranking.get(pos)) {
        if id == c.id && n == c.key {
            pos += 1;
        }
    }
    let mut rows = Vec::new();
    let mut scanned = 0;
    // Without a filter the first chunk fills the page; a narrow filter widens the chunks.
    let mut chunk_len = RANK_FIRST;
    while pos < ranking.len() && rows.len() <= PAGE as usize {
        if scanned >= RANK_SCAN {
            let (id, n) = ranking[pos - 1];
            return Ok((rows, Some(Cursor { key: n, id }.encode())));
        }
        let chunk = &ranking[pos..(pos + chunk_len).min(ranking.len())];
        let ids: Vec<TicketId> = chunk.iter().map(|(id, _)| *id).collect();
        let mut found: HashMap<TicketId, QueueRow> = page(
            conn,
            filter,
            Sort::LastSeen,
            None,
            RANK_CHUNK as i64,
            Some(&ids),
            None,
        )?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
        for &(id, n) in chunk {
            if let Some(mut row) = found.remove(&id) {
                // The ranking's count, which its order and cursors rest on.
                row.events_24h = n;
                rows.push(row);
                if rows.len() > PAGE as usize {
                    break;
                }
            }
        }
        pos += chunk.len();
        scanned += chunk.len();
        chunk_len = next_chunk(chunk_len, rows.len(), scanned);
    }
    Ok((rows, None))
}

/// How many tickets of the ranking the next query of a page looks at, after `scanned` gave
/// `found` rows: enough for the rows still missing at the filter's pass rate so far, with a
/// quarter to spare, so that the usual filter (open tickets) needs one small query more
/// rather than a large one; four times the last chunk while nothing has passed.
fn next_chunk(last: usize, found: usize, scanned: usize) -> usize {
    let missing = (PAGE as usize + 1).saturating_sub(found);
    let wanted = if found == 0 {
        last * 4
    } else {
        missing * scanned * 5 / (found * 4) + 4
    };
    wanted.clamp(missing.max(1), RANK_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_ranking_chunk_follows_the_filters_pass_rate() {
        // 40 of the first 51 passed: 11 missing, at 40/51 about 14, with a quarter to spare.
        assert_eq!(next_chunk(51, 40, 51), 21);
        // One in a hundred passes: the missing 50 need about 5,000, capped.
        assert_eq!(next_chunk(51, 1, 100), RANK_CHUNK);
        // Nothing passed yet: four times the last chunk.
        assert_eq!(next_chunk(51, 0, 51), 204);
        assert_eq!(next_chunk(1_000, 0, 1_255), RANK_CHUNK);
        // Never fewer than the rows still missing.
        assert_eq!(next_chunk(51, 50, 51), 5);
        assert!(next_chunk(51, 30, 31) >= 21);
    }
}
