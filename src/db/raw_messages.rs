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

/// A message to store, as the writer hands it over.
#[derive(Clone, Copy)]
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

/// Stores the messages of `chunk` whose sha256 is not known yet, on Postgres. The new ones go
/// in by a binary COPY: unlike an INSERT of array columns, the server neither assembles nor
/// takes apart an array of every message, and it writes the rows in bulk. COPY cannot skip
/// a known sha256, so the known ones are looked up first; should another writer store one
/// of the same messages meanwhile, the COPY fails under its savepoint and the chunk is stored
/// by the INSERT that skips known rows.
fn insert_new_pg(
    pg: &mut diesel::PgConnection,
    chunk: &[RawMessageInsertForm<'_>],
) -> QueryResult<Vec<(String, RawMessageId)>> {
    use diesel::result::{DatabaseErrorKind, Error};
    let shas: Vec<&str> = chunk.iter().map(|f| f.sha256).collect();
    let known: std::collections::HashSet<String> = raw_messages::table
        .filter(raw_messages::sha256.eq_any(&shas))
        .select(raw_messages::sha256)
        .load::<String>(pg)?
        .into_iter()
        .collect();
    let new: Vec<RawMessageInsertForm<'_>> = chunk
        .iter()
        .filter(|f| !known.contains(f.sha256))
        .copied()
        .collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    // The ids are taken first, so the rows need not be looked up again after the COPY.
    let ids: Vec<RawMessageId> = diesel::sql_query(NEXT_IDS_PG)
        .bind::<diesel::sql_types::Integer, _>(new.len() as i32)
        .load::<NextId>(pg)?
        .into_iter()
        .map(|row| row.id)
        .collect();
    let rows: Vec<RawMessageCopyForm<'_>> = ids
        .iter()
        .zip(&new)
        .map(|(&id, &form)| RawMessageCopyForm::new(id, form))
        .collect();
    let copied = pg.transaction(|pg| {
        diesel::copy_from(raw_messages::table)
            .from_insertable(&rows)
            .execute(pg)
    });
    match copied {
        Ok(_) => Ok(new.iter().map(|f| f.sha256.to_owned()).zip(ids).collect()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            insert_new_skipping_known_pg(pg, &new)
        }
        Err(e) => Err(e),
    }
}

/// Ids for `$1` new rows, from the identity sequence of `raw_messages.id`.
const NEXT_IDS_PG: &str = "SELECT nextval('raw_messages_id_seq') AS id FROM generate_series(1, $1)";

#[derive(QueryableByName)]
struct NextId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: RawMessageId,
}

/// A new row as the COPY writes it: a form with the id taken for it beforehand (COPY takes
/// no defaults, and a derived `Insertable` with an embedded form is not one it can write).
#[derive(Insertable)]
#[diesel(table_name = raw_messages, treat_none_as_default_value = false)]
struct RawMessageCopyForm<'a> {
    id: RawMessageId,
    sha256: &'a str,
    compression: &'a str,
    content: &'a [u8],
    size_bytes: i64,
    source: &'a str,
    mailbox: Option<&'a str>,
    received_at: NaiveDateTime,
    parse_status: &'a str,
    parse_error_kind: Option<&'a str>,
    parse_error: Option<&'a str>,
    processed_at: Option<NaiveDateTime>,
}

impl<'a> RawMessageCopyForm<'a> {
    fn new(id: RawMessageId, form: RawMessageInsertForm<'a>) -> Self {
        Self {
            id,
            sha256: form.sha256,
            compression: form.compression,
            content: form.content,
            size_bytes: form.size_bytes,
            source: form.source,
            mailbox: form.mailbox,
            received_at: form.received_at,
            parse_status: form.parse_status,
            parse_error_kind: form.parse_error_kind,
            parse_error: form.parse_error,
            processed_at: form.processed_at,
        }
    }
}

