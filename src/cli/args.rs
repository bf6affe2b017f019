//! The command line's grammar: every subcommand and its arguments, as clap parses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::{actions, housekeeping, import, notify, poll, quarantine, serve, token};
use crate::db::users;
use crate::tickets;

#[derive(Parser, Debug)]
#[command(
    name = "abuse-desk",
    version,
    about = "The abuse desk behind an outgoing spam filter: ARF feedback reports in, per-customer abuse tickets out."
)]
pub struct Cli {
    /// Settings file (TOML). Environment variables (ABUSE_DESK_…, DATABASE_URL) override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database to use: sqlite://PATH (default sqlite://abuse-desk.db) or postgres://…; overrides settings and DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or upgrade the database schema (also done at every start).
    Migrate,
    /// Validate the settings and print the effective values, secrets masked.
    CheckConfig,
    /// Load and list customers (who owns which identities, domains and netblocks).
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Manage staff accounts of the web queue.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for scripts: `/api/` with `Authorization: Bearer TOKEN`, as the account.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Look at tickets from the command line.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Import feedback reports from .eml files, folders (recursive, Maildir too) and mbox
    /// files. Every message is stored, parsed and turned into tickets; messages that are not
    /// reports are quarantined with the reason. Re-importing the same messages changes
    /// nothing but the duplicate count.
    Import(import::ImportArgs),
    /// Parse one message and print the normalized feedback report (or why it is not one).
    Parse(import::ParseArgs),
    /// Serve the web queue (default http://127.0.0.1:8080, see `web.bind`) and, unless
    /// --no-jobs, poll the mailboxes of the settings on their schedules beside it.
    Serve(serve::ServeArgs),
    /// Work stored reports again: after a parser upgrade, quarantined messages that now
    /// parse become events (--quarantined); after a customer import, events of unresolved
    /// tickets that now resolve move to their customer's ticket (--unresolved). Without a
    /// flag, both.
    Reprocess(import::ReprocessArgs),
    /// Look at the messages kept aside as not reports, with the reason for each.
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    /// Read the IMAP mailboxes of the settings ([[mailboxes]]): store every message, turn
    /// reports into tickets, then move (or flag) each message once it is safely stored.
    /// With --once, one poll per mailbox and a summary; without, poll on each mailbox's
    /// schedule (and IDLE) until interrupted.
    Poll(poll::PollArgs),
    /// Ask for a lock of an identity or outgoing user, or the suspension of an account. It is
    /// carried out by the upstream that handles the target (`serve` or `actions run`), or
    /// left to staff where none does.
    Lock(actions::LockArgs),
    /// Ask for the undoing of a lock or suspension (same arguments as `lock`).
    Unlock(actions::LockArgs),
    /// List, carry out, retry, cancel or mark done the actions.
    #[command(subcommand)]
    Actions(actions::ActionsCommand),
    /// Customer notices: plan and send them, or list the latest.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// Close idle tickets and purge old raw messages (`[housekeeping]`).
    #[command(subcommand)]
    Housekeeping(housekeeping::HousekeepingCommand),
}

#[derive(Subcommand, Debug)]
pub enum CustomersCommand {
    /// Create or update customers from a CSV with the header
    /// external_id,name,email,identities,domains,netblocks (lists separated by ';').
    /// Customers are matched by external_id; their identities, domains and netblocks are
    /// replaced by the file's. A bad row stops the import with its line number and nothing
    /// of the file is applied.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List customers with the number of identities, domains and netblocks of each.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a customer's personal data on a data-protection request, keeping the counts:
    /// its name, addresses, references, identities, domains, netblocks, self-service links
    /// and notice texts go; its tickets keep class, severity, dates and counts but lose
    /// subject, identities, source IPs and notes; their events lose addresses, message ids,
    /// subjects and source IPs, and their stored raw messages are purged; actions and audit
    /// entries about it lose their details. Recorded in the audit log. Cannot be undone.
    /// Details: docs/housekeeping.md.
    Forget {
        /// The customer's external id.
        external_id: String,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a staff account. The password is asked for on the terminal, or read from
    /// standard input with --password-stdin.
    Add(UserAdd),
    /// Disable an account: its sessions end at once and it can no longer log in or use its
    /// API tokens.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
}

#[derive(Args, Debug)]
pub struct UserAdd {
    /// Login name.
    pub name: String,
    /// viewer reads, agent works tickets, admin also manages users and customers.
    #[arg(long, value_enum)]
    pub role: users::Role,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum TicketsCommand {
    /// List tickets, most recently seen first.
    List {
        /// Only tickets of this status: open, resolved, ignored, closed, merged.
        #[arg(long)]
        status: Option<tickets::Status>,
        /// At most this many tickets.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// Whether the command keeps running (and logs as the `log` setting says).
    pub(super) fn keeps_running(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            Command::Poll(args) => !args.once,
            Command::Notify(notify::NotifyCommand::Run { once, .. }) => !once,
            Command::Actions(command) => command.keeps_running(),
            Command::Housekeeping(command) => command.keeps_running(),
            _ => false,
        }
    }
}
