//! `abuse-desk`: the command line front of the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = abuse_desk::cli::Cli::parse();
    match abuse_desk::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) if err.is::<abuse_desk::cli::TempFail>() => {
            eprintln!("error: {err}");
            std::process::ExitCode::from(abuse_desk::cli::EX_TEMPFAIL)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