/// The INSERT that skips known sha256s, with every column passed as an array.
fn insert_new_skipping_known_pg<'a>(
    pg: &mut diesel::PgConnection,
    chunk: &[RawMessageInsertForm<'a>],
) -> QueryResult<Vec<(String, RawMessageId)>> {
    use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text, Timestamp};
    let column = |f: fn(&RawMessageInsertForm<'a>) -> Option<&'a str>| -> Vec<Option<&'a str>> {
        chunk.iter().map(f).collect()
    };
    let rows: Vec<StoredId> = diesel::sql_query(INSERT_NEW_PG)
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.sha256).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.compression).collect::<Vec<_>>())
        .bind::<Array<Binary>, _>(chunk.iter().map(|f| f.content).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(chunk.iter().map(|f| f.size_bytes).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.source).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(column(|f| f.mailbox))
        .bind::<Array<Timestamp>, _>(chunk.iter().map(|f| f.received_at).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(chunk.iter().map(|f| f.parse_status).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(column(|f| f.parse_error_kind))
        .bind::<Array<Nullable<Text>>, _>(column(|f| f.parse_error))
        .bind::<Array<Nullable<Timestamp>>, _>(
            chunk.iter().map(|f| f.processed_at).collect::<Vec<_>>(),
        )
        .load(pg)?;
    Ok(rows.into_iter().map(|r| (r.sha256, r.id)).collect())
}

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
    let mut stored = HashMap::with_capacity(forms.len());
    match conn {
        DbConn::Postgres(pg) => {
            // Chunks bound the memory a statement takes: each row carries a whole message.
            for chunk in forms.chunks(1000) {
                stored.extend(insert_new_pg(pg, chunk)?);
            }
        }
        // One row per statement, prepared once and re-bound: unlike a multi-row insert,
        // without a statement journal copying each page it touches.
        DbConn::Sqlite(lite) => {
            use super::ingest_sqlite::{last_insert_rowid, InsertRawMessage};
            for form in forms {
                if InsertRawMessage(form).execute(lite)? == 1 {
                    let id = diesel::select(last_insert_rowid()).get_result::<i64>(lite)?;
                    stored.insert(form.sha256.to_owned(), RawMessageId(id));
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

/// The stored message with this sha256 (hex), if there is one.
pub fn by_sha256(conn: &mut DbConn, sha256: &str) -> QueryResult<Option<StoredMessage>> {
    raw_messages::table
        .filter(raw_messages::sha256.eq(sha256))
        .select(StoredMessage::as_select())
        .first(conn)
        .optional()
}

/// The latest `limit` quarantined messages, newest first.
pub fn quarantine_newest(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<StoredMessage>> {
    raw_messages::table
        .filter(raw_messages::parse_status.eq(ParseStatus::Quarantined.as_str()))
        .order(raw_messages::id.desc())
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

/// What a purged message's row holds instead of its content: nothing to decompress, so every
/// reader sees "no stored bytes" and asks [`purged_at`] why.
const PURGED: &str = "purged";

/// Empties the content of up to `limit` messages received before `cutoff`, oldest first;
/// returns how many. Rows, sizes, parse outcomes and the events pointing at them stay. The
/// statement only touches rows not purged yet, so two instances running it at once purge
/// each message once.
pub fn purge_batch(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    limit: i64,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let ids: Vec<RawMessageId> = raw_messages::table
        .filter(raw_messages::purged_at.is_null())
        .filter(raw_messages::received_at.lt(cutoff))
        .order(raw_messages::received_at)
        .limit(limit)
        .select(raw_messages::id)
        .load(conn)?;
    purge(conn, &ids, at)
}

/// Empties the content of these messages (those not purged already); returns how many.
pub fn purge(conn: &mut DbConn, ids: &[RawMessageId], at: NaiveDateTime) -> QueryResult<usize> {
    let mut purged = 0;
    for chunk in ids.chunks(500) {
        purged += diesel::update(
            raw_messages::table
                .filter(raw_messages::id.eq_any(chunk))
                .filter(raw_messages::purged_at.is_null()),
        )
        .set((
            raw_messages::content.eq(Vec::<u8>::new()),
            raw_messages::compression.eq(PURGED),
            raw_messages::purged_at.eq(at),
        ))
        .execute(conn)?;
    }
    Ok(purged)
}

/// Which of these messages had their content purged.
pub fn purged_among(conn: &mut DbConn, ids: &[RawMessageId]) -> QueryResult<Vec<RawMessageId>> {
    let mut purged = Vec::new();
    for chunk in ids.chunks(500) {
        purged.extend(
            raw_messages::table
                .filter(raw_messages::id.eq_any(chunk))
                .filter(raw_messages::purged_at.is_not_null())
                .select(raw_messages::id)
                .load::<RawMessageId>(conn)?,
        );
    }
    Ok(purged)
}

/// When the message's content was purged, if it was.
pub fn purged_at(conn: &mut DbConn, id: RawMessageId) -> QueryResult<Option<NaiveDateTime>> {
    Ok(raw_messages::table
        .find(id)
        .select(raw_messages::purged_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten())
}
