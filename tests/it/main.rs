//! Integration tests: one binary, one module per story.

mod cli;
mod dovecot;
mod imap_cli;
mod imap_faults;
mod imap_poll;
mod ingest;
mod migrations;
mod proxy;
mod storage;
mod support;
