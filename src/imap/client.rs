//! The IMAP side of a poll: connect (implicit TLS, STARTTLS or plain on loopback) with
//! timeouts, select the folder, list new UIDs with their sizes, fetch bodies (or only the
//! headers of messages over the size limit), and move or flag messages once they are
//! stored. The `imap` crate is synchronous: callers run this on a blocking thread.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use imap::types::Uid;

use super::oauth::XOAuth2;
use super::settings::{AuthMethod, MailboxSettings, TlsMode};
use super::ImapError;

/// A logged-in session with the folder selected.
pub struct Session {
    inner: imap::Session<imap::Connection>,
    has_move: bool,
    has_uidplus: bool,
}

/// What SELECT told us about the folder.
#[derive(Clone, Copy, Debug)]
pub struct Selected {
    pub uid_validity: u32,
    /// The UID the next message will get, when the server says.
    pub uid_next: Option<u32>,
}

/// Connects, logs in and selects the mailbox's folder. Every read and write on the socket
/// is bounded by `timeout`, so a server that stops answering fails the poll instead of
/// hanging it.
pub fn open(
    settings: &MailboxSettings,
    timeout: Duration,
) -> Result<(Session, Selected), ImapError> {
    let mut inner = login(settings, timeout)?;
    let caps = inner.capabilities().map_err(ImapError::Imap)?;
    let has_move = caps.has_str("MOVE");
    let has_uidplus = caps.has_str("UIDPLUS");
    drop(caps);
    let mailbox = inner.select(&settings.folder).map_err(ImapError::Imap)?;
    let uid_validity = mailbox.uid_validity.ok_or(ImapError::NoUidValidity)?;
    Ok((
        Session {
            inner,
            has_move,
            has_uidplus,
        },
        Selected {
            uid_validity,
            uid_next: mailbox.uid_next,
        },
    ))
}

/// Connects and logs in: LOGIN with the password, or AUTHENTICATE XOAUTH2 with an access
/// token (fetched first when none is cached or it is about to expire; the connection is
/// opened only once the token is at hand).
fn login(
    settings: &MailboxSettings,
    timeout: Duration,
) -> Result<imap::Session<imap::Connection>, ImapError> {
    match settings.auth {
        AuthMethod::Password => {
            let password = settings.password().map_err(ImapError::PasswordFile)?;
            connect(settings, timeout)?
                .login(&settings.username, password.expose())
                .map_err(|(e, _)| ImapError::Login(e))
        }
        AuthMethod::Xoauth2 => {
            let token = settings.access_token(timeout)?;
            let xoauth2 = XOAuth2 {
                user: &settings.username,
                token: &token,
            };
            connect(settings, timeout)?
                .authenticate("XOAUTH2", &xoauth2)
                .map_err(|(e, _)| {
                    // Perhaps revoked before its time: the next attempt asks for a new one.
                    settings.tokens.forget();
                    ImapError::Login(e)
                })
        }
    }
}

fn connect(
    settings: &MailboxSettings,
    timeout: Duration,
) -> Result<imap::Client<imap::Connection>, ImapError> {
    let host = settings.host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tcp(host, settings.port(), timeout)?;
    let client = match settings.tls {
        TlsMode::None => {
            let mut client = imap::Client::new(Box::new(tcp) as imap::Connection);
            client.read_greeting().map_err(ImapError::Imap)?;
            client
        }
        TlsMode::Implicit => {
            let tls = tls(host, tcp)?;
            let mut client = imap::Client::new(Box::new(tls) as imap::Connection);
            client.read_greeting().map_err(ImapError::Imap)?;
            client
        }
        TlsMode::Starttls => {
            let tcp = starttls(tcp)?;
            let mut client = imap::Client::new(Box::new(tls(host, tcp)?) as imap::Connection);
            // The greeting came before STARTTLS; none follows the handshake.
            client.greeting_read = true;
            client
        }
    };
    Ok(client)
}

