//! Test databases: every test gets its own, a temporary SQLite file or a uniquely named
//! Postgres database dropped afterwards. Postgres is the local server of TEST_DATABASE_URL
//! (default postgres://127.0.0.1:5432/test); without it the Postgres half is skipped loudly,
//! and with CI=true a missing server is a failure.

use std::io::Write;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use abuse_desk::db::{DatabaseUrl, DbConn};

pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn connect(&self) -> DbConn {
        let mut conn = DatabaseUrl::parse(&self.url).unwrap().connect().unwrap();
        abuse_desk::db::run_migrations(&mut conn).unwrap();
        conn
    }

    /// A Postgres database a test's own server holds (see `private_postgres`).
    pub fn on_server(url: String) -> Self {
        TestDb {
            url,
            backend: "postgres",
            postgres: None,
            _dir: None,
        }
    }

    /// A SQLite database at `path` (the caller keeps the folder).
    pub fn on_file(path: std::path::PathBuf) -> Self {
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            postgres: None,
            _dir: None,
        }
    }

    /// A connection without migrations applied.
    pub fn connect_bare(&self) -> DbConn {
        DatabaseUrl::parse(&self.url).unwrap().connect().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    TestDb {
        url,
        backend: "sqlite",
        postgres: None,
        _dir: Some(dir),
    }
}

/// The server's `test` database, over TCP without TLS: libpq's OpenSSL frees its state in an
/// exit handler while pool threads may still be connecting, which can crash the test binary
/// as it exits.
fn postgres_base() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://127.0.0.1:5432/test?sslmode=disable".into())
}

/// A fresh Postgres database, or None (with a loud note) when no server answers outside CI.
pub fn postgres(test: &str) -> Option<TestDb> {
    let admin_url = postgres_base();
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but Postgres at {admin_url} is unreachable: {e}");
            }
            // Written to stderr directly, not through eprintln!, so the test harness does not
            // swallow it: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the Postgres half of '{test}': no server at {admin_url} ({e}); set TEST_DATABASE_URL"
            );
            return None;
        }
    };
    let name = format!("abuse_desk_test_{}", rand::random::<u64>());
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    Some(TestDb {
        url: url.to_string(),
        backend: "postgres",
        postgres: Some((admin_url, name)),
        _dir: None,
    })
}

/// SQLite always, Postgres when it is there.
pub fn backends(test: &str) -> Vec<TestDb> {
    let mut all = vec![sqlite()];
    all.extend(postgres(test));
    all
}

/// Runs the real `abuse-desk` binary on the test database and insists it succeeds.
pub fn cli_ok(db: &TestDb, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "abuse-desk {args:?} on {}: {}",
        db.backend,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
