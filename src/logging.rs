//! Log output: `tracing` to standard error, filtered by `RUST_LOG` (default `warn` for
//! command-line runs so command output stays clean).

use tracing_subscriber::EnvFilter;

/// Sets up logging for a one-shot command.
pub fn init_for_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
