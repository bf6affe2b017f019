//! A strict reader of the OpenMetrics text exposition `/metrics` serves: every line is a
//! `# HELP` / `# TYPE` / `# UNIT` line or a sample of the family declared last, sample names
//! carry only the suffixes their type allows, label values are quoted and escaped, values
//! are numbers, and `# EOF` ends the text. It panics on the first line that breaks a rule and
//! gives the samples as `name{labels}` → value.

use std::collections::{HashMap, HashSet};

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Checks `labels` (the text between the braces) and returns the label names.
fn label_names(labels: &str, line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\" in {line:?}"));
        assert!(is_name(name), "label name {name:?} in {line:?}");
        let mut escaped = false;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, '\\' | '"' | 'n') => escaped = false,
                (true, _) => panic!("bad escape in {line:?}"),
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, '\n') => panic!("raw line break in a label value: {line:?}"),
                _ => {}
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
        names.push(name.to_owned());
        rest = &after[end + 1..];
        if let Some(next) = rest.strip_prefix(',') {
            rest = next;
        } else {
            assert!(rest.is_empty(), "junk after a label in {line:?}");
        }
    }
    names
}

fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "gauge" | "unknown" => &[""],
        "histogram" => &["_bucket", "_sum", "_count", "_created"],
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        "stateset" => &[""],
        other => panic!("unknown metric type {other:?}"),
    }
}

/// Parses `text`, panicking on the first violation.
pub fn parse(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end");
    let mut samples = HashMap::new();
    let mut declared = HashSet::new();
    let mut family: Option<(String, String)> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(i, lines.len() - 1, "# EOF before the end");
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (what, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let rest = parts.next().unwrap_or("");
            assert!(is_name(name), "metric name {name:?} in {line:?}");
            match what {
                "TYPE" => {
                    suffixes(rest);
                    assert!(declared.insert(name.to_owned()), "{name} declared twice");
                    family = Some((name.to_owned(), rest.to_owned()));
                }
                "HELP" | "UNIT" => {}
                _ => panic!("unknown comment line {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("sample without value: {line:?}"));
        let parsed: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("value {v:?} in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (
                name,
                labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}")),
            ),
            None => (series, ""),
        };
        assert!(is_name(name), "sample name {name:?} in {line:?}");
        let (family_name, kind) = family
            .as_ref()
            .unwrap_or_else(|| panic!("sample before any # TYPE: {line:?}"));
        let allowed = suffixes(kind)
            .iter()
            .any(|suffix| name.strip_suffix(suffix) == Some(family_name.as_str()));
        assert!(allowed, "{name} does not belong to {kind} {family_name}");
        let names = label_names(labels, line);
        if name.ends_with("_bucket") {
            assert!(
                names.iter().any(|n| n == "le"),
                "bucket without le: {line:?}"
            );
        }
        assert!(
            samples.insert(series.to_owned(), parsed).is_none(),
            "{series} appears twice"
        );
    }
    samples
}
