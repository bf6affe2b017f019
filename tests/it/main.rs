//! Integration tests: one binary, one module per story.

mod cli;
mod migrations;
mod storage;
mod support;
