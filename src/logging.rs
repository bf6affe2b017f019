//! Log output: `tracing` to standard error. `RUST_LOG` wins when set; otherwise the `log`
//! setting applies to the commands that keep running (`serve`, `poll`, `notify run`,
//! `actions run`), and one-shot commands log warnings only, so their output stays clean.

use tracing_subscriber::EnvFilter;

/// Sets up logging with `filter` unless `RUST_LOG` says otherwise. The filter was validated
/// with the settings; should it not parse after all, warnings are logged.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // Colours only for a terminal: a log file or journal gets plain text.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The filter of a one-shot command.
pub const ONE_SHOT: &str = "warn";
