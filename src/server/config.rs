//! `jules-bridge serve` settings: flags with the env names GitHub App tools use, checked at
//! start-up so a misconfiguration fails once, clearly, before anything listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

/// The default store: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:jules-bridge.db";

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// GitHub App id (with PRIVATE_KEY or PRIVATE_KEY_PATH).
    #[arg(long, env = "APP_ID")]
    pub app_id: Option<u64>,
    /// GitHub App private key, PEM text.
    #[arg(long, env = "PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// GitHub App private key file.
    #[arg(long, env = "PRIVATE_KEY_PATH")]
    pub private_key_path: Option<PathBuf>,
    /// A token instead of App credentials (one repository or organisation webhook).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// Webhook secret; a comma-separated list during a rotation.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Jules API key.
    #[arg(long, env = "JULES_API_KEY", hide_env_values = true)]
    pub jules_api_key: Option<String>,
    /// `sqlite:FILE` (default, one process) or `postgres://...` (several replicas).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// GitHub API root (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,
    /// Jules API root.
    #[arg(long, env = "JULES_API_URL", default_value = crate::jules::DEFAULT_API_URL)]
    pub jules_api_url: String,
    /// Concurrent delivery workers.
    #[arg(long, env = "WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Attempts before a delivery is dead-lettered.
    #[arg(long, env = "MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: i32,
    /// Relay tick while some session is working, in milliseconds.
    #[arg(long, env = "RELAY_FAST_MS", default_value_t = 5_000)]
    pub relay_fast_ms: u64,
    /// Relay tick while every session waits for a person, in milliseconds.
    #[arg(long, env = "RELAY_SLOW_MS", default_value_t = 30_000)]
    pub relay_slow_ms: u64,
    /// First retry delay of a failed delivery, in milliseconds (doubles per attempt).
    #[arg(long, env = "RETRY_BASE_MS", default_value_t = 2_000)]
    pub retry_base_ms: u64,
    /// How long one Jules call may keep retrying (429, 5xx) before the delivery is retried
    /// later or, at Jules' limit, queued; in seconds.
    #[arg(long, env = "JULES_RETRY_DEADLINE_SECS", default_value_t = 20)]
    pub jules_retry_deadline_secs: u64,
}

/// How the server reaches GitHub.
pub enum GitHubCredentials {
    App {
        app_id: u64,
        private_key: SecretString,
    },
    Token(SecretString),
}

/// Validated settings.
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub github: GitHubCredentials,
    pub secrets: Vec<SecretString>,
    pub jules_api_key: SecretString,
    pub database_url: String,
    pub github_api_url: String,
    pub jules_api_url: String,
    pub workers: usize,
    pub max_attempts: i32,
    pub relay_fast: Duration,
    pub relay_slow: Duration,
    pub retry_base: Duration,
    pub jules_retry: crate::jules::RetryPolicy,
}

impl ServeArgs {
    /// Checks every setting; all problems are reported at once.
    pub fn validate(self) -> Result<ServerConfig, String> {
        let mut problems = Vec::new();
        let listen = self.listen.parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "LISTEN {:?} is not an address like 0.0.0.0:8080",
                self.listen
            ))
        });
        let secrets: Vec<SecretString> = self
            .webhook_secret
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .map(|secret| SecretString::from(secret.to_owned()))
            .collect();
        if secrets.is_empty() {
            problems
                .push("WEBHOOK_SECRET is required: the server refuses unsigned deliveries".into());
        }
        let jules_api_key = self.jules_api_key.filter(|key| !key.trim().is_empty());
        if jules_api_key.is_none() {
            problems.push("JULES_API_KEY is required".into());
        }
        let private_key = match (&self.private_key, &self.private_key_path) {
            (Some(pem), _) if !pem.trim().is_empty() => Some(pem.replace("\\n", "\n")),
            (_, Some(path)) => match std::fs::read_to_string(path) {
                Ok(pem) => Some(pem),
                Err(err) => {
                    problems.push(format!("PRIVATE_KEY_PATH {}: {err}", path.display()));
                    None
                }
            },
            _ => None,
        };
        let github = match (
            self.app_id,
            private_key,
            self.github_token.filter(|t| !t.trim().is_empty()),
        ) {
            (Some(app_id), Some(pem), _) => Some(GitHubCredentials::App {
                app_id,
                private_key: SecretString::from(pem),
            }),
            (Some(_), None, _) => {
                problems.push("APP_ID is set but PRIVATE_KEY / PRIVATE_KEY_PATH is not".into());
                None
            }
            (None, Some(_), _) => {
                problems.push("PRIVATE_KEY is set but APP_ID is not".into());
                None
            }
            (None, None, Some(token)) => Some(GitHubCredentials::Token(SecretString::from(token))),
            (None, None, None) => {
                problems.push("GitHub credentials are required: APP_ID with PRIVATE_KEY or PRIVATE_KEY_PATH, or GITHUB_TOKEN".into());
                None
            }
        };
        if self.workers == 0 {
            problems.push("WORKERS must be at least 1".into());
        }
        if self.max_attempts < 1 {
            problems.push("MAX_ATTEMPTS must be at least 1".into());
        }
        let (Ok(listen), Some(github), true) = (listen, github, problems.is_empty()) else {
            return Err(format!("cannot start: {}", problems.join("; ")));
        };
        Ok(ServerConfig {
            listen,
            github,
            secrets,
            jules_api_key: SecretString::from(jules_api_key.unwrap_or_default()),
            database_url: self.database_url,
            github_api_url: self.github_api_url,
            jules_api_url: self.jules_api_url,
            workers: self.workers,
            max_attempts: self.max_attempts,
            relay_fast: Duration::from_millis(self.relay_fast_ms.max(10)),
            relay_slow: Duration::from_millis(self.relay_slow_ms.max(10)),
            retry_base: Duration::from_millis(self.retry_base_ms.max(1)),
            jules_retry: crate::jules::RetryPolicy {
                deadline: Duration::from_secs(self.jules_retry_deadline_secs),
                ..crate::jules::RetryPolicy::default()
            },
        })
    }
}
