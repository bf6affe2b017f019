//! A real Dovecot for the IMAP tests, started the way an operator would start one: its own
//! throw-away configuration, Maildir storage and password file in a temporary directory,
//! listening on a free 127.0.0.1 port, stopped when dropped. Without /usr/sbin/dovecot
//! the test is skipped loudly; with CI=true that is a failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abuse_desk::imap::MailboxSettings;

const DOVECOT: &str = "/usr/sbin/dovecot";
pub const USER: &str = "reports";
pub const PASSWORD: &str = "s3cret-pw";

pub struct Dovecot {
    dir: tempfile::TempDir,
    pub port: u16,
    /// The implicit-TLS port, when started with `tls`.
    pub tls_port: u16,
    child: Option<Child>,
}

/// Whether the server should advertise MOVE (off: the poller must COPY + EXPUNGE).
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub without_move: bool,
    /// Serve TLS (implicit on `tls_port`, STARTTLS on `port`) with a certificate for
    /// localhost signed by a throw-away CA, `ca.pem` in [`Dovecot::ca`].
    pub tls: bool,
    /// Also take OAuth 2.0 logins (XOAUTH2, OAUTHBEARER), their tokens checked by POSTing
    /// them to `http://127.0.0.1:{oauth_port}/introspect` (RFC 7662), as a provider's
    /// introspection endpoint would; 0 for none.
    pub oauth_port: u16,
    /// Save without fsync: a load test measures the desk, not how long this shared VM's disk
    /// takes to sync each delivered message (15 to 280 ms while others build).
    pub without_fsync: bool,
}

impl Dovecot {
    /// A running Dovecot, or None (after a loud SKIPPED) when it is not installed.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, Options::default())
    }

    pub fn start_with(test: &str, options: Options) -> Option<Self> {
        if !Path::new(DOVECOT).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but {DOVECOT} is missing: apt-get install dovecot-imapd");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: '{test}': no {DOVECOT} (apt-get install dovecot-imapd)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut dovecot = Dovecot {
            dir,
            port,
            tls_port: if options.tls { free_port() } else { 0 },
            child: None,
        };
        dovecot.configure(options);
        dovecot.restart();
        Some(dovecot)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn configure(&self, options: Options) {
        let root = self.dir.path();
        // Dovecot refuses to run its login processes or mail access as root: when the tests
        // run as root, those run as nobody, who must be able to reach the directories.
        let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        let (login_user, mail_uid, mail_gid) = if as_root {
            ("nobody".to_owned(), 65534, 65534)
        } else {
            let meta = std::fs::metadata("/proc/self").unwrap();
            (whoami(), meta.uid(), meta.gid())
        };
        std::fs::create_dir_all(root.join("home")).unwrap();
        let mut perms = std::fs::metadata(root).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(root, perms).unwrap();
        if as_root {
            Command::new("chown")
                .args([
                    &format!("{mail_uid}:{mail_gid}"),
                    &root.join("home").display().to_string(),
                ])
                .status()
                .unwrap();
        }
        std::fs::write(
            root.join("users"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();
        let capability = if options.without_move {
            // The default list minus MOVE (Dovecot 2.3), so the poller must fall back.
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ UIDPLUS NAMESPACE CHILDREN UNSELECT\n"
        } else {
            ""
        };
        let ssl = if options.tls {
            self.make_certificates();
            format!(
                "ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n",
                root = root.display()
            )
        } else {
            "ssl = no\n".to_owned()
        };
        let fsync = if options.without_fsync {
            "mail_fsync = never\n"
        } else {
            ""
        };
        let internal = if as_root { "root".to_owned() } else { whoami() };
        let (mechanisms, oauth_passdb) = if options.oauth_port == 0 {
            ("plain login", String::new())
        } else {
            std::fs::write(
                root.join("oauth2.conf.ext"),
                format!(
                    "introspection_mode = post\nintrospection_url = http://127.0.0.1:{}/introspect\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n",
                    options.oauth_port
                ),
            )
            .unwrap();
            (
                "plain login xoauth2 oauthbearer",
                format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}/oauth2.conf.ext\n}}\n",
                    root.display()
                ),
            )
        };
        let config = format!(
            "base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:~/Maildir
default_internal_user = {internal}
default_login_user = {login_user}
first_valid_uid = 0
{fsync}{capability}service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
",
            root = root.display(),
            port = self.port,
            tls_port = self.tls_port
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
    }

    /// The throw-away CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn make_certificates(&self) {
        let openssl = |args: &[&str]| {
            let ok = Command::new("openssl")
                .args(args)
                .current_dir(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=abuse-desk test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "key.pem",
                    "-out",
                    "req.pem",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            self.path("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "req.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
    }

    /// Starts the server (again, on the same port and storage) and waits for its greeting.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) {
                tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut greeting = [0u8; 64];
                if tcp
                    .read(&mut greeting)
                    .is_ok_and(|n| greeting[..n].starts_with(b"* OK"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Dovecot did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server as an init system would (SIGTERM to the master, which ends every
    /// connection), and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // What a restart does to the sessions, made certain: the master's shutdown
            // may otherwise let a busy session finish on its own.
            let _ = Command::new("doveadm")
                .arg("-c")
                .arg(self.path("dovecot.conf"))
                .args(["kick", USER])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dovecot.log")).unwrap_or_default()
    }

    /// Settings for a mailbox on this server, moving done messages to `Done` and
    /// non-reports to `Rejected`.
    pub fn mailbox(&self, name: &str) -> MailboxSettings {
        self.mailbox_on(name, self.port)
    }

    /// The same, but connecting through another port (a proxy in front of the server).
    pub fn mailbox_on(&self, name: &str, port: u16) -> MailboxSettings {
        toml::from_str(&format!(
            "name = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\ndone_folder = \"Done\"\nrejected_folder = \"Rejected\"\n"
        ))
        .unwrap()
    }

    /// A client session of our own, to fill and inspect folders.
    pub fn session(&self) -> imap::Session<imap::Connection> {
        session_on(self.port)
    }

    /// Appends messages to `folder` (created if missing).
    pub fn append(&self, folder: &str, messages: &[Vec<u8>]) {
        let mut session = self.session();
        let _ = session.create(folder);
        for message in messages {
            session.append(folder, message).finish().unwrap();
        }
        session.logout().unwrap();
    }

    /// Messages in `folder`, 0 when it does not exist.
    pub fn count(&self, folder: &str) -> u32 {
        let mut session = self.session();
        let count = session
            .status(folder, "(MESSAGES)")
            .map(|m| m.exists)
            .unwrap_or(0);
        session.logout().unwrap();
        count
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "--- dovecot.log ---\n{}", self.log());
        }
    }
}

/// A client session with the Dovecot on `port` (for threads that do not hold the server).
pub fn session_on(port: u16) -> imap::Session<imap::Connection> {
    imap::ClientBuilder::new("127.0.0.1", port)
        .mode(imap::ConnectionMode::Plaintext)
        .connect()
        .unwrap()
        .login(USER, PASSWORD)
        .map_err(|(e, _)| e)
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
