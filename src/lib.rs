//! abuse-desk: ARF feedback reports in, per-customer abuse tickets out. See DESIGN.md for the
//! data flow; each top-level module is one capability of it.

#![forbid(unsafe_code)]

pub mod arf;
pub mod cli;
pub mod customers;
pub mod db;
pub mod evidence;
pub mod imap;
pub mod ingest;
pub mod jobs;
pub mod logging;
pub mod net;
pub mod notify;
pub mod secret;
pub mod settings;
pub mod web;
