//! A real SMTP server for the notification tests: aiosmtpd (PyPI), started as an operator
//! would start one, with the small handler in tests/fixtures/smtp/server.py, on a free
//! 127.0.0.1 port, stopped when dropped. It stores every message it takes in a temporary
//! directory and refuses recipients by local part (`reject-…@` → 550, `later-…@` → 451 at
//! RCPT). Without aiosmtpd the test is skipped loudly; with CI=true that is a failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp/server.py");

pub struct SmtpServer {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

/// One message as the server took it.
#[derive(Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: Vec<u8>,
}

impl SmtpServer {
    /// A running server, or None (after a loud SKIPPED) when aiosmtpd is not installed.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, None)
    }

    /// The same, requiring AUTH with `user` and `password`.
    pub fn start_with_login(test: &str, user: &str, password: &str) -> Option<Self> {
        Self::start_with(test, Some((user, password)))
    }

    fn start_with(test: &str, login: Option<(&str, &str)>) -> Option<Self> {
        let installed = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but python3 cannot import aiosmtpd: python3 -m pip install aiosmtpd"
                );
            }
            // Written to stderr directly, not through eprintln!, so the test harness does
            // not swallow it: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: '{test}': python3 cannot import aiosmtpd (python3 -m pip install aiosmtpd)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut command = Command::new("python3");
        command
            .arg(SERVER)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path());
        if let Some((user, password)) = login {
            command.args(["--login", &format!("{user}:{password}")]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = SmtpServer {
            dir,
            port,
            child: Some(child),
        };
        server.wait_until_ready();
        Some(server)
    }

    /// Waits for the server's 220 greeting.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) {
                tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut greeting = [0u8; 64];
                if tcp
                    .read(&mut greeting)
                    .is_ok_and(|n| greeting[..n].starts_with(b"220"))
                {
                    let _ = tcp.write_all(b"QUIT\r\n");
                    return;
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("aiosmtpd exited ({status}):\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `smtp_url` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message taken so far, in the order taken.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|json| {
                let meta: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
                Received {
                    mail_from: meta["mail_from"].as_str().unwrap().to_owned(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_owned())
                        .collect(),
                    data: std::fs::read(json.with_extension("eml")).unwrap(),
                }
            })
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "--- aiosmtpd log ---\n{}", self.log());
        }
    }
}

/// A port nothing listens on (until someone binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
