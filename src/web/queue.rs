//! The queue (`/tickets`): filters and sort in the URL, keyset pages, counts per status, and
//! bulk actions on a selection. `/api/v1/tickets` serves the same page as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::Session;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use minijinja::context;
use minijinja::value::{Enumerator, Value};
use serde::{Deserialize, Serialize};

use super::auth::{check_csrf, Staff, Viewer};
use super::error::WebError;
use super::AppState;
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::locks::{self, Lock};
use crate::db::queue::{self, Assignee, Cursor, QueueFilter, QueueRow, Sort, TextSample};
use crate::db::schema::{customers, users};
use crate::db::tickets::Status;
use crate::db::DbConn;

/// Rows per page.
const PAGE: i64 = 50;
/// Tickets of the 24-hour ranking looked at by the first query of a page; by the next ones,
/// as many as the filter's pass rate so far says will fill the page (quadrupling while
/// nothing passes), up to the largest chunk; and at most per page.
const RANK_FIRST: usize = PAGE as usize + 1;
const RANK_CHUNK: usize = 2_000;
const RANK_SCAN: usize = 20_000;
/// Tickets in the sample that tells free text how common it is: enough that a text in one
/// ticket of fifty shows in about eighty of them.
const TEXT_SAMPLE: usize = 4_096;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets", web::get().to(list))
        .route("/tickets/bulk", web::post().to(super::ticket::bulk))
        .route("/api/v1/tickets", web::get().to(api_list));
}

/// The queue's URL parameters, kept as given so the page can echo them back.
#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(default)]
pub struct QueueParams {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub customer: Option<String>,
    pub unresolved: Option<String>,
    pub assignee: Option<String>,
    pub feed: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub after: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl QueueParams {
    /// The query string of these parameters with `changes` applied (`None` removes one);
    /// the page cursor is always dropped unless set explicitly.
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(&str, Option<&str>)> = vec![
            ("status", given(&self.status)),
            ("severity", given(&self.severity)),
            ("class", given(&self.class)),
            ("customer", given(&self.customer)),
            ("unresolved", given(&self.unresolved)),
            ("assignee", given(&self.assignee)),
            ("feed", given(&self.feed)),
            ("q", given(&self.q)),
            ("sort", given(&self.sort)),
            ("after", None),
        ];
        for (key, value) in changes {
            if let Some(pair) = pairs.iter_mut().find(|(k, _)| k == key) {
                pair.1 = *value;
            }
        }
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if let Some(v) = v {
                out.append_pair(k, v);
            }
        }
        format!("/tickets?{}", out.finish())
    }

    fn sort(&self) -> Result<Sort, WebError> {
        given(&self.sort).map_or(Ok(Sort::LastSeen), |s| {
            Sort::parse(s).ok_or_else(|| WebError::BadRequest(format!("unknown sort '{s}'")))
        })
    }
}

/// A queue row with its lock state.
#[derive(Serialize, Debug)]
pub struct QueueItem {
    #[serde(flatten)]
    pub row: QueueRow,
    pub lock: Option<Lock>,
}

/// What a template can read of a queue row: the fields it would have were the row serialised.
const ITEM_FIELDS: &[&str] = &[
    "id",
    "customer_id",
    "customer_external_id",
    "customer_name",
    "subject_kind",
    "subject",
    "class",
    "severity",
    "status",
    "event_count",
    "first_seen",
    "last_seen",
    "identity",
    "outgoing_user",
    "last_source_ip",
    "assignee",
    "events_24h",
    "lock",
];

/// Templates read a queue row field by field, each made into a value only when read: turning
/// fifty rows into maps of every field up front took a tenth of a queue page's time.
impl minijinja::value::Object for QueueItem {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let row = &self.row;
        // Times as serde writes them, which the `dt` filter expects.
        let time = |t: &chrono::NaiveDateTime| Value::from(format!("{t:?}"));
        let text = |t: &Option<String>| t.as_deref().map_or(Value::from(()), Value::from);
        Some(match key.as_str()? {
            "id" => Value::from(row.id.0),
            "customer_id" => Value::from(row.customer_id.map(|c| c.0)),
            "customer_external_id" => text(&row.customer_external_id),
            "customer_name" => text(&row.customer_name),
            "subject_kind" => Value::from(row.subject_kind.as_str()),
            "subject" => Value::from(row.subject.as_str()),
            "class" => Value::from(row.class.as_str()),
            "severity" => Value::from(row.severity.as_str()),
            "status" => Value::from(row.status.as_str()),
            "event_count" => Value::from(row.event_count),
            "first_seen" => time(&row.first_seen),
            "last_seen" => time(&row.last_seen),
            "identity" => text(&row.identity),
            "outgoing_user" => text(&row.outgoing_user),
            "last_source_ip" => text(&row.last_source_ip),
            "assignee" => text(&row.assignee),
            "events_24h" => Value::from(row.events_24h),
            "lock" => self
                .lock
                .as_ref()
                .map_or(Value::from(()), Value::from_serialize),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(ITEM_FIELDS)
    }
}

impl QueueItem {
    /// A page's rows as template values.
    pub fn values(items: Vec<QueueItem>) -> Vec<Value> {
        items.into_iter().map(Value::from_object).collect()
    }
}

/// One page of the queue.
#[derive(Serialize, Debug)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub next: Option<String>,
    pub counts: HashMap<String, i64>,
}

