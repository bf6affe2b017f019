//! (filled in by a later slice)

use actix_web::web;

pub fn config(_cfg: &mut web::ServiceConfig) {}
