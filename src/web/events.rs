//! The outgoing log search (`/events`): events by time range, feed, feedback type, identity,
//! sender, source IP and customer, newest first, each with "Lock identity" and "Lock user".

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::auth::Viewer;
use super::error::{url_encode, WebError};
use super::AppState;
use crate::db::log::{self, LogFilter};
use crate::db::users::Role;
use crate::tickets::page::parse_before;

/// Lines per page.
const PAGE: i64 = 50;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(search));
}

/// The search form's fields, kept as given so the page can echo them back.
#[derive(Deserialize, Serialize, Default, Clone)]
#[serde(default)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    feed: Option<String>,
    feedback_type: Option<String>,
    identity: Option<String>,
    sender: Option<String>,
    source_ip: Option<String>,
    customer: Option<String>,
    before: Option<String>,
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (as a datetime-local field sends it), UTC.
fn time(value: &Option<String>, field: &str) -> Result<Option<NaiveDateTime>, WebError> {
    let Some(text) = given(value) else {
        return Ok(None);
    };
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
        .or_else(|_| {
            NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .ok()
        .filter(|t| crate::db::TIMES.contains(t))
        .map(Some)
        .ok_or_else(|| {
            WebError::BadRequest(format!(
                "{field} is a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)"
            ))
        })
}

impl Params {
    /// The query string of these fields, without the page cursor.
    fn query(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("feed", &self.feed),
            ("feedback_type", &self.feedback_type),
            ("identity", &self.identity),
            ("sender", &self.sender),
            ("source_ip", &self.source_ip),
            ("customer", &self.customer),
        ] {
            if let Some(v) = given(v) {
                out.append_pair(k, &v);
            }
        }
        format!("/events?{}", out.finish())
    }
}

async fn search(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, WebError> {
    let p = query.into_inner();
    let before = match given(&p.before) {
        Some(b) => Some(parse_before(&b).ok_or_else(|| WebError::BadRequest("bad page".into()))?),
        None => None,
    };
    let mut filter = LogFilter {
        from: time(&p.from, "from")?,
        to: time(&p.to, "to")?,
        feed: given(&p.feed),
        feedback_type: given(&p.feedback_type),
        identity: given(&p.identity),
        sender: given(&p.sender),
        source_ip: given(&p.source_ip),
        customer: None,
    };
    let customer = given(&p.customer);
    let lines = state
        .db(move |conn| {
            if let Some(external) = &customer {
                // An unknown customer matches nothing rather than everything.
                filter.customer = Some(
                    crate::db::customers::id_by_external(conn, external)?
                        .unwrap_or(crate::db::ids::CustomerId(-1)),
                );
            }
            Ok(log::search(conn, &filter, before, PAGE + 1)?)
        })
        .await?;
    let more = lines.len() > PAGE as usize;
    let lines: Vec<_> = lines.into_iter().take(PAGE as usize).collect();
    let here = p.query();
    let next_url = more.then(|| lines.last()).flatten().map(|l| {
        let cursor = format!("{}_{}", l.arrival_at.and_utc().timestamp_micros(), l.id.0);
        format!("{here}&before={}", url_encode(&cursor))
    });
    let rows: Vec<_> = lines
        .iter()
        .map(|l| context! { l => l, user_target => l.user_target() })
        .collect();
    let back = match given(&p.before) {
        Some(b) => format!("{here}&before={}", url_encode(&b)),
        None => here.clone(),
    };
    state.page(
        "events.html",
        Some(&staff),
        context! {
            rows => rows,
            p => p,
            next_url => next_url,
            back => back,
            can_work => staff.can(Role::Agent),
        },
    )
}
