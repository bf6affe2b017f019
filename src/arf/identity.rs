//! Identification rules: who at our side sent the reported message.
//!
//! Mirrors the outgoing filter's "identification header" setting: a rule is a header name
//! (a `*` matches any run of characters) plus an optional regex whose single capture group is
//! the identity. Rules are tried in order on the attached original's headers, top first; the
//! first rule that yields a non-empty value wins.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::error::IdentityRuleError;
use super::header::Field;

/// One configured identification rule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct IdentityRule {
    /// Header name, case-insensitive; `*` is a wildcard (`X-*-Username`).
    pub header: String,
    /// Optional regex with exactly one capture group; without it the whole value is taken.
    #[serde(default)]
    pub regex: Option<String>,
}

const SMTP_AUTH: &str = r#"(?i)\bsmtp\.auth="?([^\s;"]+)"#;

fn smtp_auth_regex() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(SMTP_AUTH).ok()).as_ref()
}

/// Default rules with the names shown to staff when they match.
const DEFAULTS: &[(&str, Option<&str>, &str)] = &[
    ("X-AuthUser", None, "X-AuthUser"),
    // cPanel/Exim write `host.name: user@domain`; the identity is the last word.
    (
        "X-Authenticated-Sender",
        Some(r"(\S+)\s*$"),
        "X-Authenticated-Sender",
    ),
    (
        "Received",
        Some(r"\(Authenticated sender: ([^)\s]+)\)"),
        "Received (Authenticated sender)",
    ),
    (
        "Authentication-Results",
        Some(SMTP_AUTH),
        "Authentication-Results smtp.auth",
    ),
    ("X-*-Username", None, "X-*-Username + X-*-Domain"),
];

#[derive(Debug, Clone)]
struct Compiled {
    name: String,
    header: Regex,
    value: Option<Regex>,
}

/// A compiled, ready-to-apply list of rules. `Default` gives [`IdentityRules::default_rules`].
#[derive(Debug, Clone)]
pub struct IdentityRules {
    rules: Vec<Compiled>,
}

/// An identity found by a rule.
pub(crate) struct Found {
    pub value: String,
    pub rule: String,
}

impl IdentityRules {
    /// Compiles configured rules, refusing empty headers, bad regexes and regexes that do not
    /// have exactly one capture group.
    pub fn compile(rules: &[IdentityRule]) -> Result<Self, IdentityRuleError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let index = i + 1;
            let header = rule.header.trim();
            if header.is_empty() {
                return Err(IdentityRuleError::EmptyHeader { index });
            }
            let glob = header
                .split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(".*");
            let header_re =
                Regex::new(&format!("(?i)^{glob}$")).map_err(|e| IdentityRuleError::BadRegex {
                    index,
                    header: header.to_string(),
                    error: e.to_string(),
                })?;
            let value = match rule.regex.as_deref() {
                None => None,
                Some(src) => {
                    let re = Regex::new(src).map_err(|e| IdentityRuleError::BadRegex {
                        index,
                        header: header.to_string(),
                        error: e.to_string(),
                    })?;
                    let groups = re.captures_len().saturating_sub(1);
                    if groups != 1 {
                        return Err(IdentityRuleError::CaptureGroups {
                            index,
                            header: header.to_string(),
                            groups,
                        });
                    }
                    Some(re)
                }
            };
            compiled.push(Compiled {
                name: rule_name(header, rule.regex.as_deref()),
                header: header_re,
                value,
            });
        }
        Ok(IdentityRules { rules: compiled })
    }

    /// The default rules, in order: X-AuthUser, X-Authenticated-Sender, Postfix's
    /// `(Authenticated sender: …)` in Received, `smtp.auth=` in Authentication-Results,
    /// X-*-Username (joined with the matching X-*-Domain).
    pub fn default_rules() -> Vec<IdentityRule> {
        DEFAULTS
            .iter()
            .map(|(header, regex, _)| IdentityRule {
                header: (*header).to_string(),
                regex: regex.map(str::to_string),
            })
            .collect()
    }

    /// Applies the rules to a header list; the first rule with a non-empty result wins.
    pub(crate) fn identify(&self, headers: &[Field]) -> Option<Found> {
        self.rules.iter().find_map(|rule| {
            headers
                .iter()
                .filter(|f| rule.header.is_match(&f.name))
                .find_map(|f| {
                    let value = match &rule.value {
                        Some(re) => re.captures(&f.value)?.get(1)?.as_str().trim().to_string(),
                        None => f.value.trim().to_string(),
                    };
                    if value.is_empty() {
                        return None;
                    }
                    Some(Found {
                        value: join_domain(headers, &f.name, value),
                        rule: rule.name.clone(),
                    })
                })
        })
    }
}

