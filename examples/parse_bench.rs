//! Single-thread parse throughput on a generated, realistic report corpus.
//!
//! `cargo run --release --example parse_bench [messages]`
//!
//! The corpus mixes SpamExperts-style outgoing-filter reports (identity headers), third-party
//! FBL reports (ReturnPath style, redacted recipients) and headers-only (text/rfc822-headers)
//! variants, 3–40 KB each, with text and HTML bodies.

use std::hint::black_box;
use std::time::Instant;

/// xorshift64*: deterministic, so every run measures the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "offer",
    "limited",
    "free",
    "account",
    "verify",
    "click",
    "here",
    "discount",
    "winner",
    "invoice",
    "shipping",
    "update",
    "security",
    "password",
    "exclusive",
    "deal",
    "today",
];

fn body(rng: &mut Rng, target: usize) -> (String, String) {
    let mut text = String::with_capacity(target / 2);
    let mut html = String::with_capacity(target / 2 + 200);
    html.push_str("<html><head><style>p{font-family:Arial}</style></head><body>\n");
    while text.len() + html.len() < target {
        let mut line = String::new();
        for _ in 0..12 {
            line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            line.push(' ');
        }
        text.push_str(&line);
        text.push('\n');
        html.push_str("<p><a href=\"http://shop.example.net/track?id=");
        html.push_str(&rng.next().to_string());
        html.push_str("\">");
        html.push_str(&line);
        html.push_str("</a></p>\n");
    }
    html.push_str("</body></html>\n");
    (text, html)
}

