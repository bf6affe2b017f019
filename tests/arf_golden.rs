//! Golden tests: every `.eml` under `tests/fixtures/arf*/` parses (as is, with LF and with CRLF
//! line ends) to the committed `<name>.json` beside it. `UPDATE_GOLDEN=1` rewrites the files;
//! a mismatch writes `<name>.json.failed` for diffing.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.push(b'\n');
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let lf = to_lf(raw);
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 20);
    for b in lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn render(raw: &[u8]) -> Value {
    match abuse_desk::arf::parse(raw) {
        Ok(report) => {
            let value = serde_json::to_value(&report).expect("report serializes");
            // The JSON is an interface: it must read back into the same report.
            let back: abuse_desk::arf::FeedbackReport =
                serde_json::from_value(value.clone()).expect("report deserializes");
            assert_eq!(back, report);
            value
        }
        Err(e) => json!({"error": {"kind": e.kind(), "reason": e.reason()}}),
    }
}

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    for dir in ["arf", "arf-extra", "xarf"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "eml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn golden() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let files = fixtures();
    assert!(files.len() >= 41, "fixtures missing: found {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let raw = fs::read(path).expect("read fixture");
        let as_is = render(&raw);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for (variant, bytes) in [("LF", to_lf(&raw)), ("CRLF", to_crlf(&raw))] {
            let other = render(&bytes);
            if other != as_is {
                failures.push(format!("{name}: {variant} variant parses differently"));
                let failed = path.with_extension(format!("{variant}.json.failed"));
                fs::write(failed, serde_json::to_string_pretty(&other).unwrap()).unwrap();
            }
        }
        let expected_path = path.with_extension("json");
        let actual = serde_json::to_string_pretty(&as_is).unwrap() + "\n";
        if update {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let failed = path.with_extension("json.failed");
        match fs::read_to_string(&expected_path) {
            Ok(expected)
                if serde_json::from_str::<Value>(&expected).ok() == Some(as_is.clone()) =>
            {
                let _ = fs::remove_file(failed);
            }
            Ok(_) => {
                fs::write(&failed, &actual).unwrap();
                failures.push(format!("{name}: differs from {}", expected_path.display()));
            }
            Err(_) => {
                fs::write(&failed, &actual).unwrap();
                failures.push(format!(
                    "{name}: no expectation file {}",
                    expected_path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
