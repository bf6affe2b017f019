//! Fuzz target: `abuse_desk::arf::parse` must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = abuse_desk::arf::parse(data);
});
