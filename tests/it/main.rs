//! Integration tests: one binary, one module per story.

mod cli;
mod ingest;
mod migrations;
mod storage;
mod support;
