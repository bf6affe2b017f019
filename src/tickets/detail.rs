//! A ticket's summary, joined with its customer and assignee: what its page heads with and
//! what its lock buttons act on.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::types::{Class, Severity, Status, SubjectKind};
use crate::db::ids::{CustomerId, TicketId, UserId};
use crate::db::schema::{customers, tickets, users};
use crate::db::DbConn;

/// The ticket page's summary.
#[derive(Queryable, Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    pub id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub customer_external_id: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub class: Class,
    pub severity: Severity,
    pub status: Status,
    pub assignee_id: Option<UserId>,
    pub assignee: Option<String>,
    pub merged_into_id: Option<TicketId>,
    pub event_count: i64,
    pub incident_count: i64,
    pub source_ip_count: i64,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub last_source_ip: Option<String>,
    pub last_original_subject: Option<String>,
    pub identity: Option<String>,
    pub outgoing_user: Option<String>,
    pub outgoing_domain: Option<String>,
    /// When the customer last answered on its self-service page.
    pub customer_replied_at: Option<NaiveDateTime>,
    /// `fixed` once the customer says so.
    pub customer_status: Option<String>,
}

/// The ticket's summary, if it exists.
pub fn detail(conn: &mut DbConn, id: TicketId) -> QueryResult<Option<TicketDetail>> {
    tickets::table
        .left_join(customers::table)
        .left_join(users::table)
        .filter(tickets::id.eq(id))
        .select((
            tickets::id,
            tickets::customer_id,
            customers::external_id.nullable(),
            customers::name.nullable(),
            customers::email.nullable(),
            tickets::subject_kind,
            tickets::subject,
            tickets::class,
            tickets::severity,
            tickets::status,
            tickets::assignee_id,
            users::username.nullable(),
            tickets::merged_into_id,
            tickets::event_count,
            tickets::incident_count,
            tickets::source_ip_count,
            tickets::first_seen,
            tickets::last_seen,
            tickets::last_source_ip,
            tickets::last_original_subject,
            tickets::identity,
            tickets::outgoing_user,
            tickets::outgoing_domain,
            tickets::customer_replied_at,
            tickets::customer_status,
        ))
        .first(conn)
        .optional()
}
