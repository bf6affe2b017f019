//! Property tests: the parser never panics, whatever the bytes.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

#[path = "../fuzz/harness/report_parts.rs"]
mod report_parts;

fn corpus() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for dir in ["arf", "arf-extra", "xarf"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir);
        for entry in fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                files.push(fs::read(path).unwrap());
            }
        }
    }
    files.sort();
    files
}

/// Tokens that steer the parser into its interesting branches.
const TOKENS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b":",
    b"--",
    b"=?utf-8?b?",
    b"?=",
    b"[",
    b"]",
    b"(",
    b";",
    b"Content-Type: message/feedback-report\n\n",
    b"Content-Type: message/rfc822\n\n",
    b"Content-Type: multipart/mixed; boundary=x\n\n--x\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Feedback-Type: ",
    b"Source-IP: ",
    b"Received: from x ([",
    b"From ",
    b">From ",
    b"{\"Report\":{",
    b"\xff\xfe",
    b"X-XARF: PLAIN\n",
    b"Report-Type: ",
    b"Category: fraud\n",
    b"Source: 192.0.2.xxx\n",
    b"&a [*a, *a]",
    b"Received-SPF: pass client-ip=",
    b"X-Originating-IP: [",
    b" by mail.protection.outlook.com ",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, usize),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..200).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, b) => {
                if let Some(x) = bytes.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Insert(i, t) => {
                let at = (i % len).min(bytes.len());
                bytes.splice(at..at, TOKENS[t].iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = abuse_desk::arf::parse(&bytes);
    }

    #[test]
    fn mutated_corpus_never_panics(
        index in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        let corpus = corpus();
        let original = corpus[index % corpus.len()].clone();
        let mutated = apply(original, &mutations);
        let _ = abuse_desk::arf::parse(&mutated);
    }

    #[test]
    fn arbitrary_report_fields_never_panic(fields in "[ -~\t\r\n]{0,600}") {
        let msg = format!(
            "Subject: r\nContent-Type: multipart/report; boundary=B\n\n--B\nContent-Type: message/feedback-report\n\n{fields}\n--B\nContent-Type: message/rfc822\n\n{fields}\n--B--\n"
        );
        let _ = abuse_desk::arf::parse(msg.as_bytes());
    }

    #[test]
    fn xarf_parts_and_received_chains_keep_their_promises(
        fields in proptest::collection::vec((xarf_name(), "[ -~]{0,40}"), 0..12),
        hops in proptest::collection::vec(hop(), 0..8),
        hints in proptest::collection::vec(hint(), 0..3),
    ) {
        let report: String = fields.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
        let original: String = hops.iter().chain(&hints).map(|h| format!("{h}\n")).collect();
        report_parts::run(format!("{report}\n%%\n{original}").as_bytes());
    }
}

fn xarf_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("Reported-From"),
        Just("Category"),
        Just("Report-Type"),
        Just("Source"),
        Just("Source-Type"),
        Just("Date"),
        Just("Version"),
        Just("Schema-URL"),
        Just("Domain"),
    ]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<u128>().prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
        Just("10.0.0.1".to_string()),
        Just("192.0.2.xxx".to_string()),
    ]
}

fn host() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("mail.customer.example"),
        Just("x.prod.outlook.com"),
        Just("mx.reporter.example"),
        Just("unknown"),
        Just("mta5.mail.yahoo.com"),
    ]
}

fn hop() -> impl Strategy<Value = String> {
    (host(), host(), address()).prop_map(|(from, by, ip)| {
        format!("Received: from {from} ({from} [{ip}]) by {by}; Mon, 10 Mar 2025 10:00:00 +0000")
    })
}

fn hint() -> impl Strategy<Value = String> {
    (any::<bool>(), address()).prop_map(|(spf, ip)| {
        if spf {
            format!("Received-SPF: pass client-ip={ip};")
        } else {
            format!("X-Originating-IP: [{ip}]")
        }
    })
}
