//! When a failed workflow run may start a Jules session that fixes it.
//!
//! A failed run is an event anyone can cause: an outsider's fork pull request can make a
//! `pull_request_target` or `issue_comment` workflow fail at will. So the fixer is off unless
//! the repository opts in (`ci_fixer:` in `.github/jules-bridge.yml`; in Action mode the
//! workflow that uses the Action with `workflow_run` is the opt-in), acts only on runs of
//! `push` and same-repository `pull_request` events, and then goes through the same checks
//! as every other way to start a session: the person who caused the run needs write access,
//! the repository's limits apply, and it never starts two sessions for one commit of one
//! workflow, nor more than `max_per_branch_per_day` on one branch.

use super::event::{RepoName, WorkflowRun};

/// The repository's CI-fixer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFixerPolicy {
    /// Workflows whose failures are fixed: names (`CI`) or files (`ci.yml`,
    /// `.github/workflows/ci.yml`). Empty: any workflow.
    pub workflows: Vec<String>,
    /// Branches fixed (`main`, `release/*`). Empty: any branch.
    pub branches: Vec<String>,
    /// Fix sessions started per branch in a rolling 24 hours.
    pub max_per_branch_per_day: u32,
}

/// The default for `max_per_branch_per_day`.
pub const DEFAULT_MAX_PER_BRANCH_PER_DAY: u32 = 2;

impl Default for CiFixerPolicy {
    /// Any workflow, any branch, two attempts per branch per day: the Action's default,
    /// where the workflow file already chose the workflows and branches.
    fn default() -> Self {
        CiFixerPolicy {
            workflows: Vec::new(),
            branches: Vec::new(),
            max_per_branch_per_day: DEFAULT_MAX_PER_BRANCH_PER_DAY,
        }
    }
}

impl CiFixerPolicy {
    fn covers_workflow(&self, run: &WorkflowRun) -> bool {
        let file = run.path.rsplit('/').next().unwrap_or_default();
        self.workflows.is_empty()
            || self.workflows.iter().any(|wanted| {
                wanted.eq_ignore_ascii_case(&run.name)
                    || (!run.path.is_empty() && wanted == &run.path)
                    || (!file.is_empty() && wanted == file)
            })
    }

    fn covers_branch(&self, branch: &str) -> bool {
        self.branches.is_empty()
            || self
                .branches
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => branch.starts_with(prefix),
                    None => pattern == branch,
                })
    }
}

/// Why a failed run is not fixed, before anything is looked up; `Ok` when it may be.
pub fn check_run(
    run: &WorkflowRun,
    repo: &RepoName,
    policy: Option<&CiFixerPolicy>,
) -> Result<(), String> {
    let Some(policy) = policy else {
        return Err(
            "the CI fixer is off for this repository (opt in with `ci_fixer:` in .github/jules-bridge.yml)"
                .into(),
        );
    };
    if !matches!(run.event.as_str(), "push" | "pull_request") {
        return Err(format!(
            "runs of `{}` events are not fixed (only push and same-repository pull_request runs)",
            run.event
        ));
    }
    let same_repository = run
        .head_repo
        .as_deref()
        .is_some_and(|head| head.eq_ignore_ascii_case(&repo.to_string()));
    if !same_repository {
        return Err("the failed run is on a fork's branch, which Jules cannot work on".into());
    }
    if !policy.covers_workflow(run) {
        return Err(format!(
            "the workflow `{}` is not in the CI fixer's `workflows`",
            run.name
        ));
    }
    if !policy.covers_branch(&run.head_branch) {
        return Err(format!(
            "the branch `{}` is not in the CI fixer's `branches`",
            run.head_branch
        ));
    }
    if looks_like_a_jules_branch(&run.head_branch) {
        // Jules' own branch failing again must not start a chain of fixer sessions.
        return Err(format!(
            "`{}` looks like a Jules branch; not starting another fixer session",
            run.head_branch
        ));
    }
    Ok(())
}

