//! Why an upstream call did not go through, sorted by what the worker should do next:
//! try again later (`Transient`), give up and show staff the vendor's words (`Permanent`,
//! `ControlPanel`), or treat the action as manual (`Unsupported`).

use std::fmt;

/// A failed upstream call. Messages hold the vendor's words (at most 500 characters) or our
/// description of a network failure; never a URL or a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The call may go through if repeated later: no connection, a timeout, HTTP 5xx, 408
    /// or 429.
    #[error("temporary failure{}: {message}", status_note(.status))]
    Transient {
        status: Option<u16>,
        message: String,
    },
    /// The vendor refused the call; repeating it unchanged will not help (HTTP 4xx, an
    /// answer that says error, wrong credentials, no permission, unknown domain, …).
    #[error("refused{}: {message}", status_note(.status))]
    Permanent {
        status: Option<u16>,
        message: String,
    },
    /// The SpamExperts Control Panel API refused the call with one of its known errors
    /// (it answers HTTP 200 and names the error in the body). Not worth retrying.
    #[error("{kind}: {message}")]
    ControlPanel { kind: CpErrorKind, message: String },
    /// This upstream cannot carry out this call as configured (e.g. the customer has no
    /// billing reference, or no unlock call is configured): the action is manual.
    #[error("not possible upstream: {0}")]
    Unsupported(String),
}

fn status_note(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl UpstreamError {
    /// Whether the worker should try the call again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// The HTTP status of the failed answer, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Transient { status, .. } | Self::Permanent { status, .. } => *status,
            // The Control Panel API names its errors in an HTTP 200 answer.
            Self::ControlPanel { .. } => Some(200),
            Self::Unsupported(_) => None,
        }
    }

    pub(crate) fn transient(status: Option<u16>, message: impl Into<String>) -> Self {
        Self::Transient {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn permanent(status: Option<u16>, message: impl Into<String>) -> Self {
        Self::Permanent {
            status,
            message: message.into(),
        }
    }
}

/// The errors the SpamExperts Control Panel API is known to answer with, as the vendor's own
/// add-ons tell them apart (SpamExperts/cpanel-addon,
/// `library/SpamFilter/ResellerAPI/Action.php`: case-insensitive substrings of each line of
/// `messages.error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpErrorKind {
    /// "Supplied credential is invalid."
    BadCredentials,
    /// "no permissions": the API user may not make this call.
    NoPermission,
    /// "No such domain"
    NoSuchDomain,
    /// "… is not registered on …": the domain is not on the filter.
    NotRegistered,
    /// "You don't have permissions to access the API."
    ApiNotAllowed,
    /// "… no access to this API, current IP address '…' …"
    IpNotAllowed,
    /// "… has status 'inactive'": the API user is switched off.
    UserInactive,
    /// Any other error text.
    Other,
}

impl CpErrorKind {
    /// Recognises one error line of the Control Panel API.
    pub fn classify(text: &str) -> Self {
        let text = text.to_lowercase();
        // Most specific first: "no access to this API" and "don't have permissions to
        // access the API" must not be taken for the generic "no permissions".
        const KNOWN: [(&str, CpErrorKind); 7] = [
            (
                "supplied credential is invalid",
                CpErrorKind::BadCredentials,
            ),
            (
                "you don't have permissions to access the api",
                CpErrorKind::ApiNotAllowed,
            ),
            (
                "no access to this api, current ip address",
                CpErrorKind::IpNotAllowed,
            ),
            ("has status 'inactive'", CpErrorKind::UserInactive),
            ("no permissions", CpErrorKind::NoPermission),
            ("no such domain", CpErrorKind::NoSuchDomain),
            ("is not registered on", CpErrorKind::NotRegistered),
        ];
        KNOWN
            .into_iter()
            .find(|(needle, _)| text.contains(needle))
            .map_or(Self::Other, |(_, kind)| kind)
    }

    /// What it means, in words an operator can act on.
    pub fn explain(self) -> &'static str {
        match self {
            Self::BadCredentials => "the filter refused the API username or password",
            Self::NoPermission => "the API user has no permission for this call",
            Self::NoSuchDomain => "the filter does not know this domain",
            Self::NotRegistered => "the domain is not registered on the filter",
            Self::ApiNotAllowed => {
                "the API user may not use the Control Panel API (\"Allow Control Panel API usage\" is off)"
            }
            Self::IpNotAllowed => "the filter does not accept API calls from this machine's IP address",
            Self::UserInactive => "the API user is inactive on the filter",
            Self::Other => "the filter refused the call",
        }
    }
}

impl fmt::Display for CpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.explain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_control_panel_errors() {
        let cases = [
            (
                "Supplied credential is invalid.",
                CpErrorKind::BadCredentials,
            ),
            (
                "You have no permissions to perform this action",
                CpErrorKind::NoPermission,
            ),
            ("No such domain: example.org", CpErrorKind::NoSuchDomain),
            (
                "Domain example.org is not registered on this cluster",
                CpErrorKind::NotRegistered,
            ),
            (
                "You don't have permissions to access the API.",
                CpErrorKind::ApiNotAllowed,
            ),
            (
                "You have no access to this API, current IP address '192.0.2.1' is not allowed",
                CpErrorKind::IpNotAllowed,
            ),
            ("User 'x' has status 'inactive'", CpErrorKind::UserInactive),
            ("Something else broke", CpErrorKind::Other),
        ];
        for (text, kind) in cases {
            assert_eq!(CpErrorKind::classify(text), kind, "{text}");
        }
    }

    #[test]
    fn messages_name_the_status() {
        let e = UpstreamError::transient(Some(503), "Service Unavailable");
        assert_eq!(
            e.to_string(),
            "temporary failure (HTTP 503): Service Unavailable"
        );
        assert!(e.is_transient());
        let e = UpstreamError::permanent(None, "ERROR: no such identity");
        assert_eq!(e.to_string(), "refused: ERROR: no such identity");
        assert!(!e.is_transient());
    }
}
