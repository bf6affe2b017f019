//! A digest becomes a mail: subject, text and HTML from the templates, the redacted evidence
//! attached, headers that thread it with earlier notices and keep auto-responders quiet.
//!
//! Headers, and why:
//! - `Message-ID` is the digest's own, stored with the notification row, so a reply or a
//!   bounce can be matched to it; `References` / `In-Reply-To` name earlier notices about
//!   the same tickets, so the customer sees one thread.
//! - `Auto-Submitted: auto-generated` (RFC 3834) and `X-Auto-Response-Suppress: All`
//!   (Exchange) stop vacation replies and read receipts. `Precedence: bulk` is not set: it is
//!   not a standard, some filters rank such mail lower, and a notice is personal mail that we
//!   want read and answered.
//! - Bcc addresses never appear in a header: they are envelope recipients only.
//!
//! Everything from a report is hostile: text bound for a header is cut to one bounded line,
//! and values reach the HTML part only through minijinja's autoescape.

use std::time::{Duration, SystemTime};

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use serde::Serialize;

use super::attach::{evidence_parts, MAX_ATTACHED_TICKETS};
use super::digest::{normalize_message_id, Digest, DigestTicket, Why};
use super::settings::{parse_mailbox, NotifySettings};
use super::templates::{language_key, template_key, MailTemplates, Part};
use super::NotifyError;

/// The longest subject we write, in characters.
const SUBJECT_MAX: usize = 150;
/// The longest report-derived value (identity, subject, user, name) shown, in characters.
const VALUE_MAX: usize = 200;
/// Source IPs listed per ticket.
const MAX_IPS: usize = 5;
/// Earlier Message-IDs kept in `References` (RFC 5322 allows trimming the middle).
const MAX_REFERENCES: usize = 20;

/// The header naming the customer's addresses while `override_to` is set.
pub const INTENDED_TO_HEADER: &str = "X-Abuse-Desk-Intended-To";

/// A composed notice, ready for [`super::Mailer::send`].
#[derive(Clone, Debug)]
pub struct ComposedMail {
    pub message: Message,
    /// The envelope sender: the address of `from`, so bounces come back to the desk.
    pub envelope_from: lettre::Address,
    /// Every envelope recipient, each sent in a transaction of its own: the customer's
    /// addresses (or `override_to`), then the `bcc` addresses.
    pub recipients: Vec<String>,
    /// The customer's addresses that are not mail addresses, left out (shown to staff).
    pub invalid_recipients: Vec<String>,
    /// The rendered subject, as sent.
    pub subject: String,
    /// The Message-ID, as sent (`<…>`).
    pub message_id: String,
    /// The text part, as sent.
    pub text: String,
}

impl ComposedMail {
    /// The text part as the desk keeps it: without the self-service link, whose token is
    /// only ever stored hashed.
    pub fn text_for_archive(&self) -> String {
        self.text
            .split_inclusive('\n')
            .map(|line| match line.find("/self/") {
                Some(at) => {
                    let end = line[at..]
                        .find(char::is_whitespace)
                        .map_or(line.len(), |e| at + e);
                    format!("{}/self/…{}", &line[..at], &line[end..])
                }
                None => line.to_owned(),
            })
            .collect()
    }
}

#[derive(Serialize)]
struct MailContext {
    desk_name: String,
    public_url: String,
    customer_name: String,
    customer_external_id: String,
    /// When the notice was made, `YYYY-MM-DD HH:MM UTC`.
    at: String,
    language: String,
    /// The class shared by all tickets, else `default`.
    class: String,
    tickets: Vec<TicketContext>,
    self_service: Option<SelfServiceContext>,
    /// The customer's addresses when `override_to` sent the notice elsewhere; else empty.
    intended_to: Vec<String>,
    /// Tickets whose report was not attached because of the attachment limit.
    unattached: usize,
}

#[derive(Serialize)]
struct SelfServiceContext {
    url: String,
    valid_until: String,
}

