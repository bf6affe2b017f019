//! Free text and the feed filter: what the indexes find for a text (trigrams of subject,
//! identity and outgoing user, source IP prefixes, customers) or a feed (the reporters'
//! per-ticket index), asked for a bounded number of tickets.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::db::ids::{CustomerId, TicketId};
use crate::db::schema::{customers, reporters, ticket_reporters, ticket_source_ips, tickets};
use crate::db::DbConn;

use crate::db::{like_contains, lower};

/// The reporters whose name holds `feed`, ignoring case.
pub(super) fn reporters_named(conn: &mut DbConn, feed: &str) -> QueryResult<Vec<String>> {
    reporters::table
        .filter(
            lower(reporters::reporter)
                .like(like_contains(&feed.to_lowercase()))
                .escape('\\'),
        )
        .select(reporters::reporter)
        .load(conn)
}

/// The tickets `reporters` reported on, or `None` where the index holds `probe` or more of
/// them (a probe of 0 asks nothing).
pub(super) fn feed_candidates(
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

/// Free text as the queue looks for it, read without the database: lower-cased, as a LIKE
/// pattern with LIKE's wildcards taken literally, as an FTS5 phrase with its quotes doubled,
/// and as a source IP prefix where it looks like one. Every part is bound to a statement
/// except the IP prefix, which holds nothing a statement could mistake for SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeText {
    pub text: String,
    pub pattern: String,
    pub phrase: String,
    pub ip_prefix: Option<IpPrefix>,
}

impl FreeText {
    /// The text as the queue's search box gives it.
    pub fn parse(text: &str) -> Self {
        let text = text.to_lowercase();
        Self {
            pattern: like_contains(&text),
            phrase: format!("\"{}\"", text.replace('"', "\"\"")),
            ip_prefix: IpPrefix::parse(&text),
            text,
        }
    }
}

/// A free-text search, prepared once per page: the text, and the customers whose name or
/// external id holds it.
pub(super) struct Search {
    pub(super) free: FreeText,
    pub(super) customers: Vec<CustomerId>,
}

/// A rowid an FTS5 index returns.
#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

