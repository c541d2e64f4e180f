//! `jules-fake --listen 127.0.0.1:8787 [--api-key KEY] [--step-ms MS] [--source OWNER/REPO]...
//! [--branches N] [--auto-approve-after MS] [--empty-send-message-body]
//! [--list-activities-per-minute N] [--concurrent-sessions N] [--sessions-per-day N]`
//!
//! Prints `jules-fake listening on http://ADDR` on stdout once ready; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use jules_fake::{FakeConfig, FakeServer, Limits};
use tokio::net::TcpListener;

/// A faithful in-memory Jules REST API (v1alpha) for tests and dry runs.
#[derive(Debug, Parser)]
#[command(name = "jules-fake", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, env = "JULES_FAKE_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Accept only this API key (default: any non-empty key).
    #[arg(long, env = "JULES_FAKE_API_KEY")]
    api_key: Option<String>,
    /// Milliseconds between session lifecycle steps; 0 = only `POST /_fake/step`.
    #[arg(long, env = "JULES_FAKE_STEP_MS", default_value_t = 200)]
    step_ms: u64,
    /// Restrict sources to these OWNER/REPO (repeatable; env: comma-separated).
    #[arg(long = "source", env = "JULES_FAKE_SOURCES", value_delimiter = ',')]
    sources: Vec<String>,
    /// Branches every source lists: `main` plus N-1 others.
    #[arg(long, env = "JULES_FAKE_BRANCHES", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    branches: u32,
    /// Approve a plan left waiting this many milliseconds (as Jules itself; off by default).
    #[arg(long, env = "JULES_FAKE_AUTO_APPROVE_AFTER_MS")]
    auto_approve_after: Option<u64>,
    /// sendMessage answers an entirely empty 200 body instead of `{}`.
    #[arg(long, env = "JULES_FAKE_EMPTY_SEND_MESSAGE_BODY")]
    empty_send_message_body: bool,
    /// activities.list requests per rolling minute and API key; 0 = unlimited.
    #[arg(
        long,
        env = "JULES_FAKE_LIST_ACTIVITIES_PER_MINUTE",
        default_value_t = 120
    )]
    list_activities_per_minute: u32,
    /// Running sessions per API key; 0 = unlimited.
    #[arg(long, env = "JULES_FAKE_CONCURRENT_SESSIONS", default_value_t = 15)]
    concurrent_sessions: u32,
    /// Sessions created per rolling 24 hours and API key; 0 = unlimited.
    #[arg(long, env = "JULES_FAKE_SESSIONS_PER_DAY", default_value_t = 100)]
    sessions_per_day: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help humans at a terminal; they garble captured logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let args = Args::parse();
    for source in &args.sources {
        let valid = source.split_once('/').is_some_and(|(owner, repo)| {
            !owner.is_empty() && !repo.is_empty() && !repo.contains('/')
        });
        if !valid {
            bail!("--source must look like OWNER/REPO, got {source:?}");
        }
    }
    let config = FakeConfig {
        api_key: args.api_key,
        step: Duration::from_millis(args.step_ms),
        sources: (!args.sources.is_empty()).then_some(args.sources),
        branches: args.branches as usize,
        auto_approve_after: args.auto_approve_after.map(Duration::from_millis),
        empty_send_message_body: args.empty_send_message_body,
        limits: Limits {
            list_activities_per_minute: limit(args.list_activities_per_minute),
            concurrent_sessions: limit(args.concurrent_sessions),
            sessions_per_day: limit(args.sessions_per_day),
        },
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let server = FakeServer::start_on(listener, config).await;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "jules-fake listening on {}", server.url())?;
    stdout.flush()?;
    drop(stdout);

    wait_for_shutdown().await;
    tracing::info!("shutting down");
    drop(server);
    Ok(())
}

/// 0 on the command line means no limit.
fn limit(value: u32) -> Option<u32> {
    (value > 0).then_some(value)
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
