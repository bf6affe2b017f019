//! Identification rules, compiled from arbitrary configuration and applied to a report whose
//! own fields and attached original carry arbitrary headers.
//!
//! The input is text in three parts separated by a blank line: the rules, one a line
//! (`HEADER`, or `HEADER<TAB>REGEX`; a line `+defaults` adds the default rules there); extra
//! fields of the feedback report; the attached original's header block. Compiling refuses
//! or succeeds, applying finds an identity or none, neither panics; and an identity found is
//! a non-empty, trimmed value named after the rule that found it.

use std::cell::RefCell;
use std::collections::HashMap;

use abuse_desk::arf::{parse_with, IdentityRule, IdentityRules};

/// A configuration holds a handful of rules; more only slow the search down.
const MOST_RULES: usize = 12;

fn rules(text: &str) -> Vec<IdentityRule> {
    let mut rules = Vec::new();
    for line in text.lines().take(MOST_RULES) {
        if line == "+defaults" {
            rules.extend(IdentityRules::default_rules());
            continue;
        }
        let (header, regex) = match line.split_once('\t') {
            Some((header, regex)) => (header, Some(regex.to_owned())),
            None => (line, None),
        };
        rules.push(IdentityRule {
            header: header.to_owned(),
            regex,
        });
    }
    rules
}

/// The rules compiled, or `None` where they are refused. Compiling takes milliseconds (the
/// regex crate builds a DFA), far longer than applying, so rule sets already seen are kept:
/// most inputs differ from another in their headers only.
fn compiled(rules: Vec<IdentityRule>) -> Option<IdentityRules> {
    type Key = Vec<(String, Option<String>)>;
    thread_local! {
        static SEEN: RefCell<HashMap<Key, Option<IdentityRules>>> = RefCell::default();
    }
    let key: Vec<_> = rules
        .iter()
        .map(|r| (r.header.clone(), r.regex.clone()))
        .collect();
    SEEN.with_borrow_mut(|seen| {
        if seen.len() >= 1024 {
            seen.clear();
        }
        seen.entry(key)
            .or_insert_with(|| match IdentityRules::compile(&rules) {
                Ok(compiled) => Some(compiled),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    None
                }
            })
            .clone()
    })
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, "\n\n");
    let rules = rules(parts.next().unwrap_or(""));
    let fields = parts.next().unwrap_or("");
    let original = parts.next().unwrap_or("");
    let Some(compiled) = compiled(rules) else {
        return;
    };
    let message = format!(
        "From: fbl@reporter.example\nTo: abuse@example.net\nSubject: report\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\nA complaint.\n\n\
         --b\nContent-Type: message/feedback-report\n\n\
         Feedback-Type: abuse\nUser-Agent: fuzz/1\nVersion: 1\n{fields}\n\n\
         --b\nContent-Type: message/rfc822\n\n{original}\n\nBody.\n--b--\n"
    );
    let Ok(report) = parse_with(message.as_bytes(), &compiled) else {
        return;
    };
    if let Some(identity) = &report.identity {
        assert!(!identity.value.is_empty(), "{identity:?}");
        assert_eq!(identity.value.trim(), identity.value, "{identity:?}");
        assert!(!identity.rule.is_empty(), "{identity:?}");
    }
    if let Some(user) = &report.outgoing_user {
        assert!(!user.user.is_empty(), "{user:?}");
    }
}