impl Default for IdentityRules {
    fn default() -> Self {
        // The defaults are constants that the tests compile; an empty rule list is the only
        // conceivable fallback and would never be reached.
        IdentityRules::compile(&IdentityRules::default_rules())
            .unwrap_or(IdentityRules { rules: Vec::new() })
    }
}

fn rule_name(header: &str, regex: Option<&str>) -> String {
    DEFAULTS
        .iter()
        .find(|(h, r, _)| h.eq_ignore_ascii_case(header) && *r == regex)
        .map(|(_, _, name)| (*name).to_string())
        .unwrap_or_else(|| match regex {
            Some(re) => format!("{header} ~ /{re}/"),
            None => header.to_string(),
        })
}

/// `X-Foo-Username: bob` with `X-Foo-Domain: example.com` names `bob@example.com`, the way the
/// filter itself names the sender ("from one of your users, 'bob@example.com'").
fn join_domain(headers: &[Field], name: &str, value: String) -> String {
    if value.contains('@') {
        return value;
    }
    match domain_for(headers, name) {
        Some(domain) => format!("{value}@{domain}"),
        None => value,
    }
}

/// The value of the `-Domain` header paired with a `-Username` header.
pub(crate) fn domain_for<'a>(headers: &'a [Field], username_header: &str) -> Option<&'a str> {
    let len = username_header.len();
    let suffix = username_header.get(len.checked_sub("-username".len())?..)?;
    if !suffix.eq_ignore_ascii_case("-username") {
        return None;
    }
    let prefix = username_header.get(..len - "-username".len())?;
    headers
        .iter()
        .find(|f| {
            f.name.len() == prefix.len() + "-domain".len()
                && f.name
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                && f.name
                    .get(prefix.len()..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("-domain"))
        })
        .map(|f| f.value.trim())
        .filter(|v| !v.is_empty())
}

/// The authenticated outgoing user: an X-*-Username/X-*-Domain pair first, else `smtp.auth=`
/// split at the last `@`. Looked up in each header list in turn.
pub(crate) fn outgoing_user(lists: &[&[Field]]) -> Option<super::OutgoingUser> {
    for headers in lists {
        for f in headers.iter() {
            let n = &f.name;
            let is_user = n.len() > 11
                && n.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
                && n.get(n.len() - 9..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("-username"));
            let user = f.value.trim();
            if is_user && !user.is_empty() {
                return Some(super::OutgoingUser {
                    domain: domain_for(headers, n).map(str::to_string),
                    user: user.to_string(),
                });
            }
        }
    }
    let smtp_auth = smtp_auth_regex()?;
    for headers in lists {
        let found = headers
            .iter()
            .filter(|f| f.is("authentication-results"))
            .find_map(|f| Some(smtp_auth.captures(&f.value)?.get(1)?.as_str().to_string()));
        if let Some(auth) = found {
            return Some(match auth.rsplit_once('@') {
                Some((user, domain)) if !user.is_empty() && !domain.is_empty() => {
                    super::OutgoingUser {
                        domain: Some(domain.to_string()),
                        user: user.to_string(),
                    }
                }
                _ => super::OutgoingUser {
                    domain: None,
                    user: auth,
                },
            });
        }
    }
    None
}
