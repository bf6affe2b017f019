//! Outgoing Reports (`/reports/outgoing`): like the filter's page of that name, events of a
//! period grouped by identity, customer or outgoing user, most first, with a lock icon on
//! every row (the same pending-action path as the ticket page) and a chart per day.

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::auth::Viewer;
use super::error::{url_encode, WebError};
use super::AppState;
use crate::db::actions::ActionKind;
use crate::db::outgoing::{self, GroupBy};
use crate::tickets::Class;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports/outgoing", web::get().to(report));
}

#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(default)]
struct Params {
    group: Option<String>,
    period: Option<String>,
    class: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The period's first day and number of days.
fn period(p: &Params) -> Result<(NaiveDate, i64), WebError> {
    outgoing::period(
        p.period.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        Utc::now().date_naive(),
    )
    .map_err(WebError::BadRequest)
}

/// What a row's lock icon locks, by grouping; clicked again, it undoes that.
fn lock_kind(by: GroupBy) -> ActionKind {
    match by {
        GroupBy::Identity => ActionKind::LockIdentity,
        GroupBy::OutgoingUser => ActionKind::LockOutgoingUser,
        GroupBy::Customer => ActionKind::SuspendAccount,
    }
}

/// A bar chart of events per day as SVG markup built from numbers and dates only.
pub(super) fn chart(days: &[(NaiveDate, i64)]) -> String {
    let (w, h, pad) = (720.0_f64, 120.0_f64, 16.0_f64);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let bar = (w / days.len().max(1) as f64).max(2.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"events per day\">", h + pad, h + pad);
    for (i, (day, n)) in days.iter().enumerate() {
        let bh = (*n as f64 / max) * (h - 4.0);
        let x = i as f64 * bar;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{day}: {n}</title></rect>",
            h - bh,
            (bar - 1.0).max(1.0)
        ));
        if days.len() <= 10 || i % (days.len() / 6).max(1) == 0 {
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                h + pad - 3.0,
                day.format("%m-%d")
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The report of `days` days from `first`; the page and the API answer with it.
pub(super) async fn load(
    state: &web::Data<AppState>,
    by: GroupBy,
    first: NaiveDate,
    days: i64,
    class: Option<String>,
) -> Result<outgoing::Report, WebError> {
    state
        .db(move |conn| Ok(outgoing::report(conn, by, first, days, class.as_deref())?))
        .await
}

async fn report(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, WebError> {
    let p = query.into_inner();
    let by = match p.group.as_deref() {
        None | Some("") => GroupBy::Identity,
        Some(g) => GroupBy::parse(g)
            .ok_or_else(|| WebError::BadRequest(format!("unknown grouping '{g}'")))?,
    };
    let (first, days) = period(&p)?;
    let class = p.class.clone().filter(|c| !c.is_empty() && c != "all");
    let lock = lock_kind(by);
    let report = load(&state, by, first, days, class.clone()).await?;
    let rows: Vec<_> = report
        .groups
        .iter()
        .map(|(g, held)| {
            let tickets = match by {
                GroupBy::Customer => format!("/tickets?status=all&customer={}", url_encode(&g.key)),
                _ => format!("/tickets?status=all&q={}", url_encode(&g.key)),
            };
            context! { key => g.key, label => g.label, events => g.events, lock => held, tickets => tickets }
        })
        .collect();
    let per_day = report.per_day;
    let total: i64 = per_day.iter().map(|d| d.1).sum();
    let here = format!(
        "/reports/outgoing?group={}&period={}&class={}&from={}&to={}",
        by.as_str(),
        url_encode(p.period.as_deref().unwrap_or("7d")),
        url_encode(class.as_deref().unwrap_or("all")),
        url_encode(p.from.as_deref().unwrap_or("")),
        url_encode(p.to.as_deref().unwrap_or("")),
    );
    state.page(
        "outgoing.html",
        Some(&staff),
        context! {
            rows => rows,
            group => by.as_str(),
            groups => GroupBy::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            period => p.period.as_deref().unwrap_or("7d"),
            from => first.to_string(),
            to => (first + Duration::days(days - 1)).to_string(),
            class => class.as_deref().unwrap_or("all"),
            classes => std::iter::once("all").chain(Class::LISTED.iter().map(Class::as_str)).collect::<Vec<_>>(),
            chart => minijinja::Value::from_safe_string(chart(&per_day)),
            total => total,
            lock_kind => lock.as_str(),
            unlock_kind => lock.undo().as_str(),
            can_work => staff.can(crate::db::users::Role::Agent),
            here => here,
        },
    )
}
