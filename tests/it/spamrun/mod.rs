//! The spam-run load test: a real `abuse-desk serve` polls a real Dovecot mailbox into which
//! distinct feedback reports are appended at a steady rate, while staff sessions work the
//! queue and act (notes, claims, locks carried out against a stand-in of the filter's API).
//! It passes when ingest keeps up (the mailbox's backlog does not grow and drains at the
//! end), no request fails, pages answer fast at the 99th percentile, the server's memory
//! stays flat, and every appended report is exactly one event.
//!
//! One driver serves both forms: CI runs it for `SPAMRUN_SECONDS` (default 60) against the
//! debug build the test suite has anyway; `benches/spamrun/run.sh` runs it for 600 s against
//! a release build (`SPAMRUN_BIN`). `SPAMRUN_RATE` (reports/s, default 50),
//! `SPAMRUN_SESSIONS` (default 16) and `SPAMRUN_THINK_MS` (a session's mean pause between
//! clicks, default 500) change the load, `SPAMRUN_P99_MS` the latency bound.

mod check;
mod figures;
mod load;
mod staff;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dovecot::{Dovecot, Options};
use crate::support::{self, TestDb};
use crate::web::{Client, PASSWORD};

/// The load and where the server comes from, read from the environment.
pub(crate) struct Plan {
    pub seconds: u64,
    pub rate: u32,
    pub sessions: usize,
    pub think: Duration,
    pub bin: PathBuf,
    /// The bound on every request's latency at the 99th percentile.
    pub p99: Duration,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

impl Plan {
    fn from_env() -> Self {
        let release = std::env::var_os("SPAMRUN_BIN");
        // The bound, 100 ms, is for the release build run.sh starts. The test suite
        // has only its debug build, which spent 4.7 to 5.2 times the release build's CPU on
        // the same run (20 s, both backends), and on this shared 2-core machine, loaded by
        // other builds, reached a p99 of 180 ms (SQLite) and 475 to 561 ms (Postgres). The
        // CI form's bound is 1 s: a page stuck behind the ingest writer or gone quadratic in
        // the tickets still breaks it, a busy neighbour does not.
        let p99 = if release.is_some() { 100 } else { 1000 };
        Plan {
            seconds: env_or("SPAMRUN_SECONDS", 60),
            rate: env_or("SPAMRUN_RATE", 50),
            sessions: env_or("SPAMRUN_SESSIONS", 16),
            think: Duration::from_millis(env_or("SPAMRUN_THINK_MS", 500)),
            bin: release
                .map(PathBuf::from)
                .unwrap_or_else(|| env!("CARGO_BIN_EXE_abuse-desk").into()),
            p99: Duration::from_millis(env_or("SPAMRUN_P99_MS", p99)),
        }
    }
}

/// The two backends' runs would share the machine's two cores and each measure the other:
/// they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SQLITE: &str = "spam_run_on_sqlite_keeps_up_answers_fast_and_counts_each_report_once";
const POSTGRES: &str = "spam_run_on_postgres_keeps_up_answers_fast_and_counts_each_report_once";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spam_run_on_sqlite_keeps_up_answers_fast_and_counts_each_report_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    run(SQLITE, support::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spam_run_on_postgres_keeps_up_answers_fast_and_counts_each_report_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(db) = support::postgres(POSTGRES) else {
        return;
    };
    run(POSTGRES, db).await;
}

/// Staff accounts `staff01`… made with the command line, and one logged-in session each.
async fn staff(db: &TestDb, config: &std::path::Path, base: &str, count: usize) -> Vec<Client> {
    let mut sessions = Vec::with_capacity(count);
    for n in 1..=count {
        let name = format!("staff{n:02}");
        crate::deploy::cli(
            db,
            config,
            &["user", "add", &name, "--role", "agent", "--password-stdin"],
            PASSWORD,
        );
        let mut client = Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            csrf: String::new(),
        };
        client.refresh_csrf("/login").await;
        let res = client
            .post_form("/login", &[("username", &name), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), 303, "login as {name}");
        client.refresh_csrf("/tickets").await;
        sessions.push(client);
    }
    sessions
}

async fn run(test: &str, db: TestDb) {
    let options = Options {
        without_fsync: true,
        ..Options::default()
    };
    let Some(dovecot) = Dovecot::start_with(test, options) else {
        return;
    };
    let plan = Plan::from_env();
    let upstream = crate::deploy::filter_api().await;
    let dir = tempfile::tempdir().unwrap();
    let mailbox = crate::deploy::mailbox_every_second(&dovecot, "spamrun");
    let config = crate::deploy::settings(dir.path(), 's', &upstream.uri(), &mailbox);
    db.connect();
    let customers = dir.path().join("customers.csv");
    std::fs::write(&customers, abuse_desk::demo::CUSTOMERS_CSV).unwrap();
    crate::deploy::cli(
        &db,
        &config,
        &["customers", "import", &customers.display().to_string()],
        "",
    );
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let (server, base) =
        crate::deploy::serve_binary(&plan.bin, &db, &config, &[], Stdio::from(log)).await;
    let sessions = staff(&db, &config, &base, plan.sessions).await;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let db_file = db.url.strip_prefix("sqlite://").map(PathBuf::from);
    let sampler = figures::Sampler::start(dovecot.port, server.0.id(), db_file, started);
    let appender = load::Appender::start(dovecot.port, plan.rate, plan.seconds);
    let workers: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let stop = Arc::clone(&stop);
            tokio::spawn(staff::work(client, n as u64, plan.think, stop))
        })
        .collect();
    // The appender is a blocking IMAP client on its own thread: wait for it off the runtime.
    let appended = tokio::task::spawn_blocking(move || appender.finish())
        .await
        .unwrap();
    let appends_done = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut requests = Vec::new();
    for worker in workers {
        requests.extend(worker.await.unwrap());
    }
    let drained = check::drained(&dovecot, Duration::from_secs(120)).await;
    let samples = sampler.stop();
    let locks = check::locks_carried_out(&db, &upstream, Duration::from_secs(60)).await;
    let once = check::each_report_once(&db, &appended.markers);
    let run = figures::Run {
        backend: db.backend,
        plan: &plan,
        appended: &appended,
        appends_done,
        drained_after: drained.map(|at| (at - started).saturating_sub(appends_done)),
        requests: &requests,
        samples: &samples,
        locks: &locks,
        once: &once,
    };
    let summary = run.summary();
    let _ = std::io::Write::write_all(&mut std::io::stderr(), summary.as_bytes());
    if let Err(failures) = run.verdict() {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!(
            "spam run on {}: {failures}\n--- the server's last log lines ---\n{tail}",
            db.backend
        );
    }
    drop(server);
}
