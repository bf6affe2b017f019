//! How a poll cuts its work: the new messages' UIDs into batches (each stored in one
//! transaction), and the batches into runs, after each of which the stored messages are moved.

use imap::types::Uid;

use super::PollOptions;

/// Stored messages are moved in bulk, this many at a time: each MOVE costs the server
/// an index update of the whole folder, so fewer, larger moves are much cheaper.
pub(super) const MOVE_EVERY: usize = 10_000;

/// Groups batches into runs of at least [`MOVE_EVERY`] messages (the last may be shorter):
/// the stored messages are moved after each run.
pub(super) fn runs<'a, 'b>(batches: &'b [&'a [(Uid, u32)]]) -> Vec<&'b [&'a [(Uid, u32)]]> {
    let mut out = Vec::new();
    let (mut start, mut messages) = (0, 0);
    for (i, batch) in batches.iter().enumerate() {
        messages += batch.len();
        if messages >= MOVE_EVERY {
            out.push(&batches[start..=i]);
            (start, messages) = (i + 1, 0);
        }
    }
    if start < batches.len() {
        out.push(&batches[start..]);
    }
    out
}

/// Cuts the UID list into batches of at most `batch_size` messages and, past the first
/// message, `batch_bytes` bytes.
pub(super) fn batches<'a>(todo: &'a [(Uid, u32)], options: &PollOptions) -> Vec<&'a [(Uid, u32)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, (_, size)) in todo.iter().enumerate() {
        let full = i - start >= options.batch_size.max(1)
            || (i > start && bytes + u64::from(*size) > options.batch_bytes);
        if full {
            out.push(&todo[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += u64::from(*size);
    }
    if start < todo.len() {
        out.push(&todo[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_bytes() {
        let options = PollOptions {
            batch_size: 3,
            batch_bytes: 100,
            ..Default::default()
        };
        let todo: Vec<(Uid, u32)> = (1..=7).map(|uid| (uid, 10)).collect();
        let sizes: Vec<usize> = batches(&todo, &options).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let big = [(1, 60), (2, 60), (3, 500), (4, 10)];
        let sizes: Vec<usize> = batches(&big, &options).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 1, 1, 1]);
    }

    #[test]
    fn runs_end_once_enough_messages_are_stored_to_move() {
        let todo: Vec<(Uid, u32)> = (1..=25_000).map(|uid| (uid, 10)).collect();
        let options = PollOptions {
            batch_size: 4_000,
            ..Default::default()
        };
        let all = batches(&todo, &options);
        let lengths: Vec<Vec<usize>> = runs(&all)
            .iter()
            .map(|run| run.iter().map(|b| b.len()).collect())
            .collect();
        assert_eq!(
            lengths,
            [
                vec![4_000, 4_000, 4_000],
                vec![4_000, 4_000, 4_000],
                vec![1_000]
            ]
        );
        assert!(runs(&[]).is_empty());
    }
}
