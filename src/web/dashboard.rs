//! The dashboard (`/dashboard`, staff of every role): reports per day by feed and class over
//! the last 30 days, open tickets by severity, the identities reported most this week, and the
//! median time from a ticket's first report to a lock. The figures are a minute old at most.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use minijinja::context;
use serde::Serialize;

use super::auth::Viewer;
use super::error::WebError;
use super::AppState;
use crate::db::dashboard::{self, DayCount};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(show));
}

/// Days the per-day figures cover, today included.
const DAYS: i64 = 30;

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct Figures {
    first_day: NaiveDate,
    per_day: Vec<DayCount>,
    /// Events per (feed, class) over the whole period, most first.
    streams: Vec<(String, String, i64)>,
    totals: Vec<(NaiveDate, i64)>,
    open: Vec<(String, i64)>,
    top_identities: Vec<(String, i64)>,
    median_to_lock: Option<String>,
    locks: usize,
}

fn load(conn: &mut crate::db::DbConn) -> Result<Figures, WebError> {
    let today = Utc::now().date_naive();
    let first_day = today - Duration::days(DAYS - 1);
    let from = first_day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let per_day = dashboard::per_day(conn, from)?;
    let mut totals: BTreeMap<NaiveDate, i64> = (0..DAYS)
        .map(|d| (first_day + Duration::days(d), 0))
        .collect();
    let mut streams: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in &per_day {
        *totals.entry(row.day).or_default() += row.events;
        *streams
            .entry((row.feed.clone(), row.class.clone()))
            .or_default() += row.events;
    }
    let mut streams: Vec<(String, String, i64)> =
        streams.into_iter().map(|((f, c), n)| (f, c, n)).collect();
    streams.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    let mut open = dashboard::open_by_severity(conn)?;
    let rank = |s: &str| ["escalation", "abuse", "info"].iter().position(|x| *x == s);
    open.sort_by_key(|(s, _)| rank(s).unwrap_or(usize::MAX));
    let week = (today - Duration::days(6))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let (median, locks) = dashboard::median_time_to_lock(conn, from)?;
    Ok(Figures {
        first_day,
        per_day,
        streams,
        totals: totals.into_iter().collect(),
        open,
        top_identities: dashboard::top_identities(conn, week, 10)?,
        median_to_lock: median.map(human),
        locks,
    })
}

/// A duration as staff read it: "3 h 20 min", "2 d 4 h", "45 s".
fn human(d: Duration) -> String {
    let s = d.num_seconds();
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

async fn show(Viewer(staff): Viewer, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let st = state.clone();
    let figures = state
        .db(move |conn| st.caches.dashboard.get_or_compute(|| load(conn)))
        .await?;
    state.page(
        "dashboard.html",
        Some(&staff),
        context! {
            chart => minijinja::Value::from_safe_string(super::outgoing::chart(&figures.totals)),
            ..minijinja::Value::from_serialize(&*figures)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::human;
    use chrono::Duration;

    #[test]
    fn durations_read_as_staff_say_them() {
        assert_eq!(human(Duration::seconds(45)), "45 s");
        assert_eq!(human(Duration::minutes(90)), "1 h 30 min");
        assert_eq!(human(Duration::hours(52)), "2 d 4 h");
    }
}
