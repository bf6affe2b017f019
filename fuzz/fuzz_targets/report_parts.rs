//! Fuzz target: see `harness/report_parts.rs`, which the regression tests replay too.
#![no_main]

#[path = "../harness/report_parts.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
