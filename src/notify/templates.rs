//! Mail templates: minijinja, defaults embedded in the binary, each overridable by a file of
//! the same name in the `mail/` folder of the templates directory (`web.templates_dir`), as
//! the web pages are. A template is `mail/{class}.{lang}.{part}`; the first that exists of
//! class+lang, class+en, default+lang, default+en is used, so an operator can add one
//! language or one class without writing the rest. Undefined values are errors; `.html`
//! templates escape every value, because report content is written by spammers.

use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use super::NotifyError;

/// The built-in mail templates, by name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "mail/default.en.subject.txt",
        include_str!("../../templates/mail/default.en.subject.txt"),
    ),
    (
        "mail/default.en.text.txt",
        include_str!("../../templates/mail/default.en.text.txt"),
    ),
    (
        "mail/default.en.html.html",
        include_str!("../../templates/mail/default.en.html.html"),
    ),
    (
        "mail/default.de.subject.txt",
        include_str!("../../templates/mail/default.de.subject.txt"),
    ),
    (
        "mail/default.de.text.txt",
        include_str!("../../templates/mail/default.de.text.txt"),
    ),
    (
        "mail/default.de.html.html",
        include_str!("../../templates/mail/default.de.html.html"),
    ),
    (
        "mail/virus.en.text.txt",
        include_str!("../../templates/mail/virus.en.text.txt"),
    ),
    (
        "mail/virus.de.text.txt",
        include_str!("../../templates/mail/virus.de.text.txt"),
    ),
];

/// The three parts of a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `subject.txt`: one line (made so whatever the template writes).
    Subject,
    /// `text.txt`: the text/plain body.
    Text,
    /// `html.html`: the text/html body, autoescaped.
    Html,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Subject => "subject.txt",
            Part::Text => "text.txt",
            Part::Html => "html.html",
        }
    }
}

/// The mail template environment of one application.
pub struct MailTemplates {
    env: Environment<'static>,
    dir: Option<PathBuf>,
}

impl MailTemplates {
    /// Built-in templates, overridden by files in `dir/mail/` when `dir` is given (the same
    /// directory as `web.templates_dir`).
    pub fn new(dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Block tags on lines of their own leave no blank lines behind in the text part.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        let overrides = dir.clone();
        env.set_loader(move |name| load(overrides.as_deref(), name));
        Self { env, dir }
    }

    /// The names tried for (`class`, `lang`, `part`), in order. `class` and `lang` are
    /// reduced to safe names first (see [`template_key`]).
    pub fn candidates(class: &str, lang: &str, part: Part) -> Vec<String> {
        let class = template_key(class).unwrap_or_else(|| "default".into());
        let lang = language_key(Some(lang));
        let mut names = Vec::with_capacity(4);
        for (c, l) in [
            (class.as_str(), lang.as_str()),
            (class.as_str(), "en"),
            ("default", lang.as_str()),
            ("default", "en"),
        ] {
            let name = format!("mail/{c}.{l}.{}", part.suffix());
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The name of the template that serves (`class`, `lang`, `part`).
    pub fn resolve(&self, class: &str, lang: &str, part: Part) -> Result<String, NotifyError> {
        let names = Self::candidates(class, lang, part);
        for name in &names {
            match self.env.get_template(name) {
                Ok(_) => return Ok(name.clone()),
                Err(e) if e.kind() == ErrorKind::TemplateNotFound => continue,
                // A broken override is reported, not silently replaced by the default.
                Err(e) => return Err(template_error(name, e)),
            }
        }
        Err(NotifyError::Template {
            name: names.join(", "),
            reason: "none of these templates exists".into(),
        })
    }

    /// Renders the template serving (`class`, `lang`, `part`) with `ctx`.
    pub fn render(
        &self,
        class: &str,
        lang: &str,
        part: Part,
        ctx: &Value,
    ) -> Result<String, NotifyError> {
        let name = self.resolve(class, lang, part)?;
        self.env
            .get_template(&name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(&name, e))
    }

    /// Compiles every built-in template and every override in `dir/mail/`, so a syntax
    /// error shows at start-up (or in `check-config`) rather than at the first notice.
    pub fn check(&self) -> Result<(), NotifyError> {
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_owned()).collect();
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(dir.join("mail")) {
                for entry in entries.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if [Part::Subject, Part::Text, Part::Html]
                        .iter()
                        .any(|p| file.ends_with(p.suffix()))
                    {
                        names.push(format!("mail/{file}"));
                    }
                }
            }
        }
        for name in names {
            self.env
                .get_template(&name)
                .map_err(|e| template_error(&name, e))?;
        }
        Ok(())
    }
}

