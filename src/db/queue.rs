//! The ticket queue as staff read it: filters, sort orders and keyset pages. Every sort walks
//! an index in order (see the `web_queue` migration) and a page continues after the last row
//! of the previous one, so a deep page costs what the first one does.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;

use super::ids::{CustomerId, TicketId, UserId};
use super::plans::{Limited, Replanned, RowBefore, Written};
use super::schema::{
    customers, events, reporters, ticket_reporters, ticket_source_ips, tickets, users,
};
use super::tickets::Status;
use super::DbConn;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Who a ticket is assigned to, as a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    User(UserId),
    Nobody,
}

/// The queue's filters; `None` means "any".
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub status: Option<Status>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub customer: Option<CustomerId>,
    /// Only tickets no customer could be found for.
    pub unresolved: bool,
    pub assignee: Option<Assignee>,
    /// Part of the reporter (the reporting software or MTA, e.g. `AOL SComp`): the feed a
    /// complaint came from.
    pub feed: Option<String>,
    /// Free text over subject, identity, source IP and customer.
    pub text: Option<String>,
}

/// The queue's sort orders, all descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    LastSeen,
    Events,
    Events24h,
    FirstSeen,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Self::LastSeen,
        Self::Events,
        Self::Events24h,
        Self::FirstSeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastSeen => "last_seen",
            Self::Events => "events",
            Self::Events24h => "events_24h",
            Self::FirstSeen => "first_seen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.as_str() == s)
    }
}

/// Where a page starts: after the row with this sort key and id. Times are microseconds since
/// the epoch so that every cursor is two integers in the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: TicketId,
}

impl Cursor {
    /// `KEY_ID`, as the queue's `after` parameter carries it.
    pub fn parse(s: &str) -> Option<Self> {
        let (key, id) = s.split_once('_')?;
        Some(Self {
            key: key.parse().ok()?,
            id: TicketId(id.parse().ok()?),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.key, self.id.0)
    }
}

pub fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn from_micros(m: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(m)
        .unwrap_or_default()
        .naive_utc()
}

/// One row of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub customer_external_id: Option<String>,
    pub customer_name: Option<String>,
    pub subject_kind: String,
    pub subject: String,
    pub class: String,
    pub severity: String,
    pub status: String,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub last_source_ip: Option<String>,
    pub assignee: Option<String>,
    /// Events of the last [`RECENT`], counted by the page query for the rows it returns
    /// (0 for rows fetched by id: their caller has the count from the 24-hour ranking).
    pub events_24h: i64,
}

/// How far back "recent" events go: the queue's 24-hour column and sort.
pub const RECENT: chrono::Duration = chrono::Duration::hours(24);

impl QueueRow {
    /// This row's key in `sort`.
    pub fn cursor(&self, sort: Sort) -> Cursor {
        let key = match sort {
            Sort::LastSeen => micros(self.last_seen),
            Sort::FirstSeen => micros(self.first_seen),
            Sort::Events => self.event_count,
            Sort::Events24h => self.events_24h,
        };
        Cursor { key, id: self.id }
    }
}

/// `%text%` for LIKE, with LIKE's own wildcards in `text` taken literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of tickets matching `filter`, in `sort` order, after `after`. With `only`, the
/// page is restricted to those ticket ids (the caller then orders them itself and supplies
/// their 24-hour counts). With a `sample` of the tickets' text, free text that the sample
/// shows to be common goes straight to the walk in sort order, without first asking the
/// indexes for its matches.
pub fn page(
    conn: &mut DbConn,
    filter: &QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    limit: i64,
    only: Option<&[TicketId]>,
    sample: Option<&TextSample>,
) -> QueryResult<Vec<QueueRow>> {
    let mut probe = Probe::each(0);
    if only.is_none() && (filter.text.is_some() || filter.feed.is_some()) {
        // The sample's highest ticket id saves a query; minutes old at most, it only steers
        // how the page is found, never what it holds.
        let highest = match sample {
            Some(sample) => sample.highest,
            None => highest_ticket_id(conn)?,
        };
        let limit = probe_limit(limit, highest);
        // 0 asks no index: the text or feed is common.
        probe.text = match (filter.text.as_deref(), sample) {
            (Some(text), Some(sample)) if sample.estimate(text) >= limit => 0,
            _ => limit,
        };
        probe.feed = match (filter.feed.as_deref(), sample) {
            (Some(feed), Some(sample)) if sample.estimate_feed(feed) >= limit => 0,
            _ => limit,
        };
    }
    page_probing(conn, filter, sort, after, limit, only, probe)
}

