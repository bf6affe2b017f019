//! Raw inbound messages: stored first, compressed, keyed by sha256, with the parse outcome.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ids::RawMessageId;
use super::schema::raw_messages;
use super::DbConn;

/// How a stored message was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseStatus {
    /// A feedback report, turned into an event.
    Report,
    /// Not a report, or broken: kept with the reason.
    Quarantined,
}

impl ParseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Quarantined => "quarantined",
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = raw_messages, treat_none_as_default_value = false)]
pub struct RawMessageInsertForm<'a> {
    pub sha256: &'a str,
    pub compression: &'a str,
    pub content: &'a [u8],
    pub size_bytes: i64,
    pub source: &'a str,
    pub mailbox: Option<&'a str>,
    pub received_at: NaiveDateTime,
    pub parse_status: &'a str,
    pub parse_error_kind: Option<&'a str>,
    pub parse_error: Option<&'a str>,
    pub processed_at: Option<NaiveDateTime>,
}

/// Postgres takes a whole batch in one statement, the columns passed as arrays.
const INSERT_NEW_PG: &str = "INSERT INTO raw_messages (sha256, compression, content, \
    size_bytes, source, mailbox, received_at, parse_status, parse_error_kind, parse_error, \
    processed_at) \
    SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::bytea[]), unnest($4::bigint[]), \
        unnest($5::text[]), unnest($6::text[]), unnest($7::timestamp[]), unnest($8::text[]), \
        unnest($9::text[]), unnest($10::text[]), unnest($11::timestamp[]) \
    ON CONFLICT (sha256) DO NOTHING RETURNING id, sha256";

#[derive(QueryableByName)]
struct StoredId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: RawMessageId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    sha256: String,
}

/// Stores every message whose sha256 is not known yet; returns the new rows' ids by sha256.
/// The forms must have distinct sha256s.
pub fn insert_new<'a>(
    conn: &mut DbConn,
    forms: &[RawMessageInsertForm<'a>],
) -> QueryResult<HashMap<String, RawMessageId>> {
    use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text, Timestamp};
    let mut stored = HashMap::with_capacity(forms.len());
    match conn {
        DbConn::Postgres(pg) => {
            // Chunks bound the statement's size: each row carries a whole compressed message.
            for chunk in forms.chunks(1000) {
                let column =
                    |f: fn(&RawMessageInsertForm<'a>) -> Option<&'a str>| -> Vec<Option<&'a str>> {
                        chunk.iter().map(f).collect()
                    };
                let rows: Vec<StoredId> = diesel::sql_query(INSERT_NEW_PG)
                    .bind::<Array<Text>, _>(chunk.iter().map(|f| f.sha256).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(chunk.iter().map(|f| f.compression).collect::<Vec<_>>())
                    .bind::<Array<Binary>, _>(chunk.iter().map(|f| f.content).collect::<Vec<_>>())
                    .bind::<Array<BigInt>, _>(
                        chunk.iter().map(|f| f.size_bytes).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(chunk.iter().map(|f| f.source).collect::<Vec<_>>())
                    .bind::<Array<Nullable<Text>>, _>(column(|f| f.mailbox))
                    .bind::<Array<Timestamp>, _>(
                        chunk.iter().map(|f| f.received_at).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(
                        chunk.iter().map(|f| f.parse_status).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Text>>, _>(column(|f| f.parse_error_kind))
                    .bind::<Array<Nullable<Text>>, _>(column(|f| f.parse_error))
                    .bind::<Array<Nullable<Timestamp>>, _>(
                        chunk.iter().map(|f| f.processed_at).collect::<Vec<_>>(),
                    )
                    .load(pg)?;
                stored.extend(rows.into_iter().map(|r| (r.sha256, r.id)));
            }
        }
        // One row per statement: prepared once and re-bound, and (unlike a multi-row insert)
        // without a statement journal copying each index page it touches.
        DbConn::Sqlite(lite) => {
            for form in forms {
                let id: Option<RawMessageId> = diesel::insert_into(raw_messages::table)
                    .values(form)
                    .on_conflict(raw_messages::sha256)
                    .do_nothing()
                    .returning(raw_messages::id)
                    .get_result(lite)
                    .optional()?;
                if let Some(id) = id {
                    stored.insert(form.sha256.to_owned(), id);
                }
            }
        }
    }
    Ok(stored)
}

/// A stored message as the quarantine list and reprocessing see it.
#[derive(Queryable, Selectable, Debug, Clone, Serialize)]
#[diesel(table_name = raw_messages)]
pub struct StoredMessage {
    pub id: RawMessageId,
    pub sha256: String,
    pub size_bytes: i64,
    pub source: String,
    pub mailbox: Option<String>,
    pub received_at: NaiveDateTime,
    pub parse_status: String,
    pub parse_error_kind: Option<String>,
    pub parse_error: Option<String>,
}

/// Quarantined messages, oldest first, after `after` (keyset paging).
pub fn quarantined(
    conn: &mut DbConn,
    after: RawMessageId,
    limit: i64,
) -> QueryResult<Vec<StoredMessage>> {
    raw_messages::table
        .filter(raw_messages::parse_status.eq(ParseStatus::Quarantined.as_str()))
        .filter(raw_messages::id.gt(after))
        .order(raw_messages::id)
        .limit(limit)
        .select(StoredMessage::as_select())
        .load(conn)
}

/// The stored bytes, decompressed.
pub fn content(conn: &mut DbConn, id: RawMessageId) -> QueryResult<Option<Vec<u8>>> {
    let row: Option<(String, Vec<u8>)> = raw_messages::table
        .find(id)
        .select((raw_messages::compression, raw_messages::content))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(compression, bytes)| decompress(&compression, &bytes)))
}

/// No message is this large; a stored length beyond it means a damaged row, not a size to
/// allocate.
const MAX_MESSAGE: usize = 256 << 20;

/// Bytes as written by the ingest path: `lz4` (block, length first), `zstd` (earlier
/// versions), or `none` for stored-as-is.
pub fn decompress(compression: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match compression {
        "lz4" => {
            let length = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
            if length > MAX_MESSAGE {
                return None;
            }
            lz4_flex::block::decompress_size_prepended(bytes).ok()
        }
        "zstd" => zstd::stream::decode_all(bytes).ok(),
        "none" => Some(bytes.to_vec()),
        _ => None,
    }
}

/// Records a new parse outcome for a stored message (reprocessing).
pub fn set_outcome(
    conn: &mut DbConn,
    id: RawMessageId,
    status: ParseStatus,
    error: Option<(&str, &str)>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(raw_messages::table.find(id))
        .set((
            raw_messages::parse_status.eq(status.as_str()),
            raw_messages::parse_error_kind.eq(error.map(|e| e.0)),
            raw_messages::parse_error.eq(error.map(|e| e.1)),
            raw_messages::processed_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which of these sha256s belong to stored messages that are quarantined (not reports): a
/// message seen again is routed like the first time it was stored.
pub fn quarantined_among(
    conn: &mut DbConn,
    sha256s: &[&str],
) -> QueryResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in sha256s.chunks(500) {
        found.extend(
            raw_messages::table
                .filter(raw_messages::sha256.eq_any(chunk))
                .filter(raw_messages::parse_status.eq(ParseStatus::Quarantined.as_str()))
                .select(raw_messages::sha256)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}
