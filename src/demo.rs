//! `serve --demo`: a realistic sample so a new user sees a working queue in one command.
//! Reports are generated here, in the real formats (our outgoing filter's ARF with CRLF line
//! ends and no line end after the last field, third-party feedback loops in LF, and the
//! headers-only variant), and go through the ordinary ingest path.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Where a report comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Our own outgoing filter (SpamExperts-style ARF, CRLF).
    OwnFilter,
    /// A third-party feedback loop (AOL-style ARF, LF).
    Aol,
    /// A third-party loop that attaches only the headers (`text/rfc822-headers`).
    HeadersOnly,
}

/// One report to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub feed: Feed,
    /// Value of the identification header (X-AuthUser), when the sender authenticated.
    pub identity: Option<String>,
    pub sender: String,
    pub recipient: String,
    pub source_ip: String,
    pub subject: String,
    pub body: String,
    pub feedback_type: String,
    pub arrival: DateTime<Utc>,
    /// Makes the original's Message-ID (and so the complaint) unique.
    pub serial: u64,
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// The raw bytes of a feedback report for `spec`.
pub fn report(spec: &Spec) -> Vec<u8> {
    let date = rfc2822(spec.arrival);
    let sender_domain = spec
        .sender
        .rsplit_once('@')
        .map_or("example.net", |(_, d)| d);
    let msg_id = format!(
        "<{:016x}.{}@{}>",
        spec.serial,
        spec.arrival.timestamp(),
        sender_domain
    );
    let auth = spec
        .identity
        .as_deref()
        .map(|i| format!("X-AuthUser: {i}\n"))
        .unwrap_or_default();
    let original_headers = format!(
        "Received: from [{ip}] (helo=mail.{sender_domain})\n by smtp-out.example-hoster.net with esmtpsa\n (envelope-from <{from}>) id {serial:x}-0001; {date}\n\
         {auth}Date: {date}\nFrom: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: {msg_id}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n",
        ip = spec.source_ip,
        from = spec.sender,
        to = spec.recipient,
        subject = spec.subject,
        serial = spec.serial,
    );
    let (outer_from, agent, boundary, nl) = match spec.feed {
        Feed::OwnFilter => (
            "report@filter.example-hoster.net",
            "SpamExperts/88068",
            "===============demo",
            "\r\n",
        ),
        Feed::Aol => ("scomp@aol.net", "AOL SComp", "boundary-aol", "\n"),
        Feed::HeadersOnly => (
            "feedbackloop@fbl.returnpath.example",
            "ReturnPath FBL",
            "rp-boundary",
            "\n",
        ),
    };
    let original_type = if spec.feed == Feed::HeadersOnly {
        "text/rfc822-headers"
    } else {
        "message/rfc822"
    };
    let original = if spec.feed == Feed::HeadersOnly {
        original_headers
    } else {
        format!("{original_headers}\n{}\n", spec.body)
    };
    let mut fields = format!(
        "Feedback-Type: {ft}\nUser-Agent: {agent}\nVersion: 1\nOriginal-Mail-From: <{from}>\nOriginal-Rcpt-To: <{to}>\nArrival-Date: {date}\nSource-IP: {ip}\n",
        ft = spec.feedback_type,
        from = spec.sender,
        to = spec.recipient,
        ip = spec.source_ip,
    );
    if spec.feed == Feed::OwnFilter {
        // Our filter writes Feedback-Type last and without a line end, like the real one.
        fields = format!(
            "User-Agent: {agent}\nVersion: 1\nOriginal-Envelope-Id: {serial:x}-0001\nOriginal-Mail-From: {from}\nArrival-Date: {date}\nSource-IP: {ip}\nOriginal-Rcpt-To: <{to}>\n{auth}Feedback-Type: {ft}",
            serial = spec.serial,
            from = spec.sender,
            ip = spec.source_ip,
            to = spec.recipient,
            auth = spec
                .identity
                .as_deref()
                .map(|i| format!("Authentication-Results: filter.example-hoster.net; auth=pass smtp.auth={i}\n"))
                .unwrap_or_default(),
            ft = spec.feedback_type,
        );
    }
    let text = format!(
        "From: {outer_from}\nTo: abuse@example-hoster.net\nSubject: Abuse report for {subject_short}\nDate: {date}\nMessage-ID: <report-{serial:x}@{outer_domain}>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"{boundary}\"\n\n\
         --{boundary}\nContent-Type: text/plain; charset=\"us-ascii\"\n\nThis is an email abuse report for an email message received from IP {ip} on {date}.\n\n\
         --{boundary}\nContent-Type: message/feedback-report\n\n{fields}\n\
         --{boundary}\nContent-Type: {original_type}\nContent-Disposition: inline\n\n{original}\n--{boundary}--\n",
        subject_short = spec.subject.chars().take(40).collect::<String>(),
        serial = spec.serial,
        outer_domain = outer_from.rsplit_once('@').map_or("", |(_, d)| d),
        ip = spec.source_ip,
    );
    if nl == "\r\n" {
        text.replace('\n', "\r\n").into_bytes()
    } else {
        text.into_bytes()
    }
}

