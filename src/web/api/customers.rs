//! Customers: list and read (viewers), create, replace, delete and bulk upsert (admins, as on
//! the customers page). A customer is written with the customers CSV's fields and checked
//! as a line of that file is (the same parser and import).

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::{AdminToken, Object, TokenOf};
use crate::customers::CustomerRecord;
use crate::db::customers::{self as store, Children, Customer, CustomerError, CustomerSummary};
use crate::db::ids::CustomerId;
use crate::web::auth::Viewer;
use crate::web::{AppState, WebError};

/// The most customers one bulk request may hold.
const BULK_LIMIT: usize = 10_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Text in the external id, name or address.
    pub q: Option<String>,
}

#[utoipa::path(
    tag = "customers",
    params(Search),
    responses((status = 200, description = "Up to 500 customers, by external id", body = Vec<CustomerSummary>)),
    security(("bearer" = []))
)]
#[get("/customers")]
pub async fn list(
    _: Viewer,
    state: web::Data<AppState>,
    query: web::Query<Search>,
) -> Result<web::Json<Vec<CustomerSummary>>, ApiError> {
    let q = query.into_inner().q.unwrap_or_default();
    crate::limits::SEARCH
        .check(q.trim())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let rows = state
        .db(move |conn| Ok(store::search(conn, &q, 500)?))
        .await?;
    Ok(web::Json(rows))
}

/// A customer with its identities, domains and netblocks.
#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    pub customer: Customer,
    pub children: Children,
}

fn view(conn: &mut crate::db::DbConn, id: CustomerId) -> Result<CustomerView, WebError> {
    let customer = store::get(conn, id)?.ok_or(WebError::NotFound)?;
    let children = store::children_of(conn, &[id])?
        .remove(&id)
        .unwrap_or_default();
    Ok(CustomerView { customer, children })
}

