//! The spam run itself: distinct feedback reports APPENDed to the mailbox's INBOX at a steady
//! rate, each sent at its own point in time (not in bursts), from a few hundred identities of
//! the demo customers and some senders no customer owns, a handful of them loud, so several
//! tickets grow while many stay small.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abuse_desk::demo::{self, Feed, Spec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The demo customers' domains (resolved by sender domain), then domains nobody owns
/// (the Unresolved queue).
const DOMAINS: &[&str] = &[
    "bakery-mueller.example",
    "northwind.example",
    "contoso-mail.example",
    "fabrikam.example",
    "tailspin.example",
    "wwi.example",
    "litware.example",
    "adventure-works.example",
    "lottery-claims.test",
    "paypa1-security.test",
];

/// How many distinct senders the run draws from.
const SENDERS: u32 = 600;

/// The text that marks report `serial` as this run's, in the original's Subject: the
/// database must hold each exactly once afterwards.
pub(crate) fn marker(serial: u64) -> String {
    format!("spamrun-{serial:07}")
}

/// Report `serial`: a sender drawn log-uniformly (sender 1 is far louder than sender 500),
/// mostly from our own filter (with the identity header), some from a feedback loop.
fn report(serial: u64, rng: &mut StdRng) -> Vec<u8> {
    let sender = (f64::from(SENDERS).powf(rng.random::<f64>()) as u32).max(1);
    let domain = DOMAINS[sender as usize % DOMAINS.len()];
    let address = format!("user{sender}@{domain}");
    let feed = match rng.random_range(0..10) {
        0 => Feed::Aol,
        1 => Feed::HeadersOnly,
        _ => Feed::OwnFilter,
    };
    demo::report(&Spec {
        identity: (feed == Feed::OwnFilter).then(|| address.clone()),
        feed,
        sender: address,
        recipient: format!("victim{serial}@mailbox.example.org"),
        source_ip: format!("198.18.{}.{}", sender / 250, sender % 250 + 1),
        subject: format!("{} Cheap meds, no prescription", marker(serial)),
        body: "Buy now".into(),
        feedback_type: "abuse".into(),
        arrival: chrono::Utc::now(),
        serial,
    })
}

/// What was appended.
pub(crate) struct Appended {
    /// Each report's marker, in order.
    pub markers: Vec<String>,
    /// How far the appender fell behind its schedule at worst (the mailbox server's or this
    /// machine's stall, not the desk's).
    pub worst_lag: Duration,
}

pub(crate) struct Appender(JoinHandle<Appended>);

impl Appender {
    /// Appends `rate` reports a second for `seconds` on a thread of its own.
    pub fn start(port: u16, rate: u32, seconds: u64) -> Self {
        Appender(std::thread::spawn(move || append(port, rate, seconds)))
    }

    pub fn finish(self) -> Appended {
        self.0.join().expect("the appender failed")
    }
}

fn append(port: u16, rate: u32, seconds: u64) -> Appended {
    let mut session = crate::dovecot::session_on(port);
    // The same senders in every run, so runs compare.
    let mut rng = StdRng::seed_from_u64(50);
    let total = u64::from(rate) * seconds;
    let interval = Duration::from_secs(1) / rate;
    let mut markers = Vec::with_capacity(total as usize);
    let mut worst_lag = Duration::ZERO;
    let start = Instant::now();
    for serial in 1..=total {
        // Each report at its own time: a late one goes at once, the next ones keep their slots.
        let due = start + interval * (serial - 1) as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            worst_lag = worst_lag.max(now - due);
        }
        let message = report(serial, &mut rng);
        session
            .append("INBOX", &message)
            .finish()
            .unwrap_or_else(|e| panic!("APPEND of report {serial}: {e}"));
        markers.push(marker(serial));
    }
    let _ = session.logout();
    Appended { markers, worst_lag }
}
