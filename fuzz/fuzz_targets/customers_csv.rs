//! Fuzz target: see `harness/customers_csv.rs`, which the regression tests replay too.
#![no_main]

#[path = "../harness/customers_csv.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
