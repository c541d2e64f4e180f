//! Dry runs: explain what the bridge would do with an event, without calling Jules or
//! writing to GitHub. With a GitHub client it looks up the sender's permission; without one
//! it says what it assumed.

use std::fmt::Write as _;

use crate::engine::command::{new_commands, parse_commands, Command, CommandError};
use crate::engine::event::{Event, EventKind};
use crate::engine::policy::{check_sender, SenderCheck};
use crate::engine::prompt::{build_prompt, PromptParts};
use crate::github::GitHubClient;
use crate::handler::Settings;

/// A readable account of the decision, one fact per line.
pub async fn explain(
    event_name: &str,
    event: &Event,
    settings: &Settings,
    github: Option<&GitHubClient>,
) -> String {
    let mut out = String::new();
    let line = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "{key:<11} {value}");
    };
    line(&mut out, "event", event_name);
    let repo = event.repo.as_ref();
    if let Some(repo) = repo {
        line(&mut out, "repository", &repo.name.to_string());
    }
    if let Some(issue) = event.kind.issue() {
        let kind = if issue.is_pull_request {
            "pull request"
        } else {
            "issue"
        };
        line(
            &mut out,
            kind,
            &format!("#{} {}", issue.number, issue.title),
        );
    }
    let sender = event.sender.clone();
    if let Some(sender) = &sender {
        line(
            &mut out,
            "sender",
            &format!(
                "@{}{}",
                sender.login,
                if sender.is_bot { " (bot)" } else { "" }
            ),
        );
    }

    let (instruction, commands) = match &event.kind {
        EventKind::IssueLabeled { label, .. } | EventKind::PullRequestLabeled { label, .. } => {
            if !label.eq_ignore_ascii_case(&settings.trigger_label) {
                line(
                    &mut out,
                    "decision",
                    &format!(
                        "ignore: label `{label}` is not the trigger label `{}`",
                        settings.trigger_label
                    ),
                );
                return out;
            }
            if let EventKind::PullRequestLabeled { branches, .. } = &event.kind {
                if let Some(repo) = repo.filter(|repo| branches.is_fork_of(&repo.name)) {
                    let _ = repo;
                    line(
                        &mut out,
                        "decision",
                        "refuse: the pull request comes from a fork (a reply says so)",
                    );
                    return out;
                }
            }
            (settings.prompt.clone(), Vec::new())
        }
        EventKind::CommentCreated { comment, .. } => (
            None,
            parse_commands(&comment.body, &settings.command_prefix),
        ),
        EventKind::CommentEdited {
            comment,
            previous_body,
            ..
        } => (
            None,
            new_commands(previous_body, &comment.body, &settings.command_prefix),
        ),
        EventKind::Dispatch { .. } | EventKind::WorkflowRunFailed { .. } => {
            (settings.prompt.clone(), Vec::new())
        }
        EventKind::Ignored { reason } => {
            line(&mut out, "decision", &format!("ignore: {reason}"));
            return out;
        }
        _ => {
            line(
                &mut out,
                "decision",
                "ignore: nothing to do for this event in Action mode",
            );
            return out;
        }
    };

    let is_comment = matches!(
        event.kind,
        EventKind::CommentCreated { .. } | EventKind::CommentEdited { .. }
    );
    if is_comment {
        if commands.is_empty() {
            line(&mut out, "decision", "ignore: the comment has no command");
            return out;
        }
        for command in &commands {
            let text = match command {
                Ok(Command::Run(text)) => format!("run: {}", text.replace('\n', " ")),
                Ok(Command::New(text)) => {
                    format!(
                        "new session (the active one is archived): {}",
                        text.replace('\n', " ")
                    )
                }
                Ok(Command::Approve { plan: Some(plan) }) => format!("approve plan {plan}"),
                Ok(Command::Approve { plan: None }) => "approve the pending plan".into(),
                Ok(Command::Status) => "status".into(),
                Ok(Command::Help) => "help".into(),
                Err(CommandError::Malformed { line, reason }) => {
                    format!("malformed `{line}`: {reason}")
                }
            };
            line(&mut out, "command", &text);
        }
    }

    // Who may trigger.
    let triggered_by_person = !matches!(
        event.kind,
        EventKind::Dispatch { .. } | EventKind::WorkflowRunFailed { .. }
    );
    if let (true, Some(sender), Some(repo)) = (triggered_by_person, &sender, repo) {
        match check_sender(sender, &settings.own_logins, &settings.allowed_bots) {
            SenderCheck::Ourselves => {
                line(&mut out, "decision", "ignore: the bridge's own comment");
                return out;
            }
            SenderCheck::UntrustedBot => {
                line(
                    &mut out,
                    "decision",
                    &format!("ignore: {} is a bot not in allowed-bots", sender.login),
                );
                return out;
            }
            SenderCheck::TrustedBot => line(&mut out, "permission", "trusted bot (allowed-bots)"),
            SenderCheck::CheckPermission => match github {
                Some(github) => match github.permission(&repo.name, &sender.login).await {
                    Ok(permission) if permission.can_trigger() => line(
                        &mut out,
                        "permission",
                        &format!("{} (may trigger)", permission.describe()),
                    ),
                    Ok(permission) => {
                        line(
                            &mut out,
                            "permission",
                            &format!("{} (may not trigger)", permission.describe()),
                        );
                        line(
                            &mut out,
                            "decision",
                            "refuse: one polite reply, nothing sent to Jules",
                        );
                        return out;
                    }
                    Err(error) => line(
                        &mut out,
                        "permission",
                        &format!("lookup failed ({error}); assumed write"),
                    ),
                },
                None => line(
                    &mut out,
                    "permission",
                    "not looked up (no GitHub token); assumed write",
                ),
            },
        }
    }

    let run_text = commands.iter().find_map(|command| match command {
        Ok(Command::Run(text) | Command::New(text)) => Some(text.clone()),
        _ => None,
    });
    let creates = run_text.is_some() || !is_comment;
    if creates {
        let failed_run = match &event.kind {
            EventKind::WorkflowRunFailed { run } => Some(run),
            _ => None,
        };
        let no_jobs: Vec<String> = Vec::new();
        let prompt = build_prompt(&PromptParts {
            repo: repo.map(|repo| &repo.name),
            issue: event.kind.issue(),
            instruction: run_text.as_deref().or(instruction.as_deref()),
            failed_run: failed_run.map(|run| (run, no_jobs.as_slice())),
            requester: sender
                .as_ref()
                .filter(|_| triggered_by_person)
                .map(|s| s.login.as_str()),
            ..PromptParts::default()
        });
        let calls = if event.kind.issue().is_some() {
            "GET comments (find the status comment) -> POST reaction 👀 -> POST /v1alpha/sessions (or :sendMessage to the existing session) -> POST status comment"
        } else {
            "POST /v1alpha/sessions"
        };
        line(
            &mut out,
            "decision",
            "create a Jules session (or message the issue's active session)",
        );
        line(&mut out, "calls", calls);
        let _ = writeln!(out, "prompt:\n{}", indent(&prompt));
    } else {
        line(
            &mut out,
            "decision",
            "run the commands against the issue's session (found through its status comment)",
        );
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
