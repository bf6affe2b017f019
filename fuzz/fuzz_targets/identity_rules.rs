//! Fuzz target: see `harness/identity_rules.rs`, which the regression tests replay too.
#![no_main]

#[path = "../harness/identity_rules.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
