//! What one notice tells one customer: plain values the planner fills from the database, so
//! composing a mail needs no connection and is tested on its own. Every string that came
//! from a report (subjects, identities, the stored report itself) is written by whoever sent
//! the spam: `compose` treats it as hostile.

use chrono::NaiveDateTime;
use serde::Serialize;

/// One digest: every ticket of one customer that is due for a notice now.
#[derive(Clone, Debug)]
pub struct Digest {
    /// The customer's name, as staff entered it.
    pub customer_name: String,
    /// The customer's id in the ISP's own systems (billing, panel), shown so the customer
    /// knows which account is meant.
    pub customer_external_id: String,
    /// The customer's language (`de`, `de-AT`, …); `None` or an unknown one means English.
    pub language: Option<String>,
    /// The customer's addresses (`addr@domain` or `Name <addr@domain>`); those that do not
    /// parse are left out and listed in `ComposedMail::invalid_recipients`.
    pub recipients: Vec<String>,
    /// The tickets to tell about, in the order they are to be shown.
    pub tickets: Vec<DigestTicket>,
    /// The self-service page for this customer, when a token was issued for this notice.
    pub self_service: Option<SelfServiceLink>,
    /// Our Message-ID for this notice, from [`new_message_id`] (stored with the notification
    /// row, so replies and bounces can be matched to it).
    pub message_id: String,
    /// Message-IDs of earlier notices about these tickets, oldest first: they become
    /// `References` and (the last one) `In-Reply-To`, so the customer's mail program shows
    /// one thread.
    pub references: Vec<String>,
    /// When the notice is made, UTC; the mail's `Date`.
    pub at: NaiveDateTime,
    /// The desk's public base URL (`web.public_url`).
    pub public_url: String,
    /// How the desk calls itself in mails, e.g. "Example Hosting Abuse Desk".
    pub desk_name: String,
}

/// The self-service link of a notice.
#[derive(Clone, Debug)]
pub struct SelfServiceLink {
    /// The full URL, token included.
    pub url: String,
    /// When the token expires (UTC), as stored with it: the mail states this, not a guess.
    pub valid_until: NaiveDateTime,
}

/// Why a ticket is in this notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The customer has not been told about this ticket before.
    NewTicket,
    /// More reports arrived since the last notice.
    NewReports,
    /// The ticket's severity rose since the last notice.
    SeverityRose,
}

/// One ticket as the customer is told about it.
#[derive(Clone, Debug)]
pub struct DigestTicket {
    /// The ticket number, quoted in the mail so the customer can refer to it.
    pub id: i64,
    /// The feedback type: `abuse`, `fraud`, `virus`, `other`, … (decides the advice given).
    pub class: String,
    /// What `subject` is: `identity`, `sender` or `ip`.
    pub subject_kind: String,
    /// What the ticket is about: the identity, else the sender address, else the source IP.
    pub subject: String,
    /// The sending identity (a sender address inside an outgoing user), when known.
    pub identity: Option<String>,
    /// The filter's authenticating user (a user, IP or domain), when known.
    pub outgoing_user: Option<String>,
    /// `info`, `abuse` or `escalation`.
    pub severity: String,
    /// The ticket's status (`open`, `locked`, …).
    pub status: String,
    /// Reports on this ticket in total.
    pub event_count: i64,
    /// Reports since the last notice about it (all of them for a new ticket).
    pub new_events: i64,
    /// First and last report, UTC.
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    /// Source IPs of the reports, most frequent first; the mail shows up to five.
    pub source_ips: Vec<String>,
    pub why: Why,
    /// The raw stored bytes of the latest report, attached redacted when given.
    pub latest_report: Option<Vec<u8>>,
}

/// A new Message-ID for notification number `n`: `<notify-N.RANDOM@domain>`. The random
/// part keeps ids unique across desks and database restores that reuse numbers.
pub fn new_message_id(n: i64, domain: &str) -> String {
    let domain = if !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        domain
    } else {
        "abuse-desk.invalid"
    };
    format!("<notify-{n}.{:016x}@{domain}>", rand::random::<u64>())
}

/// `id` as `<left@right>` when it is a usable Message-ID (brackets optional on input), else
/// `None`: it is written into headers, so nothing that could break one gets through.
pub fn normalize_message_id(id: &str) -> Option<String> {
    let inner = id.trim();
    let inner = inner
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(inner);
    let (left, right) = inner.split_once('@')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 250
            && s.chars()
                .all(|c| c.is_ascii_graphic() && !"<>@\"\\()[],;:".contains(c))
    };
    (ok(left) && ok(right)).then(|| format!("<{left}@{right}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids() {
        let id = new_message_id(7, "example.net");
        assert!(id.starts_with("<notify-7.") && id.ends_with("@example.net>"));
        assert_eq!(normalize_message_id(&id), Some(id.clone()));
        assert!(new_message_id(1, "bad domain\r\n").ends_with("@abuse-desk.invalid>"));
        assert_eq!(
            normalize_message_id(" a.b@c.d "),
            Some("<a.b@c.d>".to_owned())
        );
        for bad in ["", "<>", "no-at", "<a@b>\r\nBcc: x@y", "<a b@c>", "<a@b@c>"] {
            assert_eq!(normalize_message_id(bad), None, "{bad:?}");
        }
    }
}
