//! `jules-fake`: an in-memory, local implementation of Google's Jules REST API (v1alpha)
//! for tests, benchmarks and dry runs.
//!
//! Sessions run on their own (one lifecycle step per [`FakeConfig::step`]), errors look
//! like Google's, and `/_fake/` offers fault injection, stats, manual stepping and reset.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = jules_fake::FakeServer::start(jules_fake::FakeConfig::default()).await?;
//! let base_url = format!("{}/v1alpha", server.url());
//! # let _ = base_url; Ok(()) }
//! ```

mod api;
mod clock;
mod control;
mod errors;
mod faults;
mod filters;
mod ids;
mod input;
mod lifecycle;
mod paging;
mod quotas;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::state::{App, Quirks, Settings, SourceCatalog};

pub use crate::api::METHOD_NAMES;
pub use crate::quotas::{Limits, LIST_ACTIVITIES_QUOTA};
pub use crate::state::{RequestRecord, REQUEST_LOG_LIMIT};

#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// When set, only this `X-Goog-Api-Key` is accepted; otherwise any non-empty key is.
    pub api_key: Option<String>,
    /// Time between two lifecycle steps of a session; zero means only `POST /_fake/step`
    /// (or [`FakeServer::advance`]) moves sessions.
    pub step: Duration,
    /// `owner/repo` entries. When set only these sources exist; otherwise every
    /// `sources/github/OWNER/REPO` exists.
    pub sources: Option<Vec<String>>,
    /// How many branches every source lists in `githubRepo.branches`: `main` plus N-1
    /// others. The live list is unbounded; use a large N to exercise payload size.
    pub branches: usize,
    /// When set, a plan left waiting for approval this long is approved by Jules itself
    /// (a `planApproved` from `system`), as the Jules docs say happens to unattended plans.
    pub auto_approve_after: Option<Duration>,
    /// `sessions.sendMessage` answers an entirely empty 200 body instead of `{}`, as the
    /// live API has been seen to do. Switchable at run time with `POST /_fake/quirks`.
    pub empty_send_message_body: bool,
    /// Quotas and plan limits; the default is the live service's.
    pub limits: Limits,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            step: Duration::from_millis(200),
            sources: None,
            branches: 1,
            auto_approve_after: None,
            empty_send_message_body: false,
            limits: Limits::default(),
        }
    }
}

/// A running fake. Dropping it stops the server, its connections and the stepper.
pub struct FakeServer {
    addr: SocketAddr,
    app: Arc<App>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(Self::start_on(listener, config).await)
    }

    /// Serves on an already bound listener.
    pub async fn start_on(listener: TcpListener, config: FakeConfig) -> FakeServer {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let settings = Settings {
            auto_approve_after: config.auto_approve_after,
            limits: config.limits,
            quirks: Quirks {
                empty_send_message_body: config.empty_send_message_body,
                activities_keep_update_time: false,
            },
        };
        let catalog = SourceCatalog::new(config.sources, config.branches);
        let app = Arc::new(App::new(config.api_key, catalog, settings));
        let router = Router::new()
            .nest("/_fake", control::router())
            .fallback(api::handle)
            .with_state(app.clone());
        let mut tasks = vec![tokio::spawn(server::serve(listener, router))];
        if !config.step.is_zero() {
            tasks.push(tokio::spawn(lifecycle::run_stepper(
                app.clone(),
                config.step,
            )));
        }
        tracing::info!(%addr, "jules-fake started");
        FakeServer { addr, app, tasks }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without `/v1alpha`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the quotas and plan limits from now on (what was already counted stays
    /// counted): a harness can set up beyond the live limits, then hold the client under test
    /// to them.
    pub fn set_limits(&self, limits: Limits) {
        self.app.store().settings.limits = limits;
    }

    /// Requests received for one API method (e.g. `"sessions.create"`), faulted ones included.
    pub fn request_count(&self, method: &str) -> u64 {
        self.app.store().requests.get(method).copied().unwrap_or(0)
    }

    /// The API requests received so far (the newest [`REQUEST_LOG_LIMIT`]), oldest first,
    /// with their arrival times; also `GET /_fake/requests`.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.app.store().request_log.iter().cloned().collect()
    }

    /// Forgets the logged requests (counters and sessions stay).
    pub fn clear_request_log(&self) {
        self.app.store().request_log.clear();
    }

    /// All sessions, archived ones included.
    pub fn session_count(&self) -> usize {
        self.app.store().sessions.len()
    }

    /// Moves every session with work one step, like `POST /_fake/step`. Returns how many moved.
    pub fn advance(&self) -> usize {
        lifecycle::step_all(&mut self.app.store())
    }

    /// Moves the fake's clock forward, like `POST /_fake/clock`: quota windows roll and
    /// due auto-approvals happen at once.
    pub fn advance_clock(&self, by: Duration) {
        control::advance_clock(&mut self.app.store(), by);
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
