//! Bounds on the free text people type: action reasons, notes, customers' replies, names,
//! search words. A web form reads each free-text field through `web::forms::Text`, which
//! applies one of these; the storage functions that also serve the command line check theirs
//! again. A text over its bound is refused with a message naming it, never cut silently:
//! what staff wrote reaches the audit log and upstream APIs as written, or not at all.

/// How long one kind of free text may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    /// What the text is, as a message names it: "a reason".
    pub what: &'static str,
    /// The most characters it may have.
    pub max: usize,
}

/// A text longer than its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} has at most {max} characters")]
pub struct TooLong {
    pub what: &'static str,
    pub max: usize,
}

impl TextLimit {
    /// `text` when it is within the bound.
    pub fn check(self, text: &str) -> Result<&str, TooLong> {
        // Bytes bound characters from above: most texts need no count.
        if text.len() <= self.max || text.chars().count() <= self.max {
            Ok(text)
        } else {
            Err(TooLong {
                what: self.what,
                max: self.max,
            })
        }
    }
}

/// Why a lock, suspension or unlock is asked for: shown to staff, kept in the audit log,
/// sent to the upstreams that take one.
pub const REASON: TextLimit = TextLimit {
    what: "a reason",
    max: 1_000,
};

/// How staff cancelled an action or carried it out by hand.
pub const ACTION_NOTE: TextLimit = TextLimit {
    what: "a note on an action",
    max: 2_000,
};

/// A note on a ticket.
pub const NOTE: TextLimit = TextLimit {
    what: "a note",
    max: 20_000,
};

/// A customer's reply on its self-service page.
pub const REPLY: TextLimit = TextLimit {
    what: "a reply",
    max: 10_000,
};

/// What a lock acts on, named by staff: an address, a user, a domain, an IP address or a
/// customer's id.
pub const TARGET: TextLimit = TextLimit {
    what: "a target",
    max: 320,
};

/// The page a form returns to.
pub const BACK: TextLimit = TextLimit {
    what: "a return address",
    max: 2_000,
};

/// The queue's free-text search.
pub const SEARCH: TextLimit = TextLimit {
    what: "a search",
    max: 200,
};

/// A customer's id, name, billing reference or hosting user.
pub const CUSTOMER_FIELD: TextLimit = TextLimit {
    what: "a customer's id, name, billing_ref or hosting_user",
    max: 200,
};

/// One of a customer's identities or addresses.
pub const CUSTOMER_ITEM: TextLimit = TextLimit {
    what: "an identity or address of a customer",
    max: 320,
};

/// A staff member's password (hashing a long one costs time on every login).
pub const PASSWORD: TextLimit = TextLimit {
    what: "a password",
    max: 1_000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_counted_in_characters() {
        let limit = TextLimit {
            what: "a word",
            max: 3,
        };
        assert_eq!(limit.check("abc"), Ok("abc"));
        assert_eq!(limit.check("äöü"), Ok("äöü"));
        assert_eq!(
            limit.check("abcd").unwrap_err().to_string(),
            "a word has at most 3 characters"
        );
    }
}
