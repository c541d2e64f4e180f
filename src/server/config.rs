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
    pub app_id: Option<String>,
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
    // The numbers are read as text and checked by `validate`, so that a bad one is reported
    // with every other problem instead of alone.
    /// Concurrent delivery workers.
    #[arg(long, env = "WORKERS", default_value = "4")]
    pub workers: String,
    /// Attempts before a delivery is dead-lettered.
    #[arg(long, env = "MAX_ATTEMPTS", default_value = "5")]
    pub max_attempts: String,
    /// Relay tick while some session is working, in milliseconds.
    #[arg(long, env = "RELAY_FAST_MS", default_value = "5000")]
    pub relay_fast_ms: String,
    /// Relay tick while every session waits for a person, in milliseconds.
    #[arg(long, env = "RELAY_SLOW_MS", default_value = "30000")]
    pub relay_slow_ms: String,
    /// First retry delay of a failed delivery, in milliseconds (doubles per attempt).
    #[arg(long, env = "RETRY_BASE_MS", default_value = "2000")]
    pub retry_base_ms: String,
    /// The Jules plan whose session limits the bridge keeps within, so that requests beyond
    /// them wait in the queue with their position instead of failing at Jules: `free` (3 at
    /// once, 15 per 24 hours), `pro` (15, 100), `ultra` (60, 300), `CONCURRENT/PER_24H` such
    /// as `5/50`, or `none` (nothing known ahead; Jules' own "at limit" still queues).
    #[arg(long, env = "JULES_PLAN", default_value = "none")]
    pub jules_plan: String,
    /// Jules `activities.list` calls per rolling minute that the bridge allows itself, shared
    /// by the relay, the workers and every replica on one database (Jules' quota: 120 a
    /// minute per project). The relay uses four fifths of it. 0: no budget.
    #[arg(long, env = "JULES_ACTIVITIES_PER_MINUTE", default_value = "100")]
    pub jules_activities_per_minute: String,
    /// How long one Jules call may keep retrying (429, 5xx) before the delivery is retried
    /// later or, at Jules' limit, queued; in seconds.
    #[arg(long, env = "JULES_RETRY_DEADLINE_SECS", default_value = "20")]
    pub jules_retry_deadline_secs: String,
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
    /// The Jules account's session limits (`JULES_PLAN`), if known.
    pub jules_plan: Option<super::limits::AccountLimits>,
    /// `activities.list` calls per rolling minute (`JULES_ACTIVITIES_PER_MINUTE`); 0: none.
    pub jules_activities_per_minute: u32,
}

impl GitHubCredentials {
    /// How the server reaches GitHub, for the start-up log (never the key or the token).
    pub fn describe(&self) -> String {
        match self {
            GitHubCredentials::App { app_id, .. } => format!("GitHub App {app_id}"),
            GitHubCredentials::Token(_) => "a token (GITHUB_TOKEN)".to_owned(),
        }
    }
}

/// Every problem `validate` found; shown one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<String>);

