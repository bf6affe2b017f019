//! The configured upstreams, in the order of the settings file: the first one that handles a
//! target kind acts on it.

use std::fmt;
use std::time::Duration;

use crate::db::actions::Routes;

use super::{
    Cpanel, Demo, SpamExperts, SpamExpertsCp, TargetKind, Upstream, UpstreamKind, UpstreamSettings,
    Webhook, Whmcs,
};

/// An `[[upstreams]]` table that cannot be used, naming the table and the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("upstream '{upstream}': {key} {reason}")]
pub struct InvalidUpstream {
    /// The `name` of the table (as written, even when the name itself is the problem).
    pub upstream: String,
    pub key: &'static str,
    pub reason: String,
}

/// The configured upstreams.
#[derive(Default)]
pub struct Upstreams {
    list: Vec<Box<dyn Upstream>>,
}

impl fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(|u| (u.name(), u.kind())))
            .finish()
    }
}

impl Upstreams {
    /// Validates every table, refuses duplicate names and builds one adapter per table. Each
    /// adapter builds its own HTTP client at its first call, so this may run in async code;
    /// the calls themselves must run on a blocking thread.
    pub fn from_settings(settings: &[UpstreamSettings]) -> Result<Self, InvalidUpstream> {
        let mut list: Vec<Box<dyn Upstream>> = Vec::with_capacity(settings.len());
        for (i, s) in settings.iter().enumerate() {
            let fail = |key, reason: String| InvalidUpstream {
                upstream: s.name.clone(),
                key,
                reason,
            };
            s.validate().map_err(|e| fail(e.key, e.reason))?;
            if settings[..i].iter().any(|other| other.name == s.name) {
                return Err(fail("name", "is used by two upstreams".into()));
            }
            let upstream: Box<dyn Upstream> = match s.kind {
                UpstreamKind::Spamexperts => Box::new(SpamExperts::new(s)),
                UpstreamKind::SpamexpertsCp => Box::new(SpamExpertsCp::new(s)),
                UpstreamKind::Whmcs => Box::new(Whmcs::new(s)),
                UpstreamKind::Cpanel => Box::new(Cpanel::new(s)),
                UpstreamKind::Webhook => Box::new(Webhook::new(s)),
                UpstreamKind::Demo => Box::new(Demo::new(
                    s.name.clone(),
                    s.targets.clone(),
                    super::demo::DEMO_DELAY,
                )),
            };
            list.push(upstream);
        }
        Ok(Self { list })
    }

    /// Upstreams built by the caller (tests, `serve --demo`), in order of preference.
    pub fn with(list: Vec<Box<dyn Upstream>>) -> Self {
        Self { list }
    }

    /// A single demo upstream handling every target, answering after `delay`.
    pub fn demo(delay: Duration) -> Self {
        Self::with(vec![Box::new(Demo::new(
            "demo",
            TargetKind::ALL.to_vec(),
            delay,
        ))])
    }

    /// The first configured upstream that handles `kind`; `None` means the action is manual.
    pub fn for_target(&self, kind: TargetKind) -> Option<&dyn Upstream> {
        self.list
            .iter()
            .find(|u| u.handles(kind))
            .map(|u| u.as_ref())
    }

    /// The upstream of this name (an action records the name of the one it used).
    pub fn by_name(&self, name: &str) -> Option<&dyn Upstream> {
        self.list
            .iter()
            .find(|u| u.name() == name)
            .map(|u| u.as_ref())
    }

    /// Which upstream carries out each family of action, as actions record it when asked for.
    pub fn routes(&self) -> Routes {
        TargetKind::ALL
            .into_iter()
            .fold(Routes::default(), |routes, kind| {
                match self.for_target(kind) {
                    Some(upstream) => routes.with(kind.as_str(), upstream.name()),
                    None => routes,
                }
            })
    }

    /// The names, in the order of the settings.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|u| u.name()).collect()
    }

    /// Every upstream, in the order of the settings.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Upstream> {
        self.list.iter().map(|u| u.as_ref())
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
