//! `abuse-desk token`: API tokens from the command line, recorded in the audit log as done
//! by whoever runs the command.

use anyhow::{bail, Result};
use clap::Subcommand;

use crate::db::audit::Actor;
use crate::db::ids::TokenId;
use crate::db::{self, tokens, users};
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make an API token for a staff account; it acts with that account's role. The token is
    /// printed once, on standard output, and cannot be shown again.
    Create {
        /// The account the token acts as.
        user: String,
        /// What the token is for (shown in lists).
        #[arg(long, default_value = "command line")]
        name: String,
        /// The token stops working after this many days (default: never).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3650))]
        expires_days: Option<i64>,
    },
    /// List tokens (never the tokens themselves): id, user, name, created, expires, last used.
    List {
        /// Only the tokens of this account.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it gets 401 from then on.
    Revoke { id: i64 },
}

pub fn run(settings: &Settings, command: &TokenCommand) -> Result<()> {
    let mut conn = super::connect(settings)?;
    let who = super::actions::who();
    let actor = Actor::CommandLine(&who);
    let now = db::now();
    match command {
        TokenCommand::Create {
            user,
            name,
            expires_days,
        } => {
            let Some(id) = users::id_of(&mut conn, user)? else {
                bail!("no user '{user}'");
            };
            let expires_at = expires_days.map(|days| now + chrono::Duration::days(days));
            let (token_id, token) = tokens::create(&mut conn, id, name, expires_at, now, actor)?;
            outln!("{token}");
            eprintln!(
                "token {token_id} for {user} created; it is not shown again, keep it now{}",
                expires_at.map_or(String::new(), |at| format!(
                    " (expires {})",
                    at.format("%Y-%m-%d %H:%M UTC")
                ))
            );
        }
        TokenCommand::List { user, json } => {
            let owner = match user {
                Some(user) => match users::id_of(&mut conn, user)? {
                    Some(id) => Some(id),
                    None => bail!("no user '{user}'"),
                },
                None => None,
            };
            let rows = tokens::list(&mut conn, owner)?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let at = |t: Option<chrono::NaiveDateTime>, none: &str| {
                    t.map_or(none.to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                };
                outln!(
                    "{:>5} {:<20} {:<24} {:<16} {:<16} {:<16}",
                    "ID",
                    "USER",
                    "NAME",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED"
                );
                for t in &rows {
                    outln!(
                        "{:>5} {:<20} {:<24} {:<16} {:<16} {:<16}",
                        t.id,
                        t.user,
                        super::clip(&t.name, 24),
                        at(Some(t.created_at), ""),
                        at(t.expires_at, "never"),
                        at(t.last_used_at, "never")
                    );
                }
                outln!("{} token(s)", rows.len());
            }
        }
        TokenCommand::Revoke { id } => {
            if !tokens::revoke(&mut conn, TokenId(*id), None, now, actor)? {
                bail!("no token {id}");
            }
            outln!("token {id} revoked");
        }
    }
    Ok(())
}
