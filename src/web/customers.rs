//! Customers (`/customers`): the list with search, one customer with its identities, domains,
//! netblocks and tickets; admins edit a customer or load the customers CSV (the same parser
//! and import as `abuse-desk customers import`, so a bad line changes nothing).

use actix_session::Session;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use minijinja::context;
use serde::Deserialize;

use super::auth::{check_csrf, Admin, Viewer};
use super::error::WebError;
use super::queue::{load_page, QueueParams};
use super::AppState;
use crate::db::customers::{self as store, Customer};
use crate::db::ids::CustomerId;
use crate::db::schema::customers;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::get().to(list))
        .route("/customers/import", web::post().to(import))
        .route("/customers/{id}", web::get().to(show))
        .route("/customers/{id}", web::post().to(edit));
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Search {
    q: Option<String>,
    done: Option<String>,
}

async fn list(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    query: web::Query<Search>,
) -> Result<HttpResponse, WebError> {
    let q = query.q.clone().unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let rows = state.db(|conn| Ok(store::list(conn)?)).await?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|c| {
            needle.is_empty()
                || [&c.external_id, &c.name, &c.email]
                    .iter()
                    .any(|v| v.to_lowercase().contains(&needle))
        })
        .take(500)
        .collect();
    state.page(
        "customers.html",
        Some(&staff),
        context! { customers => rows, q => q, done => query.done.clone() },
    )
}

async fn show(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = CustomerId(path.into_inner());
    let (st, me) = (state.clone(), staff.id);
    let loaded = state
        .db(move |conn| {
            let customer: Customer = customers::table
                .find(id)
                .select(Customer::as_select())
                .first(conn)
                .optional()?
                .ok_or(WebError::NotFound)?;
            let children = store::children_of(conn, &[id])?.remove(&id).unwrap_or_default();
            let params = QueueParams {
                status: Some("all".into()),
                customer: Some(customer.external_id.clone()),
                ..Default::default()
            };
            let page = load_page(conn, &st, &params, me)?;
            Ok(context! { c => customer, children => children, tickets => page.items, more_url => page.next.map(|_| params.with(&[])) })
        })
        .await?;
    state.page(
        "customer.html",
        Some(&staff),
        context! { can_admin => staff.can(crate::db::users::Role::Admin), ..loaded },
    )
}

#[derive(Deserialize)]
struct EditForm {
    csrf_token: String,
    name: String,
    email: String,
    #[serde(default)]
    identities: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    netblocks: String,
}

/// One CSV line from the form's values (lists one per line or `;`-separated).
fn csv_line(external_id: &str, f: &EditForm) -> Result<String, WebError> {
    let list = |s: &str| {
        s.split(['\n', ';', ','])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "external_id",
        "name",
        "email",
        "identities",
        "domains",
        "netblocks",
    ];
    let row = [
        external_id.to_owned(),
        f.name.trim().to_owned(),
        f.email.trim().to_owned(),
        list(&f.identities),
        list(&f.domains),
        list(&f.netblocks),
    ];
    w.write_record(header)
        .and_then(|_| w.write_record(&row))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let bytes = w
        .into_inner()
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses and imports a customers CSV in one transaction; a refusal names the line.
fn import_csv(conn: &mut crate::db::DbConn, csv: &str) -> Result<store::ImportSummary, WebError> {
    let records = crate::customers::parse_csv(csv.as_bytes())
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    store::import(conn, &records).map_err(|e| match e {
        store::CustomerError::Query(e) => WebError::Query(e),
        other => WebError::BadRequest(other.to_string()),
    })
}

async fn edit(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let id = CustomerId(path.into_inner());
    let form = form.into_inner();
    state
        .db(move |conn| {
            let external: String = customers::table
                .find(id)
                .select(customers::external_id)
                .first(conn)
                .optional()?
                .ok_or(WebError::NotFound)?;
            let csv = csv_line(&external, &form)?;
            import_csv(conn, &csv)?;
            let detail = format!("edited customer {external}");
            crate::db::audit::record(
                conn,
                crate::db::now(),
                staff.actor(),
                "customer_edited",
                None,
                Some(id),
                &detail,
            )?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", format!("/customers/{}", id.0)))
        .finish())
}

#[derive(Deserialize)]
struct ImportForm {
    csrf_token: String,
    csv: String,
}

async fn import(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ImportForm>,
) -> Result<HttpResponse, WebError> {
    check_csrf(&session, &form.csrf_token)?;
    let csv = form.into_inner().csv;
    let summary = state
        .db(move |conn| {
            let summary = import_csv(conn, &csv)?;
            let detail = format!(
                "{} created, {} updated, {} unchanged",
                summary.created, summary.updated, summary.unchanged
            );
            crate::db::audit::record(
                conn,
                crate::db::now(),
                staff.actor(),
                "customers_imported",
                None,
                None,
                &detail,
            )?;
            Ok(summary)
        })
        .await?;
    let done = format!(
        "{} created, {} updated, {} unchanged",
        summary.created, summary.updated, summary.unchanged
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!("/customers?done={}", super::error::url_encode(&done)),
        ))
        .finish())
}