#[derive(Serialize)]
struct TicketContext {
    id: i64,
    class: String,
    subject_kind: String,
    subject: String,
    identity: Option<String>,
    outgoing_user: Option<String>,
    /// The identity when known, else the subject: what the ticket is called in the mail.
    title: String,
    severity: String,
    status: String,
    event_count: i64,
    new_events: i64,
    first_seen: String,
    last_seen: String,
    /// Up to five, then `more_source_ips` says how many were left out.
    source_ips: Vec<String>,
    more_source_ips: usize,
    why: Why,
    /// File names of the evidence attached for this ticket.
    attachments: Vec<String>,
}

/// Composes the notice for `digest`.
pub fn compose(
    settings: &NotifySettings,
    templates: &MailTemplates,
    digest: &Digest,
) -> Result<ComposedMail, NotifyError> {
    let from = settings.from_mailbox()?;
    let Addressees {
        to,
        bcc,
        intended_to,
        invalid_recipients,
    } = addressees(settings, &digest.recipients)?;
    let message_id = normalize_message_id(&digest.message_id)
        .ok_or_else(|| NotifyError::MessageId(one_line(&digest.message_id, VALUE_MAX)))?;
    let references = thread(&digest.references, &message_id);

    let lang = language_key(digest.language.as_deref());
    let class = digest_class(&digest.tickets);
    let mut attachments = Vec::new();
    let mut tickets = Vec::with_capacity(digest.tickets.len());
    let (mut attached, mut unattached) = (0, 0);
    for ticket in &digest.tickets {
        let mut ctx = ticket_context(ticket);
        if ticket.latest_report.is_some() {
            if attached < MAX_ATTACHED_TICKETS {
                attached += 1;
                for part in evidence_parts(ticket) {
                    ctx.attachments.push(part.filename);
                    attachments.push(part.part);
                }
            } else {
                unattached += 1;
            }
        }
        tickets.push(ctx);
    }
    let ctx = minijinja::Value::from_serialize(MailContext {
        desk_name: one_line(&digest.desk_name, VALUE_MAX),
        public_url: one_line(&digest.public_url, VALUE_MAX),
        customer_name: one_line(&digest.customer_name, VALUE_MAX),
        customer_external_id: one_line(&digest.customer_external_id, VALUE_MAX),
        at: utc(&digest.at),
        language: lang.clone(),
        class: class.clone(),
        tickets,
        self_service: digest.self_service.as_ref().map(|s| SelfServiceContext {
            url: one_line(&s.url, 2000),
            valid_until: utc(&s.valid_until),
        }),
        intended_to: intended_to.clone(),
        unattached,
    });
    let mut subject = one_line(
        &templates.render(&class, &lang, Part::Subject, &ctx)?,
        SUBJECT_MAX,
    );
    if subject.is_empty() {
        subject = one_line(&digest.desk_name, SUBJECT_MAX);
    }
    let text = templates.render(&class, &lang, Part::Text, &ctx)?;
    let html = templates.render(&class, &lang, Part::Html, &ctx)?;

    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject.clone())
        .date(system_time(&digest.at))
        .message_id(Some(message_id.clone()))
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .raw_header(header("X-Auto-Response-Suppress", "All"));
    for mbox in &to {
        builder = builder.to(mbox.clone());
    }
    if let Some(reply_to) = &settings.reply_to {
        builder = builder.reply_to(parse_mailbox("reply_to", reply_to)?);
    }
    if let Some(last) = references.last() {
        builder = builder
            .in_reply_to(last.clone())
            .references(references.join(" "));
    }
    if !intended_to.is_empty() {
        builder = builder.raw_header(header(INTENDED_TO_HEADER, &intended_to.join(", ")));
    }
    let mut body =
        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text.clone(), html));
    for part in attachments {
        body = body.singlepart(part);
    }
    let message = builder.multipart(body)?;

    let mut recipients: Vec<String> = Vec::new();
    for mbox in to.iter().chain(&bcc) {
        let address = mbox.email.to_string();
        if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&address)) {
            recipients.push(address);
        }
    }
    Ok(ComposedMail {
        message,
        envelope_from: from.email,
        recipients,
        invalid_recipients,
        subject,
        message_id,
        text,
    })
}

/// Who a notice goes to.
struct Addressees {
    /// The `To` header: the customer's addresses, or `override_to`.
    to: Vec<Mailbox>,
    /// Envelope-only copies (none while `override_to` is set).
    bcc: Vec<Mailbox>,
    /// The customer's addresses while `override_to` sends the notice elsewhere.
    intended_to: Vec<String>,
    invalid_recipients: Vec<String>,
}

