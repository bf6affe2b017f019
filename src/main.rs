//! `abuse-desk`: the command line front of the library.

use clap::Parser;

/// mimalloc instead of the system allocator: parsing a report allocates many small strings
/// on every worker thread at once, and glibc's allocator took an eighth of an import's CPU
/// time (with mimalloc an import needs ~7% less CPU). Its v2 design: v3 held ~25 MB more
/// memory during a large import.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = abuse_desk::cli::Cli::parse();
    abuse_desk::logging::init_for_cli();
    match abuse_desk::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
