//! What must hold once the spam run stops: the mailbox empties, each requested lock reached
//! the stand-in upstream, and the database holds each appended report as exactly one event.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use abuse_desk::db::schema::{actions, events};
use diesel::prelude::*;
use wiremock::MockServer;

use crate::dovecot::Dovecot;
use crate::support::TestDb;

/// When the INBOX was first seen empty, waiting at most `within`; None if it never was.
pub(crate) async fn drained(dovecot: &Dovecot, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if dovecot.count("INBOX") == 0 {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lock requests and what became of them.
pub(crate) struct Locks {
    pub requested: i64,
    pub succeeded: i64,
    /// Actions still waiting or failed, as `state: count`.
    pub other: Vec<(String, i64)>,
    pub upstream_calls: usize,
}

/// Waits (at most `within`) until no lock is pending, then counts the actions by state and
/// the lock calls the upstream received.
pub(crate) async fn locks_carried_out(
    db: &TestDb,
    upstream: &MockServer,
    within: Duration,
) -> Locks {
    let mut conn = db.connect();
    let deadline = Instant::now() + within;
    let by_state = loop {
        let by_state: Vec<(String, i64)> = actions::table
            .filter(actions::kind.eq("lock_identity"))
            .group_by(actions::state)
            .select((actions::state, diesel::dsl::count_star()))
            .load(&mut conn)
            .unwrap();
        let waiting = by_state.iter().any(|(state, _)| state == "pending");
        if !waiting || Instant::now() > deadline {
            break by_state;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let upstream_calls = upstream
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r.url
                .query()
                .is_some_and(|q| q.contains("call=api_lock_outgoing_identity"))
        })
        .count();
    Locks {
        requested: by_state.iter().map(|(_, n)| n).sum(),
        succeeded: by_state
            .iter()
            .filter(|(state, _)| state == "succeeded")
            .map(|(_, n)| n)
            .sum(),
        other: by_state
            .into_iter()
            .filter(|(state, _)| state != "succeeded")
            .collect(),
        upstream_calls,
    }
}

/// How the appended reports came out as events.
pub(crate) struct Once {
    pub events: usize,
    /// Appended reports with no event.
    pub missing: usize,
    /// Appended reports with more than one.
    pub doubled: usize,
    /// Events that are no appended report.
    pub strangers: usize,
}

impl Once {
    pub fn holds(&self) -> bool {
        self.missing == 0 && self.doubled == 0 && self.strangers == 0
    }
}

/// Counts each marker among the events' original subjects.
pub(crate) fn each_report_once(db: &TestDb, markers: &[String]) -> Once {
    let mut conn = db.connect();
    let subjects: Vec<Option<String>> = events::table
        .select(events::original_subject)
        .load(&mut conn)
        .unwrap();
    let mut found: HashMap<&str, usize> = HashMap::with_capacity(subjects.len());
    let mut strangers = 0;
    for subject in &subjects {
        match subject.as_deref().and_then(|s| s.split(' ').next()) {
            Some(marker) if marker.starts_with("spamrun-") => {
                *found.entry(marker).or_default() += 1
            }
            _ => strangers += 1,
        }
    }
    let mut once = Once {
        events: subjects.len(),
        missing: 0,
        doubled: 0,
        strangers,
    };
    for marker in markers {
        match found.remove(marker.as_str()) {
            None => once.missing += 1,
            Some(1) => {}
            Some(_) => once.doubled += 1,
        }
    }
    once.strangers += found.values().sum::<usize>();
    once
}
