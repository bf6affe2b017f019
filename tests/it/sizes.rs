//! Hostile sizes on the way in: a message over `ingest.max_message_mb` is never read whole,
//! by import (a file, a message inside an mbox) or by IMAP (only its header block is
//! fetched). It is quarantined as too large with its headers and true size kept, the mailbox
//! moves it like any other and goes on, and seeing it again counts it once.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use abuse_desk::db::raw_messages::{self, StoredMessage};
use abuse_desk::db::schema::raw_messages as raw;
use abuse_desk::db::DbConn;
use diesel::prelude::*;

use crate::imap_poll::{options, poll};
use crate::ingest::counts;
use crate::support::{self, TestDb};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arf");

/// 60 MiB, well over the default limit of 25 MiB.
const BIG: usize = 60 << 20;
const DEFAULT_LIMIT: u64 = 25 << 20;

/// Writes a plain message of exactly `size` bytes (CRLF lines, as IMAP servers count them)
/// to `out`; returns its header block.
fn write_big_message(out: &mut impl Write, subject: &str, size: usize) -> Vec<u8> {
    let headers = format!(
        "From: mailer@bulk.example\r\nTo: someone@rcpt.example\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@bulk.example>\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    out.write_all(&headers).unwrap();
    let line = [&[b'x'; 78][..], b"\r\n"].concat();
    let mut left = size - headers.len();
    while left >= line.len() {
        out.write_all(&line).unwrap();
        left -= line.len();
    }
    out.write_all(&line[line.len() - left..]).unwrap();
    headers
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

/// The quarantined message stored as too large (the one there is).
fn too_large(conn: &mut DbConn) -> StoredMessage {
    raw::table
        .filter(raw::parse_error_kind.eq("too_large"))
        .select(StoredMessage::as_select())
        .get_result(conn)
        .unwrap()
}

/// Runs the real binary on `db` with extra environment; its JSON output.
fn cli_json(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "abuse-desk {args:?} on {}: {}",
        db.backend,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_60_mb_file_is_quarantined_as_too_large_by_import() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("a-big.eml");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    let headers = write_big_message(&mut file, "huge", BIG);
    file.into_inner().unwrap().sync_all().unwrap();
    std::fs::write(
        dir.path().join("b-report.eml"),
        fixture("abuseio__spamexperts-1.eml"),
    )
    .unwrap();
    let path = dir.path().display().to_string();
    for db in support::backends("a_60_mb_file_is_quarantined_as_too_large_by_import") {
        let conn = &mut db.connect();
        let summary = cli_json(&db, &[], &["import", &path, "--json"]);
        assert_eq!(
            (
                &summary["messages"],
                &summary["quarantined"],
                &summary["reports"]
            ),
            (&2.into(), &1.into(), &1.into()),
            "{summary} on {}",
            db.backend
        );
        let stored = too_large(conn);
        let reason = format!("too large: {BIG} bytes (limit {DEFAULT_LIMIT})");
        assert_eq!(stored.parse_error.as_deref(), Some(reason.as_str()));
        assert_eq!(stored.size_bytes, BIG as i64);
        assert_eq!(
            raw_messages::content(conn, stored.id).unwrap().unwrap(),
            headers,
            "its header block kept"
        );
        // Where staff look at the quarantine, the reason shows.
        let listed = cli_json(&db, &[], &["quarantine", "list", "--json"]);
        assert_eq!(listed[0]["parse_error"], reason.as_str(), "{listed}");
        assert_eq!(listed[0]["size_bytes"], BIG as u64);

        // Reprocessing leaves it be; importing it again counts it once.
        cli_json(&db, &[], &["reprocess", "--quarantined", "--json"]);
        assert_eq!(
            too_large(conn).parse_error.as_deref(),
            Some(reason.as_str())
        );
        let again = cli_json(&db, &[], &["import", &path, "--json"]);
        assert_eq!(again["duplicates"], 2, "{again}");
        assert_eq!(counts(conn), (2, 1, 1));
    }
}

#[test]
fn an_mbox_message_over_the_limit_is_quarantined_and_the_others_imported() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("reports.mbox");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&mbox).unwrap());
    for (i, name) in [
        "abuseio__spamexperts-1.eml",
        "",
        "abuseio__spamexperts-3.eml",
    ]
    .iter()
    .enumerate()
    {
        write!(
            file,
            "From reports@fbl.example Mon Jan  1 00:00:0{i} 2024\r\n"
        )
        .unwrap();
        if name.is_empty() {
            write_big_message(&mut file, "big-in-mbox", 3 << 20);
        } else {
            let message = fixture(name);
            file.write_all(&message).unwrap();
            if !message.ends_with(b"\n") {
                file.write_all(b"\r\n").unwrap();
            }
        }
        // A blank line before the next `From ` line.
        file.write_all(b"\r\n").unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    let path = mbox.display().to_string();
    for db in support::backends("an_mbox_message_over_the_limit_is_quarantined") {
        let conn = &mut db.connect();
        // The limit is a setting: 1 MiB here, from the environment.
        let env = [("ABUSE_DESK_INGEST__MAX_MESSAGE_MB", "1")];
        let summary = cli_json(&db, &env, &["import", &path, "--json"]);
        assert_eq!(
            (
                &summary["messages"],
                &summary["quarantined"],
                &summary["reports"]
            ),
            (&3.into(), &1.into(), &2.into()),
            "{summary} on {}",
            db.backend
        );
        let stored = too_large(conn);
        let reason = stored.parse_error.clone().unwrap_or_default();
        assert!(
            reason.starts_with("too large: ") && reason.ends_with("bytes (limit 1048576)"),
            "{reason}"
        );
        assert!(stored.size_bytes > 3 << 20, "{}", stored.size_bytes);
        let kept = raw_messages::content(conn, stored.id).unwrap().unwrap();
        assert!(
            kept.starts_with(b"From reports@fbl.example"),
            "the mbox line too"
        );
        assert!(
            kept.ends_with(b"Content-Type: text/plain\r\n\r\n"),
            "headers only"
        );
    }
}

