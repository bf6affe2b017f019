//! Where imported messages come from: `.eml` files, folders (recursive, Maildir included)
//! and mbox files, streamed one message at a time so memory stays flat however many there are
//! and however large they are: a message over the size limit is never read whole (see
//! [`super::oversize`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Chain, Cursor, Read};
use std::path::{Path, PathBuf};

use super::oversize::{self, Incoming, HEADER_LIMIT};

/// One message read from disk, with where it came from for error messages.
#[derive(Debug)]
pub struct FileMessage {
    pub origin: String,
    pub message: Incoming,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SourceError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Every message below `paths`, in a stable order (sorted by path; mbox messages in file
/// order). A message larger than `max_bytes` comes as its header block and size.
pub fn messages(
    paths: Vec<PathBuf>,
    max_bytes: u64,
) -> impl Iterator<Item = Result<FileMessage, SourceError>> {
    let mut pending: Vec<PathBuf> = paths.into_iter().rev().collect();
    let mut current: Option<MboxReader> = None;
    std::iter::from_fn(move || loop {
        if let Some(reader) = current.as_mut() {
            match reader.next() {
                Some(item) => return Some(item),
                None => current = None,
            }
        }
        let path = pending.pop()?;
        let io_err = |source| SourceError {
            path: path.display().to_string(),
            source,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return Some(Err(io_err(e))),
        };
        if meta.is_dir() {
            match folder_entries(&path) {
                Ok(mut entries) => {
                    entries.reverse();
                    pending.extend(entries);
                }
                Err(e) => return Some(Err(io_err(e))),
            }
            continue;
        }
        match MboxReader::open(&path, max_bytes) {
            Ok(reader) => current = Some(reader),
            Err(e) => return Some(Err(io_err(e))),
        }
    })
}

/// Files beside mail in a folder that are certainly not mail (notes, expected results).
const NOT_MAIL: [&str; 3] = ["json", "md", "failed"];

/// A folder's files and subfolders, sorted; Maildir's `tmp` (messages still being
/// delivered), hidden entries and files named as notes or JSON are skipped. A file named on
/// the command line is always read.
fn folder_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let is_maildir = dir.join("cur").is_dir() && dir.join("new").is_dir();
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let not_mail = name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| NOT_MAIL.contains(&ext.to_ascii_lowercase().as_str()));
        if name.starts_with('.') || (is_maildir && name == "tmp") || not_mail {
            continue;
        }
        entries.push(entry.path());
    }
    entries.sort();
    Ok(entries)
}

/// Reads one file as a single message, or as an mbox when it starts with a `From ` line and
/// holds more than one message. A lone message with an mbox `From ` line (as some feedback
/// loops deliver) stays one message; the parser skips that line.
struct MboxReader {
    path: PathBuf,
    contents: Contents,
    /// The size limit of one message.
    max_bytes: u64,
    index: usize,
    carry: Option<Vec<u8>>,
    done: bool,
}

/// What a file turned out to hold, once its first bytes are read.
enum Contents {
    /// One message: its first bytes, and the file for the rest.
    Message(Vec<u8>, File),
    /// One message over the size limit (by the file's size): its first bytes, the file for
    /// the rest of its header block, and its size.
    TooLarge(Vec<u8>, File, u64),
    /// An mbox's lines: its first bytes, then the file.
    Mbox(BufReader<Chain<Cursor<Vec<u8>>, File>>),
}

/// How much of a line is kept once its message is over the limit: enough to tell an mbox
/// separator.
const SEPARATOR_PEEK: usize = 1024;

impl MboxReader {
    /// Opens `path` and reads its first bytes to tell a message from an mbox. A message (most
    /// files) is then read straight into its own buffer, in one piece, unless the file's size
    /// is over the limit.
    fn open(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let mut head = Vec::with_capacity(5);
        file.by_ref().take(5).read_to_end(&mut head)?;
        let contents = if head.starts_with(b"From ") {
            Contents::Mbox(BufReader::with_capacity(
                1 << 16,
                Cursor::new(head).chain(file),
            ))
        } else {
            let size = file.metadata().map_or(0, |m| m.len());
            if size > max_bytes {
                Contents::TooLarge(head, file, size)
            } else {
                let mut bytes =
                    Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
                bytes.extend_from_slice(&head);
                Contents::Message(bytes, file)
            }
        };
        Ok(Self {
            path: path.to_owned(),
            contents,
            max_bytes,
            index: 0,
            carry: None,
            done: false,
        })
    }

