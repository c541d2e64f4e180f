//! `jules-bridge serve`: the webhook receiver of a GitHub App.
//!
//! ```text
//! POST /webhook -> verify -> store (unique per delivery) -> 202
//!                               |
//!              workers: claim (lease) -> handler -> GitHub / Jules -> done | retry | dead
//!              relay:   poll Jules (one list page per tick) -> status comments, questions
//! ```

pub mod budget;
pub mod clock;
pub mod config;
mod configs;
pub mod ingest;
pub mod limits;
pub mod metrics;
mod relay;
pub mod webhook;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::engine::marker::MarkerKey;
use crate::github::auth::{self, GitHubAuth};
use crate::handler::Settings;
use crate::jules::budget::SharedBudget;
use crate::jules::{ClientConfig, JulesClient};
use crate::store::Store;
use config::{GitHubCredentials, ServerConfig};
use metrics::Metrics;

/// Everything the request handlers, workers and relay share.
pub struct AppState {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    /// Stores webhook deliveries in group commits (one writer per process).
    pub ingest: ingest::Ingest,
    /// Jules for the workers (a person's command): the whole request budget.
    pub jules: JulesClient,
    /// Jules for the relay's polling: a smaller share of the same budget (`budget.rs`).
    pub relay_jules: JulesClient,
    pub auth: GitHubAuth,
    /// Who the bridge is on GitHub (learned in the background).
    pub identity: auth::Identity,
    pub secrets: Vec<SecretString>,
    pub metrics: Arc<Metrics>,
    pub base_settings: Settings,
    configs: configs::ConfigCache,
    /// Wakes a worker when a delivery arrives.
    pub work: Notify,
    /// Wakes the relay when a session starts being tracked.
    pub relay_wake: Notify,
    /// "Now" for the stall watchdog (tests move it forward).
    pub clock: clock::Clock,
}

/// The HTTP routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhook", post(webhook::receive))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(state)
}

async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.identity.logins().is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: GitHub has not told the bridge its identity yet (see the logs)".to_owned(),
        );
    }
    match state.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {error}"),
        ),
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if let Ok(depth) = state.store.queue_depth().await {
        state.metrics.queue_depth.set(depth);
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Builds the shared state: opens and migrates the store, builds the clients.
pub async fn build_state(config: ServerConfig) -> anyhow::Result<Arc<AppState>> {
    use anyhow::Context;
    let store = crate::store::open(&config.database_url)
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    let metrics = Metrics::new();
    metrics
        .budget_limit
        .set(i64::from(config.jules_activities_per_minute));
    let jules_for = |spender| {
        let budget = (config.jules_activities_per_minute > 0).then(|| {
            SharedBudget(Arc::new(budget::StoreBudget::new(
                Arc::clone(&store),
                &config.jules_api_key,
                config.jules_activities_per_minute,
                spender,
                Arc::clone(&metrics),
            )))
        });
        JulesClient::new(
            config.jules_api_key.clone(),
            ClientConfig {
                base_url: config.jules_api_url.clone(),
                observer: Some(metrics.jules_observer()),
                retry: config.jules_retry.clone(),
                budget,
                ..ClientConfig::default()
            },
        )
    };
    let jules = jules_for(budget::Spender::Handler)?;
    let relay_jules = jules_for(budget::Spender::Relay)?;
    let auth = match &config.github {
        GitHubCredentials::App {
            app_id,
            private_key,
        } => GitHubAuth::app(&config.github_api_url, *app_id, private_key.expose_secret())?,
        GitHubCredentials::Token(token) => {
            GitHubAuth::token(&config.github_api_url, token.clone())?
        }
    };
    let base_settings = Settings {
        identity: crate::engine::settings::Identity {
            // Filled in per delivery from `identity` once GitHub told who the bridge is.
            own_logins: Vec::new(),
            // Status markers are signed with the webhook secret(s): the first signs, any
            // verifies.
            marker_key: MarkerKey::derive(config.secrets.iter().map(|s| s.expose_secret())),
        },
        ..Settings::default()
    };
    Ok(Arc::new(AppState {
        secrets: config.secrets.clone(),
        config,
        ingest: ingest::Ingest::start(Arc::clone(&store)),
        store,
        jules,
        relay_jules,
        auth,
        identity: auth::Identity::default(),
        metrics,
        base_settings,
        configs: configs::ConfigCache::default(),
        work: Notify::new(),
        relay_wake: Notify::new(),
        clock: clock::Clock::default(),
    }))
}

/// Serves until `shutdown` resolves: stops accepting, lets workers finish the delivery in
/// hand (their leases expire for anything cut short), then returns.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn({
        let state = Arc::clone(&state);
        let stop = stop_rx.clone();
        async move { state.identity.learn(&state.auth, stop).await }
    }));
    for n in 0..state.config.workers {
        let worker_id = format!("{instance}-w{n}");
        let span = tracing::info_span!("worker", id = %worker_id);
        tasks.push(tokio::spawn(
            worker::run(Arc::clone(&state), worker_id, stop_rx.clone()).instrument(span),
        ));
    }
    tasks.push(tokio::spawn(
        relay::run(
            Arc::clone(&state),
            format!("{instance}-relay"),
            stop_rx.clone(),
        )
        .instrument(tracing::info_span!("relay")),
    ));
    tracing::info!(
        addr = %listener.local_addr()?,
        store = %crate::store::DatabaseLocation::parse(&state.config.database_url)
            .map_or_else(|error| error.to_string(), |location| location.to_string()),
        github = %state.config.github.describe(),
        github_api = %config::without_credentials(&state.config.github_api_url),
        jules_api = %config::without_credentials(&state.config.jules_api_url),
        workers = state.config.workers,
        "jules-bridge serving"
    );
    let app = router(Arc::clone(&state));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopping: finishing claimed work");
    let _ = stop_tx.send(true);
    state.work.notify_waiters();
    state.relay_wake.notify_waiters();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
