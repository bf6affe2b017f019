//! `quarantine list`: the stored messages that are not reports, newest first, with the
//! reason each was kept aside (not a report, malformed, too large, could not be stored).

use anyhow::Result;
use clap::Subcommand;

use crate::db::raw_messages;
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List quarantined messages, newest first.
    List {
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(settings: &Settings, command: &QuarantineCommand) -> Result<()> {
    let QuarantineCommand::List { limit, json } = command;
    let mut conn = super::connect(settings)?;
    let rows = raw_messages::quarantine_newest(&mut conn, *limit)?;
    if *json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    outln!(
        "{:>7} {:<19} {:>10} {:<16} {:<14} REASON",
        "ID",
        "RECEIVED",
        "BYTES",
        "SOURCE",
        "KIND"
    );
    for m in &rows {
        outln!(
            "{:>7} {:<19} {:>10} {:<16} {:<14} {}",
            m.id.0,
            m.received_at.format("%Y-%m-%d %H:%M:%S"),
            m.size_bytes,
            super::clip(&m.source, 16),
            m.parse_error_kind.as_deref().unwrap_or(""),
            m.parse_error.as_deref().unwrap_or("")
        );
    }
    outln!("{} message(s)", rows.len());
    Ok(())
}
