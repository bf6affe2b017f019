//! Values too costly to compute on every request and fine to show a few seconds old (the
//! queue's counts, the Outgoing Reports' figures), kept in memory for a while.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One cached value with its age. When it goes stale, one request recomputes it while the
/// others keep getting the stale value, so a busy queue never has every request recompute at
/// once; only an empty cache makes requests wait (for the one computing it).
pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
    refreshing: AtomicBool,
    computing: Mutex<()>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            computing: Mutex::new(()),
        }
    }

    fn current(&self) -> Option<(bool, Arc<T>)> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .map(|(at, v)| (at.elapsed() < self.ttl, Arc::clone(v)))
    }

    /// The value, computed by `compute` when there is none or it is stale (see above).
    /// Call from a blocking thread: it may wait for another request's computation.
    pub fn get_or_compute<E>(&self, compute: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        match self.current() {
            Some((true, value)) => Ok(value),
            Some((false, stale)) => {
                if self
                    .refreshing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return Ok(stale);
                }
                let fresh = compute().map(|v| self.put(v));
                self.refreshing.store(false, Ordering::Release);
                fresh
            }
            None => {
                let _only_one = self
                    .computing
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match self.current() {
                    Some((_, value)) => Ok(value),
                    None => compute().map(|v| self.put(v)),
                }
            }
        }
    }

    fn put(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&value)));
        value
    }

    pub fn clear(&self) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