#[test]
fn a_60_mb_message_over_imap_is_quarantined_and_the_mailbox_moves_on() {
    let name = "a_60_mb_message_over_imap_is_quarantined";
    for db in support::backends(name) {
        let Some(dovecot) = crate::imap_poll::dovecot(name) else {
            return;
        };
        let mut big = Vec::with_capacity(BIG);
        let headers = write_big_message(&mut big, "huge", BIG);
        dovecot.append("INBOX", &[big]);
        dovecot.append("INBOX", &[fixture("abuseio__spamexperts-1.eml")]);
        let conn = &mut db.connect();
        let mailbox = dovecot.mailbox("fbl");
        let summary = poll(conn, &mailbox, &options());
        assert_eq!(summary.error, None, "{}", db.backend);
        assert_eq!(
            (
                summary.ingest.messages,
                summary.ingest.quarantined,
                summary.ingest.new_tickets
            ),
            (2, 1, 1),
            "{summary:?} on {}",
            db.backend
        );
        assert_eq!(
            (
                dovecot.count("INBOX"),
                dovecot.count("Rejected"),
                dovecot.count("Done")
            ),
            (0, 1, 1),
            "moved like any other"
        );
        let stored = too_large(conn);
        assert_eq!(
            stored.parse_error.as_deref(),
            Some(format!("too large: {BIG} bytes (limit {DEFAULT_LIMIT})").as_str())
        );
        assert_eq!(stored.size_bytes, BIG as i64);
        assert_eq!(stored.mailbox.as_deref(), Some("fbl"));
        assert_eq!(
            raw_messages::content(conn, stored.id).unwrap().unwrap(),
            headers
        );
        let listed = support::cli_ok(&db, &["quarantine", "list"]);
        let listed = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.contains("too large: 62914560 bytes"), "{listed}");

        // A second poll reads nothing; the same message delivered again is a duplicate,
        // routed as the first time, stored once.
        let again = poll(conn, &mailbox, &options());
        assert_eq!((again.ingest.messages, again.error), (0, None));
        let mut session = dovecot.session();
        session.select("Rejected").unwrap();
        session.mv("1:*", "INBOX").unwrap();
        session.logout().unwrap();
        let redelivered = poll(conn, &mailbox, &options());
        assert_eq!(
            (
                redelivered.ingest.messages,
                redelivered.ingest.duplicates,
                redelivered.rejected
            ),
            (1, 1, 1),
            "{redelivered:?}"
        );
        assert_eq!(counts(conn), (2, 1, 1), "stored once on {}", db.backend);
        assert_eq!(dovecot.count("INBOX"), 0);
    }
}
