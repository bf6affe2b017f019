//! Integration tests: one binary, one module per story.

mod cli;
mod ingest;
mod migrations;
mod storage;
mod support;
mod web;
mod web_auth;
mod web_browser;
mod web_pages;
mod web_queue;
mod web_ticket;
