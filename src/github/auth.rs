//! GitHub credentials of the server: a GitHub App (one cached client per installation,
//! tokens minted and refreshed before expiry by octocrab) or a single token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;
use secrecy::SecretString;

use super::{GitHubClient, GitHubError};

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

    /// The logins the bridge posts as (its loop guard). App mode reads the App's slug;
    /// token mode reads the token's user (`GET /user`: a personal access token's user) and,
    /// for a token that cannot (GitHub answers 403 there to an Actions `GITHUB_TOKEN` or an
    /// installation token), takes `github-actions[bot]`.
    /// `Err` when GitHub could not say (yet): the caller retries.
    pub async fn own_logins(&self) -> Result<Vec<String>, GitHubError> {
        match self {
            GitHubAuth::App { app, .. } => {
                let app = app
                    .current()
                    .app()
                    .await
                    .map_err(GitHubError::from_octocrab)?;
                match app.slug.filter(|slug| !slug.is_empty()) {
                    Some(slug) => Ok(vec![format!("{slug}[bot]")]),
                    None => Err(GitHubError::Config(
                        "GitHub answered an App without a slug".into(),
                    )),
                }
            }
            GitHubAuth::Token(client) => match client.current_login().await {
                Ok(login) => Ok(vec![login]),
                Err(error) if error.status() == Some(403) => {
                    tracing::info!("the token cannot read its user (an Actions token?): posting as github-actions[bot]");
                    Ok(vec!["github-actions[bot]".into()])
                }
                Err(error) => Err(error),
            },
        }
    }
}

/// Who the bridge is on GitHub, learned in the background: until it is known the server
/// reports not ready and its workers wait (deliveries stay stored), so it never runs with a
/// guessed identity that cannot recognise its own comments.
pub struct Identity {
    logins: tokio::sync::watch::Sender<Option<Vec<String>>>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            logins: tokio::sync::watch::channel(None).0,
        }
    }
}

impl Identity {
    /// A known identity (an operator's override).
    pub fn known(logins: Vec<String>) -> Identity {
        Identity {
            logins: tokio::sync::watch::channel(Some(logins)).0,
        }
    }

    pub fn logins(&self) -> Option<Vec<String>> {
        self.logins.borrow().clone()
    }

    /// Waits until the identity is known; `None` if `stop` fired first.
    pub async fn wait(&self, stop: &mut tokio::sync::watch::Receiver<bool>) -> Option<Vec<String>> {
        let mut known = self.logins.subscribe();
        loop {
            if let Some(logins) = known.borrow_and_update().clone() {
                return Some(logins);
            }
            if *stop.borrow() {
                return None;
            }
            tokio::select! {
                changed = known.changed() => if changed.is_err() { return None; },
                _ = stop.changed() => {}
            }
        }
    }

    /// Asks GitHub until it answers, with back-off (1 s doubling to 60 s).
    pub async fn learn(&self, auth: &GitHubAuth, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut delay = Duration::from_secs(1);
        loop {
            if self.logins().is_some() || *stop.borrow() {
                return;
            }
            // A stop must not wait for GitHub's retries to run out.
            let answer = tokio::select! {
                answer = auth.own_logins() => answer,
                _ = stop.changed() => return,
            };
            match answer {
                Ok(logins) => {
                    tracing::info!(logins = ?logins, "the bridge's GitHub identity is known");
                    self.logins.send_replace(Some(logins));
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?delay, "cannot learn the bridge's GitHub identity yet; not ready, deliveries wait");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }
}
