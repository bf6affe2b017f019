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
    pub status: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub customer: Option<String>,
    pub unresolved: Option<String>,
    pub replied: Option<String>,
    pub assignee: Option<String>,
    pub feed: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
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