/// The request tag of the fixer session for this run's commit of this workflow: a second
/// failure of the same commit (a re-run, another job) finds it and starts nothing.
pub fn run_tag(repo: &RepoName, run: &WorkflowRun) -> String {
    let sha: String = run.head_sha.chars().take(12).collect();
    super::request_tag::for_repo(repo, &format!(":ci:{}:{sha}", run.workflow_id))
}

/// The prefix every fixer session's request tag of `repo` starts with.
pub fn tag_prefix(repo: &RepoName) -> String {
    format!("{}:ci:", super::request_tag::repo_key(repo))
}

/// Jules names its branches `<slug>-<session id>` (a long decimal number) most of the time.
pub fn looks_like_a_jules_branch(branch: &str) -> bool {
    branch
        .rsplit('-')
        .next()
        .is_some_and(|tail| tail.len() >= 15 && tail.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        RepoName {
            owner: "octo-org".into(),
            name: "octo-repo".into(),
        }
    }

    fn run(event: &str, branch: &str) -> WorkflowRun {
        WorkflowRun {
            id: 1,
            name: "CI".into(),
            html_url: String::new(),
            head_branch: branch.into(),
            head_sha: "3484a3fb816e0859fd6e1cea078d76385ff50625".into(),
            pull_requests: vec![],
            head_repo: Some("octo-org/octo-repo".into()),
            event: event.into(),
            workflow_id: 2823525,
            path: ".github/workflows/test.yml".into(),
            actor: None,
        }
    }

    #[test]
    fn off_unless_the_repository_opts_in() {
        assert!(check_run(&run("push", "main"), &repo(), None)
            .unwrap_err()
            .contains("off for this repository"));
        assert!(check_run(
            &run("push", "main"),
            &repo(),
            Some(&CiFixerPolicy::default())
        )
        .is_ok());
    }

    #[test]
    fn only_push_and_same_repository_pull_request_runs() {
        let any = CiFixerPolicy::default();
        for event in [
            "pull_request_target",
            "issue_comment",
            "issues",
            "workflow_dispatch",
        ] {
            assert!(
                check_run(&run(event, "main"), &repo(), Some(&any)).is_err(),
                "{event}"
            );
        }
        assert!(check_run(&run("pull_request", "fix"), &repo(), Some(&any)).is_ok());
        let mut fork = run("pull_request", "fix");
        fork.head_repo = Some("mallory/octo-repo".into());
        assert!(check_run(&fork, &repo(), Some(&any)).is_err());
        fork.head_repo = None;
        assert!(check_run(&fork, &repo(), Some(&any)).is_err());
    }

    #[test]
    fn workflows_and_branches_match_by_name_file_or_prefix() {
        let policy = CiFixerPolicy {
            workflows: vec!["test.yml".into()],
            branches: vec!["main".into(), "release/*".into()],
            ..CiFixerPolicy::default()
        };
        assert!(check_run(&run("push", "main"), &repo(), Some(&policy)).is_ok());
        assert!(check_run(&run("push", "release/1.2"), &repo(), Some(&policy)).is_ok());
        assert!(check_run(&run("push", "feature"), &repo(), Some(&policy)).is_err());
        let by_name = CiFixerPolicy {
            workflows: vec!["ci".into()],
            ..CiFixerPolicy::default()
        };
        assert!(check_run(&run("push", "main"), &repo(), Some(&by_name)).is_ok());
        let other = CiFixerPolicy {
            workflows: vec!["Deploy".into()],
            ..CiFixerPolicy::default()
        };
        assert!(check_run(&run("push", "main"), &repo(), Some(&other)).is_err());
    }

    #[test]
    fn a_jules_branch_never_starts_a_chain() {
        let any = CiFixerPolicy::default();
        assert!(check_run(
            &run("push", "fix-parser-12345678901234567"),
            &repo(),
            Some(&any)
        )
        .is_err());
    }

    #[test]
    fn one_tag_per_workflow_and_commit() {
        let tag = run_tag(&repo(), &run("push", "main"));
        assert_eq!(tag, "octo-org/octo-repo:ci:2823525:3484a3fb816e");
        assert!(tag.starts_with(&tag_prefix(&repo())));
    }
}
