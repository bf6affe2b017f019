//! Whether a statement is prepared once or planned afresh for its values.
//!
//! diesel keeps a prepared statement per connection for every statement whose SQL stays the
//! same from call to call; Postgres plans it for its first five calls' values and then, if a
//! plan made without looking at the values is estimated to cost no more, keeps that one plan
//! for good. The queue's page query spent more of Postgres's time being parsed and planned
//! (its table has a dozen indexes to weigh) than being run, so its parts are written here to
//! be prepared and planned once:
//! - a keyset condition with its values bound ([`RowBefore`]);
//! - the page size and the status written into the statement ([`Limited`], [`Written`]): a
//!   plan for an unknown LIMIT assumes a tenth of the rows are wanted, and one for an unknown
//!   status a fifth of the tickets, so their estimates would never match the plans made for
//!   51 rows of the open tickets, and every call would be planned again.
//!
//! Where the best plan does depend on the values (the tickets a search found: three ids are
//! fetched by id, thousands are better tested while walking the sort order), [`Replanned`]
//! asks for the statement to be planned every time.

use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression};
use diesel::expression::{AsExpression, ValidGrouping};
use diesel::query_builder::Query;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::MultiBackend;

/// `(column, id) < (key, id)`: the rows after a keyset cursor, as a row-value comparison that
/// both planners turn into an index range starting right at the cursor (an OR of the two
/// comparisons would make them scan every row sharing the key first). The values are bound.
#[derive(Debug, Clone)]
pub struct RowBefore<C, I, K> {
    column: C,
    id_column: I,
    key: K,
    id: diesel::dsl::AsExprOf<i64, BigInt>,
}

impl<C, I, K> RowBefore<C, I, K> {
    pub fn new(column: C, id_column: I, key: K, id: i64) -> Self {
        Self {
            column,
            id_column,
            key,
            id: AsExpression::<BigInt>::as_expression(id),
        }
    }
}

impl<C, I, K> Expression for RowBefore<C, I, K> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, I: AppearsOnTable<QS>, K, QS> AppearsOnTable<QS>
    for RowBefore<C, I, K>
{
}

impl<C: AppearsOnTable<QS>, I: AppearsOnTable<QS>, K, QS> SelectableExpression<QS>
    for RowBefore<C, I, K>
{
}

impl<C, I, K> ValidGrouping<()> for RowBefore<C, I, K> {
    type IsAggregate = is_aggregate::Never;
}

impl<C, I, K> QueryId for RowBefore<C, I, K> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, I, K, DB> QueryFragment<DB> for RowBefore<C, I, K>
where
    DB: Backend,
    C: QueryFragment<DB>,
    I: QueryFragment<DB>,
    K: QueryFragment<DB>,
    diesel::dsl::AsExprOf<i64, BigInt>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id_column.walk_ast(out.reborrow())?;
        out.push_sql(") < (");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// An expression whose statement is planned for its values on every call, never prepared
/// once for all.
#[derive(Debug, Clone)]
pub struct Replanned<T>(pub T);

impl<T: Expression> Expression for Replanned<T> {
    type SqlType = T::SqlType;
}

impl<T: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Replanned<T> {}

impl<T: SelectableExpression<QS>, QS> SelectableExpression<QS> for Replanned<T> {}

impl<T: ValidGrouping<()>> ValidGrouping<()> for Replanned<T> {
    type IsAggregate = T::IsAggregate;
}

impl<T> QueryId for Replanned<T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Replanned<T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out.reborrow())
    }
}

/// A text constant of the program's own (a ticket status), written into the statement rather
/// than bound.
#[derive(Debug, Clone, Copy)]
pub struct Written(pub &'static str);

impl Expression for Written {
    type SqlType = Text;
}

impl<QS> AppearsOnTable<QS> for Written {}

impl<QS> SelectableExpression<QS> for Written {}

impl ValidGrouping<()> for Written {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Written {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> QueryFragment<DB> for Written {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("'");
        out.push_sql(&self.0.replace('\'', "''"));
        out.push_sql("'");
        Ok(())
    }
}

/// `query LIMIT n`, with `n` written into the statement.
#[derive(Debug, Clone)]
pub struct Limited<Q> {
    query: Q,
    limit: i64,
}

impl<Q> Limited<Q> {
    /// `query`, which must have no LIMIT of its own, limited to `limit` rows.
    pub fn new(query: Q, limit: i64) -> Self {
        Self { query, limit }
    }
}

impl<Q: Query> Query for Limited<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Limited<Q> {}

impl<Q> QueryId for Limited<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Limited<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT ");
        out.push_sql(&self.limit.max(0).to_string());
        Ok(())
    }
}

/// `(SELECT value)`: a bound value the planner cannot look at, since a subquery's result is
/// known only when the statement runs. Postgres estimates a condition on it the same way
/// whether a plan is made for the call's values or for none, so it keeps the plan made
/// without them after its first five calls instead of planning every call for its value.
/// For a value whose best plan never depends on it (the start of the last 24 hours).
#[derive(Debug, Clone)]
pub struct Unestimated<T>(pub T);

impl<T: Expression> Expression for Unestimated<T> {
    type SqlType = T::SqlType;
}

impl<T: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Unestimated<T> {}

impl<T: SelectableExpression<QS>, QS> SelectableExpression<QS> for Unestimated<T> {}

impl<T> ValidGrouping<()> for Unestimated<T> {
    type IsAggregate = is_aggregate::Never;
}

impl<T> QueryId for Unestimated<T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Unestimated<T> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(SELECT ");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// `column IN (values)`, one statement whatever the number of values, so that it is prepared
/// once per connection. diesel's `eq_any` binds Postgres's list as one array, but writes a
/// placeholder per value for SQLite, and never keeps such a statement prepared: each call
/// was parsed and planned again (a queue page's customers and locks, twice per request).
/// SQLite reads the list here from one bound JSON array instead.
#[derive(Debug, Clone)]
pub struct OneOf<C, E> {
    column: C,
    /// The same test as diesel writes it, for Postgres.
    any: E,
    json: String,
}

impl<C, E> OneOf<C, E> {
    /// `column IN values`; `any` is `column.eq_any(values)`.
    pub fn new<V: serde::Serialize>(column: C, any: E, values: &[V]) -> Self {
        // Numbers and text always serialise.
        let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned());
        Self { column, any, json }
    }
}

impl<C, E> Expression for OneOf<C, E> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, E, QS> AppearsOnTable<QS> for OneOf<C, E> {}

impl<C: SelectableExpression<QS>, E, QS> SelectableExpression<QS> for OneOf<C, E> {}

impl<C, E> ValidGrouping<()> for OneOf<C, E> {
    type IsAggregate = is_aggregate::Never;
}

impl<C, E> QueryId for OneOf<C, E> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, E> QueryFragment<MultiBackend> for OneOf<C, E>
where
    C: QueryFragment<MultiBackend>,
    E: QueryFragment<MultiBackend>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        // Which database the statement is written for (diesel's own SQL functions ask the
        // same way).
        if let MultiBackend::Sqlite(_) = out.backend() {
            self.column.walk_ast(out.reborrow())?;
            out.push_sql(" IN (SELECT value FROM json_each(");
            out.push_bind_param::<Text, String>(&self.json)?;
            out.push_sql("))");
            Ok(())
        } else {
            self.any.walk_ast(out.reborrow())
        }
    }
}
