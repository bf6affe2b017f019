//! The limit on password guessing. Every login attempt is counted *before* its password is
//! checked (so guesses sent in parallel cannot all pass the check), against four limits at
//! once: per username and address, per address (any names: a spray), per username (any
//! addresses: a guessing botnet) and overall (the password hash is slow by design; this bounds
//! the work strangers can make the server do). An IPv6 client counts by its /64, since one
//! host commonly holds a whole /64. A successful login gives its attempt back and forgets the
//! username's failures from that address, so a user who mistyped twice starts afresh.
//!
//! Memory is bounded: each table holds at most `capacity` keys; a full table first drops what
//! has expired, then the key with the fewest failures, so a spray of new names cannot reset
//! the counters of a real attack (as clearing the table would).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within each window.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// One username from one address (5 in 15 minutes, as most desks do).
    pub per_user_and_address: u32,
    /// One address, whatever the names.
    pub per_address: u32,
    /// One username, whatever the addresses.
    pub per_user: u32,
    /// Everyone, per `global_window`.
    pub global: u32,
    pub window: Duration,
    pub global_window: Duration,
    /// Keys kept per table.
    pub capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_user_and_address: 5,
            per_address: 30,
            per_user: 50,
            global: 600,
            window: Duration::from_secs(15 * 60),
            global_window: Duration::from_secs(60),
            capacity: 10_000,
        }
    }
}

impl Limits {
    /// For self-service links: a link is a long random token, so wrong ones are counted per
    /// address only (one name for all), and an address may get a few wrong before a pause.
    pub fn links() -> Self {
        Self {
            per_user_and_address: 10,
            per_address: 10,
            per_user: u32::MAX,
            ..Self::default()
        }
    }
}

/// Usernames are at most this long (longer ones cannot exist; they share a key).
const NAME_KEY_LEN: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Window {
    count: u32,
    since: Instant,
}

/// Counts per key within a window, at most `capacity` keys.
struct Counters<K> {
    map: HashMap<K, Window>,
    capacity: usize,
    window: Duration,
}

impl<K: Eq + Hash + Clone> Counters<K> {
    fn new(capacity: usize, window: Duration) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
            window,
        }
    }

    fn count(&self, key: &K, now: Instant) -> u32 {
        self.map
            .get(key)
            .filter(|w| now.duration_since(w.since) < self.window)
            .map_or(0, |w| w.count)
    }

    fn add(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.capacity {
            self.make_room(now);
        }
        let window = self.window;
        let entry = self.map.entry(key.clone()).or_insert(Window {
            count: 0,
            since: now,
        });
        if now.duration_since(entry.since) >= window {
            *entry = Window {
                count: 0,
                since: now,
            };
        }
        entry.count += 1;
    }

    fn give_back(&mut self, key: &K) {
        if let Some(w) = self.map.get_mut(key) {
            w.count = w.count.saturating_sub(1);
        }
    }

    fn forget(&mut self, key: &K) {
        self.map.remove(key);
    }

    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.map.retain(|_, w| now.duration_since(w.since) < window);
        if self.map.len() >= self.capacity {
            let weakest = self
                .map
                .iter()
                .min_by_key(|(_, w)| (w.count, w.since))
                .map(|(k, _)| k.clone());
            if let Some(k) = weakest {
                self.map.remove(&k);
            }
        }
    }
}

struct Tables {
    user_and_address: Counters<(String, IpAddr)>,
    address: Counters<IpAddr>,
    user: Counters<String>,
    global: Counters<()>,
}

pub struct LoginLimiter {
    limits: Limits,
    tables: Mutex<Tables>,
}