/// The plain-text prelude of STARTTLS, spoken directly: the crate's client does not offer
/// it on a stream we opened (with our timeouts). Reads byte by byte so nothing meant for
/// the TLS handshake is consumed.
fn starttls(mut tcp: TcpStream) -> Result<TcpStream, ImapError> {
    use std::io::{Read, Write};
    fn line(tcp: &mut TcpStream) -> Result<Vec<u8>, ImapError> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            if tcp.read(&mut byte).map_err(ImapError::Connect)? == 0 || line.len() > 8192 {
                return Err(ImapError::Connect(std::io::ErrorKind::UnexpectedEof.into()));
            }
            line.push(byte[0]);
        }
        Ok(line)
    }
    if !line(&mut tcp)?.starts_with(b"* OK") {
        return Err(ImapError::NoStartTls);
    }
    tcp.write_all(b"s1 STARTTLS\r\n")
        .map_err(ImapError::Connect)?;
    loop {
        let answer = line(&mut tcp)?;
        if answer.starts_with(b"s1 OK") {
            return Ok(tcp);
        }
        if answer.starts_with(b"s1 ") {
            return Err(ImapError::NoStartTls);
        }
    }
}

fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ImapError> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs().map_err(ImapError::Connect)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeout))
                    .and_then(|()| tcp.set_write_timeout(Some(timeout)))
                    .map_err(ImapError::Connect)?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(ImapError::Connect(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address")
    })))
}

fn tls(host: &str, tcp: TcpStream) -> Result<rustls_connector::TlsStream<TcpStream>, ImapError> {
    // The system trust store (or SSL_CERT_FILE / SSL_CERT_DIR), loaded here rather than by
    // the connector's own constructor, which panics when the store cannot be read.
    let certs = rustls_connector::rustls_native_certs::load_native_certs()
        .map_err(|e| ImapError::Tls(format!("cannot load the trusted certificates: {e}")))?;
    let mut config = rustls_connector::RustlsConnectorConfig::default();
    config.add_parsable_certificates(certs);
    config
        .connector_with_no_client_auth()
        .connect(host, tcp)
        .map_err(|e| ImapError::Tls(e.to_string()))
}