fn addressees(settings: &NotifySettings, recipients: &[String]) -> Result<Addressees, NotifyError> {
    let mut customer: Vec<Mailbox> = Vec::new();
    let mut invalid_recipients = Vec::new();
    for text in recipients {
        match text.trim().parse::<Mailbox>() {
            Ok(mbox) => push_unique(&mut customer, mbox),
            Err(_) => invalid_recipients.push(one_line(text, VALUE_MAX)),
        }
    }
    if customer.is_empty() {
        return Err(NotifyError::NoRecipients);
    }
    if let Some(test_address) = &settings.override_to {
        return Ok(Addressees {
            to: vec![parse_mailbox("override_to", test_address)?],
            bcc: Vec::new(),
            intended_to: customer.iter().map(|m| m.email.to_string()).collect(),
            invalid_recipients,
        });
    }
    let mut bcc = Vec::new();
    for text in &settings.bcc {
        push_unique(&mut bcc, parse_mailbox("bcc", text)?);
    }
    Ok(Addressees {
        to: customer,
        bcc,
        intended_to: Vec::new(),
        invalid_recipients,
    })
}

/// The usable, distinct earlier Message-IDs, at most `MAX_REFERENCES` of them.
fn thread(earlier: &[String], message_id: &str) -> Vec<String> {
    let mut references: Vec<String> = Vec::new();
    for id in earlier.iter().filter_map(|r| normalize_message_id(r)) {
        if id != message_id && !references.contains(&id) {
            references.push(id);
        }
    }
    if references.len() > MAX_REFERENCES {
        // Keep the first (the thread's root) and the most recent ones.
        references.drain(1..references.len() - (MAX_REFERENCES - 1));
    }
    references
}

fn ticket_context(t: &DigestTicket) -> TicketContext {
    let identity = t.identity.as_deref().map(|s| one_line(s, VALUE_MAX));
    let subject = one_line(&t.subject, VALUE_MAX);
    TicketContext {
        id: t.id,
        class: one_line(&t.class, 40),
        subject_kind: one_line(&t.subject_kind, 40),
        title: identity.clone().unwrap_or_else(|| subject.clone()),
        subject,
        identity,
        outgoing_user: t.outgoing_user.as_deref().map(|s| one_line(s, VALUE_MAX)),
        severity: one_line(&t.severity, 40),
        status: one_line(&t.status, 40),
        event_count: t.event_count,
        new_events: t.new_events,
        first_seen: utc(&t.first_seen),
        last_seen: utc(&t.last_seen),
        source_ips: t
            .source_ips
            .iter()
            .take(MAX_IPS)
            .map(|ip| one_line(ip, 64))
            .collect(),
        more_source_ips: t.source_ips.len().saturating_sub(MAX_IPS),
        why: t.why,
        attachments: Vec::new(),
    }
}

/// The template class of a digest: its tickets' class when they all share one, else
/// `default` (whose texts give advice per ticket).
fn digest_class(tickets: &[DigestTicket]) -> String {
    let mut classes = tickets.iter().map(|t| template_key(&t.class));
    match classes.next() {
        Some(Some(first)) if classes.all(|c| c.as_deref() == Some(first.as_str())) => first,
        _ => "default".into(),
    }
}

fn push_unique(list: &mut Vec<Mailbox>, mbox: Mailbox) {
    let address = mbox.email.to_string();
    if !list
        .iter()
        .any(|m| m.email.to_string().eq_ignore_ascii_case(&address))
    {
        list.push(mbox);
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

fn utc(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn system_time(t: &chrono::NaiveDateTime) -> SystemTime {
    let secs = u64::try_from(t.and_utc().timestamp()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// `text` as one line of at most `max` characters: line breaks, tabs and other control
/// characters become single spaces, invisible direction and zero-width marks (used to
/// disguise text) are dropped, and an over-long value ends in `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let visible: String = text.chars().filter(|c| !is_invisible(*c)).collect();
    let joined = visible
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        joined
            .chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

/// Zero-width characters and direction overrides: they can make a spammer's text read
/// differently from what it is.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

#[cfg(test)]
#[path = "compose_tests.rs"]
mod tests;