/// How many tickets the indexes of free text and of the feed filter are asked for at most
/// (see [`page_probing`]).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub text: i64,
    pub feed: i64,
}

impl Probe {
    /// The same number for both.
    pub fn each(n: i64) -> Self {
        Self { text: n, feed: n }
    }
}

/// [`page`], with free text and the feed filter each asking their indexes for at most as many
/// tickets as `probe` says: fewer, and the page is taken from those; as many, and the text or
/// feed is common enough that walking the sort order and testing row by row fills the page
/// sooner than fetching and sorting every match. A probe of 0 takes it as common without
/// asking.
pub fn page_probing(
    conn: &mut DbConn,
    filter: &QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    limit: i64,
    only: Option<&[TicketId]>,
    probe: Probe,
) -> QueryResult<Vec<QueueRow>> {
    let search = match filter.text.as_deref() {
        Some(text) => Some(Search::new(conn, text)?),
        None => None,
    };
    let reporters = match filter.feed.as_deref() {
        Some(feed) => Some(reporters_named(conn, feed)?),
        None => None,
    };
    if reporters.as_ref().is_some_and(Vec::is_empty) {
        // No reporter's name holds the feed's.
        return Ok(Vec::new());
    }
    // What the indexes find where they find few tickets (a few given tickets are tested).
    let (by_text, by_feed) = match only {
        Some(_) => (None, None),
        None => (
            match &search {
                Some(search) => search.candidates(conn, probe.text)?,
                None => None,
            },
            match &reporters {
                Some(reporters) => feed_candidates(conn, reporters, probe.feed)?,
                None => None,
            },
        ),
    };
    let among: Option<Vec<TicketId>> = match (by_text.as_deref(), by_feed.as_deref()) {
        (Some(text), Some(feed)) => {
            let feed: std::collections::HashSet<&TicketId> = feed.iter().collect();
            Some(
                text.iter()
                    .filter(|id| feed.contains(id))
                    .copied()
                    .collect(),
            )
        }
        (Some(ids), None) | (None, Some(ids)) => Some(ids.to_vec()),
        (None, None) => None,
    };
    if among.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let matching = Matching {
        among: among.as_deref(),
        // Common text or feed, or a few given tickets: testing each is cheaper than any index.
        text: search.as_ref().filter(|_| by_text.is_none()),
        reporters: reporters.as_deref().filter(|_| by_feed.is_none()),
    };
    load(conn, filter, sort, after, only, matching, limit)
}

/// The reporters whose name holds `feed`, ignoring case.
fn reporters_named(conn: &mut DbConn, feed: &str) -> QueryResult<Vec<String>> {
    reporters::table
        .filter(
            lower(reporters::reporter)
                .like(like_pattern(&feed.to_lowercase()))
                .escape('\\'),
        )
        .select(reporters::reporter)
        .load(conn)
}

/// The tickets `reporters` reported on, or `None` where the index holds `probe` or more of
/// them (a probe of 0 asks nothing).
fn feed_candidates(
    conn: &mut DbConn,
    reporters: &[String],
    probe: i64,
) -> QueryResult<Option<Vec<TicketId>>> {
    if probe <= 0 {
        return Ok(None);
    }
    let mut found: Vec<TicketId> = ticket_reporters::table
        .filter(ticket_reporters::reporter.eq_any(reporters))
        .select(ticket_reporters::ticket_id)
        .limit(probe)
        .load(conn)?;
    // A ticket several of the reporters reported on comes once for each: an answer that
    // reached the limit is cut short all the same.
    if found.len() as i64 >= probe {
        return Ok(None);
    }
    found.sort_unstable();
    found.dedup();
    Ok(Some(found))
}

/// How many tickets a free-text search asks its indexes for before it calls the text common:
/// where fetching and sorting that many matches costs what walking the sort order to fill a
/// page of `limit` costs when one ticket in (tickets / that many) matches, i.e. the square
/// root of `limit` × tickets. Ticket ids count up, so the highest stands for the number.
fn probe_limit(limit: i64, tickets: i64) -> i64 {
    let balance = ((limit.max(1) as f64) * (tickets.max(0) as f64)).sqrt() as i64;
    balance.clamp(limit.max(500), 20_000)
}

