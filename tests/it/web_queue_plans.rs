//! How the database plans the queue: SQLite gathers its planner statistics itself; Postgres
//! prepares the page query once per connection and plans a page among many tickets anew.

use std::collections::BTreeMap;

use crate::support;
use crate::web::{spawn_app, spec};
use crate::web_queue::seed;

/// A SQLite database has the planner's statistics without anyone running ANALYZE: a
/// connection gathers them when it opens, for every table that has none (or has changed a
/// lot), so the queue is planned knowing its indexes.
#[actix_web::test]
async fn sqlite_gathers_the_planner_statistics_itself() {
    use diesel::prelude::*;
    let app = spawn_app(support::sqlite()).await;
    seed(&app);
    let abuse_desk::db::DbConn::Sqlite(mut conn) = app.conn() else {
        unreachable!("a SQLite test database")
    };
    let indexes_with_statistics: i64 =
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'tickets' AND idx IS NOT NULL)",
        ))
        .get_result(&mut conn)
        .unwrap();
    assert!(
        indexes_with_statistics >= 5,
        "the tickets' queue indexes analysed: {indexes_with_statistics}"
    );
}

/// A statement Postgres holds prepared for this connection.
#[derive(diesel::QueryableByName)]
struct Prepared {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
    /// How many times it was run.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    runs: i64,
}

/// How often a prepared statement ran on the plan Postgres keeps for it.
#[derive(diesel::QueryableByName)]
struct GenericPlans {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
}

/// On Postgres the page query is prepared once per connection, so that it is not parsed and
/// planned again on every request; a page among more tickets than are surely best fetched by
/// id is planned for them each time.
#[actix_web::test]
async fn postgres_prepares_the_page_query_once_and_plans_a_page_among_many_anew() {
    use abuse_desk::tickets::queue::{page, page_probing, Probe, QueueFilter, Sort};
    use diesel::RunQueryDsl;
    let Some(db) =
        support::postgres("postgres_prepares_the_page_query_once_and_plans_a_page_among_many_anew")
    else {
        return;
    };
    let app = spawn_app(db).await;
    seed(&app);
    let mut conn = app.conn();
    // The page statements prepared, and how often each ran.
    let runs = |conn: &mut abuse_desk::db::DbConn| -> BTreeMap<String, i64> {
        diesel::sql_query(
            "SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements",
        )
        .load::<Prepared>(conn)
        .unwrap()
        .into_iter()
        .filter(|p| p.statement.contains("\"tickets\".\"subject_kind\""))
        .map(|p| (p.statement, p.runs))
        .collect()
    };
    let prepared =
        |conn: &mut abuse_desk::db::DbConn| -> Vec<String> { runs(conn).into_keys().collect() };
    let open = QueueFilter {
        status: Some(abuse_desk::tickets::Status::Open),
        ..QueueFilter::default()
    };
    let first = page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    let again = page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    assert_eq!(
        first.iter().map(|r| r.id).collect::<Vec<_>>(),
        again.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(statements[0].contains("'open'") && statements[0].ends_with("LIMIT 51"));
    // Past its first five calls, Postgres runs it on the one plan it keeps instead of
    // planning each call for its values (the start of the last 24 hours).
    for _ in 0..5 {
        page(&mut conn, &open, Sort::LastSeen, None, 51, None, None).unwrap();
    }
    let generic: Vec<GenericPlans> = diesel::sql_query(
        "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE '%LIMIT 51'",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        generic.len() == 1 && generic[0].generic_plans >= 1,
        "the first page's statement runs on a kept plan"
    );

    // The next page: the cursor's values bound, so one statement serves every page.
    let after = Some(first[9].cursor(Sort::LastSeen));
    let deeper = Some(first[20].cursor(Sort::LastSeen));
    let next = page(&mut conn, &open, Sort::LastSeen, after, 5, None, None).unwrap();
    let later = page(&mut conn, &open, Sort::LastSeen, deeper, 5, None, None).unwrap();
    assert_eq!(next[0].id, first[10].id);
    assert_eq!(later[0].id, first[21].id);
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(statements.iter().any(|s| s.contains(") < ($")));

    // Unresolved tickets: the page's ids from an index first, then those rows by id, a
    // statement kept too (a page's ids are always fetched the same way).
    let unresolved = QueueFilter {
        unresolved: true,
        ..open.clone()
    };
    let rows = page(&mut conn, &unresolved, Sort::LastSeen, None, 51, None, None).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.customer_id.is_none()));
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 3, "{statements:#?}");
    assert!(statements.iter().any(|s| s.contains("= ANY($")));

    // A search the indexes answer with a few tickets: fetched by id, kept prepared too.
    let search = QueueFilter {
        text: Some("user7@".into()),
        ..open.clone()
    };
    let found = page(&mut conn, &search, Sort::LastSeen, None, 51, None, None).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].identity.as_deref(),
        Some("user7@northwind.example")
    );
    let statements = prepared(&mut conn);
    assert_eq!(statements.len(), 4, "{statements:#?}");
    let before = runs(&mut conn);

    // More found tickets than are surely best fetched by id: planned for them every time.
    let many = abuse_desk::tickets::queue::FETCHED_BY_ID as u64 + 1;
    let bulk: Vec<_> = (0..many)
        .map(|n| {
            let identity = format!("bulk{n}@contoso.example");
            spec(10_000 + n, Some(&identity), &identity, "203.0.113.80")
        })
        .collect();
    app.ingest(&bulk);
    let contoso = QueueFilter {
        text: Some("contoso".into()),
        ..open.clone()
    };
    let rows = page_probing(
        &mut conn,
        &contoso,
        Probe::each(100_000),
        Sort::LastSeen,
        None,
        51,
        None,
    )
    .unwrap();
    assert_eq!(rows.len(), 51);
    assert!(rows.iter().all(|r| r
        .identity
        .as_deref()
        .is_some_and(|i| i.ends_with("@contoso.example"))));
    // Not one prepared statement ran for it: the page went as a statement of its own.
    assert_eq!(runs(&mut conn), before);
}
