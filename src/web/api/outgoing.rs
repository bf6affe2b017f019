//! The Outgoing Report: a period's events grouped by identity, customer or outgoing user,
//! most first, each with the lock holding on it, and the events per day.

use actix_web::{get, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::db::locks::Lock;
use crate::db::outgoing::{self, Group, GroupBy};
use crate::web::auth::Viewer;
use crate::web::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `identity` (without), `customer` or `outgoing_user`.
    #[param(pattern = r"^\s*(identity|customer|outgoing_user)?\s*$")]
    pub group: Option<String>,
    /// `today`, `7d` (without), `30d` or `custom` (with `from` and `to`, at most 366 days).
    #[param(pattern = "^(today|7d|30d|custom)?$")]
    pub period: Option<String>,
    /// The first day of a custom period.
    #[param(value_type = Option<NaiveDate>)]
    pub from: Option<String>,
    /// The last day of a custom period.
    #[param(value_type = Option<NaiveDate>)]
    pub to: Option<String>,
    /// Only events of this feedback type.
    pub class: Option<String>,
}

/// One group of the report and the lock holding on its key.
#[derive(Serialize, ToSchema)]
pub struct ReportRow {
    #[serde(flatten)]
    pub group: Group,
    pub lock: Option<Lock>,
}

/// Events on one day.
#[derive(Serialize, ToSchema)]
pub struct DayCount {
    pub day: NaiveDate,
    pub events: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OutgoingReport {
    pub group: String,
    pub from: NaiveDate,
    pub days: i64,
    /// Up to 200 groups, most events first.
    pub rows: Vec<ReportRow>,
    pub per_day: Vec<DayCount>,
}

#[utoipa::path(
    tag = "reports",
    params(ReportQuery),
    responses((status = 200, description = "The report", body = OutgoingReport)),
    security(("bearer" = []))
)]
#[get("/reports/outgoing")]
pub async fn report(
    _: Viewer,
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> Result<web::Json<OutgoingReport>, ApiError> {
    let q = query.into_inner();
    let by = match q.group.as_deref().map(str::trim) {
        None | Some("") => GroupBy::Identity,
        Some(g) => {
            GroupBy::parse(g).ok_or_else(|| ApiError::invalid(format!("unknown grouping '{g}'")))?
        }
    };
    // Dates given are dates, whatever the period.
    for day in [&q.from, &q.to].into_iter().flatten() {
        NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(format!("'{day}' is not a date (YYYY-MM-DD)")))?;
    }
    let (first, days) = outgoing::period(
        q.period.as_deref().filter(|p| !p.is_empty()),
        q.from.as_deref(),
        q.to.as_deref(),
        Utc::now().date_naive(),
    )
    .map_err(ApiError::invalid)?;
    let class = q.class.filter(|c| !c.is_empty() && c != "all");
    let report = crate::web::outgoing::load(&state, by, first, days, class).await?;
    Ok(web::Json(OutgoingReport {
        group: by.as_str().to_owned(),
        from: first,
        days,
        rows: report
            .groups
            .into_iter()
            .map(|(group, lock)| ReportRow { group, lock })
            .collect(),
        per_day: report
            .per_day
            .into_iter()
            .map(|(day, events)| DayCount { day, events })
            .collect(),
    }))
}
