//! The import writer's per-row statements on SQLite: a new raw message, the id it got, and a
//! new event. SQLite runs in-process, so a statement per row costs microseconds, but only once
//! it is prepared ([`super::prepared`]): preparing these INSERTs into tables with several
//! indexes cost more than running them.

use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Binary, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

use super::prepared::{bind_values, prepared_once};

use super::events::EventInsertForm;
use super::raw_messages::RawMessageInsertForm;

/// Stores a raw message unless its sha256 is known (then it inserts nothing). Without
/// RETURNING: SQLite runs RETURNING as a trigger, and a statement with a trigger copies every
/// page it touches to a statement journal first. The new id is [`last_insert_rowid`].
pub struct InsertRawMessage<'a>(pub &'a RawMessageInsertForm<'a>);

/// Inserts an event unless its dedup key is counted already.
pub struct InsertEvent<'a>(pub &'a EventInsertForm<'a>);

diesel::define_sql_function!(
    /// The rowid of the last row this connection inserted.
    fn last_insert_rowid() -> BigInt
);

prepared_once!(InsertRawMessage, InsertEvent);

impl QueryFragment<Sqlite> for InsertRawMessage<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let form = self.0;
        out.push_sql(
            "INSERT INTO raw_messages (sha256, compression, content, size_bytes, source, \
             mailbox, received_at, parse_status, parse_error_kind, parse_error, processed_at",
        );
        bind_values!(out;
            Text => form.sha256,
            Text => form.compression,
            Binary => form.content,
            BigInt => &form.size_bytes,
            Text => form.source,
            Nullable<Text> => &form.mailbox,
            Timestamp => &form.received_at,
            Text => form.parse_status,
            Nullable<Text> => &form.parse_error_kind,
            Nullable<Text> => &form.parse_error,
            Nullable<Timestamp> => &form.processed_at,
        );
        out.push_sql("ON CONFLICT (sha256) DO NOTHING");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for InsertEvent<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let form = self.0;
        out.push_sql(
            "INSERT INTO events (raw_message_id, ticket_id, customer_id, dedup_key, reporter, \
             feedback_type, source_ip, original_mail_from, original_message_id, \
             original_envelope_id, original_subject, identity, arrival_at, created_at, \
             outgoing_user",
        );
        bind_values!(out;
            BigInt => &form.raw_message_id,
            BigInt => &form.ticket_id,
            Nullable<BigInt> => &form.customer_id,
            Text => form.dedup_key,
            Text => form.reporter,
            Text => form.feedback_type,
            Nullable<Text> => &form.source_ip,
            Nullable<Text> => &form.original_mail_from,
            Nullable<Text> => &form.original_message_id,
            Nullable<Text> => &form.original_envelope_id,
            Nullable<Text> => &form.original_subject,
            Nullable<Text> => &form.identity,
            Timestamp => &form.arrival_at,
            Timestamp => &form.created_at,
            Nullable<Text> => &form.outgoing_user,
        );
        out.push_sql("ON CONFLICT (dedup_key) DO NOTHING");
        Ok(())
    }
}
