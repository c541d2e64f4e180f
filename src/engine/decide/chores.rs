//! The server's housekeeping events: what an installation change, a push or a closed issue
//! asks of it. (The Action ignores these events: it keeps no state to tidy.)

use crate::engine::event::{Event, EventKind};

/// A housekeeping task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chore {
    /// The App was uninstalled or suspended: its pending deliveries are dropped and its
    /// sessions no longer relayed (GitHub would refuse every write anyway).
    ForgetInstallation { installation: u64, action: String },
    /// The repository's settings file changed on its default branch: read it again now, not
    /// when the cache expires.
    ReloadConfig { repo: String },
    /// The issue was closed: its sessions are no longer relayed, and their status comments
    /// say so.
    StopRelay {
        repo: String,
        issue: u64,
        notice: &'static str,
    },
    /// Nothing to do, and why.
    Nothing(String),
}

/// Whether a session whose issue was closed is archived too: one that waits for a person
/// (a plan to approve, a question to answer) would otherwise wait forever; one that works
/// is left to finish, so its work is not lost.
pub fn archive_when_issue_closed(state: &str) -> bool {
    matches!(state, "AWAITING_PLAN_APPROVAL" | "AWAITING_USER_FEEDBACK")
}

/// What the status comment says when the issue was closed and the session archived.
pub const CLOSED_WHILE_WAITING: &str =
    "Updates stopped and the session archived: the issue was closed while Jules waited for a person.";

/// The housekeeping an event asks for; `None` when it is not a housekeeping event (the
/// decision core's `intake` reads it).
pub fn housekeeping(event: &Event) -> Option<Chore> {
    let repo = event.repo.as_ref();
    let chore = match &event.kind {
        EventKind::Installation { action } => match event.installation_id {
            None => Chore::Nothing("installation event without an installation".into()),
            Some(installation) if matches!(action.as_str(), "deleted" | "suspend") => {
                Chore::ForgetInstallation {
                    installation,
                    action: action.clone(),
                }
            }
            Some(_) => Chore::Nothing(format!("installation {action}: nothing to do")),
        },
        EventKind::Push {
            git_ref,
            changed_files,
        } => match repo {
            None => Chore::Nothing("push without a repository".into()),
            Some(repo) => {
                let on_default = git_ref == &format!("refs/heads/{}", repo.default_branch);
                if on_default && changed_files.iter().any(|f| f == crate::repo_config::PATH) {
                    Chore::ReloadConfig {
                        repo: repo.name.to_string(),
                    }
                } else {
                    Chore::Nothing("push: nothing to do".into())
                }
            }
        },
        EventKind::IssueClosed { issue } => match repo {
            None => Chore::Nothing("no repository".into()),
            Some(repo) => Chore::StopRelay {
                repo: repo.name.to_string(),
                issue: issue.number,
                notice: "Updates stopped: the issue was closed.",
            },
        },
        _ => return None,
    };
    Some(chore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::{RepoName, Repository};

    fn push(git_ref: &str, files: &[&str]) -> Event {
        Event {
            repo: Some(Repository {
                name: RepoName::parse("octo/app").unwrap(),
                default_branch: "main".into(),
                html_url: String::new(),
            }),
            sender: None,
            installation_id: Some(7),
            kind: EventKind::Push {
                git_ref: git_ref.into(),
                changed_files: files.iter().map(|f| f.to_string()).collect(),
            },
        }
    }

    #[test]
    fn only_a_settings_change_on_the_default_branch_reloads_them() {
        assert_eq!(
            housekeeping(&push(
                "refs/heads/main",
                &["README.md", ".github/jules-bridge.yml"]
            )),
            Some(Chore::ReloadConfig {
                repo: "octo/app".into()
            })
        );
        assert!(matches!(
            housekeeping(&push("refs/heads/feature", &[".github/jules-bridge.yml"])),
            Some(Chore::Nothing(_))
        ));
        assert!(matches!(
            housekeeping(&push("refs/heads/main", &["src/lib.rs"])),
            Some(Chore::Nothing(_))
        ));
    }

    #[test]
    fn a_closed_issue_archives_only_a_session_that_waits_for_a_person() {
        assert!(archive_when_issue_closed("AWAITING_PLAN_APPROVAL"));
        assert!(archive_when_issue_closed("AWAITING_USER_FEEDBACK"));
        assert!(!archive_when_issue_closed("IN_PROGRESS"));
        assert!(!archive_when_issue_closed("COMPLETED"));
    }

    #[test]
    fn only_an_uninstall_or_a_suspension_stops_an_installation() {
        let installation = |action: &str| Event {
            kind: EventKind::Installation {
                action: action.into(),
            },
            ..push("", &[])
        };
        for action in ["deleted", "suspend"] {
            assert_eq!(
                housekeeping(&installation(action)),
                Some(Chore::ForgetInstallation {
                    installation: 7,
                    action: action.into()
                })
            );
        }
        assert!(matches!(
            housekeeping(&installation("created")),
            Some(Chore::Nothing(_))
        ));
    }
}
