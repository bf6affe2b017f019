//! Statements diesel prepares once per connection and then only re-binds: fragments with a
//! fixed text and a static `QueryId`. Text given to `diesel::sql_query` is never cached (diesel
//! prepares, runs and finalizes it on every call), nor is an UPDATE its query builder makes;
//! for a statement run once per row of a batch, preparing it cost more than running it
//! (docs/benchmarks.md, 2026-12-03). Used by the import writer's per-row statements on SQLite
//! ([`super::ingest_sqlite`], `tickets::apply_sqlite`) and the Outgoing Reports' counts.

/// Gives each statement type (a struct with one lifetime) a static `QueryId`, so diesel keeps
/// it prepared, and the `execute`/`load` methods of `RunQueryDsl`.
macro_rules! prepared_once {
    ($($statement:ident),+ $(,)?) => {
        $(
            impl diesel::query_builder::QueryId for $statement<'_> {
                type QueryId = $statement<'static>;
                const HAS_STATIC_QUERY_ID: bool = true;
            }

            impl<Conn> diesel::RunQueryDsl<Conn> for $statement<'_> {}
        )+
    };
}

/// Binds the values of a row, `?, ?, …` in the order given, between the column list the
/// statement wrote (without its closing parenthesis) and what follows the values.
macro_rules! bind_values {
    ($out:ident; $first_type:ty => $first:expr $(, $type:ty => $value:expr)* $(,)?) => {
        $out.push_sql(") VALUES (");
        $out.push_bind_param::<$first_type, _>($first)?;
        $(
            $out.push_sql(", ");
            $out.push_bind_param::<$type, _>($value)?;
        )*
        $out.push_sql(") ");
    };
}

pub(crate) use {bind_values, prepared_once};
