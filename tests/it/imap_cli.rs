//! `abuse-desk poll --once` as an operator runs it, against a real Dovecot on both backends:
//! the JSON summary, the table, an unknown mailbox, and TLS (implicit and STARTTLS) with
//! the server certificate checked against the trust store.

use std::path::Path;

use abuse_desk::imap;

use crate::dovecot::{Dovecot, Options};
use crate::imap_poll::{corpus, dovecot, imported};
use crate::support;

#[test]
fn poll_once_on_the_command_line_prints_the_summary() {
    let name = "poll_once_on_the_command_line_prints_the_summary";
    let messages = corpus();
    let (oracle, _, _) = imported(&messages);
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("desk.toml");
        let mailbox = toml::to_string(&dovecot.mailbox("fbl"))
            .unwrap()
            .replace("********", crate::dovecot::PASSWORD);
        std::fs::write(&config, format!("[[mailboxes]]\n{mailbox}")).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
                .arg("--config")
                .arg(&config)
                .args(["--database-url", &db.url])
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["poll", "--once", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fbl = &json["mailboxes"][0];
        assert_eq!(fbl["mailbox"], "fbl");
        assert_eq!(fbl["messages"], messages.len());
        assert_eq!(fbl["new_tickets"], oracle.new_tickets);
        assert_eq!(fbl["quarantined"], oracle.quarantined);
        assert_eq!(fbl["moved"], oracle.messages - oracle.quarantined);
        assert_eq!(fbl["rejected"], oracle.quarantined);
        assert_eq!(fbl["error"], serde_json::Value::Null);
        assert_eq!(dovecot.count("INBOX"), 0);

        let table = run(&["poll", "--once"]);
        assert!(String::from_utf8_lossy(&table.stdout).contains("MAILBOX"));
        let unknown = run(&["poll", "--once", "--mailbox", "nope"]);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no mailbox named 'nope'"));
    }
}

#[test]
fn implicit_tls_and_starttls_verify_the_server_certificate() {
    let name = "implicit_tls_and_starttls_verify_the_server_certificate";
    let messages = corpus();
    for db in support::backends(name) {
        let options = Options {
            tls: true,
            ..Options::default()
        };
        let Some(dovecot) = Dovecot::start_with(name, options) else {
            return;
        };
        dovecot.append("Implicit", &messages[..4]);
        dovecot.append("Starttls", &messages[4..9]);
        let mailbox = |name: &str, port: u16, tls: imap::TlsMode, folder: &str| {
            let mut m = dovecot.mailbox_on(name, port);
            m.host = "localhost".into();
            m.tls = tls;
            m.folder = folder.into();
            toml::to_string(&m)
                .unwrap()
                .replace("********", crate::dovecot::PASSWORD)
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("desk.toml");
        std::fs::write(
            &config,
            format!(
                "[[mailboxes]]\n{}\n[[mailboxes]]\n{}",
                mailbox(
                    "implicit",
                    dovecot.tls_port,
                    imap::TlsMode::Implicit,
                    "Implicit"
                ),
                mailbox(
                    "starttls",
                    dovecot.port,
                    imap::TlsMode::Starttls,
                    "Starttls"
                )
            ),
        )
        .unwrap();
        let run = |ca: &Path| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"));
            command
                .arg("--config")
                .arg(&config)
                .args(["--database-url", &db.url, "poll", "--once", "--json"])
                .env_remove("SSL_CERT_DIR");
            // rustls-native-certs reads the trust store from SSL_CERT_FILE when set.
            command.env("SSL_CERT_FILE", ca);
            let out = command.output().unwrap();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
            (out.status.success(), json)
        };
        // A server whose certificate nobody vouches for is refused, and nothing is read.
        // (Trusting only the server's own certificate vouches for nothing: it is no CA.)
        let (ok, refused) = run(&dovecot.ca().with_file_name("cert.pem"));
        assert!(!ok, "{refused}");
        for m in refused["mailboxes"].as_array().unwrap() {
            assert_eq!(m["messages"], 0, "{m}");
            let error = m["error"].as_str().unwrap();
            assert!(
                error.starts_with("TLS") && error.contains("certificate"),
                "{m}"
            );
            assert_eq!(m["attempts"], 1, "not retried: {m}");
        }
        assert_eq!(dovecot.count("Implicit"), 4);

        let (ok, json) = run(&dovecot.ca());
        assert!(ok, "{json}");
        assert_eq!(json["mailboxes"][0]["messages"], 4, "{json}");
        assert_eq!(json["mailboxes"][1]["messages"], 5, "{json}");
        assert_eq!(dovecot.count("Implicit") + dovecot.count("Starttls"), 0);
    }
}

/// `serve` runs the pollers on their schedules beside the web queue, on the same database;
/// `serve --no-jobs` leaves the mailboxes alone.
#[test]
fn serve_polls_the_mailboxes_beside_the_web_queue_unless_told_not_to() {
    let name = "serve_polls_the_mailboxes_beside_the_web_queue_unless_told_not_to";
    let messages = corpus();
    let (oracle, _, _) = imported(&messages);
    for db in support::backends(name) {
        let Some(dovecot) = dovecot(name) else { return };
        dovecot.append("INBOX", &messages);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("desk.toml");
        let mut mailbox = dovecot.mailbox("fbl");
        mailbox.schedule = "*/2 * * * * *".into();
        let mailbox = toml::to_string(&mailbox)
            .unwrap()
            .replace("********", crate::dovecot::PASSWORD);
        std::fs::write(&config, format!("[[mailboxes]]\n{mailbox}")).unwrap();
        let serve = |extra: &[&str]| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_abuse-desk"))
                .arg("--config")
                .arg(&config)
                .args(["--database-url", &db.url, "serve", "--bind"])
                .arg(format!("127.0.0.1:{port}"))
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (Killed(child), port)
        };

        let (_web_only, port) = serve(&["--no-jobs"]);
        assert!(healthy(port), "serve --no-jobs answers on {}", db.backend);
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert_eq!(
            dovecot.count("INBOX") as usize,
            messages.len(),
            "--no-jobs polled on {}",
            db.backend
        );
        drop(_web_only);

        let (_both, port) = serve(&[]);
        assert!(healthy(port), "serve answers on {}", db.backend);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while dovecot.count("INBOX") > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert_eq!(dovecot.count("INBOX"), 0, "serve polled on {}", db.backend);
        let conn = &mut db.connect();
        use diesel::prelude::*;
        let tickets: i64 = abuse_desk::db::schema::tickets::table
            .count()
            .get_result(conn)
            .unwrap();
        assert_eq!(tickets as u64, oracle.new_tickets, "{}", db.backend);
    }
}

/// A child process killed when the test lets go of it, pass or fail.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `GET /healthz` answers 200 within ten seconds.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
