//! Log output: `tracing` to standard error, as text or as one JSON object per line
//! (`log_format`). `RUST_LOG` wins when set; otherwise the `log` setting applies to the
//! commands that keep running (`serve`, `poll`, `notify run`, `actions run`), and one-shot
//! commands log warnings only, so their output stays clean. A line written while a web
//! request is served carries the request's id (its `request` span).

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Plain text for people (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, `span`, `spans`),
    /// for a log collector.
    Json,
}

/// Sets up logging with `filter` unless `RUST_LOG` says otherwise. The filter was validated
/// with the settings; should it not parse after all, warnings are logged.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colours only for a terminal: a log file or journal gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// The filter of a one-shot command.
pub const ONE_SHOT: &str = "warn";
