//! abuse-desk: ARF feedback reports in, per-customer abuse tickets out. See DESIGN.md for the
//! data flow; each top-level module is one capability of it.

#![forbid(unsafe_code)]

pub mod arf;
pub mod cache;
pub mod cli;
pub mod customers;
pub mod db;
pub mod demo;
pub mod evidence;
pub mod hex;
pub mod housekeeping;
pub mod imap;
pub mod ingest;
pub mod invalid;
pub mod jobs;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod netblock;
pub mod notify;
pub mod password;
pub mod secret;
pub mod settings;
pub mod tickets;
pub mod upstream;
pub mod web;