/// Turns the URL's names (customer external id, usernames) into a filter.
fn filter_of(conn: &mut DbConn, p: &QueueParams, me: UserId) -> Result<QueueFilter, WebError> {
    let status = match given(&p.status) {
        None => Some(Status::Open),
        Some("all") => None,
        Some(s) => Some(s.parse::<Status>().map_err(WebError::BadRequest)?),
    };
    let customer = match given(&p.customer) {
        None => None,
        Some(external) => Some(
            customers::table
                .filter(customers::external_id.eq(external))
                .select(customers::id)
                .first::<CustomerId>(conn)
                .optional()?
                // An unknown customer matches nothing rather than everything.
                .unwrap_or(CustomerId(-1)),
        ),
    };
    let assignee = match given(&p.assignee) {
        None => None,
        Some("me") => Some(Assignee::User(me)),
        Some("none") => Some(Assignee::Nobody),
        Some(name) => Some(Assignee::User(
            users::table
                .filter(users::username.eq(name))
                .select(users::id)
                .first::<UserId>(conn)
                .optional()?
                .unwrap_or(UserId(-1)),
        )),
    };
    Ok(QueueFilter {
        status,
        severity: given(&p.severity).map(str::to_owned),
        class: given(&p.class).map(str::to_owned),
        customer,
        unresolved: given(&p.unresolved).is_some(),
        assignee,
        feed: given(&p.feed).map(str::to_owned),
        text: given(&p.q).map(str::to_owned),
    })
}

/// The targets a row's lock state is looked up by.
pub fn lock_targets(row: &QueueRow) -> Vec<&str> {
    let mut targets = vec![row.subject.as_str()];
    targets.extend(row.identity.as_deref());
    targets.extend(row.outgoing_user.as_deref());
    // A suspended account is locked as a whole.
    targets.extend(row.customer_external_id.as_deref());
    targets
}

/// Loads one page of the queue: the rows, their 24-hour counts and locks, the status counts.
pub fn load_page(
    conn: &mut DbConn,
    state: &AppState,
    p: &QueueParams,
    me: UserId,
) -> Result<QueuePage, WebError> {
    let sort = p.sort()?;
    let after = match given(&p.after) {
        None => None,
        Some(a) => Some(Cursor::parse(a).ok_or_else(|| WebError::BadRequest("bad page".into()))?),
    };
    let filter = filter_of(conn, p, me)?;
    let now = crate::db::now();
    let (rows, scanned_to) = if sort == Sort::Events24h {
        ranked_page(conn, state, &filter, after, now - queue::RECENT)?
    } else {
        // The sample tells how common a text or a feed is, and how many tickets there are.
        let sample = if filter.text.is_some() || filter.feed.is_some() {
            Some(
                state
                    .caches
                    .text_sample
                    .get_or_compute(|| TextSample::take(conn, TEXT_SAMPLE))?,
            )
        } else {
            None
        };
        let rows = queue::page(
            conn,
            &filter,
            sort,
            after,
            PAGE + 1,
            None,
            sample.as_deref(),
        )?;
        (rows, None)
    };
    let more = rows.len() > PAGE as usize || scanned_to.is_some();
    let rows: Vec<QueueRow> = rows.into_iter().take(PAGE as usize).collect();
    let targets: Vec<&str> = rows.iter().flat_map(lock_targets).collect();
    let held = locks::in_force(conn, &targets, now)?;
    let next = if more {
        scanned_to.or_else(|| rows.last().map(|r| r.cursor(sort).encode()))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|row| {
            let lock = lock_targets(&row)
                .into_iter()
                .find_map(|t| held.get(t).cloned());
            QueueItem { lock, row }
        })
        .collect();
    let counts = (*state
        .caches
        .status_counts
        .get_or_compute(|| queue::status_counts(conn))?)
    .clone();
    Ok(QueuePage {
        items,
        next,
        counts,
    })
}

