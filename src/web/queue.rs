//! The queue (`/tickets`): filters and sort in the URL, keyset pages, counts per status, and
//! bulk actions on a selection. `/api/v1/tickets` serves the same page as JSON (`api`).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use minijinja::context;
use minijinja::value::{Enumerator, Value};

use super::auth::{Claim, Staff};
use super::error::WebError;
use super::AppState;
use crate::db::users::Role;
use crate::tickets::queue::params::given;
pub use crate::tickets::queue::QueueParams;
use crate::tickets::queue::{load_page, QueueItem, QueuePage, Sort};
use crate::tickets::{Class, Severity, Status};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets", web::get().to(list));
}

/// Links between queue pages are built here, where the queue's URL is known; the parameters
/// themselves are read in [`crate::tickets::queue::params`].
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
            ("replied", given(&self.replied)),
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
    "customer_replied_at",
    "assignee",
    "events_24h",
    "lock",
];

/// Templates read a queue row field by field, each made into a value only when read: turning
/// fifty rows into maps of every field up front was a noticeable part of a page's time.
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
            "customer_replied_at" => row
                .customer_replied_at
                .as_ref()
                .map_or(Value::from(()), time),
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

/// A page's rows as template values.
pub fn item_values(items: Vec<QueueItem>) -> Vec<Value> {
    items.into_iter().map(Value::from_object).collect()
}

async fn list(
    claim: Claim,
    state: web::Data<AppState>,
    query: web::Query<QueueParams>,
) -> Result<HttpResponse, WebError> {
    let params = query.into_inner();
    let asked = params.clone();
    let st = state.clone();
    let (staff, page) = state
        .db_as(claim, Role::Viewer, move |conn, staff| {
            let req = asked.request(staff.id)?;
            Ok(load_page(conn, &st.caches.queue, &req)?)
        })
        .await?;
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
        .map(|s| (s.as_str(), page.counts.get(s).copied().unwrap_or(0)))
        .chain([("all", page.counts.values().sum())])
        .map(|(s, count)| {
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
            items => item_values(page.items),
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
            severities => Severity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            classes => Class::LISTED.iter().map(Class::as_str).collect::<Vec<_>>(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::ids::{CustomerId, TicketId};
    use crate::db::locks::Lock;
    use crate::tickets::queue::QueueRow;
    use crate::tickets::SubjectKind;

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
                subject_kind: SubjectKind::Identity,
                subject: "user@example.com\"><img onerror=x>".into(),
                class: Class::Abuse,
                severity: Severity::Escalation,
                status: Status::Open,
                event_count: 1234,
                first_seen: at("2026-11-01 00:00:00"),
                last_seen: at("2026-11-27 10:20:30.123456"),
                identity: text("user@example.com"),
                outgoing_user: text("user@example.com"),
                last_source_ip: text("192.0.2.1"),
                customer_replied_at: full.then(|| at("2026-11-27 11:00:00")),
                assignee: text("agent"),
                events_24h: 17,
            },
            lock: full.then(|| Lock {
                action_id: crate::db::ids::ActionId(3),
                kind: crate::db::actions::ActionKind::LockIdentity,
                state: crate::db::locks::LockState::Locking,
                pending: true,
                reason: "spam run".into(),
                since: at("2026-11-27 10:00:00"),
                expires_at: Some(at("2026-11-28 10:00:00")),
                by: "agent".into(),
                upstream: Some("filter".into()),
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
