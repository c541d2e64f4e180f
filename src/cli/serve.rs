//! `jules-bridge serve`, `migrate` and `deliveries`: running and operating the server.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use secrecy::SecretString;

use super::exit;
use crate::github::auth::GitHubAuth;
use crate::jules::{ClientConfig, JulesClient, JulesError, RetryPolicy};
use crate::server::config::{ConfigProblems, ServeArgs, ServerConfig, DEFAULT_DATABASE_URL};
use crate::server::AppState;
use crate::store::{self, DeliveryStatus};

pub async fn serve(args: ServeArgs) -> ExitCode {
    let config = match validate(args) {
        Ok(config) => config,
        Err(problems) => {
            eprintln!("error: {problems}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let listen = config.listen;
    // Before the database too: a configuration error (exit code 2) never leaves anything
    // behind. An outage only delays the start by the check's deadline.
    let key_check = check_jules_key(config.jules_api_url.clone(), config.jules_api_key.clone());
    if let Err(problem) = key_check.await {
        eprintln!("error: cannot start: {problem}");
        return ExitCode::from(exit::USAGE);
    }
    let state = match crate::server::build_state(config).await {
        Ok(state) => state,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {listen}: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    log_installations(&state);
    match crate::server::serve(state, listener, crate::server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// The settings, with `LOG_FORMAT` (read by the logging set-up) among the problems.
fn validate(args: ServeArgs) -> Result<ServerConfig, ConfigProblems> {
    let log_format = super::LogFormat::from_env().err();
    match (args.validate(), log_format) {
        (Ok(config), None) => Ok(config),
        (Ok(_), Some(problem)) => Err(ConfigProblems(vec![problem])),
        (Err(mut problems), problem) => {
            problems.0.extend(problem);
            Err(problems)
        }
    }
}

/// Longest the start-up key check keeps trying (a Jules outage must not hold the server).
const KEY_CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// Asks Jules for one page of one source: a key Jules refuses (401, 403, an invalid key) is a
/// configuration error; an outage (5xx, timeouts, no connection) is only a warning, since every
/// Jules call is retried per delivery anyway.
async fn check_jules_key(base_url: String, key: SecretString) -> Result<(), String> {
    let client = JulesClient::new(
        key,
        ClientConfig {
            base_url,
            connect_timeout: KEY_CHECK_DEADLINE,
            request_timeout: KEY_CHECK_DEADLINE,
            retry: RetryPolicy {
                min_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(2),
                deadline: KEY_CHECK_DEADLINE,
                max_attempts: 3,
            },
            ..ClientConfig::default()
        },
    )
    .map_err(|error| format!("JULES_API_KEY / JULES_API_URL: {error}"))?;
    match client.list_sources_page(None, Some(1), None).await {
        Ok(_) => {
            tracing::info!("Jules accepts JULES_API_KEY");
            Ok(())
        }
        Err(error) if key_rejected(&error) => Err(format!(
            "JULES_API_KEY was rejected by Jules ({}); check the key in the Jules web app \
             (Settings, API keys)",
            error.api().map(ToString::to_string).unwrap_or_default()
        )),
        Err(error) => {
            tracing::warn!(
                %error,
                "cannot check JULES_API_KEY: Jules did not answer; starting anyway (Jules calls are retried)"
            );
            Ok(())
        }
    }
}

fn key_rejected(error: &JulesError) -> bool {
    error.api().is_some_and(|api| {
        matches!(api.http_status, 401 | 403)
            || matches!(api.status.as_str(), "UNAUTHENTICATED" | "PERMISSION_DENIED")
            || api.reason.as_deref() == Some("API_KEY_INVALID")
    })
}

/// App mode: logs how many accounts installed the App (`GET /app/installations` with the
/// App's JWT, in the background). Repositories are not counted: that would take an
/// installation token and a call per installation.
fn log_installations(state: &Arc<AppState>) {
    if !matches!(state.auth, GitHubAuth::App { .. }) {
        return;
    }
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let GitHubAuth::App { app, .. } = &state.auth else {
            return;
        };
        match tokio::time::timeout(Duration::from_secs(15), count_installations(app)).await {
            Ok(Ok(count)) => tracing::info!(
                installations = %count.shown(),
                all_repositories = count.all,
                selected_repositories = count.total - count.all,
                "the GitHub App's installations (accounts; repositories are not counted)"
            ),
            Ok(Err(error)) => tracing::warn!(
                error = %crate::github::GitHubError::from_octocrab(error),
                "cannot list the GitHub App's installations"
            ),
            Err(_) => {
                tracing::warn!("cannot list the GitHub App's installations: no answer in time")
            }
        }
    });
}

struct Installations {
    total: usize,
    /// Installed on all the account's repositories (the others chose some).
    all: usize,
    /// More pages than were read.
    more: bool,
}

impl Installations {
    fn shown(&self) -> String {
        match self.more {
            true => format!("{}+", self.total),
            false => self.total.to_string(),
        }
    }
}

async fn count_installations(app: &octocrab::Octocrab) -> octocrab::Result<Installations> {
    #[derive(serde::Serialize)]
    struct Page {
        per_page: usize,
        page: usize,
    }
    const PER_PAGE: usize = 100;
    let mut count = Installations {
        total: 0,
        all: 0,
        more: true,
    };
    for page in 1..=10 {
        let items: Vec<serde_json::Value> = app
            .get(
                "/app/installations",
                Some(&Page {
                    per_page: PER_PAGE,
                    page,
                }),
            )
            .await?;
        count.total += items.len();
        count.all += items
            .iter()
            .filter(|item| item["repository_selection"] == "all")
            .count();
        if items.len() < PER_PAGE {
            count.more = false;
            break;
        }
    }
    Ok(count)
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// `sqlite:FILE` or `postgres://...` (for `deliveries`: before or after its subcommand).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
}

/// A `DATABASE_URL` that names no supported store: a usage error, said before connecting.
fn check_database_url(url: &str) -> Result<(), ExitCode> {
    store::DatabaseLocation::parse(url)
        .map(drop)
        .map_err(|error| {
            eprintln!("error: DATABASE_URL: {error}");
            ExitCode::from(exit::USAGE)
        })
}

pub async fn migrate(args: DatabaseArgs) -> ExitCode {
    if let Err(code) = check_database_url(&args.database_url) {
        return code;
    }
    let result = async {
        let store = store::open(&args.database_url).await?;
        store.migrate().await
    }
    .await;
    match result {
        Ok(()) => {
            println!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: DeliveriesCmd,
}

#[derive(Debug, Subcommand)]
enum DeliveriesCmd {
    /// Newest first.
    List {
        /// pending, processing, done, ignored, dead or dropped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One delivery with its error and body.
    Show {
        /// Numeric id or X-GitHub-Delivery GUID.
        id: String,
    },
    /// Process a delivery again (for example a dead-lettered one).
    Retry { id: String },
}

pub async fn deliveries(args: DeliveriesArgs) -> ExitCode {
    if let Err(code) = check_database_url(&args.database.database_url) {
        return code;
    }
    let store = match store::open_existing(&args.database.database_url).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result: Result<ExitCode, store::StoreError> = async {
        match args.command {
            DeliveriesCmd::List { status, limit } => {
                let status = match status.as_deref().map(DeliveryStatus::parse) {
                    Some(None) => {
                        eprintln!("error: unknown status; use pending, processing, done, ignored, dead or dropped");
                        return Ok(ExitCode::from(exit::USAGE));
                    }
                    Some(status) => status,
                    None => None,
                };
                let deliveries = store.list_deliveries(status, limit).await?;
                if deliveries.is_empty() {
                    eprintln!("no deliveries");
                } else {
                    println!("{}", super::render::delivery_table(&deliveries));
                }
                Ok(ExitCode::SUCCESS)
            }
            DeliveriesCmd::Show { id } => match store.get_delivery(&id).await? {
                Some(d) => {
                    println!("{}", super::render::delivery_details(&d));
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no delivery {id}");
                    Ok(ExitCode::from(exit::FAILURE))
                }
            },
            DeliveriesCmd::Retry { id } => {
                let Some(delivery) = store.get_delivery(&id).await? else {
                    eprintln!("error: no delivery {id}");
                    return Ok(ExitCode::from(exit::FAILURE));
                };
                if store.retry_delivery(delivery.id).await? {
                    println!("delivery {} queued again", delivery.id);
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("error: delivery {} is being processed; try again later", delivery.id);
                    Ok(ExitCode::from(exit::FAILURE))
                }
            }
        }
    }
    .await;
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::from(exit::FAILURE)
    })
}