fn template_error(name: &str, e: minijinja::Error) -> NotifyError {
    // The alternate form adds the line and the source around it.
    NotifyError::Template {
        name: name.to_owned(),
        reason: format!("{e:#}"),
    }
}

fn load(dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    let Some(file) = name.strip_prefix("mail/") else {
        return Ok(None);
    };
    // Only plain file names: a template name never walks out of the directory.
    if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
        return Ok(None);
    }
    if let Some(dir) = dir {
        match std::fs::read_to_string(dir.join("mail").join(file)) {
            Ok(text) => return Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read template {name}: {e}"),
                ))
            }
        }
    }
    Ok(EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| (*text).to_owned()))
}

/// `text` lowercased when it can be part of a template name (`abuse`, `auth-failure`), else
/// `None`. Feedback types come from reports, so they never reach a file name unchecked.
pub fn template_key(text: &str) -> Option<String> {
    let key = text.trim().to_ascii_lowercase();
    let ok = !key.is_empty()
        && key.len() <= 32
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    ok.then_some(key)
}

/// The primary language subtag of `lang` (`de-AT` → `de`), `en` when missing or malformed.
pub fn language_key(lang: Option<&str>) -> String {
    let primary = lang
        .unwrap_or("")
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        primary
    } else {
        "en".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_chain() {
        let t = MailTemplates::new(None);
        let r = |class, lang, part| t.resolve(class, lang, part).unwrap();
        // class + lang
        assert_eq!(r("virus", "de", Part::Text), "mail/virus.de.text.txt");
        // class + en
        assert_eq!(r("virus", "fr", Part::Text), "mail/virus.en.text.txt");
        // default + lang
        assert_eq!(
            r("virus", "de", Part::Subject),
            "mail/default.de.subject.txt"
        );
        assert_eq!(r("fraud", "de-AT", Part::Html), "mail/default.de.html.html");
        // default + en
        assert_eq!(r("fraud", "fr", Part::Text), "mail/default.en.text.txt");
        assert_eq!(
            r("../../etc/passwd", "x/y", Part::Text),
            "mail/default.en.text.txt"
        );
        assert_eq!(
            MailTemplates::candidates("Virus", "de", Part::Html),
            [
                "mail/virus.de.html.html",
                "mail/virus.en.html.html",
                "mail/default.de.html.html",
                "mail/default.en.html.html"
            ]
        );
        t.check().unwrap();
    }

    #[test]
    fn an_override_wins_and_a_broken_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::write(
            dir.path().join("mail/fraud.fr.subject.txt"),
            "Fraude: {{ n }}",
        )
        .unwrap();
        let t = MailTemplates::new(Some(dir.path().to_owned()));
        let ctx = minijinja::context! { n => 3 };
        assert_eq!(
            t.render("fraud", "fr", Part::Subject, &ctx).unwrap(),
            "Fraude: 3"
        );
        std::fs::write(dir.path().join("mail/default.en.subject.txt"), "{% if %}").unwrap();
        let e = t.resolve("abuse", "en", Part::Subject).unwrap_err();
        assert!(e.to_string().contains("default.en.subject.txt"), "{e}");
        assert!(t.check().is_err());
    }

    #[test]
    fn strict_undefined() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mail")).unwrap();
        std::fs::write(dir.path().join("mail/default.en.subject.txt"), "{{ nope }}").unwrap();
        let t = MailTemplates::new(Some(dir.path().to_owned()));
        let e = t
            .render("abuse", "en", Part::Subject, &minijinja::context! {})
            .unwrap_err();
        assert!(e.to_string().contains("undefined"), "{e}");
    }

    #[test]
    fn keys() {
        assert_eq!(language_key(Some("DE_at")), "de");
        assert_eq!(language_key(Some("")), "en");
        assert_eq!(language_key(Some("x")), "en");
        assert_eq!(language_key(None), "en");
        assert_eq!(
            template_key("Auth-Failure").as_deref(),
            Some("auth-failure")
        );
        assert_eq!(template_key("a.b"), None);
    }
}