/// A page in the order of the (cached) 24-hour ranking: walks the ranking from the cursor in
/// chunks, keeping the tickets that pass the filter, each with the ranking's count. Returns a
/// resume cursor when it stopped scanning before filling the page.
fn ranked_page(
    conn: &mut DbConn,
    state: &AppState,
    filter: &QueueFilter,
    after: Option<Cursor>,
    since: chrono::NaiveDateTime,
) -> Result<(Vec<QueueRow>, Option<String>), WebError> {
    let ranking = state
        .caches
        .ranking_24h
        .get_or_compute(|| queue::ranking_since(conn, since))?;
    let mut pos = after.map_or(0, |c| {
        ranking.partition_point(|&(id, n)| n > c.key || (n == c.key && id > c.id))
    });
    if let (Some(c), Some(&(id, n))) = (after, ranking.get(pos)) {
        if id == c.id && n == c.key {
            pos += 1;
        }
    }
    let mut rows = Vec::new();
    let mut scanned = 0;
    // Without a filter the first chunk fills the page; a narrow filter widens the chunks.
    let mut chunk_len = RANK_FIRST;
    while pos < ranking.len() && rows.len() <= PAGE as usize {
        if scanned >= RANK_SCAN {
            let (id, n) = ranking[pos - 1];
            return Ok((rows, Some(Cursor { key: n, id }.encode())));
        }
        let chunk = &ranking[pos..(pos + chunk_len).min(ranking.len())];
        let ids: Vec<TicketId> = chunk.iter().map(|(id, _)| *id).collect();
        let mut found: HashMap<TicketId, QueueRow> = queue::page(
            conn,
            filter,
            Sort::LastSeen,
            None,
            RANK_CHUNK as i64,
            Some(&ids),
            None,
        )?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
        for &(id, n) in chunk {
            if let Some(mut row) = found.remove(&id) {
                // The ranking's count, which its order and cursors rest on.
                row.events_24h = n;
                rows.push(row);
                if rows.len() > PAGE as usize {
                    break;
                }
            }
        }
        pos += chunk.len();
        scanned += chunk.len();
        chunk_len = next_chunk(chunk_len, rows.len(), scanned);
    }
    Ok((rows, None))
}

/// How many tickets of the ranking the next query of a page looks at, after `scanned` gave
/// `found` rows: enough for the rows still missing at the filter's pass rate so far, with a
/// quarter to spare, so that the usual filter (open tickets) needs one small query more
/// rather than a large one; four times the last chunk while nothing has passed.
fn next_chunk(last: usize, found: usize, scanned: usize) -> usize {
    let missing = (PAGE as usize + 1).saturating_sub(found);
    let wanted = if found == 0 {
        last * 4
    } else {
        missing * scanned * 5 / (found * 4) + 4
    };
    wanted.clamp(missing.max(1), RANK_CHUNK)
}

async fn list(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<QueueParams>,
) -> Result<HttpResponse, WebError> {
    let params = query.into_inner();
    let (p, st, me) = (params.clone(), state.clone(), staff.id);
    let page = state.db(move |conn| load_page(conn, &st, &p, me)).await?;
    render(&state, &staff, &params, page)
}

fn render(
    state: &AppState,
    staff: &Staff,
    params: &QueueParams,
    page: QueuePage,
) -> Result<HttpResponse, WebError> {
    let current_status = given(&params.status).unwrap_or("open");
    let tabs: Vec<_> = Status::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(["all"])
        .map(|s| {
            let count = if s == "all" {
                page.counts.values().sum()
            } else {
                page.counts.get(s).copied().unwrap_or(0)
            };
            context! { name => s, count => count, url => params.with(&[("status", Some(s))]), active => s == current_status }
        })
        .collect();
    let current_sort = params.sort()?;
    let sorts: Vec<_> = Sort::ALL
        .iter()
        .map(|s| context! { name => s.as_str(), url => params.with(&[("sort", Some(s.as_str()))]), active => *s == current_sort })
        .collect();
    let next_url = page.next.as_deref().map(|n| {
        let base = params.with(&[]);
        format!("{base}&after={}", super::error::url_encode(n))
    });
    let here = match given(&params.after) {
        Some(a) => format!("{}&after={}", params.with(&[]), super::error::url_encode(a)),
        None => params.with(&[]),
    };
    state.page(
        "tickets.html",
        Some(staff),
        context! {
            items => QueueItem::values(page.items),
            tabs => tabs,
            sorts => sorts,
            params => params,
            next_url => next_url,
            first_url => given(&params.after).map(|_| params.with(&[])),
            here => here,
            mine => given(&params.assignee) == Some("me"),
            mine_url => params.with(&[("assignee", Some("me"))]),
            all_url => params.with(&[("assignee", None)]),
            statuses => Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            severities => ["info", "abuse", "escalation"],
            classes => ["abuse", "fraud", "virus", "auth-failure", "not-spam", "other"],
        },
    )
}