/// The demo customers, as the customers CSV.
pub const CUSTOMERS_CSV: &str = "external_id,name,email,identities,domains,netblocks
cust-1001,Bakery Müller GmbH,it@bakery-mueller.example,info@bakery-mueller.example;shop@bakery-mueller.example,bakery-mueller.example,198.51.100.0/28
cust-1002,Northwind Traders,abuse@northwind.example,sales@northwind.example;newsletter@northwind.example,northwind.example,198.51.100.16/28
cust-1003,Contoso Web Hosting,noc@contoso.example,,contoso.example;contoso-mail.example,203.0.113.0/25
cust-1004,Fabrikam Shop,owner@fabrikam.example,orders@fabrikam.example,fabrikam.example,
cust-1005,Tailspin Travel,it@tailspin.example,offers@tailspin.example;booking@tailspin.example,tailspin.example,2001:db8:5::/48
cust-1006,Wide World Importers,admin@wwi.example,,wwi.example,203.0.113.128/26
cust-1007,Litware Labs,ops@litware.example,alerts@litware.example,litware.example,
cust-1008,Adventure Works,abuse@adventure-works.example,promo@adventure-works.example,adventure-works.example,192.0.2.0/26
";

const SUBJECTS: &[&str] = &[
    "Your account has been suspended - verify now",
    "Exclusive offer: 80% off replica watches",
    "Invoice #44120 overdue",
    "You have won a prize! Claim within 24 hours",
    "Re: your order",
    "Cheap meds, no prescription",
    "Security alert: unusual sign-in",
    "Weekly newsletter",
    "Bitcoin investment opportunity, guaranteed profit",
    "Package delivery failed",
];

/// Senders of the sample: (identity, sender address, source IP), some compromised mailboxes
/// that send a lot, some quieter, and a few with no customer behind them.
const SENDERS: &[(Option<&str>, &str, &str)] = &[
    (
        Some("shop@bakery-mueller.example"),
        "shop@bakery-mueller.example",
        "198.51.100.5",
    ),
    (
        Some("newsletter@northwind.example"),
        "newsletter@northwind.example",
        "198.51.100.20",
    ),
    (None, "billing@contoso-mail.example", "203.0.113.44"),
    (
        Some("orders@fabrikam.example"),
        "orders@fabrikam.example",
        "198.18.7.9",
    ),
    (
        Some("offers@tailspin.example"),
        "offers@tailspin.example",
        "2001:db8:5::25",
    ),
    (None, "noreply@wwi.example", "203.0.113.140"),
    (
        Some("alerts@litware.example"),
        "alerts@litware.example",
        "198.18.9.77",
    ),
    (
        Some("promo@adventure-works.example"),
        "promo@adventure-works.example",
        "192.0.2.10",
    ),
    (None, "winner@lottery-claims.test", "192.0.2.200"),
    (None, "support@paypa1-security.test", "203.0.113.90"),
    (
        Some("info@bakery-mueller.example"),
        "info@bakery-mueller.example",
        "198.51.100.6",
    ),
    (None, "mailer@unknown-bulk.test", "100.64.12.34"),
];