/// The highest ticket id (0 without tickets): ids count up, so it stands for the number of
/// tickets.
fn highest_ticket_id(conn: &mut DbConn) -> QueryResult<i64> {
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
    highest: i64,
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

/// A free-text search, prepared once per page: the LIKE pattern, the customers whose name or
/// external id holds the text, and the text as a source IP prefix where it looks like one.
struct Search {
    text: String,
    pattern: String,
    customers: Vec<CustomerId>,
    ip_prefix: Option<String>,
}

/// A rowid an FTS5 index returns.
#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

impl Search {
    fn new(conn: &mut DbConn, text: &str) -> QueryResult<Self> {
        let text = text.to_lowercase();
        let pattern = like_pattern(&text);
        // The matching customers first, through their trigram indexes (a text shorter than
        // a trigram tests every customer), so that tickets are then found by customer id.
        let customers = if !conn_is_sqlite(conn) {
            customers::table
                .filter(search_text_like("customers", &pattern))
                .select(customers::id)
                .limit(2000)
                .load(conn)?
        } else if holds_a_trigram(&text) {
            fts_rowids(conn, "customers_search", &text, 2000)?
                .into_iter()
                .map(CustomerId)
                .collect()
        } else {
            // SQLite's LIKE ignores ASCII case by itself.
            customers::table
                .filter(
                    customers::name
                        .like(pattern.clone())
                        .escape('\\')
                        .or(customers::external_id.like(pattern.clone()).escape('\\')),
                )
                .select(customers::id)
                .limit(2000)
                .load(conn)?
        };
        let ip_prefix = looks_like_ip_prefix(&text).then(|| text.clone());
        Ok(Self {
            text,
            pattern,
            customers,
            ip_prefix,
        })
    }

    /// The tickets the indexes find for this text — trigrams of subject, identity and outgoing
    /// user (FTS5 on SQLite, `pg_trgm` on Postgres), the source IP prefix, the customers'
    /// tickets — or `None` when they find `probe` or more, or the text is too short for
    /// trigrams. Each index is asked for at most `probe`, so a common text costs no more.
    fn candidates(&self, conn: &mut DbConn, probe: i64) -> QueryResult<Option<Vec<TicketId>>> {
        use diesel::dsl::sql;
        use diesel::sql_types::Bool;
        if probe <= 0 || !holds_a_trigram(&self.text) {
            return Ok(None);
        }
        let sqlite = conn_is_sqlite(conn);
        // Each index's answer, whole unless it reached `probe` rows.
        let mut answers: Vec<Vec<TicketId>> = Vec::with_capacity(3);
        answers.push(if sqlite {
            fts_rowids(conn, "tickets_search", &self.text, probe)?
                .into_iter()
                .map(TicketId)
                .collect()
        } else {
            tickets::table
                .filter(search_text_like("tickets", &self.pattern))
                .select(tickets::id)
                .limit(probe)
                .load(conn)?
        });
        if let Some(prefix) = &self.ip_prefix {
            answers.push(
                ticket_source_ips::table
                    .filter(sql::<Bool>(&ip_prefix_match(
                        "ticket_source_ips.source_ip",
                        prefix,
                        sqlite,
                    )))
                    .select(ticket_source_ips::ticket_id)
                    .limit(probe)
                    .load::<TicketId>(conn)?,
            );
        }
        if !self.customers.is_empty() {
            answers.push(
                tickets::table
                    .filter(tickets::customer_id.eq_any(&self.customers))
                    .select(tickets::id)
                    .limit(probe)
                    .load::<TicketId>(conn)?,
            );
        }
        // A ticket seen from several matching IPs comes more than once, so an answer that
        // reached the limit may hold fewer tickets: it is cut short all the same.
        if answers.iter().any(|a| a.len() as i64 >= probe) {
            return Ok(None);
        }
        let mut found: Vec<TicketId> = answers.concat();
        found.sort_unstable();
        found.dedup();
        Ok((found.len() < probe as usize).then_some(found))
    }
}

/// The condition that `column` (a source IP) starts with `prefix`, in a form the source IP
/// index answers: GLOB on SQLite, LIKE on Postgres (`text_pattern_ops`). The prefix is
/// written into the statement rather than bound: SQLite plans a statement without looking at
/// bound values (see `.cargo/config.toml`), and only a pattern it can read walks the index.
/// That is safe because only an IP prefix's characters (hex digits, dots, colons: no quote,
/// no wildcard) are ever written; any other text matches nothing.
fn ip_prefix_match(column: &str, prefix: &str, sqlite: bool) -> String {
    if !looks_like_ip_prefix(prefix) {
        return "1 = 0".to_owned();
    }
    if sqlite {
        format!("{column} GLOB '{prefix}*'")
    } else {
        format!("{column} LIKE '{prefix}%'")
    }
}

/// Postgres: `table.search_text LIKE pattern`, the lower-cased text of a ticket or customer
/// that free text looks in (a generated column with a trigram index, see the migrations).
fn search_text_like(table: &str, pattern: &str) -> SearchTextLike {
    diesel::dsl::sql::<Bool>(&format!("{table}.search_text LIKE "))
        .bind::<diesel::sql_types::Text, _>(pattern.to_owned())
        .sql(" ESCAPE '\\'")
}

type SearchTextLike = diesel::expression::SqlLiteral<
    Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<Bool>,
        diesel::dsl::AsExprOf<String, diesel::sql_types::Text>,
    >,
>;

fn conn_is_sqlite(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Sqlite(_))
}

