//! One staff session of the spam run: logged in with its own cookies, it clicks through the
//! queue (filters, sorts, free text, deeper pages by the keyset link), opens tickets and the
//! Outgoing Report, and acts on tickets it saw (a note, a claim, a lock request, each a form
//! POST with the CSRF token, as the browser sends it), pausing between clicks like a person
//! in a hurry. Every request's kind, status and time is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::web::Client;

/// One request as the session saw it.
pub(crate) struct Request {
    pub kind: &'static str,
    pub latency: Duration,
    /// `None` when the answer was the expected one, else what went wrong.
    pub failure: Option<String>,
}

/// Queue views staff use: status tabs, filters of each kind, sorts, free text.
const FILTERS: &[&str] = &[
    "/tickets?status=all",
    "/tickets?severity=abuse",
    "/tickets?class=abuse&status=all",
    "/tickets?customer=cust-1001",
    "/tickets?unresolved=1",
    "/tickets?assignee=me",
    "/tickets?feed=AOL",
];
const SORTS: &[&str] = &[
    "/tickets?sort=events_24h",
    "/tickets?sort=events",
    "/tickets?sort=first_seen&status=all",
];
const SEARCHES: &[&str] = &[
    "/tickets?q=bakery",
    "/tickets?q=user7%40",
    "/tickets?q=198.18.1.",
    "/tickets?q=lottery&status=all",
];

/// What a session remembers from the pages it saw.
struct Seen {
    tickets: Vec<i64>,
    next: Option<String>,
}

impl Seen {
    /// Takes the ticket links and the next-page link of a queue page.
    fn queue(&mut self, html: &str) {
        let ids: Vec<i64> = html
            .split("href=\"/tickets/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect();
        if !ids.is_empty() {
            self.tickets = ids;
        }
        self.next = next_page(html);
    }

    fn ticket(&self, rng: &mut StdRng) -> Option<i64> {
        (!self.tickets.is_empty()).then(|| self.tickets[rng.random_range(0..self.tickets.len())])
    }
}

/// The queue's "next page" link (its keyset cursor), unescaped.
fn next_page(html: &str) -> Option<String> {
    let anchor = html.find("\" id=\"next-page\"")?;
    let href = &html[..anchor];
    let start = href.rfind("href=\"")? + "href=\"".len();
    Some(
        href[start..]
            .replace("&#x2f;", "/")
            .replace("&#x3d;", "=")
            .replace("&amp;", "&"),
    )
}

/// Clicks until `stop`, pausing a random 0 to 2 × `think` between clicks.
pub(crate) async fn work(
    client: Client,
    seed: u64,
    think: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Request> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = Seen {
        tickets: Vec::new(),
        next: None,
    };
    let mut done = Vec::new();
    let mut serial = 0u64;
    while !stop.load(Ordering::Relaxed) {
        serial += 1;
        let roll = rng.random_range(0..100);
        let ticket = seen.ticket(&mut rng);
        let request = match (roll, ticket) {
            (0..20, _) | (_, None) => page(&client, "queue", "/tickets", &mut seen).await,
            (20..35, _) => {
                let url = FILTERS[rng.random_range(0..FILTERS.len())];
                page(&client, "queue filtered", url, &mut seen).await
            }
            (35..45, _) => {
                let url = SORTS[rng.random_range(0..SORTS.len())];
                page(&client, "queue sorted", url, &mut seen).await
            }
            (45..55, _) => {
                let url = seen.next.clone().unwrap_or_else(|| "/tickets".into());
                page(&client, "queue next page", &url, &mut seen).await
            }
            (55..65, _) => {
                let url = SEARCHES[rng.random_range(0..SEARCHES.len())];
                page(&client, "queue search", url, &mut seen).await
            }
            (65..85, Some(id)) => {
                let url = format!("/tickets/{id}");
                page(&client, "ticket", &url, &mut seen).await
            }
            (85..90, _) => {
                let url = "/reports/outgoing?group=identity&period=today";
                page(&client, "outgoing report", url, &mut seen).await
            }
            (90..95, Some(id)) => {
                let note = format!("spam run: looked at it ({seed}/{serial})");
                let fields = [("body", note.as_str())];
                act(&client, "note", &format!("/tickets/{id}/notes"), &fields).await
            }
            (95..98, Some(id)) => act(&client, "claim", &format!("/tickets/{id}/claim"), &[]).await,
            (_, Some(id)) => {
                let fields = [
                    ("kind", "lock_identity"),
                    ("reason", "spam run in progress"),
                    ("hours", "24"),
                ];
                act(&client, "lock", &format!("/tickets/{id}/actions"), &fields).await
            }
        };
        done.push(request);
        if !think.is_zero() {
            tokio::time::sleep(rng.random_range(Duration::ZERO..think * 2)).await;
        }
    }
    done
}

/// A GET that must answer 200; a queue page's links are remembered.
async fn page(client: &Client, kind: &'static str, url: &str, seen: &mut Seen) -> Request {
    let start = Instant::now();
    let res = client.get(url).await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    let latency = start.elapsed();
    if status == 200 && (url.starts_with("/tickets?") || url == "/tickets") {
        seen.queue(&body);
    }
    Request {
        kind,
        latency,
        failure: (status != 200).then(|| format!("GET {url}: {status}")),
    }
}

/// A form POST that must redirect back to the ticket, as it does in the browser.
async fn act(client: &Client, kind: &'static str, url: &str, fields: &[(&str, &str)]) -> Request {
    let start = Instant::now();
    let res = client.post_form(url, fields).await;
    let status = res.status().as_u16();
    let back = crate::web::location(&res);
    let _ = res.bytes().await;
    let latency = start.elapsed();
    let ticket = url.rsplit_once('/').map_or("", |(t, _)| t);
    let ok = status == 303 && back == ticket;
    Request {
        kind,
        latency,
        failure: (!ok).then(|| format!("POST {url}: {status} to {back:?}")),
    }
}
