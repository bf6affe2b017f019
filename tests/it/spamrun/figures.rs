//! The spam run's figures: the mailbox's backlog and the server's memory and CPU sampled
//! every two seconds, request latencies by kind, and the verdict against the bounds.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::check::{Locks, Once};
use super::load::Appended;
use super::staff::Request;
use super::Plan;

/// The backlog allowed in the run's last third, in seconds of arrivals. A poller that keeps
/// up holds what arrived since its last poll (one second here) plus what came in while it
/// worked; one that falls behind by even 2 % of the rate gains 0.2 s of arrivals every 10 s
/// and passes this bound within the 10-minute run.
const BACKLOG_SECONDS: u32 = 5;

/// The last third's peak memory may exceed the first third's by this factor. What grows on
/// purpose early in a run (the pool's connections, allocator arenas, the queue's caches) is
/// warm by the end of the first third. On SQLite, the page cache is in the server's process
/// (up to 64 MB per pooled connection) and takes in the database as it grows: what the
/// database file grew between the thirds is allowed on top. A leak shows on both backends,
/// and on Postgres (no cache in the process) even a small one: a few hundred bytes per
/// report is more than this over the full run's 20,000 reports after the first third.
const RSS_GROWTH: f64 = 1.25;

/// One sample of the run's state.
pub(crate) struct Sample {
    pub at: Duration,
    /// Messages still in the INBOX.
    pub backlog: u32,
    pub rss_kb: u64,
    /// The SQLite database's size (0 on Postgres).
    pub db_kb: u64,
    /// The server's user + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
}

pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Samples the INBOX of the Dovecot on `port`, process `pid` and the SQLite database
    /// `db` every two seconds.
    pub fn start(port: u16, pid: u32, db: Option<PathBuf>, started: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut imap = crate::dovecot::session_on(port);
            let mut sqlite =
                db.map(|path| SqliteConnection::establish(&path.display().to_string()).unwrap());
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let backlog = imap.status("INBOX", "(MESSAGES)").unwrap().exists;
                let (rss_kb, cpu_ticks) = process(pid);
                let db_kb = sqlite.as_mut().map_or(0, database_kb);
                samples.push(Sample {
                    at: started.elapsed(),
                    backlog,
                    rss_kb,
                    db_kb,
                    cpu_ticks,
                });
                std::thread::sleep(Duration::from_secs(2));
            }
            let _ = imap.logout();
            samples
        });
        Sampler { stop, thread }
    }

    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler failed")
    }
}

/// Resident memory (kB) and CPU ticks (user + system) of `pid`, from /proc.
fn process(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th
    // and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let cpu = fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
    (rss, cpu)
}

/// The SQLite database's size in kB: its pages, wherever they are (the file, or the
/// write-ahead log until a checkpoint), which is what the page caches can come to hold.
fn database_kb(conn: &mut SqliteConnection) -> u64 {
    let bytes = diesel::select(sql::<BigInt>(
        "(SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size())",
    ))
    .get_result::<i64>(conn)
    .unwrap_or(0);
    bytes as u64 / 1024
}

/// Linux reports CPU time in USER_HZ ticks, 100 a second on every architecture it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Everything a run produced.
pub(crate) struct Run<'a> {
    pub backend: &'static str,
    pub plan: &'a Plan,
    pub appended: &'a Appended,
    pub appends_done: Duration,
    /// How long after the last append the INBOX was empty; None if it never was.
    pub drained_after: Option<Duration>,
    pub requests: &'a [Request],
    pub samples: &'a [Sample],
    pub locks: &'a Locks,
    pub once: &'a Once,
}

