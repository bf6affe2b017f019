//! Customers (`/customers`): the list with search, one customer with its identities, domains,
//! netblocks and tickets; admins edit a customer or load the customers CSV (the same parser
//! and import as `abuse-desk customers import`, so a bad line changes nothing).

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
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
            Ok(context! { c => customer, children => children, tickets => super::queue::QueueItem::values(page.items), more_url => page.next.map(|_| params.with(&[])) })
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

/// The largest customers CSV accepted (some 200,000 customers).
const MAX_CSV: usize = 32 << 20;

/// The upload form (multipart: a `file`, or the pasted `csv`) or a plain form with `csv`.
async fn import_form(req: &HttpRequest, payload: web::Payload) -> Result<ImportForm, WebError> {
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        let form = web::Form::<ImportForm>::from_request(req, &mut payload.into_inner())
            .await
            .map_err(|e| WebError::BadRequest(e.to_string()))?;
        return Ok(form.into_inner());
    }
    let mut multipart = Multipart::new(req.headers(), payload);
    let bad = |what: &str| WebError::BadRequest(format!("the upload could not be read: {what}"));
    let (mut csrf_token, mut file, mut pasted) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| bad(&e.to_string()))?;
        let target = match field.name() {
            Some("csrf_token") => &mut csrf_token,
            Some("file") => &mut file,
            Some("csv") => &mut pasted,
            _ => continue,
        };
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad(&e.to_string()))?;
            if target.len() + chunk.len() > MAX_CSV {
                return Err(WebError::BadRequest(
                    "the CSV is larger than 32 MB; import it with `abuse-desk customers import`"
                        .into(),
                ));
            }
            target.extend_from_slice(&chunk);
        }
    }
    let csv = if file.is_empty() { pasted } else { file };
    if csv.iter().all(u8::is_ascii_whitespace) {
        return Err(WebError::BadRequest(
            "choose a CSV file or paste its lines".into(),
        ));
    }
    Ok(ImportForm {
        csrf_token: String::from_utf8(csrf_token).map_err(|_| bad("the form is not UTF-8"))?,
        csv: String::from_utf8(csv)
            .map_err(|_| WebError::BadRequest("the CSV file is not UTF-8 text".into()))?,
    })
}

async fn import(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let form = import_form(&req, payload).await?;
    check_csrf(&session, &form.csrf_token)?;
    let csv = form.csv;
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