    fn next(&mut self) -> Option<Result<FileMessage, SourceError>> {
        if self.done {
            return None;
        }
        let err = |path: &Path, source| SourceError {
            path: path.display().to_string(),
            source,
        };
        let whole = |path: &Path, message| FileMessage {
            origin: path.display().to_string(),
            message,
        };
        let reader = match &mut self.contents {
            Contents::Message(head, file) => {
                self.done = true;
                let mut bytes = std::mem::take(head);
                // A file that grew since its size was read is still read only up to just over
                // the limit; the ingest path then keeps its header block.
                let rest = self.max_bytes.saturating_add(1);
                return Some(match file.take(rest).read_to_end(&mut bytes) {
                    Ok(_) => Ok(whole(&self.path, Incoming::Whole(bytes))),
                    Err(e) => Err(err(&self.path, e)),
                });
            }
            Contents::TooLarge(head, file, size) => {
                self.done = true;
                let mut bytes = std::mem::take(head);
                let more = (HEADER_LIMIT as u64).saturating_sub(bytes.len() as u64);
                return Some(match file.take(more).read_to_end(&mut bytes) {
                    Ok(_) => {
                        let headers = oversize::header_block(&bytes, HEADER_LIMIT).to_vec();
                        let size = *size;
                        Ok(whole(&self.path, Incoming::TooLarge { headers, size }))
                    }
                    Err(e) => Err(err(&self.path, e)),
                });
            }
            Contents::Mbox(reader) => reader,
        };
        let mut message = self.carry.take().unwrap_or_default();
        let mut size = message.len() as u64;
        let mut too_large = false;
        let mut previous_blank = true;
        loop {
            // All of a line while the message fits; past the limit only its start.
            let keep = if too_large {
                SEPARATOR_PEEK
            } else {
                usize::try_from(self.max_bytes.saturating_sub(size))
                    .unwrap_or(usize::MAX)
                    .saturating_add(1)
                    .max(SEPARATOR_PEEK)
            };
            let mut line = Vec::new();
            let read = match read_line_capped(reader, keep, &mut line) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(read) => read,
                Err(e) => return Some(Err(err(&self.path, e))),
            };
            // A "From " line after a blank line starts the next message.
            if previous_blank && is_separator(&line) && has_content(&message) {
                self.carry = Some(line);
                break;
            }
            previous_blank = line == b"\n" || line == b"\r\n";
            size += read;
            if too_large {
                continue;
            }
            message.extend_from_slice(&line);
            if size > self.max_bytes {
                // Over the limit: only the header block stays, the size keeps counting.
                too_large = true;
                let headers = oversize::header_block(&message, HEADER_LIMIT).len();
                message.truncate(headers);
                message.shrink_to_fit();
            }
        }
        if message.is_empty() {
            return None;
        }
        self.index += 1;
        let origin = if self.index == 1 && self.done {
            self.path.display().to_string()
        } else {
            format!("{}#{}", self.path.display(), self.index)
        };
        let message = if too_large {
            Incoming::TooLarge {
                headers: message,
                size,
            }
        } else {
            Incoming::Whole(message)
        };
        Some(Ok(FileMessage { origin, message }))
    }
}

/// Reads one line (through its `\n`, or to the end of the input), appending at most `keep`
/// bytes of it to `line`; returns the line's whole length. A line without end cannot make
/// memory grow past `keep`.
fn read_line_capped(
    reader: &mut impl BufRead,
    keep: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<u64> {
    let mut read = 0u64;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(read);
        }
        let (end, ended) = match memchr::memchr(b'\n', buf) {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        let room = keep.saturating_sub(line.len());
        line.extend_from_slice(&buf[..end.min(room)]);
        reader.consume(end);
        read += end as u64;
        if ended {
            return Ok(read);
        }
    }
}

/// An mbox separator: `From sender date`, where the date has a time of day. Requiring the
/// time keeps an unescaped "From the start…" in a body from splitting the message.
fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ")
        && line.windows(5).any(|w| {
            w[0].is_ascii_digit()
                && w[1].is_ascii_digit()
                && w[2] == b':'
                && w[3].is_ascii_digit()
                && w[4].is_ascii_digit()
        })
}

/// True once the collected text holds more than the opening `From ` line.
fn has_content(message: &[u8]) -> bool {
    message.iter().filter(|b| **b == b'\n').count() > 1
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