async fn api_list(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<QueueParams>,
) -> Result<HttpResponse, WebError> {
    let (p, st, me) = (query.into_inner(), state.clone(), staff.id);
    let page = state.db(move |conn| load_page(conn, &st, &p, me)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Checks the form's CSRF token; bulk and single-ticket forms share this.
pub fn csrf(session: &Session, pairs: &[(String, String)]) -> Result<(), WebError> {
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map_or("", |(_, v)| v.as_str());
    check_csrf(session, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_ranking_chunk_follows_the_filters_pass_rate() {
        // 40 of the first 51 passed: 11 missing, at 40/51 about 14, with a quarter to spare.
        assert_eq!(next_chunk(51, 40, 51), 21);
        // One in a hundred passes: the missing 50 need about 5,000, capped.
        assert_eq!(next_chunk(51, 1, 100), RANK_CHUNK);
        // Nothing passed yet: four times the last chunk.
        assert_eq!(next_chunk(51, 0, 51), 204);
        assert_eq!(next_chunk(1_000, 0, 1_255), RANK_CHUNK);
        // Never fewer than the rows still missing.
        assert_eq!(next_chunk(51, 50, 51), 5);
        assert!(next_chunk(51, 30, 31) >= 21);
    }

    fn item(full: bool) -> QueueItem {
        let at =
            |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        let text = |s: &str| full.then(|| s.to_owned());
        QueueItem {
            row: QueueRow {
                id: TicketId(42),
                customer_id: full.then_some(CustomerId(7)),
                customer_external_id: text("cust-0007"),
                customer_name: text("Customer <7>"),
                subject_kind: "identity".into(),
                subject: "user@example.com\"><img onerror=x>".into(),
                class: "abuse".into(),
                severity: "escalation".into(),
                status: "open".into(),
                event_count: 1234,
                first_seen: at("2026-11-01 00:00:00"),
                last_seen: at("2026-11-27 10:20:30.123456"),
                identity: text("user@example.com"),
                outgoing_user: text("user@example.com"),
                last_source_ip: text("192.0.2.1"),
                assignee: text("agent"),
                events_24h: 17,
            },
            lock: full.then(|| Lock {
                kind: "lock_identity".into(),
                pending: true,
                reason: "spam run".into(),
                expires_at: Some(at("2026-11-28 10:00:00")),
            }),
        }
    }

    /// Every field reads the same through the object as through serialising the row, which
    /// the templates were written against (and overriding templates may be).
    #[test]
    fn a_queue_row_reads_in_templates_as_its_serialised_fields() {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template(
            "t",
            "{% for k in fields %}{{ k }}={{ item[k] }} {{ item[k] is none }}|{% endfor %}\
             {{ item.lock.kind if item.lock else '-' }}",
        )
        .unwrap();
        let fields: Vec<&str> = match serde_json::to_value(item(true)).unwrap() {
            serde_json::Value::Object(map) => map
                .keys()
                .map(|k| {
                    ITEM_FIELDS
                        .iter()
                        .find(|f| **f == k.as_str())
                        .copied()
                        .unwrap()
                })
                .collect(),
            _ => unreachable!(),
        };
        assert_eq!(
            fields.len(),
            ITEM_FIELDS.len(),
            "every serialised field is listed"
        );
        for full in [true, false] {
            let render = |item: Value| {
                env.get_template("t")
                    .unwrap()
                    .render(context! { fields => ITEM_FIELDS, item => item })
                    .unwrap()
            };
            let serialised = render(Value::from_serialize(item(full)));
            let object = render(Value::from_object(item(full)));
            assert_eq!(object, serialised);
            assert!(
                serialised.contains("last_seen=2026-11-27T10:20:30.123456 False|"),
                "{serialised}"
            );
        }
    }
}
