//! Property tests: the parser never panics, whatever the bytes.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

fn corpus() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for dir in ["arf", "arf-extra"] {
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
}