/// `count` reports over the 30 days before `now`, most of them recent, from a fixed seed.
pub fn sample_reports(now: DateTime<Utc>, count: usize) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(6);
    let mut out = Vec::with_capacity(count);
    for serial in 0..count as u64 {
        // A few heavy senders: the first ones of the list get most of the complaints.
        let pick = (rng.random::<f64>().powi(2) * SENDERS.len() as f64) as usize;
        let (identity, sender, ip) = SENDERS[pick.min(SENDERS.len() - 1)];
        let feed = match rng.random_range(0..10) {
            0..=5 => Feed::OwnFilter,
            6..=8 => Feed::Aol,
            _ => Feed::HeadersOnly,
        };
        let feedback_type = match rng.random_range(0..20) {
            0 => "fraud",
            1 => "virus",
            _ => "abuse",
        };
        let age_hours = (rng.random::<f64>().powi(3) * 30.0 * 24.0) as i64;
        let arrival =
            now - Duration::hours(age_hours) - Duration::seconds(rng.random_range(0..3600));
        let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
        out.push(report(&Spec {
            feed,
            // Third-party loops do not see our identification header in every case.
            identity: identity
                .filter(|_| feed != Feed::Aol || serial % 2 == 0)
                .map(str::to_owned),
            sender: sender.to_owned(),
            recipient: format!(
                "user{}@mailbox{}.example.org",
                rng.random_range(1..500),
                rng.random_range(1..9)
            ),
            source_ip: ip.to_owned(),
            subject: subject.to_owned(),
            body: format!(
                "Dear customer,\n\n{subject}.\nClick here: http://short.test/{serial:x}\n\nRegards"
            ),
            feedback_type: feedback_type.to_owned(),
            arrival,
            serial,
        }));
    }
    out
}

/// Why the demo could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("demo customers: {0}")]
    Customers(String),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    User(#[from] crate::db::users::UserError),
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
}

/// Reports in the demo sample.
pub const SAMPLE_SIZE: usize = 400;

/// Loads the sample into an empty database and creates the `admin` account; returns its
/// random password (shown once, never stored in clear), or `None` when the database already
/// holds tickets or users and is left as it is.
pub fn prepare(
    conn: &mut crate::db::DbConn,
    settings: &crate::settings::Settings,
) -> Result<Option<String>, DemoError> {
    use crate::db::schema::{tickets, users};
    use diesel::prelude::*;
    let used: i64 = tickets::table.count().get_result(conn)?;
    let staff: i64 = users::table.count().get_result(conn)?;
    if used + staff > 0 {
        return Ok(None);
    }
    let records = crate::customers::parse_csv(CUSTOMERS_CSV.as_bytes())
        .map_err(|e| DemoError::Customers(e.to_string()))?;
    crate::db::customers::import(conn, &records)
        .map_err(|e| DemoError::Customers(e.to_string()))?;
    let ingestor = crate::ingest::Ingestor::from_settings(&settings.ingest)?
        .routed(settings.upstreams()?.routes());
    let origin = crate::ingest::Origin {
        source: "demo",
        mailbox: None,
    };
    let reports = sample_reports(Utc::now(), SAMPLE_SIZE);
    crate::ingest::import(
        conn,
        &ingestor,
        &origin,
        reports.into_iter().map(Ok::<_, std::convert::Infallible>),
        2,
        |_| {},
    )?;
    let password = crate::secret::random_token()[..20].to_owned();
    crate::db::users::add(conn, "admin", crate::db::users::Role::Admin, &password)?;
    Ok(Some(password))
}
