//! Checkpoints of SQLite's write-ahead log during a bulk import, run by a second connection
//! so the writer does not stop for them.
//!
//! Every page a transaction writes goes to the WAL first and is copied into the database by a
//! checkpoint. Left to SQLite, the connection that commits does that copying (and the fsync
//! after it) itself, a good part of the import writer's time. Here a thread copies
//! committed pages while the writer builds its next batch. A checkpoint that runs beside a
//! writer never catches up completely, and the log only starts over once one has, so the
//! writer finishes the checkpoint itself whenever the log has grown past [`LOG_BOUND`]: by then
//! little is left to copy, and the log stays bounded.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use super::{DatabaseUrl, DbConn, CACHE_SIZE, WAL_AUTOCHECKPOINT};

/// The import writer's page cache while the checkpoint runs: 16 MB instead of 64. Most of
/// what an import writes are compressed messages, written once and never read again, which
/// fill any cache and push the index pages out of it all the same; the index pages it reads
/// again come from the operating system's cache. A 64 MB cache took the import to 200 MB of
/// memory for the same speed (docs/benchmarks.md, 2026-12-03).
const IMPORT_CACHE_SIZE: &str = "PRAGMA cache_size = -16384";

/// Log frames (pages) after which the writer waits for the checkpoint: 256 MB at 16 KB pages.
const LOG_BOUND: i64 = 16_384;

#[derive(QueryableByName)]
struct CheckpointRow {
    #[diesel(sql_type = Integer)]
    busy: i32,
    #[diesel(sql_type = Integer)]
    log: i32,
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

#[derive(QueryableByName)]
struct DatabaseFile {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    file: String,
}

/// A running background checkpoint; [`BackgroundCheckpoint::finish`] stops it.
pub struct BackgroundCheckpoint {
    stop: Arc<AtomicBool>,
    /// Frames in the log at the last background checkpoint.
    log: Arc<AtomicI64>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundCheckpoint {
    /// Starts checkpointing `conn`'s database from a second connection and turns the writer's
    /// own automatic checkpoints off, and gives it a smaller page cache. `None` on Postgres and
    /// for a database without a file.
    pub fn start(conn: &mut DbConn) -> QueryResult<Option<Self>> {
        let DbConn::Sqlite(sqlite) = conn else {
            return Ok(None);
        };
        let files: Vec<DatabaseFile> =
            diesel::sql_query("SELECT name, file FROM pragma_database_list").load(sqlite)?;
        let Some(path) = files
            .into_iter()
            .find(|f| f.name == "main" && !f.file.is_empty())
            .map(|f| PathBuf::from(f.file))
        else {
            return Ok(None);
        };
        let Ok(DbConn::Sqlite(mut checkpointer)) = DatabaseUrl::Sqlite(path).connect() else {
            // Without a second connection the writer checkpoints as usual.
            return Ok(None);
        };
        sqlite.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
        sqlite.batch_execute(IMPORT_CACHE_SIZE)?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(AtomicI64::new(0));
        let thread = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let pause = match checkpoint(&mut checkpointer, "PASSIVE") {
                        Ok(row) => {
                            log.store(i64::from(row.log), Ordering::Relaxed);
                            // Idle when everything committed is copied; else go on soon.
                            if row.busy == 0 && row.checkpointed >= row.log {
                                Duration::from_millis(50)
                            } else {
                                Duration::from_millis(5)
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "background checkpoint");
                            Duration::from_millis(50)
                        }
                    };
                    std::thread::sleep(pause);
                }
            })
        };
        Ok(Some(Self {
            stop,
            log,
            thread: Some(thread),
        }))
    }

    /// Call between two write transactions: once the log has grown past its bound, completes
    /// the checkpoint so that the next transaction writes the log from its start again.
    pub fn bound(&self, conn: &mut DbConn) -> QueryResult<()> {
        if self.log.load(Ordering::Relaxed) < LOG_BOUND {
            return Ok(());
        }
        if let DbConn::Sqlite(sqlite) = conn {
            checkpoint(sqlite, "RESTART")?;
        }
        self.log.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Stops the thread and gives the writer its automatic checkpoints and its page cache back.
    pub fn finish(mut self, conn: &mut DbConn) -> QueryResult<()> {
        self.stop_thread();
        conn.batch_execute(WAL_AUTOCHECKPOINT)?;
        conn.batch_execute(CACHE_SIZE)
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the background WAL checkpoint thread panicked");
            }
        }
    }
}

impl Drop for BackgroundCheckpoint {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> QueryResult<CheckpointRow> {
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(conn)
}
