//! The API's OpenAPI 3.1 document, collected from the registered handlers (their
//! `#[utoipa::path]` and the types they read and answer), its reference page, and the answer
//! to a route the document does not have.

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde_json::Value as Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use super::error::{ApiError, ErrorBody, ErrorDetail};
use crate::web::auth::Viewer;
use crate::web::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "abuse-desk",
        description = "The abuse desk's JSON API: tickets, customers, reports, actions. \
            Send `Authorization: Bearer TOKEN` (`abuse-desk token create USER`, or My tokens). \
            Errors are `{\"error\":{\"code\":…,\"message\":…}}`."
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct Base;

/// Statuses any operation may answer with an error body: a bad request, no or a wrong
/// token, a role that does not allow it, no such thing, a wrong method, a conflict with the
/// desk's state, a body too large or of the wrong type, a body that does not fit, and our
/// own failure.
const ERRORS: &[(&str, &str)] = &[
    ("400", "The request cannot be read"),
    ("401", "No valid API token or session"),
    (
        "403",
        "The role does not allow this, or a write came without a token",
    ),
    ("404", "No such thing"),
    ("405", "The path does not take this method"),
    ("409", "Refused in the desk's current state"),
    ("413", "The body is too large"),
    ("415", "The body is not of the type the operation takes"),
    ("422", "The body or a parameter does not fit"),
    ("500", "Something went wrong on the server"),
];

/// The document as served, built once from the same [`super::services`] the server routes
/// with.
pub fn document() -> &'static Json {
    static DOCUMENT: OnceLock<Json> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(collected()).unwrap_or_default();
        utc_times(&mut doc);
        doc
    })
}

/// Times are UTC and written without an offset (`2026-12-03T16:35:41.157714`), which JSON
/// Schema's `date-time` does not take: the document says so with a pattern instead.
fn utc_times(value: &mut Json) {
    match value {
        Json::Object(map) => {
            if map.get("format").and_then(Json::as_str) == Some("date-time") {
                map.remove("format");
                map.insert(
                    "pattern".into(),
                    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$".into(),
                );
                map.insert("description".into(), "UTC, without an offset".into());
            }
            map.values_mut().for_each(utc_times);
        }
        Json::Array(items) => items.iter_mut().for_each(utc_times),
        _ => {}
    }
}

/// The handlers' descriptions, with the bearer scheme and the error answers every
/// operation may give.
fn collected() -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(Base::openapi())
        .service(utoipa_actix_web::scope("/api/v1").configure(super::services))
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    for (code, description) in ERRORS {
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        components
            .responses
            .insert(format!("Error{code}"), response.into());
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for (code, _) in ERRORS {
                op.responses
                    .responses
                    .entry((*code).to_owned())
                    .or_insert_with(|| Ref::from_response_name(format!("Error{code}")).into());
            }
        }
    }
    doc
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The methods the document gives `path` (a request's path), if it has that path at all.
fn methods_of(path: &str) -> Option<Vec<&'static str>> {
    let given: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (_, item) = document()["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == given.len()
                && parts
                    .iter()
                    .zip(&given)
                    .all(|(p, g)| p == g || (p.starts_with('{') && !g.is_empty()))
        })?;
    let methods = ["GET", "PUT", "POST", "DELETE", "PATCH"];
    Some(
        methods
            .into_iter()
            .filter(|m| item.get(m.to_lowercase()).is_some())
            .collect(),
    )
}

/// Any other route under `/api/v1`: 401 without a login, then 405 (with `Allow`) for a path
/// the API has but not with this method, else 404.
pub async fn unknown_route(_: Viewer, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    not_routed(&req)
}

/// A request no operation takes: 405 (with `Allow`) for a path the API has but not with this
/// method (also where a path parameter did not parse, e.g. `PUT /customers/bulk`), else 404.
pub fn not_routed(req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    match methods_of(req.path()) {
        Some(methods) if !methods.contains(&req.method().as_str()) => {
            let allow = methods.join(", ");
            let refused = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} takes {allow}", req.path()),
            );
            let mut answer = actix_web::ResponseError::error_response(&refused);
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                answer.headers_mut().insert(header::ALLOW, value);
            }
            Ok(answer)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_route",
            format!("the API has no {}; see /api/v1/docs", req.path()),
        )),
    }
}

/// This document.
#[utoipa::path(
    tag = "reference",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
    security(("bearer" = []))
)]
#[get("/openapi.json")]
pub async fn json(_: Viewer) -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The reference, as a page.
#[utoipa::path(
    tag = "reference",
    responses((status = 200, description = "The reference page", content_type = "text/html", body = String)),
    security(("bearer" = []))
)]
#[get("/docs")]
pub async fn docs(
    Viewer(staff): Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let doc = document();
    let mut ops = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    ops.push(operation(path, method, op));
                }
            }
        }
    }
    let schemas: Vec<_> = doc["components"]["schemas"]
        .as_object()
        .map(|s| {
            s.iter()
                .map(|(name, schema)| context! { name => name, json => pretty(schema) })
                .collect()
        })
        .unwrap_or_default();
    Ok(state.page(
        "api.html",
        Some(&staff),
        context! {
            title => doc["info"]["title"].as_str(),
            version => doc["info"]["version"].as_str(),
            description => doc["info"]["description"].as_str(),
            ops => ops,
            schemas => schemas,
        },
    )?)
}

/// One operation as the page lists it.
fn operation(path: &str, method: &str, op: &Json) -> minijinja::Value {
    let params: Vec<_> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            context! {
                name => p["name"].as_str(),
                at => p["in"].as_str(),
                required => p["required"].as_bool().unwrap_or(false),
                schema => pretty(&p["schema"]),
                description => p["description"].as_str(),
            }
        })
        .collect();
    let body = op["requestBody"]["content"].as_object().map(|content| {
        content
            .iter()
            .map(|(kind, c)| context! { kind => kind, schema => pretty(&c["schema"]) })
            .collect::<Vec<_>>()
    });
    let responses: Vec<_> = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let described = r["description"]
                .as_str()
                .or_else(|| r["$ref"].as_str().map(|_| "error (see ErrorBody)"));
            let schema = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| pretty(&c["schema"]));
            context! { status => status, description => described, schema => schema }
        })
        .collect();
    context! {
        method => method.to_uppercase(),
        path => path,
        anchor => format!("{method}{}", path.replace(['/', '{', '}'], "-")),
        summary => op["summary"].as_str(),
        description => op["description"].as_str(),
        tags => op["tags"].clone(),
        params => params,
        body => body,
        responses => responses,
    }
}

fn pretty(value: &Json) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
