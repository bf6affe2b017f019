//! Where imported messages come from: `.eml` files, folders (recursive, Maildir included)
//! and mbox files, streamed one message at a time so memory stays flat however many there are.

use std::fs::File;
use std::io::{BufRead, BufReader, Chain, Cursor, Read};
use std::path::{Path, PathBuf};

/// One message read from disk, with where it came from for error messages.
#[derive(Debug)]
pub struct FileMessage {
    pub origin: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SourceError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Every message below `paths`, in a stable order (sorted by path; mbox messages in file order).
pub fn messages(paths: Vec<PathBuf>) -> impl Iterator<Item = Result<FileMessage, SourceError>> {
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
        match MboxReader::open(&path) {
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
    index: usize,
    carry: Option<Vec<u8>>,
    done: bool,
}

/// What a file turned out to hold, once its first bytes are read.
enum Contents {
    /// One message: its first bytes, and the file for the rest.
    Message(Vec<u8>, File),
    /// An mbox's lines: its first bytes, then the file.
    Mbox(BufReader<Chain<Cursor<Vec<u8>>, File>>),
}

impl MboxReader {
    /// Opens `path` and reads its first bytes to tell a message from an mbox. A message (most
    /// files) is then read straight into its own buffer, in one piece.
    fn open(path: &Path) -> std::io::Result<Self> {
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
            let mut bytes =
                Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
            bytes.extend_from_slice(&head);
            Contents::Message(bytes, file)
        };
        Ok(Self {
            path: path.to_owned(),
            contents,
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
        let reader = match &mut self.contents {
            Contents::Message(head, file) => {
                self.done = true;
                let mut bytes = std::mem::take(head);
                return Some(match file.read_to_end(&mut bytes) {
                    Ok(_) => Ok(FileMessage {
                        origin: self.path.display().to_string(),
                        bytes,
                    }),
                    Err(e) => Err(err(&self.path, e)),
                });
            }
            Contents::Mbox(reader) => reader,
        };
        let mut message = self.carry.take().unwrap_or_default();
        let mut previous_blank = true;
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Some(Err(err(&self.path, e))),
            }
            // A "From " line after a blank line starts the next message.
            if previous_blank && is_separator(&line) && has_content(&message) {
                self.carry = Some(line);
                break;
            }
            previous_blank = line == b"\n" || line == b"\r\n";
            message.extend_from_slice(&line);
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
        Some(Ok(FileMessage {
            origin,
            bytes: message,
        }))
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
mod tests {
    use super::*;

    fn collect(paths: Vec<PathBuf>) -> Vec<(String, Vec<u8>)> {
        messages(paths)
            .map(|m| m.unwrap())
            .map(|m| (m.origin, m.bytes))
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
        let results: Vec<_> = messages(vec![
            dir.path().join("missing.eml"),
            dir.path().join("ok.eml"),
        ])
        .collect();
        assert!(results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("missing.eml"));
        assert!(results[1].is_ok());
    }
}
