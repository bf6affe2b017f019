//! How common a free text or a feed is, told by a sample of the tickets before any index
//! is asked, and how many tickets an index is asked for.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::ids::TicketId;
use crate::db::schema::{ticket_reporters, tickets};
use crate::db::DbConn;

/// How many tickets a free-text search asks its indexes for before it calls the text common:
/// where fetching and sorting that many matches costs what walking the sort order to fill a
/// page of `limit` costs when one ticket in (tickets / that many) matches, i.e. the square
/// root of `limit` × tickets. Ticket ids count up, so the highest stands for the number.
pub(super) fn probe_limit(limit: i64, tickets: i64) -> i64 {
    let balance = ((limit.max(1) as f64) * (tickets.max(0) as f64)).sqrt() as i64;
    balance.clamp(limit.max(500), 20_000)
}

/// The highest ticket id (0 without tickets): ids count up, so it stands for the number of
/// tickets.
pub(super) fn highest_ticket_id(conn: &mut DbConn) -> QueryResult<i64> {
    Ok(tickets::table
        .select(diesel::dsl::max(tickets::id))
        .first::<Option<TicketId>>(conn)?
        .map_or(0, |id| id.0))
}

/// A random sample of the tickets' searchable text (subject, identity and outgoing user,
/// lower-cased) and of their reporters, which tells how common a free text or a feed is
/// before any index is asked: a text in one sampled ticket of twenty is in about one ticket
/// of twenty. It is what a planner's statistics are to a query, and like them it may be
/// minutes old.
pub struct TextSample {
    /// The sampled tickets' texts, each ended by a NUL (their columns separated by line
    /// breaks), in one string so that a search runs through it in one sweep.
    texts: String,
    /// How many sampled tickets each reporter (lower-cased) reported on.
    reporters: HashMap<String, usize>,
    /// How many ticket ids were drawn (an id with no ticket behind it counts as a ticket
    /// without the text).
    drawn: usize,
    /// The highest ticket id when the sample was taken.
    pub(super) highest: i64,
}

impl TextSample {
    /// Draws up to `size` distinct ticket ids at random and reads their text and reporters;
    /// every ticket where there are no more than `size`.
    pub fn take(conn: &mut DbConn, size: usize) -> QueryResult<Self> {
        use rand::seq::index;
        let highest = highest_ticket_id(conn)?;
        let ids: Vec<TicketId> = if highest as usize <= size {
            (1..=highest).map(TicketId).collect()
        } else {
            index::sample(&mut rand::rng(), highest as usize, size)
                .into_iter()
                .map(|i| TicketId(i as i64 + 1))
                .collect()
        };
        let mut texts = String::new();
        let mut reporters: HashMap<String, usize> = HashMap::new();
        for chunk in ids.chunks(500) {
            let names: Vec<String> = ticket_reporters::table
                .filter(ticket_reporters::ticket_id.eq_any(chunk))
                .select(ticket_reporters::reporter)
                .load(conn)?;
            for name in names {
                *reporters.entry(name.to_lowercase()).or_default() += 1;
            }
            let rows: Vec<(String, Option<String>, Option<String>)> = tickets::table
                .filter(tickets::id.eq_any(chunk))
                .select((tickets::subject, tickets::identity, tickets::outgoing_user))
                .load(conn)?;
            for (subject, identity, user) in rows {
                let text = format!(
                    "{subject}\n{}\n{}",
                    identity.unwrap_or_default(),
                    user.unwrap_or_default()
                );
                texts.push_str(&text.to_lowercase().replace('\0', ""));
                texts.push('\0');
            }
        }
        Ok(Self {
            texts,
            reporters,
            drawn: ids.len(),
            highest,
        })
    }

    /// About how many tickets a reporter whose name holds `feed` reported on (a ticket two
    /// such reporters reported on counts twice).
    pub fn estimate_feed(&self, feed: &str) -> i64 {
        let feed = feed.to_lowercase();
        let hits: usize = self
            .reporters
            .iter()
            .filter(|(name, _)| name.contains(&feed))
            .map(|(_, tickets)| tickets)
            .sum();
        self.scale(hits)
    }

    /// `hits` sampled tickets, scaled to all tickets.
    fn scale(&self, hits: usize) -> i64 {
        if self.drawn == 0 {
            return 0;
        }
        (hits as f64 * self.highest as f64 / self.drawn as f64).round() as i64
    }

    /// About how many tickets hold `text` in their subject, identity or outgoing user.
    pub fn estimate(&self, text: &str) -> i64 {
        let text = text.to_lowercase();
        if self.drawn == 0 || text.contains('\0') {
            return 0;
        }
        let finder = memchr::memmem::Finder::new(text.as_bytes());
        let hay = self.texts.as_bytes();
        let (mut hits, mut at) = (0usize, 0usize);
        while let Some(found) = finder.find(&hay[at..]) {
            hits += 1;
            // On to the next ticket's text: each ticket counts once.
            let end = at + found;
            at = match memchr::memchr(0, &hay[end..]) {
                Some(nul) => end + nul + 1,
                None => break,
            };
        }
        self.scale(hits)
    }
}
