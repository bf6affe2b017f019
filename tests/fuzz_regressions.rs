//! Inputs that once failed a fuzz target beyond the ARF parser, replayed through the target's
//! own harness (`fuzz/harness/`), its invariants included. A fixture's name starts with its
//! target: `identity_rules-…`, `customers_csv-…`, `queue_params-…`; the ARF parser's are the
//! `.eml` files that `arf_regressions` replays.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../fuzz/harness/customers_csv.rs"]
mod customers_csv;
#[path = "../fuzz/harness/identity_rules.rs"]
mod identity_rules;
#[path = "../fuzz/harness/queue_params.rs"]
mod queue_params;
#[path = "../fuzz/harness/report_parts.rs"]
mod report_parts;

/// A target's harness: runs one input, panicking where the target would crash.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 4] = [
    ("identity_rules", identity_rules::run),
    ("customers_csv", customers_csv::run),
    ("queue_params", queue_params::run),
    ("report_parts", report_parts::run),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    all.sort();
    all
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-regressions");
    for path in files(&dir) {
        let name = name(&path);
        if name.ends_with(".eml") {
            continue;
        }
        // A fixture no target claims would never be replayed.
        let (target, run) = TARGETS
            .iter()
            .find(|(target, _)| name.starts_with(&format!("{target}-")))
            .unwrap_or_else(|| panic!("{name}: name it after its fuzz target"));
        println!("{target}: {name}");
        run(&fs::read(&path).unwrap());
    }
}

/// Replays each target's cargo-fuzz corpus in a debug build, where our own arithmetic is
/// overflow-checked (the fuzzer runs optimised, see fuzz/README.md).
/// `cargo test --test fuzz_regressions -- --ignored` after fuzzing.
#[test]
#[ignore = "needs the fuzz corpora in fuzz/corpus/"]
fn fuzz_corpora_replay() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, run) in TARGETS {
        let dir = corpus.join(target);
        if !dir.is_dir() {
            continue;
        }
        let inputs = files(&dir);
        assert!(!inputs.is_empty(), "{target}: empty corpus");
        for path in inputs {
            run(&fs::read(&path).unwrap());
        }
        println!("{target}: corpus replayed");
    }
}
