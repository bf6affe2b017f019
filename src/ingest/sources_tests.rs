//! Tests of the import sources: folders, Maildirs, mboxes, and messages over the size limit.

use super::*;

fn collect(paths: Vec<PathBuf>) -> Vec<(String, Vec<u8>)> {
    messages(paths, u64::MAX)
        .map(|m| m.unwrap())
        .map(|m| match m.message {
            Incoming::Whole(bytes) => (m.origin, bytes),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn walks_folders_maildirs_and_mboxes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.eml"), "Subject: a\n\nbody\n").unwrap();
    std::fs::write(
        root.join("single-from.eml"),
        "From x@y Thu Jan 1 00:00:00 2015\nSubject: s\n\nbody\n",
    )
    .unwrap();
    std::fs::write(
        root.join("box.mbox"),
        "From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nFrom the start\n>From escaped\n\nFrom a@b Mon Jan 1 00:00:01 2024\nSubject: two\n\nbody\n",
    )
    .unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join("maildir").join(sub)).unwrap();
    }
    std::fs::write(root.join("maildir/new/1.host"), "Subject: m\n\nbody\n").unwrap();
    std::fs::write(root.join("maildir/tmp/2.host"), "Subject: partial").unwrap();
    std::fs::write(root.join(".hidden"), "x").unwrap();
    std::fs::write(root.join("a.json"), "{}").unwrap();
    std::fs::write(root.join("README.md"), "# notes").unwrap();

    let found = collect(vec![root.to_owned()]);
    let origins: Vec<String> = found
        .iter()
        .map(|(o, _)| {
            o.strip_prefix(&root.display().to_string())
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        origins,
        [
            "/a.eml",
            "/box.mbox#1",
            "/box.mbox#2",
            "/maildir/new/1.host",
            "/single-from.eml"
        ]
    );
    assert_eq!(
        found[1].1,
        b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nFrom the start\n>From escaped\n\n"
    );
    assert!(found[2]
        .1
        .starts_with(b"From a@b Mon Jan 1 00:00:01 2024\nSubject: two"));
}

#[test]
fn a_missing_path_is_an_error_not_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.eml"), "Subject: a\n\nbody\n").unwrap();
    let results: Vec<_> = messages(
        vec![dir.path().join("missing.eml"), dir.path().join("ok.eml")],
        u64::MAX,
    )
    .collect();
    assert!(results[0]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("missing.eml"));
    assert!(results[1].is_ok());
}

/// A message of `size` bytes: a few header lines, then body lines.
fn big_message(subject: &str, size: usize) -> Vec<u8> {
    let mut m = format!("From: a@b.example\nSubject: {subject}\n\n").into_bytes();
    while m.len() < size {
        m.extend_from_slice(
            b"0123456789012345678901234567890123456789012345678901234567890123456789\n",
        );
    }
    m
}

#[test]
fn a_file_over_the_limit_comes_as_its_headers_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.eml");
    let message = big_message("big", 10_000);
    std::fs::write(&path, &message).unwrap();
    std::fs::write(dir.path().join("small.eml"), "Subject: s\n\nbody\n").unwrap();
    let found: Vec<Incoming> = messages(vec![dir.path().to_owned()], 4_000)
        .map(|m| m.unwrap().message)
        .collect();
    assert_eq!(
        found,
        [
            Incoming::TooLarge {
                headers: b"From: a@b.example\nSubject: big\n\n".to_vec(),
                size: message.len() as u64,
            },
            Incoming::Whole(b"Subject: s\n\nbody\n".to_vec()),
        ]
    );
}

#[test]
fn an_mbox_message_over_the_limit_is_not_held_and_the_next_ones_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("box.mbox");
    let from = |n: u32| format!("From a@b Mon Jan 1 00:00:0{n} 2024\n").into_bytes();
    let mut mbox = Vec::new();
    mbox.extend(from(1));
    mbox.extend(b"Subject: one\n\nsmall\n\n");
    mbox.extend(from(2));
    let big = big_message("two", 50_000);
    mbox.extend(&big);
    // A line without end inside the big message must not be held either.
    mbox.extend(vec![b'x'; 30_000]);
    mbox.extend(b"\n\n");
    mbox.extend(from(3));
    mbox.extend(b"Subject: three\n\nsmall\n");
    std::fs::write(&path, &mbox).unwrap();
    let found: Vec<(String, Incoming)> = messages(vec![path.clone()], 10_000)
        .map(|m| m.unwrap())
        .map(|m| (m.origin, m.message))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(matches!(&found[0].1, Incoming::Whole(b) if b.ends_with(b"small\n\n")));
    let two_size = (from(2).len() + big.len() + 30_002) as u64;
    assert_eq!(
        found[1],
        (
            format!("{}#2", path.display()),
            Incoming::TooLarge {
                headers: [from(2), b"From: a@b.example\nSubject: two\n\n".to_vec()].concat(),
                size: two_size,
            }
        )
    );
    assert!(matches!(&found[2].1, Incoming::Whole(b) if b.ends_with(b"three\n\nsmall\n")));
}
