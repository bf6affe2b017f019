//! The key a live ticket is unique by: one live ticket per customer, subject and class.

use super::types::{Class, SubjectKind};
use crate::db::ids::CustomerId;

/// The key a live ticket is unique by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketKey {
    pub customer_id: Option<CustomerId>,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub class: Class,
}

impl TicketKey {
    /// The value of `tickets.open_key` while the ticket is live.
    pub fn open_key(&self) -> String {
        open_key(self.customer_id, &self.subject, self.class.as_str())
    }
}

/// `tickets.open_key` of a live ticket: customer, subject and class joined by `|`. The
/// subject's kind is not part of it: an address seen as a sender and later as an identity is
/// one mailbox, one ticket. Customer 0 stands for "unresolved", so tickets without a customer
/// are deduplicated too. Subject and class come from reports (a reporter's own Feedback-Type
/// may hold a `|`), so `%` and `|` in them are written as `%25` and `%7C`: the separator never
/// occurs inside a part, and two different keys never meet. The `open_key_parts` migration
/// wrote existing keys the same way.
pub fn open_key(customer: Option<CustomerId>, subject: &str, class: &str) -> String {
    let mut key = String::with_capacity(subject.len() + class.len() + 12);
    key.push_str(&customer.map_or(0, |c| c.0).to_string());
    for part in [subject, class] {
        key.push('|');
        for c in part.chars() {
            match c {
                '%' => key.push_str("%25"),
                '|' => key.push_str("%7C"),
                c => key.push(c),
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_into_each_other() {
        assert_eq!(
            open_key(None, "a@b.example", "abuse"),
            "0|a@b.example|abuse"
        );
        assert_eq!(
            open_key(Some(CustomerId(7)), "x", "opt|out"),
            "7|x|opt%7Cout"
        );
        // Without escaping, both of these were "1|a|b|c".
        assert_ne!(
            open_key(Some(CustomerId(1)), "a|b", "c"),
            open_key(Some(CustomerId(1)), "a", "b|c")
        );
        assert_ne!(open_key(None, "a%7Cb", "c"), open_key(None, "a|b", "c"));
    }
}
