use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use jules_bridge::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    cli::run(Cli::parse()).await
}

/// Logs go to stderr (stdout is for results); `RUST_LOG` sets the level (default: warn);
/// JSON lines when stderr is not a terminal, so log collectors can parse them.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
