//! The command line: each subcommand is a function here; `main.rs` only parses and calls.

/// `print!` and `println!` for a command's output, which is often piped into another program
/// (`abuse-desk tickets list | head`): once that program stops reading, the command ends
/// quietly, as shell tools do, instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!($($arg)*)) };
}
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod actions;
mod housekeeping;
mod import;
mod notify;
mod poll;
mod quarantine;
mod serve;
mod token;

pub use import::{TempFail, EX_TEMPFAIL};

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::db::{self, customers, users};
use crate::settings::Settings;
use crate::tickets::{self, queue};

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

/// Disables or enables a staff account, recorded in the audit log.
fn switch_user(settings: &Settings, name: &str, disable: bool) -> Result<()> {
    let mut conn = connect(settings)?;
    let who = actions::who();
    let actor = db::audit::Actor::CommandLine(&who);
    if !db::sessions::set_disabled(&mut conn, name, disable, actor)? {
        anyhow::bail!("no user '{name}'");
    }
    outln!(
        "user '{name}' {}",
        if disable { "disabled" } else { "enabled" }
    );
    Ok(())
}

/// Loads settings as the command line asks: file, environment, then `--database-url`.
pub fn settings(cli: &Cli) -> Result<Settings> {
    let mut figment = Settings::figment(cli.config.as_deref());
    if let Some(url) = &cli.database_url {
        figment = figment.merge(("database_url", url));
    }
    Ok(Settings::from_figment(figment)?)
}

/// Opens the configured database and brings its schema up to date.
pub fn connect(settings: &Settings) -> Result<db::DbConn> {
    let url = settings.database()?;
    let mut conn = url
        .connect()
        .with_context(|| format!("opening the {} database", url.backend()))?;
    db::run_migrations(&mut conn)?;
    Ok(conn)
}

impl Command {
    /// Whether the command keeps running (and logs as the `log` setting says).
    fn keeps_running(&self) -> bool {
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

pub fn run(cli: Cli) -> Result<()> {
    // A message from an MTA must not be lost: whatever fails, the MTA keeps it and retries.
    let from_mta = matches!(&cli.command, Command::Import(args) if args.reads_stdin());
    run_command(cli).map_err(|e| if from_mta { TempFail(e).into() } else { e })
}

fn run_command(cli: Cli) -> Result<()> {
    let settings = settings(&cli)?;
    let filter = if cli.command.keeps_running() {
        &settings.log
    } else {
        crate::logging::ONE_SHOT
    };
    crate::logging::init(filter, settings.log_format);
    match cli.command {
        Command::Parse(args) => import::parse(&settings, &args)?,
        Command::Import(args) => import::run(&settings, &args)?,
        Command::Reprocess(args) => import::reprocess(&settings, &mut connect(&settings)?, &args)?,
        Command::Quarantine(command) => quarantine::run(&settings, &command)?,
        Command::Poll(args) => poll::poll(settings, &args)?,
        Command::Serve(args) => serve::serve(settings, &args)?,
        Command::Lock(args) => actions::lock(&settings, &args, false)?,
        Command::Unlock(args) => actions::lock(&settings, &args, true)?,
        Command::Actions(command) => actions::run(settings, &command)?,
        Command::Notify(command) => notify::run(&settings, &command)?,
        Command::Token(command) => token::run(&settings, &command)?,
        Command::Housekeeping(command) => housekeeping::run(&settings, &command)?,
        Command::Migrate => {
            let url = settings.database()?;
            let mut conn = url.connect()?;
            let applied = db::run_migrations(&mut conn)?;
            if applied.is_empty() {
                outln!("{} database is up to date", url.backend());
            } else {
                outln!(
                    "applied {} migration(s) to the {} database: {}",
                    applied.len(),
                    url.backend(),
                    applied.join(", ")
                );
            }
        }
        Command::CheckConfig => {
            outln!("# settings are valid; effective values (secrets masked):");
            out!("{}", settings.to_masked_toml());
        }
        Command::Customers(CustomersCommand::Import { file, json }) => {
            let reader = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let records = crate::customers::parse_csv(std::io::BufReader::new(reader))
                .with_context(|| format!("{} was not imported", file.display()))?;
            let mut conn = connect(&settings)?;
            let summary = customers::import(&mut conn, &records)
                .with_context(|| format!("{} was not imported", file.display()))?;
            if json {
                outln!("{}", serde_json::to_string(&summary)?);
            } else {
                outln!(
                    "{} customers: {} created, {} updated, {} unchanged",
                    records.len(),
                    summary.created,
                    summary.updated,
                    summary.unchanged
                );
            }
        }
        Command::Customers(CustomersCommand::List { json }) => {
            let mut conn = connect(&settings)?;
            let rows = customers::list(&mut conn)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                outln!(
                    "{:<20} {:<30} {:<32} {:>10} {:>7} {:>9}",
                    "EXTERNAL ID",
                    "NAME",
                    "EMAIL",
                    "IDENTITIES",
                    "DOMAINS",
                    "NETBLOCKS"
                );
                for c in &rows {
                    outln!(
                        "{:<20} {:<30} {:<32} {:>10} {:>7} {:>9}",
                        c.external_id,
                        c.name,
                        c.email,
                        c.identities,
                        c.domains,
                        c.netblocks
                    );
                }
                outln!("{} customer(s)", rows.len());
            }
        }
        Command::Customers(CustomersCommand::Forget { external_id, json }) => {
            housekeeping::forget(&settings, &external_id, json)?
        }
        Command::User(UserCommand::Add(add)) => {
            let password = read_password(add.password_stdin)?;
            let mut conn = connect(&settings)?;
            users::add(&mut conn, &add.name, add.role, &password)?;
            outln!(
                "user '{}' created with role {}",
                add.name,
                add.role.as_str()
            );
        }
        Command::User(UserCommand::Disable { name }) => switch_user(&settings, &name, true)?,
        Command::User(UserCommand::Enable { name }) => switch_user(&settings, &name, false)?,
        Command::Tickets(TicketsCommand::List {
            status,
            limit,
            json,
        }) => {
            let mut conn = connect(&settings)?;
            let filter = queue::QueueFilter {
                status,
                ..Default::default()
            };
            let rows = queue::page(
                &mut conn,
                &filter,
                queue::Sort::LastSeen,
                None,
                limit,
                None,
                None,
            )?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                outln!(
                    "{:>7} {:<9} {:<10} {:<40} {:<20} {:<12} {:>7} {:<19}",
                    "ID",
                    "STATUS",
                    "SEVERITY",
                    "SUBJECT",
                    "CUSTOMER",
                    "CLASS",
                    "EVENTS",
                    "LAST SEEN"
                );
                for t in &rows {
                    outln!(
                        "{:>7} {:<9} {:<10} {:<40} {:<20} {:<12} {:>7} {:<19}",
                        t.id.0,
                        t.status,
                        t.severity,
                        clip(&t.subject, 40),
                        t.customer_external_id.as_deref().unwrap_or("(unresolved)"),
                        t.class,
                        t.event_count,
                        t.last_seen.format("%Y-%m-%d %H:%M:%S")
                    );
                }
                outln!("{} ticket(s)", rows.len());
            }
        }
    }
    Ok(())
}

/// `text` cut to `width` characters for a table column, marked with … when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars()
            .take(width - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        return Ok(input.lines().next().unwrap_or("").to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass --password-stdin and pipe it in");
    }
    let first = rpassword::prompt_password("password: ")?;
    let second = rpassword::prompt_password("again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Writes a command's output; on a broken pipe the process ends with success (see [`out!`]).
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}
