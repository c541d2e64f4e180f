//! Per-repository settings from `.github/jules-bridge.yml` on the default branch, cached
//! briefly; a push to the default branch that touches the file clears the cache entry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::event::{Event, EventKind, RepoName};
use crate::github::GitHubClient;
use crate::handler::Settings;
use crate::repo_config::{self, ConfigProblems, RepoConfig};

const TTL: Duration = Duration::from_secs(300);

type Loaded = Result<RepoConfig, ConfigProblems>;

#[derive(Default)]
pub struct ConfigCache {
    entries: Mutex<HashMap<String, (Instant, Loaded)>>,
}

impl ConfigCache {
    /// The settings last loaded for `repo`, if still cached (the relay's view of limits).
    pub fn cached_settings(&self, repo: &str, base: &Settings) -> Option<Settings> {
        let entries = self.lock();
        let (_, loaded) = entries.get(repo)?;
        let config = loaded.as_ref().ok()?;
        Some(config.apply(base))
    }

    pub fn invalidate(&self, repo: &str) {
        self.lock().remove(repo);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Loaded)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The repository's settings. An invalid file is reported on the triggering issue (only
    /// for events that would trigger the bridge) and the defaults are used meanwhile; a file
    /// that cannot be read (GitHub down) falls back to the defaults without caching.
    pub async fn settings_for(
        &self,
        github: &GitHubClient,
        repo: &RepoName,
        base: &Settings,
        event: &Event,
    ) -> Settings {
        let key = repo.to_string();
        let cached = self
            .lock()
            .get(&key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, loaded)| loaded.clone());
        let loaded = match cached {
            Some(loaded) => loaded,
            None => match github.file(repo, repo_config::PATH).await {
                Ok(text) => {
                    let loaded = text
                        .as_deref()
                        .map_or_else(|| Ok(RepoConfig::default()), repo_config::parse);
                    self.lock().insert(key, (Instant::now(), loaded.clone()));
                    loaded
                }
                Err(error) => {
                    tracing::warn!(%error, repo = %repo, "cannot read the repository config; using defaults");
                    Ok(RepoConfig::default())
                }
            },
        };
        match loaded {
            Ok(config) => config.apply(base),
            Err(problems) => {
                if let Some(issue) = triggering_issue(event, base) {
                    let text = repo_config::problems_comment(repo_config::PATH, &problems);
                    if let Err(error) = github.create_comment(repo, issue, &text).await {
                        tracing::warn!(%error, "cannot report the config problems");
                    }
                }
                base.clone()
            }
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
