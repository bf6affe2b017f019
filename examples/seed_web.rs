//! Seeds a database for the web queue's load benchmark: customers, staff accounts, a thousand
//! stored reports, and TICKETS tickets holding EVENTS events in all (skewed: a few tickets hold
//! many), written in bulk rows rather than through the ingest path, which would take far longer
//! for a million events. The tickets holding our own filter's reports carry an outgoing user
//! (the identity's local part), as the filter names it, for the Outgoing Reports' grouping.
//!
//! `cargo run --release --example seed_web -- DATABASE_URL [TICKETS] [EVENTS]`
//! (defaults 100000 and 1000000; the database must be empty). Staff: admin, agent, viewer, all
//! with the password `benchmark-password`.

use std::time::Instant;

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use abuse_desk::db::schema::{events, ticket_source_ips, tickets};
use abuse_desk::db::users::{self, Role};
use abuse_desk::db::{self, raw_messages, DatabaseUrl};
use abuse_desk::demo::{self, Feed, Spec};
use abuse_desk::dispatch;

const CUSTOMERS: usize = 2000;
const RAW: usize = 1000;
const CLASSES: [&str; 3] = ["abuse", "fraud", "virus"];
const OUR_FILTER: &str = "SpamExperts/88068";
const REPORTERS: [&str; 3] = [OUR_FILTER, "AOL SComp", "ReturnPath FBL"];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .ok_or_else(|| anyhow::anyhow!("usage: seed_web DATABASE_URL [TICKETS] [EVENTS]"))?;
    let n_tickets: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let n_events: usize = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let mut conn = DatabaseUrl::parse(url)?.connect()?;
    db::run_migrations(&mut conn)?;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(1_000_000);
    let now = Utc::now().naive_utc();

    let mut csv = String::from("external_id,name,email,identities,domains,netblocks\n");
    for c in 0..CUSTOMERS {
        csv.push_str(&format!(
            "cust-{c:04},Customer {c},abuse@cust{c}.example,,cust{c}.example,\n"
        ));
    }
    let records = abuse_desk::customers::parse_csv(csv.as_bytes())?;
    db::customers::import(&mut conn, &records)?;
    for (name, role) in [
        ("admin", Role::Admin),
        ("agent", Role::Agent),
        ("viewer", Role::Viewer),
    ] {
        users::add(&mut conn, name, role, "benchmark-password")?;
    }

    // Stored reports for the evidence panes; events point at them round-robin.
    let mut compressor = abuse_desk::ingest::Compressor::new();
    let stamp = abuse_desk::db::now();
    let mut raw_forms = Vec::new();
    for i in 0..RAW {
        let bytes = demo::report(&Spec {
            feed: [Feed::OwnFilter, Feed::Aol, Feed::HeadersOnly][i % 3],
            identity: Some(format!("user{i}@cust{}.example", i % CUSTOMERS)),
            sender: format!("user{i}@cust{}.example", i % CUSTOMERS),
            recipient: format!("someone{i}@mailbox.example.org"),
            source_ip: format!("198.51.{}.{}", i / 250, i % 250),
            subject: format!("Offer number {i}"),
            body: "Buy now, limited offer.".into(),
            feedback_type: "abuse".into(),
            arrival: Utc::now(),
            serial: i as u64,
        });
        let sha = sha256_hex(&bytes);
        let (compression, content) = compressor.compress(&bytes);
        raw_forms.push((sha, compression, content, bytes.len() as i64));
    }
    let forms: Vec<_> = raw_forms
        .iter()
        .map(
            |(sha, compression, content, size)| raw_messages::RawMessageInsertForm {
                sha256: sha,
                compression,
                content,
                size_bytes: *size,
                source: "seed",
                mailbox: None,
                received_at: stamp,
                parse_status: "report",
                parse_error_kind: None,
                parse_error: None,
                processed_at: Some(stamp),
            },
        )
        .collect();
    let raw_ids: Vec<i64> = raw_messages::insert_new(&mut conn, &forms)?
        .values()
        .map(|id| id.0)
        .collect();

    // Events per ticket: a long tail (most tickets a few events, a few thousands), scaled so
    // the total is n_events.
    let weights: Vec<f64> = (0..n_tickets)
        .map(|_| 1.0 / rng.random::<f64>().max(1e-4).powf(0.8))
        .collect();
    let sum: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| ((w / sum) * n_events as f64).max(1.0) as usize)
        .collect();
    let mut total: usize = counts.iter().sum();
    let mut i = 0;
    while total != n_events {
        if total < n_events {
            counts[i % n_tickets] += 1;
            total += 1;
        } else if counts[i % n_tickets] > 1 {
            counts[i % n_tickets] -= 1;
            total -= 1;
        }
        i += 1;
    }

    let mut event_id = 0usize;
    let chunk = 10_000;
    for start in (0..n_tickets).step_by(chunk) {
        conn.transaction::<_, anyhow::Error, _>(|conn| {
            let mut trows = Vec::new();
            let mut erows = Vec::new();
            let mut irows = Vec::new();
            let mut reporters = std::collections::BTreeSet::new();
            for (t, &n) in counts.iter().enumerate().skip(start).take(chunk) {
                let id = t as i64 + 1;
                let customer = (rng.random_range(0..10) != 0).then(|| rng.random_range(1..=CUSTOMERS as i64));
                let class = CLASSES[if rng.random_range(0..20) == 0 { rng.random_range(1..3) } else { 0 }];
                let status = match rng.random_range(0..20) {
                    0..=13 => "open",
                    14..=16 => "resolved",
                    17 => "ignored",
                    _ => "closed",
                };
                let severity = if n >= 50 { "escalation" } else if n >= 5 { "abuse" } else { "info" };
                let subject = format!("user{t}@cust{}.example", customer.unwrap_or(0));
                let ip = format!("10.{}.{}.{}", t / 65536 % 256, t / 256 % 256, t % 256);
                let last: NaiveDateTime = now - Duration::seconds(rng.random_range(0..30 * 86400));
                let span = Duration::seconds(rng.random_range(0..(30 * 86400 - (now - last).num_seconds()).max(1)));
                let first = last - span;
                // Our filter names the authenticated user it saw: the tickets holding our
                // filter's reports (most) have an outgoing user, the identity's local part.
                let ours = (1..=n).any(|k| REPORTERS[(event_id + k) % 10 / 4] == OUR_FILTER);
                let outgoing_user = ours.then(|| format!("user{t}"));
                let open_key = (status != "closed").then(|| abuse_desk::tickets::key::open_key(customer.map(abuse_desk::db::ids::CustomerId), &subject, class));
                trows.push((
                    tickets::id.eq(id),
                    tickets::customer_id.eq(customer),
                    tickets::subject_kind.eq("identity"),
                    tickets::subject.eq(subject.clone()),
                    tickets::class.eq(class),
                    tickets::severity.eq(severity),
                    tickets::status.eq(status),
                    tickets::open_key.eq(open_key),
                    tickets::event_count.eq(n as i64),
                    tickets::incident_count.eq(n as i64),
                    tickets::source_ip_count.eq(1i64),
                    tickets::first_seen.eq(first),
                    tickets::last_seen.eq(last),
                    tickets::last_source_ip.eq(Some(ip.clone())),
                    (
                        tickets::identity.eq(Some(subject.clone())),
                        tickets::outgoing_user.eq(outgoing_user.clone()),
                    ),
                    (tickets::created_at.eq(first), tickets::updated_at.eq(last)),
                ));
                irows.push((ticket_source_ips::ticket_id.eq(id), ticket_source_ips::source_ip.eq(ip.clone())));
                for k in 0..n {
                    event_id += 1;
                    let reporter = REPORTERS[event_id % 10 / 4];
                    reporters.insert((abuse_desk::db::ids::TicketId(id), reporter.to_owned()));
                    let at = if k == 0 || n == 1 { last } else { first + Duration::seconds(rng.random_range(0..span.num_seconds().max(1))) };
                    erows.push((
                        events::raw_message_id.eq(raw_ids[event_id % raw_ids.len()]),
                        events::ticket_id.eq(id),
                        events::customer_id.eq(customer),
                        events::dedup_key.eq(format!("seed-{event_id}")),
                        events::reporter.eq(reporter),
                        events::feedback_type.eq(class),
                        events::source_ip.eq(Some(ip.clone())),
                        events::original_mail_from.eq(Some(subject.clone())),
                        events::original_message_id.eq(Some(format!("<{event_id}@seed>"))),
                        events::original_subject.eq(Some(format!("Offer number {}", event_id % 977))),
                        events::identity.eq(Some(subject.clone())),
                        events::arrival_at.eq(at),
                        events::created_at.eq(at),
                        events::outgoing_user.eq(outgoing_user.clone()),
                    ));
                }
            }
            for c in trows.chunks(1000) {
                dispatch!(conn, c2 => diesel::insert_into(tickets::table).values(c).execute(c2))?;
            }
            for c in irows.chunks(5000) {
                dispatch!(conn, c2 => diesel::insert_into(ticket_source_ips::table).values(c).execute(c2))?;
            }
            for c in erows.chunks(2000) {
                dispatch!(conn, c2 => diesel::insert_into(events::table).values(c).execute(c2))?;
            }
            let reporters: Vec<_> = reporters.into_iter().collect();
            abuse_desk::tickets::add_reporters(conn, &reporters)?;
            Ok(())
        })?;
        eprint!(
            "\r{} tickets, {event_id} events, {:.0?}",
            (start + chunk).min(n_tickets),
            started.elapsed()
        );
    }
    // The Outgoing Reports' counts, as the migration makes them from existing events.
    conn.transaction(abuse_desk::db::outgoing::counts::rebuild)?;
    if let db::DbConn::Postgres(_) = conn {
        use diesel::connection::SimpleConnection;
        // Ids were written explicitly: move the sequence past them for later inserts.
        conn.batch_execute(
            "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))",
        )?;
        // What autovacuum does within a minute or two of a bulk load, done now so the
        // benchmark does not race it: statistics, the visibility map (index-only scans) and
        // the trigram indexes' pending lists merged into the indexes. A call of its own:
        // VACUUM cannot run inside the transaction a batch of several statements makes.
        conn.batch_execute("VACUUM ANALYZE")?;
    } else {
        use diesel::connection::SimpleConnection;
        // No ANALYZE: the server gathers its statistics itself when it opens its connections,
        // and the benchmark measures it with what it gathers.
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    eprintln!(
        "\nseeded {n_tickets} tickets, {event_id} events in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