impl std::fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "cannot start: {one}"),
            many => {
                write!(f, "cannot start, {} configuration problems:", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// The App's private key as the user gave it: the variable they set and, when readable, its
/// text.
struct GivenKey {
    /// `PRIVATE_KEY` or `PRIVATE_KEY_PATH`.
    var: &'static str,
    /// The PEM text, `None` when it could not be read or is not a usable RSA key (reported).
    pem: Option<String>,
}

impl ServeArgs {
    /// Checks every setting without touching the network or the database; all problems are
    /// reported at once, each naming the variable to fix.
    pub fn validate(self) -> Result<ServerConfig, ConfigProblems> {
        let mut problems = Vec::new();
        let listen = match self.listen.trim().parse::<SocketAddr>() {
            Ok(listen) => Some(listen),
            Err(_) => {
                problems.push(format!(
                    "LISTEN {:?} is not an address like 0.0.0.0:8080",
                    self.listen
                ));
                None
            }
        };
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
        let jules_api_key = self
            .jules_api_key
            .as_deref()
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty());
        if jules_api_key.is_none() {
            problems.push("JULES_API_KEY is required".into());
        }
        check_jules(&self.jules_api_url, jules_api_key.as_deref(), &mut problems);
        let github = self.github_credentials(&mut problems);
        if !is_http_url(&self.github_api_url) {
            problems.push(format!(
                "GITHUB_API_URL {:?} is not an http(s) URL like https://api.github.com \
                 (GitHub Enterprise Server: https://HOST/api/v3)",
                self.github_api_url
            ));
        }
        if let Err(error) = crate::store::DatabaseLocation::parse(&self.database_url) {
            problems.push(format!("DATABASE_URL: {error}"));
        }
        let workers = number::<usize>(&mut problems, "WORKERS", &self.workers, 1);
        let max_attempts = number::<i32>(&mut problems, "MAX_ATTEMPTS", &self.max_attempts, 1);
        let relay_fast = number::<u64>(&mut problems, "RELAY_FAST_MS", &self.relay_fast_ms, 0);
        let relay_slow = number::<u64>(&mut problems, "RELAY_SLOW_MS", &self.relay_slow_ms, 0);
        let retry_base = number::<u64>(&mut problems, "RETRY_BASE_MS", &self.retry_base_ms, 0);
        let jules_retry_deadline = number::<u64>(
            &mut problems,
            "JULES_RETRY_DEADLINE_SECS",
            &self.jules_retry_deadline_secs,
            0,
        );
        let jules_activities_per_minute = number::<u32>(
            &mut problems,
            "JULES_ACTIVITIES_PER_MINUTE",
            &self.jules_activities_per_minute,
            0,
        );
        let jules_plan = super::limits::AccountLimits::parse(&self.jules_plan)
            .map_err(|problem| problems.push(problem))
            .ok();
        let (
            Some(listen),
            Some(github),
            Some(jules_api_key),
            Some(workers),
            Some(max_attempts),
            Some(relay_fast),
            Some(relay_slow),
            Some(retry_base),
            Some(jules_retry_deadline),
            Some(jules_plan),
            Some(jules_activities_per_minute),
            true,
        ) = (
            listen,
            github,
            jules_api_key,
            workers,
            max_attempts,
            relay_fast,
            relay_slow,
            retry_base,
            jules_retry_deadline,
            jules_plan,
            jules_activities_per_minute,
            problems.is_empty(),
        )
        else {
            return Err(ConfigProblems(problems));
        };
        Ok(ServerConfig {
            listen,
            github,
            secrets,
            jules_api_key: SecretString::from(jules_api_key),
            database_url: self.database_url,
            github_api_url: self.github_api_url,
            jules_api_url: self.jules_api_url,
            workers,
            max_attempts,
            relay_fast: Duration::from_millis(relay_fast.max(10)),
            relay_slow: Duration::from_millis(relay_slow.max(10)),
            retry_base: Duration::from_millis(retry_base.max(1)),
            jules_retry: crate::jules::RetryPolicy {
                deadline: Duration::from_secs(jules_retry_deadline),
                ..crate::jules::RetryPolicy::default()
            },
            jules_plan,
            jules_activities_per_minute,
        })
    }

    /// App credentials (APP_ID with a key) or a token; `None` with the problems pushed. A
    /// setting already reported as unusable is not reported again as missing.
    fn github_credentials(&self, problems: &mut Vec<String>) -> Option<GitHubCredentials> {
        let app_id = nonempty(self.app_id.as_deref()).map(|text| {
            text.parse::<u64>().ok().filter(|id| *id > 0).or_else(|| {
                problems.push(format!(
                    "APP_ID {text:?} is not a number: use the App ID from the App's settings page"
                ));
                None
            })
        });
        let key = self.given_key(problems);
        let token = nonempty(self.github_token.as_deref());
        match (app_id, key, token) {
            (Some(Some(app_id)), Some(GivenKey { pem: Some(pem), .. }), _) => {
                Some(GitHubCredentials::App {
                    app_id,
                    private_key: SecretString::from(pem),
                })
            }
            // Reported above: a bad APP_ID, or a key that cannot be read or used.
            (Some(_), Some(_), _) => None,
            (Some(_), None, _) => {
                problems.push(
                    "APP_ID is set but PRIVATE_KEY / PRIVATE_KEY_PATH is not: the App \
                     needs its private key"
                        .into(),
                );
                None
            }
            (None, Some(key), token) => {
                problems.push(match token {
                    Some(_) => format!(
                        "{} is set but APP_ID is not: set APP_ID to run as the GitHub App, \
                         or unset {} to use GITHUB_TOKEN",
                        key.var, key.var
                    ),
                    None => format!("{} is set but APP_ID is not", key.var),
                });
                None
            }
            (None, None, Some(token)) => Some(GitHubCredentials::Token(SecretString::from(
                token.to_owned(),
            ))),
            (None, None, None) => {
                problems.push(
                    "GitHub credentials are required: APP_ID with PRIVATE_KEY or \
                     PRIVATE_KEY_PATH, or GITHUB_TOKEN"
                        .into(),
                );
                None
            }
        }
    }

    /// The private key from `PRIVATE_KEY` (wins) or `PRIVATE_KEY_PATH`, checked to be a usable
    /// RSA key; problems name the variable that was set.
    fn given_key(&self, problems: &mut Vec<String>) -> Option<GivenKey> {
        let (var, pem) = if let Some(pem) = nonempty(self.private_key.as_deref()) {
            ("PRIVATE_KEY", Some(pem.replace("\\n", "\n")))
        } else if let Some(path) = &self.private_key_path {
            match std::fs::read_to_string(path) {
                Ok(pem) => ("PRIVATE_KEY_PATH", Some(pem)),
                Err(error) => {
                    problems.push(format!(
                        "PRIVATE_KEY_PATH {}: cannot read it: {error}",
                        path.display()
                    ));
                    ("PRIVATE_KEY_PATH", None)
                }
            }
        } else {
            return None;
        };
        let pem = pem.filter(|pem| match check_rsa_pem(pem) {
            Ok(()) => true,
            Err(reason) => {
                let what = match (var, &self.private_key_path) {
                    ("PRIVATE_KEY_PATH", Some(path)) => {
                        format!("PRIVATE_KEY_PATH {} does not hold", path.display())
                    }
                    _ => "PRIVATE_KEY is not".to_owned(),
                };
                problems.push(format!(
                    "{what} an RSA private key in PEM format (the .pem file GitHub lets you \
                     download for the App, starting with -----BEGIN RSA PRIVATE KEY-----): \
                     {reason}"
                ));
                false
            }
        });
        Some(GivenKey { var, pem })
    }
}

/// `url` without a user name or password, for logs.
pub fn without_credentials(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// A whole number of at least `min`, or a problem naming `var`.
fn number<T>(problems: &mut Vec<String>, var: &str, text: &str, min: T) -> Option<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match text.trim().parse::<T>() {
        Ok(value) if value >= min => Some(value),
        _ => {
            problems.push(format!(
                "{var} must be a whole number of at least {min}, not {text:?}"
            ));
            None
        }
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text.trim())
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// Builds the Jules client the server will build, so that what it would refuse later (a URL
/// that is not https or loopback http, a key with invalid characters) is reported now. The
/// URL is checked with a stand-in key, so that it is checked even when the key is missing.
fn check_jules(url: &str, key: Option<&str>, problems: &mut Vec<String>) {
    let client = |key: &str| {
        crate::jules::JulesClient::new(
            SecretString::from(key.to_owned()),
            crate::jules::ClientConfig {
                base_url: url.to_owned(),
                ..crate::jules::ClientConfig::default()
            },
        )
    };
    if let Err(error) = client("stand-in-key") {
        problems.push(format!("JULES_API_URL {url:?}: {error}"));
    } else if let Some(Err(error)) = key.map(client) {
        problems.push(format!("JULES_API_KEY: {error}"));
    }
}

/// Whether `pem` holds an RSA private key that can sign the App's JWTs: parsed and used
/// once, as GitHub would see it. `Err` says why not.
fn check_rsa_pem(pem: &str) -> Result<(), String> {
    use jsonwebtoken::errors::{Error, ErrorKind};
    let reason = |error: Error| match error.kind() {
        _ if pem.contains("PUBLIC KEY-----") => {
            "it is a public key; the App needs its private key".to_owned()
        }
        ErrorKind::InvalidKeyFormat => "no PEM-encoded RSA private key found".to_owned(),
        ErrorKind::InvalidRsaKey(detail) => format!("not a usable RSA private key ({detail})"),
        _ => error.to_string(),
    };
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(reason)?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &serde_json::json!({"iss": "jules-bridge start-up check"}),
        &key,
    )
    .map(drop)
    .map_err(reason)
}