/// Whether `text` is long enough for a trigram index to find it (three characters).
fn holds_a_trigram(text: &str) -> bool {
    text.chars().nth(2).is_some()
}

/// The rowids of at most `limit` rows of the FTS5 trigram table `table` that hold `text`: as a
/// quoted phrase, a substring in any column, any case.
fn fts_rowids(conn: &mut DbConn, table: &str, text: &str, limit: i64) -> QueryResult<Vec<i64>> {
    let phrase = format!("\"{}\"", text.replace('"', "\"\""));
    Ok(diesel::sql_query(format!(
        "SELECT rowid AS id FROM {table} WHERE {table} MATCH ? LIMIT ?"
    ))
    .bind::<diesel::sql_types::Text, _>(phrase)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load::<RowId>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// Digits with dots (`10.0.42.`) or hex digits with colons (`2001:db8:`): the start of an
/// IPv4 or IPv6 address, which free text matches against every source IP of a ticket.
fn looks_like_ip_prefix(text: &str) -> bool {
    let v4 = text.contains('.') && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let v6 = text.contains(':')
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    (v4 || v6) && text.chars().any(|c| c.is_ascii_hexdigit())
}

/// A condition on a ticket, whatever its shape.
type Condition<'a> = Box<
    dyn BoxableExpression<
            tickets::table,
            <DbConn as diesel::Connection>::Backend,
            SqlType = diesel::sql_types::Bool,
        > + 'a,
>;

/// How a page's query treats free text and the feed filter: the tickets their indexes found,
/// and what is left to test on each ticket.
#[derive(Clone, Copy, Default)]
struct Matching<'s> {
    /// Only these tickets, which the indexes found.
    among: Option<&'s [TicketId]>,
    /// Free text, tested on each ticket.
    text: Option<&'s Search>,
    /// The reporters the feed filter names, of which each ticket must have one.
    reporters: Option<&'s [String]>,
}

/// Up to how many given tickets a page's statement is kept prepared: this few are best fetched
/// by id whatever else is asked (at most a few milliseconds), the plan Postgres keeps for a
/// statement without looking at its values.
pub const FETCHED_BY_ID: usize = 1000;

/// The WHERE of a page: `filter` with free text and the feed filter as `matching` says, after
/// `after` in `sort` order.
fn conditions<'a>(
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
        all.push(Box::new(tickets::severity.eq(severity.clone())));
    }
    if let Some(class) = &filter.class {
        all.push(Box::new(tickets::class.eq(class.clone())));
    }
    if let Some(customer) = filter.customer {
        all.push(Box::new(
            tickets::customer_id.eq(customer).assume_not_null(),
        ));
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
            let pattern = || search.pattern.clone();
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
            Box::new(search_text_like("tickets", &search.pattern))
        };
        if let Some(prefix) = &search.ip_prefix {
            matches = Box::new(matches.or(sql::<Bool>(&format!(
                "EXISTS (SELECT 1 FROM ticket_source_ips s WHERE s.ticket_id = tickets.id AND {})",
                ip_prefix_match("s.source_ip", prefix, sqlite)
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

/// Runs the page query: `filter` with free text and the feed filter as `matching` says, in
/// `sort` order after `after`, at most `limit` rows.
fn load(
    conn: &mut DbConn,
    filter: &QueueFilter,
    sort: Sort,
    after: Option<Cursor>,
    only: Option<&[TicketId]>,
    matching: Matching<'_>,
    limit: i64,
) -> QueryResult<Vec<QueueRow>> {
    let sqlite = conn_is_sqlite(conn);
    // The 24-hour ranking's cursor counts events; the ranking is walked by the caller.
    let after = after.filter(|_| sort != Sort::Events24h);
    if !sqlite && only.is_none() && ids_first(filter, sort, matching) {
        // Postgres: the page's ids first, from an index alone; then those few rows whole.
        let mut ids = in_order(tickets::table.select(tickets::id).into_boxed(), sort);
        for condition in conditions(filter, sort, after, matching, sqlite) {
            ids = ids.filter(condition);
        }
        let ids: Vec<TicketId> = Limited::new(ids, limit).load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let page = QueueFilter::default();
        let matching = Matching {
            among: Some(&ids),
            ..Matching::default()
        };
        return load(conn, &page, sort, None, None, matching, limit);
    }
    // The 24-hour count is a subquery of the page query: run for the rows returned only,
    // without a second statement. Tickets fetched by id come from the 24-hour ranking, which
    // has their counts: for them the subquery is not run at all (0).
    let recent = diesel::dsl::case_when(
        only.is_none().into_sql::<Bool>(),
        events::table
            .filter(events::ticket_id.eq(tickets::id))
            .filter(events::arrival_at.ge(super::now() - RECENT))
            .count()
            .single_value()
            .assume_not_null(),
    )
    .otherwise(0i64.into_sql::<diesel::sql_types::BigInt>());
    // The tickets alone: their customers and assignees are read by id afterwards. Joined
    // here, they cost Postgres more to plan and to run than the page's own rows did.
    let mut query = tickets::table
        .select((
            tickets::id,
            tickets::customer_id,
            tickets::assignee_id,
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::event_count,
            tickets::first_seen,
            tickets::last_seen,
            tickets::identity,
            tickets::outgoing_user,
            tickets::last_source_ip,
            recent,
        ))
        .into_boxed();
    for condition in conditions(filter, sort, after, matching, sqlite) {
        query = query.filter(condition);
    }
    let rows: Vec<TicketRow> = match only {
        // The caller orders these itself; an ORDER BY would tempt the planner to walk a sort
        // index past every other ticket instead of fetching the few ids.
        Some(ids) => {
            Limited::new(query.filter(tickets::id.eq_any(ids.to_vec())), limit).load(conn)?
        }
        None => Limited::new(in_order(query, sort), limit).load(conn)?,
    };
    named(conn, rows)
}

/// A queue row as the tickets table holds it: its customer and assignee by id.
#[derive(Queryable)]
struct TicketRow {
    id: TicketId,
    customer_id: Option<CustomerId>,
    assignee_id: Option<UserId>,
    subject_kind: String,
    subject: String,
    class: String,
    severity: String,
    status: String,
    event_count: i64,
    first_seen: NaiveDateTime,
    last_seen: NaiveDateTime,
    identity: Option<String>,
    outgoing_user: Option<String>,
    last_source_ip: Option<String>,
    events_24h: i64,
}

/// The page's rows with their customers' and assignees' names, each read by id in one query
/// (none where no row has a customer, or an assignee).
fn named(conn: &mut DbConn, rows: Vec<TicketRow>) -> QueryResult<Vec<QueueRow>> {
    let mut wanted: Vec<CustomerId> = rows.iter().filter_map(|r| r.customer_id).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let customers: HashMap<CustomerId, (String, String)> = if wanted.is_empty() {
        HashMap::new()
    } else {
        customers::table
            .filter(customers::id.eq_any(&wanted))
            .select((customers::id, customers::external_id, customers::name))
            .load::<(CustomerId, String, String)>(conn)?
            .into_iter()
            .map(|(id, external_id, name)| (id, (external_id, name)))
            .collect()
    };
    let mut wanted: Vec<UserId> = rows.iter().filter_map(|r| r.assignee_id).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let assignees: HashMap<UserId, String> = if wanted.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(&wanted))
            .select((users::id, users::username))
            .load::<(UserId, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let customer = r.customer_id.and_then(|id| customers.get(&id));
            QueueRow {
                id: r.id,
                customer_id: r.customer_id,
                customer_external_id: customer.map(|c| c.0.clone()),
                customer_name: customer.map(|c| c.1.clone()),
                subject_kind: r.subject_kind,
                subject: r.subject,
                class: r.class,
                severity: r.severity,
                status: r.status,
                event_count: r.event_count,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                identity: r.identity,
                outgoing_user: r.outgoing_user,
                last_source_ip: r.last_source_ip,
                assignee: r.assignee_id.and_then(|id| assignees.get(&id).cloned()),
                events_24h: r.events_24h,
            }
        })
        .collect())
}

/// Postgres: whether a page is found faster in two steps — the ids of its rows by a query
/// that reads an index alone, then those rows whole — than by one query, which reads a
/// table page for every row it tests. That is where the query tests many rows for a page:
/// a common free text, or the unresolved filter, walking the last-seen order. The walk tests
/// each row on the index entry alone: the last-seen indexes hold the searchable text and the
/// customer (see the `queue_text_in_index` migration).
fn ids_first(filter: &QueueFilter, sort: Sort, matching: Matching<'_>) -> bool {
    matching.text.is_some() || (filter.unresolved && sort == Sort::LastSeen)
}

/// `query` in `sort` order, newest (or most) first, ties broken by id.
fn in_order<'a, ST: 'a>(
    query: tickets::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend, ST>,
    sort: Sort,
) -> tickets::BoxedQuery<'a, <DbConn as diesel::Connection>::Backend, ST> {
    match sort {
        Sort::LastSeen | Sort::Events24h => {
            query.order((tickets::last_seen.desc(), tickets::id.desc()))
        }
        Sort::FirstSeen => query.order((tickets::first_seen.desc(), tickets::id.desc())),
        Sort::Events => query.order((tickets::event_count.desc(), tickets::id.desc())),
    }
}

/// How many events each of `ids` received since `since`.
pub fn events_since(
    conn: &mut DbConn,
    ids: &[TicketId],
    since: NaiveDateTime,
) -> QueryResult<HashMap<TicketId, i64>> {
    let rows: Vec<(TicketId, i64)> = events::table
        .filter(events::ticket_id.eq_any(ids))
        .filter(events::arrival_at.ge(since))
        .group_by(events::ticket_id)
        .select((events::ticket_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Every ticket with events since `since` and how many, most first (ties: newest ticket
/// first). This is the whole ranking; callers cache it for a short while.
pub fn ranking_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<Vec<(TicketId, i64)>> {
    let mut rows: Vec<(TicketId, i64)> = events::table
        .filter(events::arrival_at.ge(since))
        .group_by(events::ticket_id)
        .select((events::ticket_id, diesel::dsl::count_star()))
        .load(conn)?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    Ok(rows)
}

/// How many tickets each status holds.
pub fn status_counts(conn: &mut DbConn) -> QueryResult<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = tickets::table
        .group_by(tickets::status)
        .select((tickets::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::ip_prefix_match;

    /// The prefix is written into the statement, so nothing but an IP prefix may ever be.
    #[test]
    fn only_an_ip_prefix_is_written_into_a_statement() {
        assert_eq!(
            ip_prefix_match("s.source_ip", "10.0.42.", true),
            "s.source_ip GLOB '10.0.42.*'"
        );
        assert_eq!(
            ip_prefix_match("s.source_ip", "2001:db8:", false),
            "s.source_ip LIKE '2001:db8:%'"
        );
        for text in [
            "10.0.' OR 1=1 --",
            "10.0.*",
            "10.0.%",
            "10.0._",
            "1.2 ",
            "",
            "..",
            "cafe",
        ] {
            assert_eq!(
                ip_prefix_match("s.source_ip", text, true),
                "1 = 0",
                "{text:?}"
            );
            assert_eq!(
                ip_prefix_match("s.source_ip", text, false),
                "1 = 0",
                "{text:?}"
            );
        }
    }
}
