//! Inputs that once crashed the parser (found by cargo-fuzz); each must parse or be refused.

use std::fs;
use std::path::Path;

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-regressions");
    let mut count = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            let raw = fs::read(&path).unwrap();
            let _ = abuse_desk::arf::parse(&raw);
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs found");
}

/// Replays the cargo-fuzz corpus in a debug build, where our own arithmetic is overflow-checked
/// (the fuzzer runs optimised, see fuzz/README.md). `cargo test -- --ignored` after fuzzing.
#[test]
#[ignore = "needs a fuzz corpus in fuzz/corpus/arf_parse"]
fn fuzz_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/arf_parse");
    let mut count = 0;
    for entry in fs::read_dir(dir).expect("fuzz corpus present") {
        let raw = fs::read(entry.unwrap().path()).unwrap();
        let _ = abuse_desk::arf::parse(&raw);
        count += 1;
    }
    assert!(count > 0);
}
