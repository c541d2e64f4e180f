//! Response templates: GitHub's official OpenAPI examples (copied under `fixtures/`), parsed once
//! and patched per response.

use std::sync::LazyLock;

use serde_json::Value;

macro_rules! fixture {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Value> = LazyLock::new(|| {
            serde_json::from_str(include_str!(concat!("../fixtures/", $file))).expect(concat!(
                "fixture ",
                $file,
                " is valid JSON"
            ))
        });
    };
}

fixture!(APP, "app-get-authenticated.response.200.default.json");
fixture!(
    COLLABORATOR_PERMISSION,
    "collaborator-permission.response.200.response-if-user-has-admin-permissions.json"
);
fixture!(
    INSTALLATION_TOKEN,
    "installation-access-token-create.response.201.default.json"
);
fixture!(
    COMMENT_CREATED,
    "issue-comment-create.response.201.default.json"
);
fixture!(
    COMMENT_UPDATED,
    "issue-comment-update.response.200.default.json"
);
fixture!(
    COMMENTS_LIST,
    "issue-comments-list.response.200.default.json"
);
// No REST issue example among the copied OpenAPI examples: the `issue` object of a real
// `issues.opened` webhook payload (see fixtures/README.md).
fixture!(ISSUE, "issue.from-webhook-issues-opened.json");
fixture!(LABELS_ADDED, "issue-labels-add.response.200.default.json");
fixture!(
    LABEL_REMOVED,
    "issue-label-remove.response.200.default.json"
);
fixture!(PULL, "pull-get.response.200.default.json");
fixture!(COMPARISON, "compare-commits.response.200.default.json");
fixture!(
    REACTION_COMMENT_CREATED,
    "reaction-create-for-issue-comment.response.201.default.json"
);
fixture!(
    REACTION_COMMENT_EXISTS,
    "reaction-create-for-issue-comment.response.200.default.json"
);
fixture!(
    REACTION_ISSUE_CREATED,
    "reaction-create-for-issue.response.201.default.json"
);
fixture!(
    REACTION_ISSUE_EXISTS,
    "reaction-create-for-issue.response.200.default.json"
);
fixture!(
    CONTENT_FILE,
    "repo-contents.response.200.response-if-content-is-a-file.json"
);
fixture!(REPO, "repo-get.response.200.default-response.json");
fixture!(
    REPO_INSTALLATION,
    "repo-installation-get.response.200.default.json"
);
fixture!(RUN_JOBS, "workflow-run-jobs-list.response.200.default.json");
fixture!(
    AUTHENTICATED_USER,
    "user-get-authenticated.response.200.default.json"
);
fixture!(
    CHECK_RUN_COMPLETED,
    "check-run-create.response.201.example-of-completed-conclusion.json"
);
fixture!(
    CHECK_RUN_IN_PROGRESS,
    "check-run-create.response.201.example-of-in-progress-conclusion.json"
);
fixture!(
    CHECK_RUN_UPDATED,
    "check-run-update.response.200.default.json"
);
fixture!(
    CHECK_RUNS_LIST,
    "check-runs-list-for-ref.response.200.default.json"
);
fixture!(
    REVIEW_COMMENTS_LIST,
    "pull-review-comments-list-all.response.200.default.json"
);
fixture!(
    REVIEW_COMMENT_REPLY,
    "pull-review-comment-reply-create.response.201.default.json"
);
fixture!(
    REACTION_REVIEW_COMMENT_CREATED,
    "reaction-create-for-pull-review-comment.response.201.default.json"
);
fixture!(
    REACTION_REVIEW_COMMENT_EXISTS,
    "reaction-create-for-pull-review-comment.response.200.default.json"
);

/// Every fixture, for the self-check test.
#[cfg(test)]
pub(crate) fn all() -> Vec<&'static Value> {
    vec![
        &APP,
        &COLLABORATOR_PERMISSION,
        &INSTALLATION_TOKEN,
        &COMMENT_CREATED,
        &COMMENT_UPDATED,
        &COMMENTS_LIST,
        &ISSUE,
        &LABELS_ADDED,
        &LABEL_REMOVED,
        &PULL,
        &REACTION_COMMENT_CREATED,
        &REACTION_COMMENT_EXISTS,
        &REACTION_ISSUE_CREATED,
        &REACTION_ISSUE_EXISTS,
        &CONTENT_FILE,
        &REPO,
        &REPO_INSTALLATION,
        &RUN_JOBS,
        &AUTHENTICATED_USER,
        &CHECK_RUN_COMPLETED,
        &CHECK_RUN_IN_PROGRESS,
        &CHECK_RUN_UPDATED,
        &CHECK_RUNS_LIST,
        &REVIEW_COMMENTS_LIST,
        &REVIEW_COMMENT_REPLY,
        &REACTION_REVIEW_COMMENT_CREATED,
        &REACTION_REVIEW_COMMENT_EXISTS,
    ]
}

/// The first element of an array fixture (list endpoints).
pub(crate) fn first(v: &Value) -> Value {
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .expect("array fixture with at least one element")
}

/// Apply `(from, to)` string replacements, in order, to every string value in `v`.
pub(crate) fn rewrite(v: &mut Value, pairs: &[(&str, &str)]) {
    match v {
        Value::String(s) => {
            for (from, to) in pairs {
                if s.contains(from) {
                    *s = s.replace(from, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, pairs)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite(x, pairs)),
        _ => {}
    }
}

/// Set `v[key] = value` on an object (no-op on non-objects).
pub(crate) fn set(v: &mut Value, key: &str, value: impl Into<Value>) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value.into());
    }
}

/// Percent-encode a login for use in a URL path (`github-actions[bot]` ->
/// `github-actions%5Bbot%5D`, as GitHub does).
pub(crate) fn url_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