impl Session {
    /// UIDs above `after` with their sizes, ascending.
    pub fn new_uids(&mut self, after: u32) -> Result<Vec<(Uid, u32)>, ImapError> {
        // `n:*` always includes the highest message, even below n, so the list is filtered.
        let fetches = self
            .inner
            .uid_fetch(
                format!("{}:*", after.saturating_add(1)),
                "(UID RFC822.SIZE)",
            )
            .map_err(ImapError::Imap)?;
        let mut uids: Vec<(Uid, u32)> = fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
            .filter(|(uid, _)| *uid > after)
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// UIDs up to `upto` that are stored but not yet done: still in the folder when done
    /// means moving, or still without the flag. They are left over from a poll whose move
    /// or flag failed after the commit.
    pub fn leftover_uids(
        &mut self,
        upto: u32,
        done_flag: Option<&str>,
    ) -> Result<Vec<(Uid, u32)>, ImapError> {
        if upto == 0 {
            return Ok(Vec::new());
        }
        // UNDELETED: without UIDPLUS, moved messages linger flagged \Deleted and are done.
        let criterion = match done_flag {
            None => " UNDELETED".into(),
            Some("\\Seen") => " UNSEEN".into(),
            Some("\\Flagged") => " UNFLAGGED".into(),
            Some("\\Answered") => " UNANSWERED".into(),
            Some(keyword) => format!(" UNKEYWORD {keyword}"),
        };
        let found = self
            .inner
            .uid_search(format!("UID 1:{upto}{criterion}"))
            .map_err(ImapError::Imap)?;
        let mut uids: Vec<Uid> = found.into_iter().filter(|&uid| uid <= upto).collect();
        uids.sort_unstable();
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let fetches = self
            .inner
            .uid_fetch(uid_set(&uids), "(UID RFC822.SIZE)")
            .map_err(ImapError::Imap)?;
        let mut sized: Vec<(Uid, u32)> = fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
            .collect();
        sized.sort_unstable();
        Ok(sized)
    }

    /// The full messages of these UIDs, ascending. A UID expunged meanwhile is missing
    /// from the answer; BODY.PEEK leaves \Seen alone so the done flag stays ours to set.
    pub fn fetch(&mut self, uids: &[Uid]) -> Result<Vec<(Uid, Vec<u8>)>, ImapError> {
        let fetches = self
            .inner
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .map_err(ImapError::Imap)?;
        let mut messages: Vec<(Uid, Vec<u8>)> = fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
            .collect();
        messages.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(messages)
    }

    /// The header blocks of these UIDs, at most `cap` bytes of each, ascending: all that is
    /// read of a message over the size limit. BODY.PEEK, as for [`Session::fetch`].
    pub fn fetch_headers(
        &mut self,
        uids: &[Uid],
        cap: usize,
    ) -> Result<Vec<(Uid, Vec<u8>)>, ImapError> {
        let fetches = self
            .inner
            .uid_fetch(uid_set(uids), format!("(UID BODY.PEEK[HEADER]<0.{cap}>)"))
            .map_err(ImapError::Imap)?;
        let mut headers: Vec<(Uid, Vec<u8>)> = fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.header()?.to_vec())))
            .collect();
        headers.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(headers)
    }

    /// Creates `folder` unless it exists.
    pub fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let names = self
            .inner
            .list(None, Some(folder))
            .map_err(ImapError::Imap)?;
        if names.iter().any(|n| n.name() == folder) {
            return Ok(());
        }
        drop(names);
        match self.inner.create(folder) {
            Ok(()) => Ok(()),
            // Another poller may have created it between LIST and CREATE.
            Err(imap::Error::No(no)) if no.information.to_ascii_lowercase().contains("exist") => {
                Ok(())
            }
            Err(e) => Err(ImapError::Imap(e)),
        }
    }

    /// Moves messages: UID MOVE where the server has it; else COPY, flag \Deleted and
    /// expunge exactly these UIDs (UIDPLUS), so nobody else's deleted messages go too.
    pub fn move_to(&mut self, uids: &[Uid], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.has_move {
            return self.inner.uid_mv(&set, folder).map_err(ImapError::Imap);
        }
        self.inner.uid_copy(&set, folder).map_err(ImapError::Imap)?;
        self.inner
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .map_err(ImapError::Imap)?;
        if self.has_uidplus {
            self.inner.uid_expunge(&set).map_err(ImapError::Imap)?;
        } else {
            // Without UIDPLUS the copies stay flagged \Deleted in the folder until the
            // server or a later EXPUNGE removes them; they are already stored and done.
            tracing::warn!(
                "server has neither MOVE nor UIDPLUS; moved messages are left flagged \\Deleted"
            );
        }
        Ok(())
    }

    /// Sets `flag` on messages.
    pub fn flag(&mut self, uids: &[Uid], flag: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.inner
            .uid_store(uid_set(uids), format!("+FLAGS.SILENT ({flag})"))
            .map_err(ImapError::Imap)?;
        Ok(())
    }

    /// Says goodbye; errors are of no interest any more.
    pub fn logout(mut self) {
        let _ = self.inner.logout();
    }

    /// The underlying session, for the IDLE loop.
    pub(super) fn inner(&mut self) -> &mut imap::Session<imap::Connection> {
        &mut self.inner
    }
}

/// `1,2,3,7,9,10` → `1:3,7,9:10`: ten thousand consecutive UIDs are one short range.
pub fn uid_set(uids: &[Uid]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[3, 1, 2, 2]), "1:3");
        assert_eq!(uid_set(&(1..=10_000).collect::<Vec<_>>()), "1:10000");
    }
}
