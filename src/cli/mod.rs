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
// Parsed once per run: `serve`'s settings (read as text so that every problem is reported at
// once) make its variant large, and boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Ask a running server whether it is ready (`GET /readyz`): exit 0 when it is, 1 when
    /// not. For container health checks: the image has no shell or curl.
    Health(HealthArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// The server's readiness URL.
    #[arg(
        long,
        env = "HEALTH_URL",
        default_value = "http://127.0.0.1:8080/readyz"
    )]
    pub url: String,
}

/// `jules-bridge health`: one GET with a short timeout.
async fn health(args: HealthArgs) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("health: {error}");
            return ExitCode::from(1);
        }
    };
    match client.get(&args.url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("ready");
            ExitCode::SUCCESS
        }
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            eprintln!("not ready ({status}): {}", text.trim());
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("not ready: cannot reach {}: {error}", args.url);
            ExitCode::from(1)
        }
    }
}

/// How log lines are written: `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (the event's fields at the top level, the current span under
    /// `span`): for log collectors.
    Json,
    /// Plain lines for people (coloured on a terminal).
    Text,
}

impl LogFormat {
    /// `LOG_FORMAT`: `json` or `text` (any case); `Ok(None)` when unset or empty.
    pub fn from_env() -> Result<Option<LogFormat>, String> {
        let Some(value) = std::env::var_os("LOG_FORMAT") else {
            return Ok(None);
        };
        let text = value.to_string_lossy();
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "json" => Ok(Some(LogFormat::Json)),
            "text" => Ok(Some(LogFormat::Text)),
            _ => Err(format!("LOG_FORMAT must be json or text, not {text:?}")),
        }
    }
}

/// The log filter when `RUST_LOG` is unset: the server says at `info` how it starts (where
/// it listens, its store, its GitHub identity); other commands only warn, their results go
/// to stdout.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "warn,jules_bridge=info",
        _ => "warn",
    }
}

/// Sends logs to stderr (stdout is for results), filtered by `RUST_LOG` (default: see
/// `default_log_filter`), as `LOG_FORMAT` says (default: text on a terminal, JSON lines
/// otherwise). A bad `LOG_FORMAT` is returned (logging is set up with the default format
/// anyway) for the caller to report; a bad `RUST_LOG` is warned about and the default used.
pub fn init_logging(command: &Command) -> Result<(), String> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    let format = LogFormat::from_env();
    let terminal = std::io::stderr().is_terminal();
    let chosen = match format {
        Ok(Some(format)) => format,
        _ if terminal => LogFormat::Text,
        _ => LogFormat::Json,
    };
    let default = default_log_filter(command);
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(filter) => (filter, None),
            Err(error) => (EnvFilter::new(default), Some((text, error))),
        },
        _ => (EnvFilter::new(default), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match chosen {
        LogFormat::Text => builder
            .with_ansi(terminal && std::env::var_os("NO_COLOR").is_none())
            .init(),
        // Flattened, and the current span only: the span list would repeat its fields.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    if let Some((text, error)) = bad_filter {
        tracing::warn!("RUST_LOG {text:?} is not a valid filter ({error}); using {default:?}");
    }
    format.map(drop)
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
        Command::Health(args) => health(args).await,
    }
}
