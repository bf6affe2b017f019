//! The queue's URL parameters and the page they ask for: the step from a query string to a
//! [`QueueRequest`], without the database (names are looked up later), shared by the queue
//! page and its API.

use serde::{Deserialize, Serialize};

use super::{AssigneeName, Cursor, QueueRequest, Sort};
use crate::db::ids::UserId;
use crate::tickets::{Class, Severity, Status};

/// The queue's URL parameters, kept as given so the page can echo them back.
#[derive(Deserialize, Serialize, Clone, Debug, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// A status, or `all`; `open` without.
    #[param(pattern = r"^\s*(open|resolved|ignored|closed|merged|all)?\s*$")]
    pub status: Option<String>,
    #[param(pattern = r"^\s*(info|abuse|escalation)?\s*$")]
    pub severity: Option<String>,
    /// A feedback type (`abuse`, `fraud`, `virus`, `auth-failure`, `not-spam`, `other`, or
    /// one a reporter made up).
    pub class: Option<String>,
    /// A customer's external id.
    pub customer: Option<String>,
    /// Any value: only tickets no customer was found for.
    pub unresolved: Option<String>,
    /// Any value: only tickets the customer answered on.
    pub replied: Option<String>,
    /// `me`, `none`, or a user name.
    pub assignee: Option<String>,
    /// A reporter (the feed a report came from).
    pub feed: Option<String>,
    /// Text in the subject, identity, sender or source IP.
    #[param(max_length = 200)]
    pub q: Option<String>,
    #[param(pattern = r"^\s*(last_seen|events|events_24h|first_seen)?\s*$")]
    pub sort: Option<String>,
    /// The `next` of the page before.
    #[param(pattern = r"^\s*(-?[0-9]{1,18}_-?[0-9]{1,18})?\s*$")]
    pub after: Option<String>,
}

/// A parameter the queue cannot read; the message is the user's to see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQueueParam(pub String);

/// A parameter's value, trimmed; an empty one is not given.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl QueueParams {
    /// The sort order asked for; last seen when none is.
    pub fn sort(&self) -> Result<Sort, BadQueueParam> {
        given(&self.sort).map_or(Ok(Sort::LastSeen), |s| {
            Sort::parse(s).ok_or_else(|| BadQueueParam(format!("unknown sort '{s}'")))
        })
    }

    /// The page these parameters ask for; `me` is who "assignee=me" means.
    pub fn request(&self, me: UserId) -> Result<QueueRequest, BadQueueParam> {
        let status = match given(&self.status) {
            None => Some(Status::Open),
            Some("all") => None,
            Some(s) => Some(s.parse::<Status>().map_err(BadQueueParam)?),
        };
        let severity = match given(&self.severity) {
            None => None,
            Some(s) => Some(s.parse::<Severity>().map_err(BadQueueParam)?),
        };
        let assignee = given(&self.assignee).map(|a| match a {
            "me" => AssigneeName::User(me),
            "none" => AssigneeName::Nobody,
            name => AssigneeName::Named(name.to_owned()),
        });
        let after = match given(&self.after) {
            None => None,
            Some(a) => Some(Cursor::parse(a).ok_or_else(|| BadQueueParam("bad page".into()))?),
        };
        Ok(QueueRequest {
            status,
            severity,
            class: given(&self.class).map(Class::of),
            customer: given(&self.customer).map(str::to_owned),
            unresolved: given(&self.unresolved).is_some(),
            replied: given(&self.replied).is_some(),
            assignee,
            feed: given(&self.feed).map(str::to_owned),
            text: given(&self.q)
                .map(|q| crate::limits::SEARCH.check(q).map(str::to_owned))
                .transpose()
                .map_err(|e| BadQueueParam(e.to_string()))?,
            sort: self.sort()?,
            after,
        })
    }
}
