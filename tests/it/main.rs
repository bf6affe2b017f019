//! Integration tests: one binary, one module per story.

mod actions;
mod cli;
mod dovecot;
mod imap_cli;
mod imap_faults;
mod imap_poll;
mod ingest;
mod migrations;
mod notices;
mod notify_mail;
mod proxy;
mod security_inputs;
mod smtp;
mod storage;
mod support;
mod upstream_adapters;
mod web;
mod web_actions;
mod web_auth;
mod web_browser;
mod web_pages;
mod web_queue;
mod web_ticket;
