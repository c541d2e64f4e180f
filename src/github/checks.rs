//! Check runs: one per session, found again by its name and `external_id` on the head commit.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{GitHubClient, GitHubError};
use crate::engine::event::RepoName;

/// What a check run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunState {
    /// `queued`, `in_progress` or `completed`.
    pub status: &'static str,
    /// With `completed`: `success`, `failure`, `action_required`, `neutral`, `cancelled`.
    /// GitHub makes a run with a conclusion `completed` whatever `status` says.
    pub conclusion: Option<&'static str>,
    pub title: String,
    /// Markdown, at most 65,535 characters.
    pub summary: String,
    pub details_url: Option<String>,
}

impl CheckRunState {
    /// The body fields of a create or an update (`completed_at` when it completes).
    fn fields(&self) -> serde_json::Map<String, Value> {
        let mut body = serde_json::Map::new();
        let status = if self.conclusion.is_some() {
            "completed"
        } else {
            self.status
        };
        body.insert("status".into(), status.into());
        if let Some(conclusion) = self.conclusion {
            body.insert("conclusion".into(), conclusion.into());
        }
        if status == "completed" {
            body.insert("completed_at".into(), now().into());
        }
        if let Some(url) = &self.details_url {
            body.insert("details_url".into(), url.clone().into());
        }
        body.insert(
            "output".into(),
            json!({"title": self.title, "summary": self.summary}),
        );
        body
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl GitHubClient {
    /// The head commit of a pull request.
    pub async fn pull_head_sha(&self, repo: &RepoName, number: u64) -> Result<String, GitHubError> {
        let pull = self
            .retrying("pull request", || async {
                self.octocrab
                    .pulls(&repo.owner, &repo.name)
                    .get(number)
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        Ok(pull.head.sha)
    }

    /// The id of the check run named `name` with `external_id` on `head_sha`, if there is one
    /// (every run of that name, not only the latest: sessions on the same commit share the
    /// name).
    async fn find_check_run(
        &self,
        repo: &RepoName,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<Option<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            check_runs: Vec<Run>,
        }
        #[derive(Deserialize)]
        struct Run {
            id: u64,
            external_id: Option<String>,
        }
        const PER_PAGE: usize = 100;
        let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        for page in 1..=10 {
            let route = format!(
                "/repos/{}/{}/commits/{head_sha}/check-runs?check_name={name}&filter=all&per_page={PER_PAGE}&page={page}",
                repo.owner, repo.name
            );
            let batch: Page = self
                .retrying("list check runs", || async {
                    self.octocrab
                        .get::<Page, _, ()>(&route, None)
                        .await
                        .map_err(GitHubError::from_octocrab)
                })
                .await?;
            let last = batch.check_runs.len() < PER_PAGE;
            if let Some(run) = batch
                .check_runs
                .iter()
                .filter(|run| run.external_id.as_deref() == Some(external_id))
                .min_by_key(|run| run.id)
            {
                return Ok(Some(run.id));
            }
            if last {
                break;
            }
        }
        Ok(None)
    }

    /// Creates or updates the check run named `name` whose `external_id` is `external_id` on
    /// `head_sha`: found with the list-for-ref endpoint (check_name filter), so no id needs
    /// storing and a retried request never creates a second one. Returns its id.
    ///
    /// The lookup and the update are retried; the create is not (a retry after a lost answer
    /// would create a second run; the next call finds the first one instead).
    pub async fn upsert_check_run(
        &self,
        repo: &RepoName,
        head_sha: &str,
        name: &str,
        external_id: &str,
        state: &CheckRunState,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            id: u64,
        }
        let mut body = state.fields();
        body.insert("name".into(), name.into());
        body.insert("external_id".into(), external_id.into());
        let body = Value::Object(body);
        if let Some(id) = self
            .find_check_run(repo, head_sha, name, external_id)
            .await?
        {
            let route = format!("/repos/{}/{}/check-runs/{id}", repo.owner, repo.name);
            return self
                .retrying("update check run", || async {
                    self.octocrab
                        .patch::<Answer, _, _>(&route, Some(&body))
                        .await
                        .map(|answer| answer.id)
                        .map_err(GitHubError::from_octocrab)
                })
                .await;
        }
        let mut body = body;
        body["head_sha"] = head_sha.into();
        if state.status != "queued" || state.conclusion.is_some() {
            body["started_at"] = now().into();
        }
        let route = format!("/repos/{}/{}/check-runs", repo.owner, repo.name);
        let result = self
            .octocrab
            .post::<_, Answer>(&route, Some(&body))
            .await
            .map(|answer| answer.id)
            .map_err(GitHubError::from_octocrab);
        self.observe("create check run", &result);
        result
    }
}