impl Run<'_> {
    /// Samples of the appending period's first, middle and last third.
    fn thirds(&self) -> [Vec<&Sample>; 3] {
        let third = self.appends_done / 3;
        let mut out = [Vec::new(), Vec::new(), Vec::new()];
        for s in self.samples.iter().filter(|s| s.at <= self.appends_done) {
            out[((s.at.as_nanos() / third.as_nanos().max(1)) as usize).min(2)].push(s);
        }
        out
    }

    fn latencies(&self, kind: Option<&str>) -> Vec<Duration> {
        let mut all: Vec<Duration> = self
            .requests
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .map(|r| r.latency)
            .collect();
        all.sort();
        all
    }

    fn p99(&self) -> Duration {
        percentile(&self.latencies(None), 0.99)
    }

    fn max_backlog(samples: &[&Sample]) -> u32 {
        samples.iter().map(|s| s.backlog).max().unwrap_or(0)
    }

    fn max_rss(samples: &[&Sample]) -> u64 {
        samples.iter().map(|s| s.rss_kb).max().unwrap_or(0)
    }

    fn max_db(samples: &[&Sample]) -> u64 {
        samples.iter().map(|s| s.db_kb).max().unwrap_or(0)
    }

    /// The figures, for the log and for docs/benchmarks.md.
    pub fn summary(&self) -> String {
        let plan = self.plan;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n== spam run on {}: {} reports appended over {:.0} s ({}/s planned, worst lag behind schedule {} ms), {} sessions (mean pause {} ms), server {}, p99 bound {} ms",
            self.backend,
            self.appended.markers.len(),
            self.appends_done.as_secs_f64(),
            plan.rate,
            ms(self.appended.worst_lag),
            plan.sessions,
            plan.think.as_millis(),
            plan.bin.display(),
            plan.p99.as_millis()
        );
        let _ = writeln!(
            out,
            "requests: {} ({:.1}/s), unexpected answers: {}",
            self.requests.len(),
            self.requests.len() as f64 / self.appends_done.as_secs_f64(),
            self.requests.iter().filter(|r| r.failure.is_some()).count()
        );
        let _ = writeln!(
            out,
            "| kind | requests | p50 ms | p95 ms | p99 ms | max ms |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut kinds: Vec<&str> = self.requests.iter().map(|r| r.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in std::iter::once(None).chain(kinds.into_iter().map(Some)) {
            let l = self.latencies(kind);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                kind.unwrap_or("all"),
                l.len(),
                ms(percentile(&l, 0.5)),
                ms(percentile(&l, 0.95)),
                ms(percentile(&l, 0.99)),
                ms(l.last().copied().unwrap_or_default())
            );
        }
        let thirds = self.thirds();
        let _ = writeln!(
            out,
            "backlog (INBOX) max by third: {} / {} / {}; empty {} after the last append",
            Self::max_backlog(&thirds[0]),
            Self::max_backlog(&thirds[1]),
            Self::max_backlog(&thirds[2]),
            self.drained_after
                .map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
        );
        let cpu = match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => (b.cpu_ticks - a.cpu_ticks) as f64 / TICKS_PER_SECOND,
            _ => 0.0,
        };
        let _ = writeln!(
            out,
            "server RSS max by third: {:.1} / {:.1} / {:.1} MB (SQLite database: {:.1} / {:.1} / {:.1} MB); server CPU {:.1} s over {:.0} s",
            Self::max_rss(&thirds[0]) as f64 / 1024.0,
            Self::max_rss(&thirds[1]) as f64 / 1024.0,
            Self::max_rss(&thirds[2]) as f64 / 1024.0,
            Self::max_db(&thirds[0]) as f64 / 1024.0,
            Self::max_db(&thirds[1]) as f64 / 1024.0,
            Self::max_db(&thirds[2]) as f64 / 1024.0,
            cpu,
            self.samples.last().map_or(0.0, |s| s.at.as_secs_f64())
        );
        let step = (self.samples.len() / 12).max(1);
        let series: Vec<String> = self
            .samples
            .iter()
            .step_by(step)
            .map(|s| {
                format!(
                    "{:.0}s:{}/{:.0}MB",
                    s.at.as_secs_f64(),
                    s.backlog,
                    s.rss_kb as f64 / 1024.0
                )
            })
            .collect();
        let _ = writeln!(out, "backlog/RSS over time: {}", series.join(" "));
        let o = self.once;
        let _ = writeln!(
            out,
            "events: {} for {} reports (missing {}, doubled {}, not appended {})",
            o.events,
            self.appended.markers.len(),
            o.missing,
            o.doubled,
            o.strangers
        );
        let l = self.locks;
        let _ = writeln!(
            out,
            "locks: {} requested, {} carried out, other states {:?}, {} calls reached the upstream",
            l.requested, l.succeeded, l.other, l.upstream_calls
        );
        out
    }

    /// Ok, or every bound the run broke.
    pub fn verdict(&self) -> Result<(), String> {
        let mut broken = Vec::new();
        let failures: Vec<&str> = self
            .requests
            .iter()
            .filter_map(|r| r.failure.as_deref())
            .collect();
        if !failures.is_empty() {
            let first: Vec<&str> = failures.iter().take(5).copied().collect();
            broken.push(format!(
                "{} unexpected answers, e.g. {first:?}",
                failures.len()
            ));
        }
        // Over every request of every session, pages and forms alike.
        let bound = self.plan.p99;
        if self.p99() >= bound {
            broken.push(format!(
                "p99 {} ms is not under {} ms",
                ms(self.p99()),
                ms(bound)
            ));
        }
        let thirds = self.thirds();
        let allowed = self.plan.rate * BACKLOG_SECONDS;
        let last = Self::max_backlog(&thirds[2]);
        if last > allowed {
            broken.push(format!(
                "the backlog reached {last} in the last third (bound {allowed})"
            ));
        }
        if self.drained_after.is_none() {
            broken.push("the mailbox was never emptied".into());
        }
        let (first, end) = (Self::max_rss(&thirds[0]), Self::max_rss(&thirds[2]));
        let grown_db = Self::max_db(&thirds[2]).saturating_sub(Self::max_db(&thirds[0]));
        if end as f64 > first as f64 * RSS_GROWTH + grown_db as f64 {
            broken.push(format!(
                "memory grew from {first} kB to {end} kB (the database by {grown_db} kB)"
            ));
        }
        if !self.once.holds() || self.once.events != self.appended.markers.len() {
            broken.push("the events are not the appended reports, each once".into());
        }
        let l = self.locks;
        if l.requested == 0 || l.succeeded != l.requested || l.upstream_calls as i64 != l.succeeded
        {
            broken.push("not every requested lock reached the upstream once".into());
        }
        match broken.is_empty() {
            true => Ok(()),
            false => Err(broken.join("; ")),
        }
    }
}
