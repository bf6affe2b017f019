//! IMAP IDLE: wait on a connection of its own until the server announces new mail, so a
//! report is polled seconds after it arrives rather than at the next scheduled poll.

use std::time::Duration;

use imap::types::UnsolicitedResponse;

use super::client;
use super::settings::MailboxSettings;
use super::ImapError;

/// Waits up to `wait` for new mail in the mailbox's folder. Returns true when there is
/// mail beyond `last_uid` (already on arrival, or announced while idling), false when the
/// wait ended without any.
pub fn wait_for_mail(
    mailbox: &MailboxSettings,
    last_uid: u32,
    wait: Duration,
    timeout: Duration,
) -> Result<bool, ImapError> {
    let (mut session, selected) = client::open(mailbox, timeout)?;
    // Mail that came between the last poll and this connection would not be announced.
    if selected
        .uid_next
        .is_some_and(|next| next > last_uid.saturating_add(1))
    {
        session.logout();
        return Ok(true);
    }
    let inner = session.inner();
    let mut handle = inner.idle();
    handle.timeout(wait).keepalive(false);
    let outcome = handle
        .wait_while(|response| {
            !matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            )
        })
        .map_err(ImapError::Imap)?;
    // Ending IDLE politely means a read without the socket timeout (the crate clears it
    // while idling); the connection is dropped instead, which the server takes as well.
    std::mem::forget(handle);
    drop(session);
    Ok(matches!(
        outcome,
        imap::extensions::idle::WaitOutcome::MailboxChanged
    ))
}
