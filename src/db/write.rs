//! Transactions that write. On SQLite a plain `BEGIN` starts reading from a snapshot and asks
//! for the write lock only at the first write; if another connection committed in between,
//! that write fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT; the busy timeout
//! cannot help, the snapshot is stale). Two staff changing tickets at the same moment, or a
//! change beside an import, would see it. A transaction that will write therefore takes the
//! write lock when it begins (`BEGIN IMMEDIATE`), waiting its turn under the busy timeout.
//! Postgres needs nothing of the sort.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::DbConn;

/// Runs `work` in a transaction that writes: committed when it returns `Ok`, rolled back
/// otherwise. Inside another transaction it is a savepoint of that one, as
/// [`Connection::transaction`] would make it.
pub fn write<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let nested = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()
        .map_err(E::from)?
        .is_some();
    if nested {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE").map_err(E::from)?;
    let outcome = work(conn);
    let DbConn::Sqlite(sqlite) = conn else {
        unreachable!("the connection is the SQLite one it was")
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite).map_err(E::from)?;
            Ok(value)
        }
        Err(e) => {
            // The work's error is the one to report; a failed rollback leaves the connection
            // marked broken, and the pool replaces it.
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(sqlite) {
                tracing::warn!(error = %rollback, "rolling back a write transaction failed");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    fn sqlite(path: &std::path::Path) -> DbConn {
        let url =
            super::super::DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        url.connect().unwrap()
    }

    #[test]
    fn a_write_beside_another_connections_commit_waits_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (mut a, mut b) = (sqlite(&path), sqlite(&path));
        a.batch_execute("CREATE TABLE t (n INTEGER)").unwrap();
        // `a` reads first, `b` commits a write, then `a` writes: with a plain BEGIN the write
        // of `a` fails as its snapshot is stale.
        let plain: Result<(), diesel::result::Error> = a.transaction(|a| {
            a.batch_execute("SELECT count(*) FROM t")?;
            b.batch_execute("INSERT INTO t VALUES (1)")?;
            a.batch_execute("INSERT INTO t VALUES (2)")
        });
        assert!(plain.is_err(), "the stale snapshot is refused");
        let immediate: Result<(), diesel::result::Error> = write(&mut a, |a| {
            a.batch_execute("SELECT count(*) FROM t")?;
            a.batch_execute("INSERT INTO t VALUES (3)")
        });
        immediate.unwrap();
        // Nested, it is a savepoint; a failed one rolls back alone.
        let outer: Result<(), diesel::result::Error> = write(&mut a, |a| {
            a.batch_execute("INSERT INTO t VALUES (4)")?;
            let inner: Result<(), diesel::result::Error> = write(a, |a| {
                a.batch_execute("INSERT INTO t VALUES (5)")?;
                Err(diesel::result::Error::RollbackTransaction)
            });
            assert!(inner.is_err());
            Ok(())
        });
        outer.unwrap();
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let DbConn::Sqlite(c) = &mut a else {
            unreachable!()
        };
        use diesel::RunQueryDsl;
        let rows: Vec<N> = diesel::sql_query("SELECT n FROM t ORDER BY n")
            .load(c)
            .unwrap();
        assert_eq!(rows.iter().map(|r| r.n).collect::<Vec<_>>(), vec![1, 3, 4]);
    }
}
