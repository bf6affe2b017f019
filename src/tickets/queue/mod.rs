//! The ticket queue as staff read it: filters, sort orders and keyset pages. Every sort walks
//! an index in order (see the `web_queue` migration) and a page continues after the last row
//! of the previous one, so a deep page costs what the first one does. How each part is made
//! fast is told in `docs/performance.md`.

mod conditions;
mod counts;
mod load;
mod page;
pub mod params;
mod sample;
mod search;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::types::{Class, Severity, Status, SubjectKind};
use crate::db::ids::{CustomerId, TicketId, UserId};
pub use conditions::FETCHED_BY_ID;
pub use counts::{events_since, ranking_since, status_counts};
pub use load::{load_page, AssigneeName, QueueCaches, QueueItem, QueuePage, QueueRequest, PAGE};
pub use page::{page, page_probing, Probe};
pub use params::{BadQueueParam, QueueParams};
pub use sample::TextSample;
pub use search::{FreeText, IpPrefix};

/// Who a ticket is assigned to, as a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    User(UserId),
    Nobody,
}

/// The queue's filters; `None` means "any".
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub class: Option<Class>,
    pub customer: Option<CustomerId>,
    /// Only tickets no customer could be found for.
    pub unresolved: bool,
    /// Only tickets the customer answered on its self-service page.
    pub replied: bool,
    pub assignee: Option<Assignee>,
    /// Part of the reporter (the reporting software or MTA, e.g. `AOL SComp`): the feed a
    /// complaint came from.
    pub feed: Option<String>,
    /// Free text over subject, identity, source IP and customer.
    pub text: Option<String>,
}

/// The queue's sort orders, all descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    LastSeen,
    Events,
    Events24h,
    FirstSeen,
}

impl Sort {
    pub const ALL: [Sort; 4] = [
        Self::LastSeen,
        Self::Events,
        Self::Events24h,
        Self::FirstSeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastSeen => "last_seen",
            Self::Events => "events",
            Self::Events24h => "events_24h",
            Self::FirstSeen => "first_seen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.as_str() == s)
    }
}

/// Where a page starts: after the row with this sort key and id. Times are microseconds since
/// the epoch so that every cursor is two integers in the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: TicketId,
}

impl Cursor {
    /// `KEY_ID`, as the queue's `after` parameter carries it.
    pub fn parse(s: &str) -> Option<Self> {
        let (key, id) = s.split_once('_')?;
        Some(Self {
            key: key.parse().ok()?,
            id: TicketId(id.parse().ok()?),
        })
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.key, self.id.0)
    }
}

pub fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// A time sort's key as a time. A key from the URL may be any number: past the times events
/// have, it is held to them (see [`crate::db::clamp_time`]), which finds the same rows.
pub fn from_micros(m: i64) -> NaiveDateTime {
    let at = match chrono::DateTime::from_timestamp_micros(m) {
        Some(at) => at.naive_utc(),
        None if m < 0 => *crate::db::TIMES.start(),
        None => *crate::db::TIMES.end(),
    };
    crate::db::clamp_time(at)
}

/// One row of the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueRow {
    pub id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub customer_external_id: Option<String>,
    pub customer_name: Option<String>,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub class: Class,
    pub severity: Severity,
    pub status: Status,
    pub event_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub last_source_ip: Option<String>,
    /// When the customer last answered on its self-service page.
    pub customer_replied_at: Option<NaiveDateTime>,
    pub assignee: Option<String>,
    /// Events of the last [`RECENT`], counted by the page query for the rows it returns
    /// (0 for rows fetched by id: their caller has the count from the 24-hour ranking).
    pub events_24h: i64,
}

/// How far back "recent" events go: the queue's 24-hour column and sort.
pub const RECENT: chrono::Duration = chrono::Duration::hours(24);

impl QueueRow {
    /// This row's key in `sort`.
    pub fn cursor(&self, sort: Sort) -> Cursor {
        let key = match sort {
            Sort::LastSeen => micros(self.last_seen),
            Sort::FirstSeen => micros(self.first_seen),
            Sort::Events => self.event_count,
            Sort::Events24h => self.events_24h,
        };
        Cursor { key, id: self.id }
    }
}