/// A user object (`simple-user`), patched from the comment fixture's `user`.
pub(crate) fn user(base_url: &str, login: &str, id: u64, is_bot: bool) -> Value {
    let mut u = COMMENT_CREATED["user"].clone();
    let enc = url_login(login);
    let html = if is_bot {
        format!(
            "https://github.com/apps/{}",
            login.trim_end_matches("[bot]")
        )
    } else {
        format!("https://github.com/{login}")
    };
    rewrite(
        &mut u,
        &[
            (
                "https://api.github.com/users/octocat",
                &format!("{base_url}/users/{enc}"),
            ),
            ("https://api.github.com", base_url),
        ],
    );
    set(&mut u, "login", login);
    set(&mut u, "id", id);
    let kind = if is_bot { "Bot" } else { "User" };
    set(&mut u, "node_id", b64(&format!("04:{kind}{id}")));
    set(
        &mut u,
        "avatar_url",
        format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
    );
    set(&mut u, "html_url", html);
    set(&mut u, "type", kind);
    u
}

pub(crate) fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Base64 like the contents API: standard alphabet, a `\n` after every 60 characters and at the end.
pub(crate) fn b64_lines(content: &[u8]) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(content);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for chunk in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    out
}

/// A stable 40-hex-digit pseudo sha for some bytes.
pub(crate) fn fake_sha(parts: &[&[u8]]) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut out = String::new();
    for salt in 0u8..3 {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        for p in parts {
            p.hash(&mut h);
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use octocrab::models;

    fn de<T: serde::de::DeserializeOwned>(name: &str, v: &Value) -> T {
        serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("fixture {name} does not deserialize: {e}"))
    }

    /// The unpatched templates already deserialize with octocrab's models.
    #[test]
    fn fixtures_deserialize_with_octocrab_models() {
        assert_eq!(all().len(), 27);
        let _: models::issues::Comment = de("comment created", &COMMENT_CREATED);
        let _: models::issues::Comment = de("comment updated", &COMMENT_UPDATED);
        let _: Vec<models::issues::Comment> = de("comments list", &COMMENTS_LIST);
        let _: models::pulls::PullRequest = de("pull", &PULL);
        let _: models::Repository = de("repo", &REPO);
        for r in [
            &*REACTION_COMMENT_CREATED,
            &*REACTION_COMMENT_EXISTS,
            &*REACTION_ISSUE_CREATED,
            &*REACTION_ISSUE_EXISTS,
        ] {
            let _: models::reactions::Reaction = de("reaction", r);
        }
        let _: models::InstallationToken = de("installation token", &INSTALLATION_TOKEN);
        let _: models::Installation = de("repo installation", &REPO_INSTALLATION);
        let _: models::apps::App = de("app", &APP);
        let _: models::repos::Content = de("content", &CONTENT_FILE);
        let _: Vec<models::Label> = de("labels", &LABELS_ADDED);
        let _: Vec<models::Label> = de("labels", &LABEL_REMOVED);
        let _: models::Author = de("user", &COLLABORATOR_PERMISSION["user"]);
        let _: models::issues::Issue = de("issue", &ISSUE);
        let _: models::Author = de("authenticated user", &AUTHENTICATED_USER);
        for r in [
            &*REACTION_REVIEW_COMMENT_CREATED,
            &*REACTION_REVIEW_COMMENT_EXISTS,
        ] {
            let _: models::reactions::Reaction = de("review comment reaction", r);
        }
        let _: Vec<models::pulls::Comment> = de("review comments", &REVIEW_COMMENTS_LIST);
        let _: models::pulls::Comment = de("review comment reply", &REVIEW_COMMENT_REPLY);
        for c in [
            &*CHECK_RUN_COMPLETED,
            &*CHECK_RUN_IN_PROGRESS,
            &*CHECK_RUN_UPDATED,
        ] {
            assert!(c["id"].is_u64() && c["output"]["title"].is_string());
        }
        assert_eq!(CHECK_RUNS_LIST["total_count"], 1);
        let _: Vec<models::Label> = de("issue labels", &ISSUE["labels"]);
        // The jobs example lacks `run_attempt` and `created_at` (the schema requires
        // `created_at`; real answers carry both), which octocrab's `Job` needs: the fake adds them.
        let _: Vec<models::workflows::Step> = de("job steps", &RUN_JOBS["jobs"][0]["steps"]);
        let mut job = first(&RUN_JOBS["jobs"]);
        assert!(job.get("run_attempt").is_none() && job.get("created_at").is_none());
        set(&mut job, "run_attempt", 1);
        let started = job["started_at"].clone();
        set(&mut job, "created_at", started);
        let _: models::workflows::Job = de("job", &job);
        assert_eq!(RUN_JOBS["total_count"], 1);
    }

    #[test]
    fn patched_user_and_base64_lines() {
        let u = user("http://127.0.0.1:1", "github-actions[bot]", 41898282, true);
        let a: models::Author = de("bot user", &u);
        assert_eq!(a.login, "github-actions[bot]");
        assert_eq!(a.r#type, "Bot");
        assert_eq!(
            a.url.as_str(),
            "http://127.0.0.1:1/users/github-actions%5Bbot%5D"
        );
        assert_eq!(
            a.html_url.as_str(),
            "https://github.com/apps/github-actions"
        );
        let s = b64_lines(&[7u8; 100]);
        assert!(s.ends_with('\n'));
        assert!(s.lines().all(|l| l.len() <= 60));
        assert_eq!(s.lines().next().map(str::len), Some(60));
        assert_eq!(fake_sha(&[b"x"]).len(), 40);
    }
}
