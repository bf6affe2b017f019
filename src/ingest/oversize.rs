//! Messages larger than `ingest.max_message_mb`. A source never reads such a message whole:
//! it hands over the header block and the true size, and the message is quarantined as too
//! large with both kept, so nothing is lost and staff can see what it was.

use memchr::memmem;

/// At most this much of an oversize message's header block is kept: far more than any real
/// header block, still small enough for a hostile one not to matter.
pub const HEADER_LIMIT: usize = 1 << 20;

/// A message as a source hands it to the ingest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// The whole message.
    Whole(Vec<u8>),
    /// A message over the size limit: its header block and its true size in bytes.
    TooLarge { headers: Vec<u8>, size: u64 },
}

impl From<Vec<u8>> for Incoming {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Whole(bytes)
    }
}

impl Incoming {
    /// The message's size in bytes, whether read whole or not.
    pub fn size(&self) -> u64 {
        match self {
            Self::Whole(bytes) => bytes.len() as u64,
            Self::TooLarge { size, .. } => *size,
        }
    }
}

/// The header block at the start of `bytes`, its blank line included, cut to at most `cap`
/// bytes at a line end. Without a blank line (all header, or not mail at all), the first
/// `cap` bytes, cut at a line end where there is one.
pub fn header_block(bytes: &[u8], cap: usize) -> &[u8] {
    let window = &bytes[..bytes.len().min(cap)];
    let blank = [&b"\n\n"[..], b"\n\r\n"]
        .iter()
        .filter_map(|sep| memmem::find(window, sep).map(|at| at + sep.len()))
        .min();
    if let Some(end) = blank {
        return &window[..end];
    }
    if window.len() < bytes.len() {
        if let Some(last) = memchr::memrchr(b'\n', window) {
            return &window[..=last];
        }
    }
    window
}

#[cfg(test)]
mod tests {
    use super::header_block;

    #[test]
    fn the_header_block_ends_at_the_first_blank_line_or_the_cap() {
        assert_eq!(
            header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", 100),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(header_block(b"A: 1\nB: 2\n\nbody", 100), b"A: 1\nB: 2\n\n");
        // No blank line within the cap: whole lines up to it.
        assert_eq!(
            header_block(b"A: 1\nB: 2\nC: 3\n\nbody", 12),
            b"A: 1\nB: 2\n"
        );
        // One endless line: the cap itself.
        assert_eq!(header_block(b"xxxxxxxxxx", 4), b"xxxx");
        // Shorter than the cap, no blank line: all of it.
        assert_eq!(header_block(b"A: 1\nB: 2", 100), b"A: 1\nB: 2");
    }
}