fn original(
    rng: &mut Rng,
    user: &str,
    domain: &str,
    ip: &str,
    size: usize,
    with_body: bool,
) -> String {
    let id = rng.next();
    let mut m = format!(
        "Received: from client.{domain} ([{ip}])\n by out1.filter.example.net with esmtpa (Exim 4.96)\n (envelope-from <{user}@{domain}>) id {id:x}\n for victim@example.org; Tue, 04 Aug 2015 02:50:41 -0600\n\
Date: Tue, 04 Aug 2015 10:50:41 +0200\nFrom: \"Sender {id}\" <{user}@{domain}>\nTo: victim@example.org\n\
Subject: =?UTF-8?B?U3BlY2lhbCBvZmZlciBmb3IgeW91?= {id}\nMessage-ID: <{id:x}@{domain}>\n\
X-SpamExperts-Domain: {domain}\nX-SpamExperts-Username: {user}\n\
Authentication-Results: out1.filter.example.net;\n auth=pass smtp.auth={user}@{domain}\n\
X-SpamExperts-Outgoing-Class: spam\nX-SpamExperts-Outgoing-Evidence: Combined (0.95)\n\
X-Originating-IP: {ip}\nMIME-Version: 1.0\n"
    );
    // Real originals carry kilobytes of signatures and filter stamps even without a body.
    m.push_str("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=");
    m.push_str(domain);
    m.push_str("; s=mail;\n h=From:To:Subject:Date:Message-ID;\n bh=");
    for _ in 0..80 {
        m.push_str(&format!("{:016x}", rng.next()));
        m.push_str("\n ");
    }
    m.push_str("b=x\n");
    if !with_body {
        m.push_str("Content-Type: text/plain; charset=utf-8\n");
        return m;
    }
    let (text, html) = body(rng, size);
    m.push_str("Content-Type: multipart/alternative; boundary=\"alt-b\"\n\n--alt-b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
    m.push_str(&text);
    m.push_str("\n--alt-b\nContent-Type: text/html; charset=utf-8\n\n");
    m.push_str(&html);
    m.push_str("\n--alt-b--\n");
    m
}

fn spamexperts(rng: &mut Rng, size: usize) -> String {
    let n = rng.below(200);
    let (user, domain, ip) = (
        format!("user{n}"),
        format!("customer{n}.example"),
        format!("198.51.100.{}", n % 250),
    );
    let orig = original(rng, &user, &domain, &ip, size, true);
    format!(
        "Received: from root by filter.example.net with local (Exim 4.96)\n id 1ZMXwM-000BDB-52\n for abuse@example.net; Tue, 04 Aug 2015 02:51:18 -0600\n\
Content-Type: multipart/report; report-type=\"feedback-report\";\n boundary=\"===b==\"\nMIME-Version: 1.0\n\
Subject: spam report\nFrom: admin@filter.example.net\nTo: abuse@example.net\nDate: Tue, 04 Aug 2015 02:51:18 -0600\n\n\
--===b==\nContent-Type: text/plain; charset=\"us-ascii\"\n\nThe following message, which is from one of your users, '{user}@{domain}' looks like spam.\n\n\
--===b==\nContent-Type: message/feedback-report\n\nUser-Agent: SpamExperts/88068\nVersion: 1\nOriginal-Envelope-Id: 1ZMXvl-000B9p-HH\n\
Original-Mail-From: {user}@{domain}\nArrival-Date: Tue, 04 Aug 2015 08:51:18 -0000\nSource-IP: {ip}\nOriginal-Rcpt-To: <victim@example.org>\n\
Authentication-Results: filter.example.net; auth=pass smtp.auth={user}@{domain}\nFeedback-Type: abuse\n\
--===b==\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n{orig}\n--===b==--\n"
    )
}

fn third_party(rng: &mut Rng, size: usize, headers_only: bool) -> String {
    let n = rng.below(200);
    let (user, domain, ip) = (
        format!("news{n}"),
        format!("sender{n}.example"),
        format!("203.0.113.{}", n % 250),
    );
    let orig = original(rng, &user, &domain, &ip, size, !headers_only);
    let part_type = if headers_only {
        "text/rfc822-headers"
    } else {
        "message/rfc822"
    };
    format!(
        "Received: from fbl.example.com (fbl.example.com [192.0.2.7])\n by mx.example.net (Postfix) with ESMTP id 12345\n for <fbl@example.net>; Sat, 16 Jan 2016 06:10:14 +0000\n\
From: FBL <fbl@example.com>\nTo: fbl@example.net\nSubject: complaint\nDate: Sat, 16 Jan 2016 06:10:14 +0000\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"_----------=_1453\"\n\n\
--_----------=_1453\nContent-Type: text/plain; charset=\"utf-8\"\n\nThis is an email abuse report.\n\n\
--_----------=_1453\nContent-Type: message/feedback-report\n\nUser-Agent: ReturnPathFBL/1.0\nAbuse-Type: complaint\n\
Arrival-Date: Sat, 16 Jan 2016 06:10:14 +0000\nFeedback-Type: abuse\nVersion: 1\nSource-IP: {ip}\n\
Original-Rcpt-To: {:032x}@example.org\nOriginal-Mail-From: {user}@{domain}\nReported-Domain: example.org\nRedacted-Address: redacted\n\n\
--_----------=_1453\nContent-Disposition: inline\nContent-Type: {part_type}\n\n{orig}\n--_----------=_1453--\n",
        rng.next()
    )
}

fn corpus(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|i| {
            let size = 2_000 + rng.below(36_000) as usize;
            let msg = match i % 5 {
                0 | 1 => spamexperts(&mut rng, size),
                2 | 3 => third_party(&mut rng, size, false),
                _ => third_party(&mut rng, size, true),
            };
            if i % 2 == 0 {
                msg.replace('\n', "\r\n").into_bytes()
            } else {
                msg.into_bytes()
            }
        })
        .collect()
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let corpus = corpus(count);
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let sizes = corpus.iter().map(Vec::len);
    let (min, max) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
    // Sanity: every generated message must parse, and identity must be found on ours.
    for m in &corpus {
        let r = abuse_desk::arf::parse(m).expect("generated report parses");
        assert!(r.source_ip.is_some());
    }
    let mut rounds = 0u32;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 3.0 {
        for m in &corpus {
            black_box(abuse_desk::arf::parse(black_box(m)).ok());
        }
        rounds += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let total_msgs = f64::from(rounds) * count as f64;
    let total_mb = f64::from(rounds) * bytes as f64 / 1e6;
    println!(
        "{count} messages, {:.1} MB ({min}..{max} bytes each), {rounds} rounds in {secs:.2}s",
        bytes as f64 / 1e6
    );
    println!(
        "single thread: {:.1} MB/s, {:.0} msgs/s, {:.1} µs/msg",
        total_mb / secs,
        total_msgs / secs,
        secs * 1e6 / total_msgs
    );
}
