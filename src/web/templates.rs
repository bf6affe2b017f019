//! Templates: minijinja with the built-in pages embedded in the binary; a file of the same
//! name in `web.templates_dir` overrides one. HTML autoescape is on for every `.html` template
//! and undefined values are errors, so a typo cannot silently print nothing.

use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior, Value};

/// The built-in templates, by name.
const EMBEDDED: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("tickets.html", include_str!("../../templates/tickets.html")),
    ("ticket.html", include_str!("../../templates/ticket.html")),
    (
        "outgoing.html",
        include_str!("../../templates/outgoing.html"),
    ),
    (
        "customers.html",
        include_str!("../../templates/customers.html"),
    ),
    (
        "customer.html",
        include_str!("../../templates/customer.html"),
    ),
    ("users.html", include_str!("../../templates/users.html")),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("lock.html", include_str!("../../templates/lock.html")),
    (
        "lock_state.html",
        include_str!("../../templates/lock_state.html"),
    ),
    ("actions.html", include_str!("../../templates/actions.html")),
    ("api.html", include_str!("../../templates/api.html")),
    (
        "actions_table.html",
        include_str!("../../templates/actions_table.html"),
    ),
    ("events.html", include_str!("../../templates/events.html")),
    ("self.html", include_str!("../../templates/self.html")),
    (
        "self_unknown.html",
        include_str!("../../templates/self_unknown.html"),
    ),
    (
        "notifications.html",
        include_str!("../../templates/notifications.html"),
    ),
];

/// The stylesheet, served at `/static/style.css`.
pub const STYLESHEET: &str = include_str!("../../templates/style.css");

/// The template environment of one application.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Built-in templates, overridden by files in `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_loader(move |name| {
            if let Some(dir) = &dir {
                // Only plain file names: a template name never walks out of the directory.
                if !name.contains(['/', '\\']) && !name.starts_with('.') {
                    match std::fs::read_to_string(dir.join(name)) {
                        Ok(text) => return Ok(Some(text)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("cannot read template {name}: {e}"),
                            ))
                        }
                    }
                }
            }
            Ok(EMBEDDED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_owned()))
        });
        env.add_filter("dt", format_time);
        env.add_filter("short", shorten);
        Self { env }
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// `2026-12-01T10:20:30.123456` → `2026-12-01 10:20` (times are UTC throughout).
fn format_time(value: String) -> String {
    let mut shown: String = value.chars().take(16).collect();
    if shown.len() > 10 {
        shown.replace_range(10..11, " ");
    }
    shown
}

/// Cuts long text (subjects written by spammers can be very long) to `n` characters.
fn shorten(value: String, n: Option<usize>) -> String {
    let n = n.unwrap_or(60);
    if value.chars().count() <= n {
        value
    } else {
        value
            .chars()
            .take(n.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}
