//! An in-process stand-in vendor for `serve --demo` and tests: every call succeeds after a
//! short delay, so a new user sees a lock go from pending to done without any vendor account.
//! It remembers what it locked, so `is_locked` answers like a real filter's state call.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use super::{Answer, Call, Op, TargetKind, Upstream, UpstreamError};

/// How long a demo call takes: long enough to see the pending state, short enough to wait for.
pub const DEMO_DELAY: Duration = Duration::from_millis(300);

/// The demo upstream.
pub struct Demo {
    name: String,
    targets: Vec<TargetKind>,
    delay: Duration,
    locked: Mutex<HashSet<(TargetKind, String)>>,
}

impl Demo {
    /// A demo upstream handling `targets`, answering after `delay`.
    pub fn new(name: impl Into<String>, targets: Vec<TargetKind>, delay: Duration) -> Self {
        Self {
            name: name.into(),
            targets,
            delay,
            locked: Mutex::new(HashSet::new()),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashSet<(TargetKind, String)>> {
        // A panic elsewhere while holding the set leaves it consistent (one insert or remove).
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Upstream for Demo {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "demo"
    }

    fn handles(&self, kind: TargetKind) -> bool {
        self.targets.contains(&kind)
    }

    fn execute(&self, call: &Call) -> Result<Answer, UpstreamError> {
        std::thread::sleep(self.delay);
        let key = (call.kind, call.target.to_lowercase());
        match call.op {
            Op::Lock => self.locked().insert(key),
            Op::Unlock => self.locked().remove(&key),
        };
        Ok(Answer {
            status: None,
            message: format!(
                "demo: {} {} {}",
                call.kind.words(),
                call.target,
                call.op.done_word()
            ),
        })
    }

    fn is_locked(&self, call: &Call) -> Result<Option<bool>, UpstreamError> {
        Ok(Some(
            self.locked()
                .contains(&(call.kind, call.target.to_lowercase())),
        ))
    }

    fn check(&self) -> Result<Option<Answer>, UpstreamError> {
        Ok(Some(Answer {
            status: None,
            message: "demo: always reachable".into(),
        }))
    }
}
