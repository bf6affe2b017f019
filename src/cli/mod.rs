//! The command line: its grammar is in `args`; each subcommand is a function here or in its
//! own module; `main.rs` only parses and calls.

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
mod args;
mod housekeeping;
mod import;
mod notify;
mod poll;
mod quarantine;
mod serve;
mod token;

pub use args::{Cli, Command, CustomersCommand, TicketsCommand, UserAdd, UserCommand};
pub use import::{TempFail, EX_TEMPFAIL};

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context, Result};

use crate::db::{self, customers, users};
use crate::settings::Settings;
use crate::tickets::queue;

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
