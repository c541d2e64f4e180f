//! Per-repository settings from `.github/jules-bridge.yml` on the default branch, cached
//! briefly; a push to the default branch that touches the file clears the cache entry.
//!
//! The file is parsed on a blocking thread (`spawn_blocking`): its size and shape are bounded
//! ([`repo_config::parse`]), but it is text from whoever can push to the repository, and the async
//! workers must not wait on it. An invalid file's problems are reported once per file content
//! (by SHA-256), not once per delivery, retry or issue: the first triggering issue is told,
//! and the bridge uses its defaults until the file changes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::engine::event::{Event, EventKind, RepoName};
use crate::github::GitHubClient;
use crate::handler::Settings;
use crate::repo_config::{self, ConfigProblems, RepoConfig};

const TTL: Duration = Duration::from_secs(300);

type Loaded = Result<RepoConfig, ConfigProblems>;

/// SHA-256 of a file's content.
type ContentDigest = [u8; 32];

struct Entry {
    at: Instant,
    loaded: Loaded,
    digest: ContentDigest,
}

#[derive(Default)]
pub struct ConfigCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Per repository, the content whose problems were reported (or are being reported).
    reported: Mutex<HashMap<String, ContentDigest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl ConfigCache {
    /// The settings last loaded for `repo`, if still cached (the relay's view of limits).
    pub fn cached_settings(&self, repo: &str, base: &Settings) -> Option<Settings> {
        let entries = lock(&self.entries);
        let config = entries.get(repo)?.loaded.as_ref().ok()?;
        Some(config.apply(base))
    }

    pub fn invalidate(&self, repo: &str) {
        lock(&self.entries).remove(repo);
    }

    /// The repository's settings. An invalid file is reported on the triggering issue (only
    /// for events that would trigger the bridge, and once per file content) and the defaults
    /// are used meanwhile; a file that cannot be read (GitHub down) falls back to the
    /// defaults without caching.
    pub async fn settings_for(
        &self,
        github: &GitHubClient,
        repo: &RepoName,
        base: &Settings,
        event: &Event,
    ) -> Settings {
        match self.load(github, repo).await {
            Some((Ok(config), _)) => config.apply(base),
            Some((Err(problems), digest)) => {
                if let Some(issue) = triggering_issue(event, base) {
                    self.report_once(github, repo, &repo.to_string(), digest, issue, &problems)
                        .await;
                }
                base.clone()
            }
            None => base.clone(),
        }
    }

    /// The repository's settings without reporting anything (the relay, which renders status
    /// comments with the repository's own command prefix): the defaults while the file is
    /// invalid or cannot be read.
    pub async fn settings_quietly(
        &self,
        github: &GitHubClient,
        repo: &RepoName,
        base: &Settings,
    ) -> Settings {
        match self.load(github, repo).await {
            Some((Ok(config), _)) => config.apply(base),
            _ => base.clone(),
        }
    }

    /// The repository's file as parsed, from the cache or (past its TTL) from GitHub; `None`
    /// when it cannot be read (not cached: the next call tries again).
    async fn load(
        &self,
        github: &GitHubClient,
        repo: &RepoName,
    ) -> Option<(Loaded, ContentDigest)> {
        let key = repo.to_string();
        let cached = lock(&self.entries)
            .get(&key)
            .filter(|entry| entry.at.elapsed() < TTL)
            .map(|entry| (entry.loaded.clone(), entry.digest));
        if cached.is_some() {
            return cached;
        }
        match github.file(repo, repo_config::PATH).await {
            Ok(text) => {
                let (loaded, digest) = load(text.unwrap_or_default()).await?;
                if loaded.is_ok() {
                    // A file fixed and later broken the same way is reported again.
                    lock(&self.reported).remove(&key);
                }
                let entry = Entry {
                    at: Instant::now(),
                    loaded: loaded.clone(),
                    digest,
                };
                lock(&self.entries).insert(key, entry);
                Some((loaded, digest))
            }
            Err(error) => {
                tracing::warn!(%error, repo = %repo, "cannot read the repository config; using defaults");
                None
            }
        }
    }

    /// Comments the problems on `issue` unless this content's problems were reported already
    /// (or are being reported by another worker). A comment that fails is tried again by the
    /// next triggering event.
    async fn report_once(
        &self,
        github: &GitHubClient,
        repo: &RepoName,
        key: &str,
        digest: ContentDigest,
        issue: u64,
        problems: &ConfigProblems,
    ) {
        {
            let mut reported = lock(&self.reported);
            if reported.get(key) == Some(&digest) {
                return;
            }
            reported.insert(key.to_owned(), digest);
        }
        let text = repo_config::problems_comment(repo_config::PATH, problems);
        if let Err(error) = github.create_comment(repo, issue, &text).await {
            tracing::warn!(%error, "cannot report the config problems");
            let mut reported = lock(&self.reported);
            if reported.get(key) == Some(&digest) {
                reported.remove(key);
            }
        }
    }
}

/// Parses `text` (empty: no file) on a blocking thread, with the digest of its content; `None`
/// if the parse panicked (logged; the defaults are used and nothing is cached).
async fn load(text: String) -> Option<(Loaded, ContentDigest)> {
    let parsed = tokio::task::spawn_blocking(move || {
        let digest: ContentDigest = Sha256::digest(text.as_bytes()).into();
        let loaded = if text.is_empty() {
            Ok(RepoConfig::default())
        } else {
            repo_config::parse(&text)
        };
        (loaded, digest)
    })
    .await;
    match parsed {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            tracing::error!(%error, "parsing the repository config failed; using defaults");
            None
        }
    }
}

/// The issue of an event that is meant for the bridge (the trigger label, or a comment with
/// the command prefix), so config problems are reported where someone is waiting.
fn triggering_issue(event: &Event, base: &Settings) -> Option<u64> {
    match &event.kind {
        EventKind::IssueLabeled { issue, label }
        | EventKind::PullRequestLabeled { issue, label, .. }
            if label.eq_ignore_ascii_case(&base.trigger_label) =>
        {
            Some(issue.number)
        }
        EventKind::CommentCreated { issue, comment }
        | EventKind::CommentEdited { issue, comment, .. }
            if comment.body.contains(&base.command_prefix) && !comment.author.is_bot =>
        {
            Some(issue.number)
        }
        _ => None,
    }
}
