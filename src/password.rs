//! Staff passwords: argon2id hashes in the PHC string format. Checking one is slow and takes
//! about 19 MiB by design; so that guesses cannot make the server grow, at most a few checks
//! run at once (the rest wait their turn) and each reuses working memory kept for the purpose
//! instead of allocating its own (freed memory would stay with the thread's allocator arena).

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// An argon2id hash of `password` with a fresh salt, in PHC form.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` is the one `hash` (PHC form) was made from. A hash that does not parse
/// matches nothing.
pub fn matches(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let computed = with_memory(blocks, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Checks running at once, at most.
fn most_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// Working memory waiting to be reused, and how many checks hold some now.
struct Memory {
    free: Vec<Vec<Block>>,
    in_use: usize,
}

fn memory() -> &'static (Mutex<Memory>, Condvar) {
    static MEMORY: OnceLock<(Mutex<Memory>, Condvar)> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let memory = Memory {
            free: Vec::new(),
            in_use: 0,
        };
        (Mutex::new(memory), Condvar::new())
    })
}

/// Runs `work` with `blocks` blocks of working memory, waiting for a turn.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let (lock, turn) = memory();
    let mut memory = {
        let mut state = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while state.in_use >= most_at_once() {
            state = turn
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.in_use += 1;
        state.free.pop().unwrap_or_default()
    };
    // Hashes made with other parameters (an older default) get memory of their size.
    memory.resize(blocks, Block::default());
    let result = work(&mut memory);
    let mut state = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    state.in_use -= 1;
    state.free.push(memory);
    turn.notify_one();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(matches(&h, "correct horse battery staple"));
        assert!(!matches(&h, "correct horse battery stapler"));
        assert!(!matches("not a hash", "x"));
        // A hash of the `argon2` crate's own making, checked the same way.
        let theirs = Argon2::default()
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(matches(&theirs, "pw"));
    }
}
