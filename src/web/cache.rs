//! Values too costly to compute on every request and fine to show a few seconds old: the
//! ticket counts per status and the ranking by events of the last 24 hours. Writes made
//! through the web drop them, so staff see their own changes at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::db::ids::TicketId;

/// One cached value with its age.
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Cached<T> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The value if it is fresh.
    pub fn get(&self) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| Arc::clone(v))
    }

    pub fn put(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&value)));
        value
    }

    pub fn clear(&self) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The application's caches.
pub struct Caches {
    pub status_counts: Cached<HashMap<String, i64>>,
    pub ranking_24h: Cached<Vec<(TicketId, i64)>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            status_counts: Cached::new(Duration::from_secs(10)),
            ranking_24h: Cached::new(Duration::from_secs(30)),
        }
    }
}

impl Caches {
    /// Forgets everything, after a write.
    pub fn clear(&self) {
        self.status_counts.clear();
        self.ranking_24h.clear();
    }
}
