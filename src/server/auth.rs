//! GitHub credentials of the server: a GitHub App (one cached client per installation,
//! tokens minted and refreshed before expiry by octocrab) or a single token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;
use secrecy::SecretString;

use crate::github::{GitHubClient, GitHubError};

/// Who the server acts as on GitHub.
pub enum GitHubAuth {
    App {
        app: Octocrab,
        /// One client per installation: `installation()` starts with an empty token cache,
        /// so a fresh one per call would mint a token per call.
        installations: Mutex<HashMap<u64, GitHubClient>>,
    },
    Token(GitHubClient),
}

impl GitHubAuth {
    pub fn app(api_url: &str, app_id: u64, private_key_pem: &str) -> Result<Self, GitHubError> {
        let key =
            octocrab::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| {
                GitHubError::Config("PRIVATE_KEY is not an RSA private key in PEM format".into())
            })?;
        let app = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|err| GitHubError::Config(format!("bad GITHUB_API_URL {api_url:?}: {err}")))?
            .app(AppId(app_id), key)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .set_write_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|err| GitHubError::Config(err.to_string()))?;
        Ok(GitHubAuth::App {
            app,
            installations: Mutex::new(HashMap::new()),
        })
    }

    pub fn token(api_url: &str, token: SecretString) -> Result<Self, GitHubError> {
        Ok(GitHubAuth::Token(GitHubClient::with_token(api_url, token)?))
    }

    /// The client for a delivery's installation (App mode), or the single token's client.
    pub fn client_for(&self, installation_id: Option<i64>) -> Result<GitHubClient, GitHubError> {
        match self {
            GitHubAuth::Token(client) => Ok(client.clone()),
            GitHubAuth::App { app, installations } => {
                let id = installation_id.ok_or_else(|| {
                    GitHubError::Config(
                        "the delivery has no installation (not a GitHub App hook?)".into(),
                    )
                })? as u64;
                let mut cache = installations
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                if let Some(client) = cache.get(&id) {
                    return Ok(client.clone());
                }
                let installation = app
                    .installation(InstallationId(id))
                    .map_err(|err| GitHubError::Config(err.to_string()))?;
                let client = GitHubClient::from_octocrab(installation);
                cache.insert(id, client.clone());
                Ok(client)
            }
        }
    }

    /// Forgets an installation's client (the installation was removed).
    pub fn forget(&self, installation_id: i64) {
        if let GitHubAuth::App { installations, .. } = self {
            installations
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(&(installation_id as u64));
        }
    }

    /// The logins the bridge posts as (its loop guard).
    pub async fn own_logins(&self) -> Vec<String> {
        match self {
            GitHubAuth::App { app, .. } => match app.current().app().await {
                Ok(app) => vec![format!("{}[bot]", app.slug.unwrap_or_default())],
                Err(error) => {
                    tracing::warn!(%error, "cannot read the App's slug; the loop guard falls back to bot detection");
                    Vec::new()
                }
            },
            GitHubAuth::Token(_) => vec!["github-actions[bot]".into()],
        }
    }
}
