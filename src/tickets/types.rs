//! The values a ticket's columns hold: status, severity, what its subject is, and its class
//! (the reports' feedback type).

use crate::db::column::{column_enum, text_column};

column_enum! {
    /// A ticket's place in its lifecycle. Open, resolved and ignored tickets are "live": a
    /// new event lands on them. Closed and merged ones are history; a new event opens a new
    /// ticket.
    pub enum Status ("status") {
        Open => "open",
        Resolved => "resolved",
        Ignored => "ignored",
        Closed => "closed",
        Merged => "merged",
    }
}

impl Status {
    /// Whether new events land on a ticket in this status.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Open | Self::Resolved | Self::Ignored)
    }
}

column_enum! {
    /// How bad a ticket is; it only ever rises (see [`super::SeverityPolicy`]).
    #[derive(PartialOrd, Ord)]
    pub enum Severity ("severity") {
        Info => "info",
        Abuse => "abuse",
        Escalation => "escalation",
    }
}

column_enum! {
    /// What a ticket is about: the identity where known, else the sender, else the source IP.
    pub enum SubjectKind ("subject kind") {
        Identity => "identity",
        Sender => "sender",
        Ip => "ip",
    }
}

/// What kind of complaint a ticket collects: the reports' Feedback-Type (RFC 5965 and RFC
/// 6591 tokens), or a reporter's own token, kept as it came (lower-cased).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Class {
    Abuse,
    Fraud,
    Virus,
    AuthFailure,
    NotSpam,
    Other,
    /// A token no RFC defines, as the reporter wrote it.
    Unlisted(String),
}

impl Class {
    /// The classes the RFCs define, as the queue's filter offers them.
    pub const LISTED: [Class; 6] = [
        Self::Abuse,
        Self::Fraud,
        Self::Virus,
        Self::AuthFailure,
        Self::NotSpam,
        Self::Other,
    ];

    /// The class of a Feedback-Type token (any case).
    pub fn of(token: &str) -> Self {
        let token = token.to_ascii_lowercase();
        Self::LISTED
            .into_iter()
            .find(|c| c.as_str() == token)
            .unwrap_or(Self::Unlisted(token))
    }

    /// The token as stored and shown.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Abuse => "abuse",
            Self::Fraud => "fraud",
            Self::Virus => "virus",
            Self::AuthFailure => "auth-failure",
            Self::NotSpam => "not-spam",
            Self::Other => "other",
            Self::Unlisted(token) => token,
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::db::column::string_schema!(Class);

impl serde::Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

text_column!(Class, |text: String| {
    Ok::<_, std::convert::Infallible>(Class::of(&text))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_errors_not_defaults() {
        assert_eq!("resolved".parse::<Status>(), Ok(Status::Resolved));
        assert_eq!(
            "reopened".parse::<Status>().unwrap_err(),
            "unknown status 'reopened' (one of: open, resolved, ignored, closed, merged)"
        );
        assert!("critical".parse::<Severity>().is_err());
        assert!(Severity::Info < Severity::Abuse && Severity::Abuse < Severity::Escalation);
    }

    #[test]
    fn a_reporters_own_class_is_kept() {
        assert_eq!(Class::of("Auth-Failure"), Class::AuthFailure);
        assert_eq!(Class::of("opt-out").as_str(), "opt-out");
        assert_eq!(Class::of("a|b"), Class::Unlisted("a|b".into()));
    }
}
