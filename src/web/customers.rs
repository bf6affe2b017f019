//! Customers (`/customers`): the list with search, one customer with its identities, domains,
//! netblocks and tickets; admins edit a customer or load the customers CSV (the same parser
//! and import as `abuse-desk customers import`, so a bad line changes nothing).

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use minijinja::context;
use serde::Deserialize;

use super::auth::{check_csrf, Admin, Viewer};
use super::error::WebError;
use super::forms::CsrfForm;
use super::queue::{item_values, QueueParams};
use super::AppState;
use crate::customers::CustomerRecord;
use crate::db::customers as store;
use crate::db::ids::CustomerId;
use crate::tickets::queue::{load_page, QueueRequest};

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::get().to(list))
        .route("/customers/import", web::post().to(import))
        .route("/customers/{id}", web::get().to(show))
        .route("/customers/{id}", web::post().to(edit))
        .route("/customers/{id}/forget", web::post().to(forget));
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
    crate::limits::SEARCH
        .check(q.trim())
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let needle = q.clone();
    let rows = state
        .db(move |conn| Ok(store::search(conn, &needle, 500)?))
        .await?;
    state.page(
        "customers.html",
        Some(&staff),
        context! { customers => rows, q => q, done => query.done.clone() },
    )
}

async fn show(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
    path: web::Path<CustomerId>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let st = state.clone();
    let loaded = state
        .db(move |conn| {
            let customer = store::get(conn, id)?.ok_or(WebError::NotFound)?;
            let children = store::children_of(conn, &[id])?.remove(&id).unwrap_or_default();
            let req = QueueRequest {
                status: None,
                customer: Some(customer.external_id.clone()),
                ..QueueRequest::default()
            };
            let page = load_page(conn, &st.caches.queue, &req)?;
            let more_url = page.next.as_ref().map(|_| {
                QueueParams {
                    status: Some("all".into()),
                    customer: Some(customer.external_id.clone()),
                    ..Default::default()
                }
                .with(&[])
            });
            Ok(context! { c => customer, children => children, tickets => item_values(page.items), more_url => more_url })
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
    name: String,
    email: String,
    #[serde(default)]
    identities: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    netblocks: String,
    #[serde(default)]
    billing_ref: String,
    #[serde(default)]
    hosting_user: String,
    #[serde(default)]
    language: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    notify: Option<String>,
}

/// The customer `external_id` as the form describes it (lists one per line or separated by
/// `;` or `,`), checked as a line of the customers CSV would be.
fn record_of(external_id: &str, f: &EditForm) -> Result<CustomerRecord, WebError> {
    let list = |s: &str| {
        s.split(['\n', ';', ','])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(";")
    };
    let (identities, domains, netblocks) =
        (list(&f.identities), list(&f.domains), list(&f.netblocks));
    let notify = if f.notify.is_some() { "yes" } else { "no" };
    crate::customers::parse_fields(
        &[
            external_id,
            f.name.trim(),
            f.email.trim(),
            &identities,
            &domains,
            &netblocks,
            f.billing_ref.trim(),
            f.hosting_user.trim(),
            notify,
            f.language.trim(),
        ],
        &["billing_ref", "hosting_user", "notify", "language"],
    )
    .map_err(WebError::BadRequest)
}

/// A refused import is the user's to fix; a database failure is ours.
fn refused(e: store::CustomerError) -> WebError {
    match e {
        store::CustomerError::Query(e) => WebError::Query(e),
        other => WebError::BadRequest(other.to_string()),
    }
}

async fn edit(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    path: web::Path<CustomerId>,
    CsrfForm(form): CsrfForm<EditForm>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    state
        .db(move |conn| {
            let customer = store::get(conn, id)?.ok_or(WebError::NotFound)?;
            let record = record_of(&customer.external_id, &form)?;
            store::edit(conn, id, &record, staff.actor()).map_err(refused)
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", format!("/customers/{}", id.0)))
        .finish())
}

#[derive(Deserialize)]
struct ForgetForm {
    /// The external id typed again, so that a stray click forgets nobody.
    confirm: String,
}

/// Removes the customer's personal data (as `abuse-desk customers forget`).
async fn forget(
    Admin(staff): Admin,
    state: web::Data<AppState>,
    path: web::Path<CustomerId>,
    CsrfForm(form): CsrfForm<ForgetForm>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let st = state.clone();
    state
        .db(move |conn| {
            let customer = store::get(conn, id)?.ok_or(WebError::NotFound)?;
            if form.confirm.trim() != customer.external_id {
                return Err(WebError::BadRequest(
                    "type the customer's external id to confirm".into(),
                ));
            }
            crate::housekeeping::forget::forget(
                conn,
                &customer.external_id,
                staff.actor(),
                crate::db::now(),
            )
            .map_err(|e| match e {
                crate::housekeeping::forget::ForgetError::Query(e) => WebError::Query(e),
                other => WebError::Refused(other.to_string()),
            })
        })
        .await?;
    // What the dashboard shows of the customer's identities goes at once.
    st.caches.dashboard.clear();
    Ok(state.changed(&format!("/customers/{}", id.0)))
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
    let summary = state
        .db(move |conn| {
            let records = crate::customers::parse_csv(form.csv.as_bytes())
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            store::import_as(conn, &records, staff.actor()).map_err(refused)
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