impl Search {
    pub(super) fn new(conn: &mut DbConn, text: &str) -> QueryResult<Self> {
        let free = FreeText::parse(text);
        let pattern = &free.pattern;
        // The matching customers first, through their trigram indexes (a text shorter than
        // a trigram tests every customer), so that tickets are then found by customer id.
        let customers = if !conn_is_sqlite(conn) {
            customers::table
                .filter(search_text_like("customers", pattern))
                .select(customers::id)
                .limit(2000)
                .load(conn)?
        } else if holds_a_trigram(&free.text) {
            fts_rowids(conn, "customers_search", &free.phrase, 2000)?
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
        Ok(Self { free, customers })
    }

    /// The tickets the indexes find for this text — trigrams of subject, identity and outgoing
    /// user (FTS5 on SQLite, `pg_trgm` on Postgres), the source IP prefix, the customers'
    /// tickets — or `None` when they find `probe` or more, or the text is too short for
    /// trigrams. Each index is asked for at most `probe`, so a common text costs no more.
    pub(super) fn candidates(
        &self,
        conn: &mut DbConn,
        probe: i64,
    ) -> QueryResult<Option<Vec<TicketId>>> {
        use diesel::dsl::sql;
        use diesel::sql_types::Bool;
        let free = &self.free;
        if probe <= 0 || !holds_a_trigram(&free.text) {
            return Ok(None);
        }
        let sqlite = conn_is_sqlite(conn);
        // Each index's answer, whole unless it reached `probe` rows.
        let mut answers: Vec<Vec<TicketId>> = Vec::with_capacity(3);
        answers.push(if sqlite {
            fts_rowids(conn, "tickets_search", &free.phrase, probe)?
                .into_iter()
                .map(TicketId)
                .collect()
        } else {
            tickets::table
                .filter(search_text_like("tickets", &free.pattern))
                .select(tickets::id)
                .limit(probe)
                .load(conn)?
        });
        if let Some(prefix) = &free.ip_prefix {
            answers.push(
                ticket_source_ips::table
                    .filter(sql::<Bool>(
                        &prefix.condition("ticket_source_ips.source_ip", sqlite),
                    ))
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

/// The start of an IP address as free text gives it (`10.0.42.`, `2001:db8:`): digits with
/// dots, or hex digits with colons. It is written into statements rather than bound: SQLite
/// plans a statement without looking at bound values, and only a pattern it can read walks
/// the source IP index. That is safe because an `IpPrefix` can hold nothing but those
/// characters: no quote, no wildcard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPrefix(String);

impl IpPrefix {
    /// The text as an IP prefix, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        looks_like_ip_prefix(text).then(|| Self(text.to_owned()))
    }

    /// The prefix, as written into statements.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The condition that `column` (a source IP) starts with this prefix, in a form the
    /// source IP index answers: GLOB on SQLite, LIKE on Postgres (`text_pattern_ops`).
    pub(super) fn condition(&self, column: &'static str, sqlite: bool) -> String {
        let prefix = &self.0;
        if sqlite {
            format!("{column} GLOB '{prefix}*'")
        } else {
            format!("{column} LIKE '{prefix}%'")
        }
    }
}

/// Postgres: `table.search_text LIKE pattern`, the lower-cased text of a ticket or customer
/// that free text looks in (a generated column with a trigram index, see the migrations).
pub(super) fn search_text_like(table: &'static str, pattern: &str) -> SearchTextLike {
    diesel::dsl::sql::<Bool>(&format!("{table}.search_text LIKE "))
        .bind::<diesel::sql_types::Text, _>(pattern.to_owned())
        .sql(" ESCAPE '\\'")
}

pub(super) type SearchTextLike = diesel::expression::SqlLiteral<
    Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<Bool>,
        diesel::dsl::AsExprOf<String, diesel::sql_types::Text>,
    >,
>;

pub(super) fn conn_is_sqlite(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Sqlite(_))
}

/// Whether `text` is long enough for a trigram index to find it (three characters).
pub(super) fn holds_a_trigram(text: &str) -> bool {
    text.chars().nth(2).is_some()
}

/// The rowids of at most `limit` rows of the FTS5 trigram table `table` that hold `phrase`
/// (a [`FreeText`]'s): a substring in any column, any case.
fn fts_rowids(
    conn: &mut DbConn,
    table: &'static str,
    phrase: &str,
    limit: i64,
) -> QueryResult<Vec<i64>> {
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

#[cfg(test)]
mod tests {
    use super::{FreeText, IpPrefix};

    /// LIKE's wildcards and the FTS5 phrase's quotes are the user's characters.
    #[test]
    fn free_text_is_searched_for_literally() {
        let free = FreeText::parse("100%_\\ \"OFF\"");
        assert_eq!(free.text, "100%_\\ \"off\"");
        assert_eq!(free.pattern, "%100\\%\\_\\\\ \"off\"%");
        assert_eq!(free.phrase, "\"100%_\\ \"\"off\"\"\"");
        assert_eq!(free.ip_prefix, None);
        assert_eq!(
            FreeText::parse("2001:DB8:").ip_prefix,
            IpPrefix::parse("2001:db8:")
        );
    }

    /// The prefix is written into the statement, so nothing but an IP prefix may ever be.
    #[test]
    fn only_an_ip_prefix_is_written_into_a_statement() {
        let prefix = |t: &str| IpPrefix::parse(t).unwrap();
        assert_eq!(
            prefix("10.0.42.").condition("s.source_ip", true),
            "s.source_ip GLOB '10.0.42.*'"
        );
        assert_eq!(
            prefix("2001:db8:").condition("s.source_ip", false),
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
            assert_eq!(IpPrefix::parse(text), None, "{text:?}");
        }
    }
}
