//! Fuzz target: see `harness/queue_params.rs`, which the regression tests replay too.
#![no_main]

#[path = "../harness/queue_params.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
