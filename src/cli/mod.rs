//! The command line: `jules-bridge <command>`.

mod jules;
mod render;
mod serve;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use jules::JulesArgs;

/// Exit codes, documented in `--help`.
pub mod exit {
    /// A runtime failure: Jules answered with an error or could not be reached.
    pub const FAILURE: u8 = 1;
    /// Bad usage or configuration (also clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// `activities watch`: the session FAILED.
    pub const SESSION_FAILED: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "jules-bridge",
    version,
    about = "Connects GitHub issues and pull requests to Google's Jules coding agent",
    after_help = "Exit codes: 0 success, 1 failure (API error, outage), 2 usage or configuration error, 3 a watched session FAILED."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as the GitHub Action (reads the runner's environment).
    Action,
    /// Explain what the bridge would do with an event, without calling Jules or writing to GitHub.
    Simulate(simulate::SimulateArgs),
    /// Run the webhook receiver (a GitHub App).
    Serve(crate::server::config::ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(serve::DatabaseArgs),
    /// Inspect and replay stored webhook deliveries.
    Deliveries(serve::DeliveriesArgs),
    /// Call the Jules API directly: every method, for operators and scripts.
    Jules(JulesArgs),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Action => {
            let env = crate::action::runner::RunnerEnv::from_process();
            crate::action::run(&env, std::io::stdout()).await
        }
        Command::Simulate(args) => simulate::run(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::Deliveries(args) => serve::deliveries(args).await,
        Command::Jules(args) => jules::run(args).await,
    }
}