/// A counted attempt: hand it back with [`LoginLimiter::succeeded`] when the password was right.
#[must_use]
pub struct Attempt {
    user: String,
    address: IpAddr,
}

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        let tables = Tables {
            user_and_address: Counters::new(limits.capacity, limits.window),
            address: Counters::new(limits.capacity, limits.window),
            user: Counters::new(limits.capacity, limits.window),
            global: Counters::new(1, limits.global_window),
        };
        Self {
            limits,
            tables: Mutex::new(tables),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update; the counts are
        // still usable.
        let mut guard = self
            .tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Counts an attempt of `user` from `ip`, or refuses it when any limit is reached.
    pub fn reserve(&self, user: &str, ip: IpAddr) -> Option<Attempt> {
        let attempt = Attempt {
            user: name_key(user),
            address: address_key(ip),
        };
        let pair = (attempt.user.clone(), attempt.address);
        let l = self.limits;
        let now = Instant::now();
        self.with(|t| {
            let full = t.user_and_address.count(&pair, now) >= l.per_user_and_address
                || t.address.count(&attempt.address, now) >= l.per_address
                || t.user.count(&attempt.user, now) >= l.per_user
                || t.global.count(&(), now) >= l.global;
            if full {
                return None;
            }
            t.user_and_address.add(&pair, now);
            t.address.add(&attempt.address, now);
            t.user.add(&attempt.user, now);
            t.global.add(&(), now);
            Some(attempt)
        })
    }

    /// The password was right: the attempt is given back and the username's failures from
    /// that address are forgotten.
    pub fn succeeded(&self, attempt: Attempt) {
        self.with(|t| {
            t.user_and_address
                .forget(&(attempt.user.clone(), attempt.address));
            t.address.give_back(&attempt.address);
            t.user.give_back(&attempt.user);
            t.global.give_back(&());
        });
    }

    /// Keys held, for tests of the bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.with(|t| t.user_and_address.map.len() + t.address.map.len() + t.user.map.len())
    }
}

fn name_key(user: &str) -> String {
    let lower = user.trim().to_lowercase();
    match lower.char_indices().nth(NAME_KEY_LEN) {
        Some((cut, _)) => lower[..cut].to_owned(),
        None => lower,
    }
}

/// IPv4 by address, IPv6 by its /64 (an IPv4-mapped address as its IPv4 form).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn five_failures_lock_the_name_at_that_address_only() {
        let l = LoginLimiter::new(Limits::default());
        for _ in 0..5 {
            assert!(l.reserve("Alice", ip("192.0.2.1")).is_some());
        }
        assert!(l.reserve("alice", ip("192.0.2.1")).is_none());
        assert!(l.reserve("alice", ip("192.0.2.2")).is_some());
        assert!(l.reserve("bob", ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let l = LoginLimiter::new(Limits::default());
        for i in 0..5 {
            assert!(l.reserve("alice", ip(&format!("2001:db8::{i}"))).is_some());
        }
        assert!(l.reserve("alice", ip("2001:db8::ffff:1")).is_none());
        assert!(l.reserve("alice", ip("2001:db8:0:1::1")).is_some());
    }

    #[test]
    fn a_success_starts_the_name_afresh() {
        let l = LoginLimiter::new(Limits::default());
        for _ in 0..4 {
            let _ = l.reserve("alice", ip("192.0.2.1")).unwrap();
        }
        l.succeeded(l.reserve("alice", ip("192.0.2.1")).unwrap());
        for _ in 0..5 {
            assert!(l.reserve("alice", ip("192.0.2.1")).is_some());
        }
    }

    #[test]
    fn a_spray_from_one_address_hits_the_address_limit() {
        let l = LoginLimiter::new(Limits::default());
        for i in 0..30 {
            assert!(l.reserve(&format!("user{i}"), ip("192.0.2.9")).is_some());
        }
        assert!(l.reserve("someone-new", ip("192.0.2.9")).is_none());
    }

    #[test]
    fn a_spray_of_names_keeps_memory_bounded_and_the_real_attack_counted() {
        let l = LoginLimiter::new(Limits {
            capacity: 100,
            global: u32::MAX,
            ..Limits::default()
        });
        for _ in 0..5 {
            let _ = l.reserve("alice", ip("192.0.2.1")).unwrap();
        }
        for i in 0..5_000u32 {
            let addr = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let _ = l.reserve(&format!("spray{i}"), addr);
        }
        assert!(l.held() <= 300);
        assert!(l.reserve("alice", ip("192.0.2.1")).is_none());
    }

    #[test]
    fn the_overall_limit_holds_for_everyone() {
        let l = LoginLimiter::new(Limits {
            global: 10,
            ..Limits::default()
        });
        for i in 0..10u8 {
            let _ = l.reserve("x", IpAddr::from([10, 0, 0, i])).unwrap();
        }
        assert!(l.reserve("y", ip("10.9.9.9")).is_none());
    }

    #[test]
    fn long_names_are_cut_to_a_bounded_key() {
        assert_eq!(name_key(&"é".repeat(1000)).chars().count(), NAME_KEY_LEN);
    }
}
