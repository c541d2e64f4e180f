use std::process::ExitCode;

use clap::Parser;

use jules_bridge::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(problem) = cli::init_logging(&cli.command) {
        // `serve` reports it with every other configuration problem.
        if !matches!(cli.command, Command::Serve(_)) {
            eprintln!("error: {problem}");
            return ExitCode::from(cli::exit::USAGE);
        }
    }
    cli::run(cli).await
}