#[utoipa::path(
    tag = "customers",
    responses((status = 200, description = "The customer", body = CustomerView)),
    security(("bearer" = []))
)]
#[get("/customers/{id}")]
pub async fn get(
    _: Viewer,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<web::Json<CustomerView>, ApiError> {
    let id = CustomerId(id.into_inner());
    Ok(web::Json(state.db(move |conn| view(conn, id)).await?))
}

/// A customer's fields but its external id, as the customers CSV has them.
#[derive(Deserialize, ToSchema)]
pub struct CustomerFields {
    #[schema(pattern = r"\S")]
    pub name: String,
    /// One or more addresses, `;`-separated.
    #[schema(pattern = r"^[^@]+@[^@]+(;[^@]+@[^@]+)*$")]
    pub email: String,
    #[serde(default)]
    pub identities: Vec<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    /// CIDR blocks.
    #[serde(default)]
    pub netblocks: Vec<String>,
    pub billing_ref: Option<String>,
    pub hosting_user: Option<String>,
    /// Whether the customer is told about its tickets (yes without).
    pub notify: Option<bool>,
    pub language: Option<String>,
}

/// A customer with its external id (the key a bulk upsert matches on).
#[derive(Deserialize, ToSchema)]
pub struct NewCustomer {
    #[schema(pattern = r"\S", max_length = 200)]
    pub external_id: String,
    #[serde(flatten)]
    pub fields: CustomerFields,
}

impl CustomerFields {
    /// The record of customer `external_id`, checked as a CSV line would be.
    fn record(&self, external_id: &str) -> Result<CustomerRecord, String> {
        let lists = [&self.identities, &self.domains, &self.netblocks].map(|l| l.join(";"));
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
        let notify = if self.notify.unwrap_or(true) {
            "yes"
        } else {
            "no"
        };
        crate::customers::parse_fields(
            &[
                external_id.trim(),
                self.name.trim(),
                self.email.trim(),
                &lists[0],
                &lists[1],
                &lists[2],
                &text(&self.billing_ref),
                &text(&self.hosting_user),
                notify,
                &text(&self.language),
            ],
            &["billing_ref", "hosting_user", "notify", "language"],
        )
    }
}

/// A refused write is the caller's to fix; a database failure is ours.
fn refused(e: CustomerError) -> WebError {
    match e {
        CustomerError::Query(e) => WebError::Query(e),
        other => WebError::Refused(other.to_string()),
    }
}

#[utoipa::path(
    tag = "customers",
    request_body = NewCustomer,
    responses((status = 201, description = "The customer created", body = CustomerView)),
    security(("bearer" = []))
)]
#[post("/customers")]
pub async fn create(
    TokenOf(staff, _): AdminToken,
    state: web::Data<AppState>,
    Object(body): Object<NewCustomer>,
) -> Result<HttpResponse, ApiError> {
    let new = body;
    let record = new
        .fields
        .record(&new.external_id)
        .map_err(ApiError::invalid)?;
    let created = state
        .db(move |conn| {
            if store::id_by_external(conn, &record.external_id)?.is_some() {
                return Err(WebError::Refused(format!(
                    "customer '{}' exists; change it with PUT",
                    record.external_id
                )));
            }
            store::import_as(conn, std::slice::from_ref(&record), staff.actor())
                .map_err(refused)?;
            let id = store::id_by_external(conn, &record.external_id)?.ok_or(WebError::NotFound)?;
            view(conn, id)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(
    tag = "customers",
    request_body = CustomerFields,
    responses((status = 200, description = "The customer as it is now", body = CustomerView)),
    security(("bearer" = []))
)]
#[put("/customers/{id}")]
pub async fn update(
    TokenOf(staff, _): AdminToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    Object(body): Object<CustomerFields>,
) -> Result<web::Json<CustomerView>, ApiError> {
    let id = CustomerId(id.into_inner());
    let fields = body;
    let updated = state
        .db(move |conn| {
            let customer = store::get(conn, id)?.ok_or(WebError::NotFound)?;
            let record = fields
                .record(&customer.external_id)
                .map_err(WebError::Invalid)?;
            store::edit(conn, id, &record, staff.actor()).map_err(refused)?;
            view(conn, id)
        })
        .await?;
    Ok(web::Json(updated))
}

#[utoipa::path(
    tag = "customers",
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []))
)]
#[delete("/customers/{id}")]
pub async fn delete(
    TokenOf(staff, _): AdminToken,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = CustomerId(id.into_inner());
    let deleted = state
        .db(move |conn| store::delete(conn, id, staff.actor()).map_err(refused))
        .await?;
    if !deleted {
        return Err(WebError::NotFound.into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Creates or updates every customer given (matched by external id), all or nothing, as an
/// import of the customers CSV does.
#[utoipa::path(
    tag = "customers",
    request_body = Vec<NewCustomer>,
    responses((status = 200, description = "What changed", body = store::ImportSummary)),
    security(("bearer" = []))
)]
#[post("/customers/bulk")]
pub async fn bulk(
    TokenOf(staff, _): AdminToken,
    state: web::Data<AppState>,
    body: web::Json<Vec<NewCustomer>>,
) -> Result<HttpResponse, ApiError> {
    let given = body.into_inner();
    if given.len() > BULK_LIMIT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("at most {BULK_LIMIT} customers a request"),
        ));
    }
    // Numbered from 1 in the order given, as a file's lines would be.
    let mut records = Vec::with_capacity(given.len());
    for (i, new) in given.iter().enumerate() {
        let mut record = new
            .fields
            .record(&new.external_id)
            .map_err(|e| ApiError::invalid(format!("{}: {e}", i + 1)))?;
        record.line = i as u64 + 1;
        records.push(record);
    }
    crate::customers::check_together(&records).map_err(ApiError::invalid)?;
    let summary = state
        .db(move |conn| store::import_as(conn, &records, staff.actor()).map_err(refused))
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}
