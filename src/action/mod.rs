//! `jules-bridge action`: the GitHub Action (a Docker container action).
//!
//! Reads the runner's environment (inputs, event file), masks the secrets before anything is
//! printed, hands the event to the shared [`Handler`], optionally follows the session, and
//! reports through step outputs, the job summary and workflow commands.

pub mod runner;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::engine::ci_fixer::CiFixerPolicy;
use crate::engine::marker::MarkerKey;
use crate::engine::render;
use crate::engine::settings::{Attempt, Identity};
use crate::github::GitHubClient;
use crate::handler::follow::{Followed, Until};
use crate::handler::{ActionTaken, Handler, Outcome, Settings};
use crate::jules::{
    AutomationMode, CallObserver, ClientConfig, JulesClient, RetryPolicy, Session, State,
    DEFAULT_API_URL,
};
use crate::payload::parse_event;
use runner::{Commands, Outputs, RunnerEnv, Summary};

/// What `wait` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    None,
    Plan,
    Done,
}

/// The action's inputs, validated.
pub struct Inputs {
    pub jules_api_key: SecretString,
    pub github_token: Option<SecretString>,
    pub jules_api_url: String,
    pub github_api_url: String,
    pub settings: Settings,
    pub wait: Wait,
    pub timeout: Duration,
    pub poll: Duration,
    pub retry: RetryPolicy,
    pub dry_run: bool,
    /// Whether `bot-login` named the bridge's login; if not, it is learned from the token.
    pub bot_login_given: bool,
}

impl Inputs {
    pub fn read(env: &RunnerEnv) -> Result<Inputs, String> {
        let jules_api_key = env.input("jules-api-key").ok_or(
            "the `jules-api-key` input is required (store the key as a repository secret)",
        )?;
        let trigger_label = env
            .input("trigger-label")
            .unwrap_or_else(|| "jules-bridge".into());
        if trigger_label.eq_ignore_ascii_case("jules") {
            return Err("`trigger-label` must not be `jules`: Jules' own GitHub App acts on that label, and both would start a session".into());
        }
        let command_prefix = env
            .input("command-prefix")
            .unwrap_or_else(|| "/jules".into());
        if !command_prefix.starts_with('/') || command_prefix.contains(char::is_whitespace) {
            return Err(format!(
                "`command-prefix` must be one word starting with `/`, not `{command_prefix}`"
            ));
        }
        let automation_mode = match env.input("automation-mode").as_deref() {
            None | Some("AUTO_CREATE_PR") => AutomationMode::AutoCreatePr,
            Some("AUTOMATION_MODE_UNSPECIFIED") | Some("NONE") | Some("none") => {
                AutomationMode::Unspecified
            }
            Some(other) => {
                return Err(format!(
                    "`automation-mode` must be AUTO_CREATE_PR or AUTOMATION_MODE_UNSPECIFIED, not `{other}`"
                ))
            }
        };
        let wait = match env.input("wait").as_deref() {
            None | Some("none") => Wait::None,
            Some("plan") => Wait::Plan,
            Some("done") => Wait::Done,
            Some(other) => return Err(format!("`wait` must be none, plan or done, not `{other}`")),
        };
        let timeout_minutes: u64 = match env.input("timeout-minutes") {
            None => 30,
            Some(text) => text
                .parse()
                .ok()
                .filter(|minutes| (1..=360).contains(minutes))
                .ok_or_else(|| format!("`timeout-minutes` must be 1 to 360, not `{text}`"))?,
        };
        let list = |name: &str| -> Vec<String> {
            env.input(name)
                .map(|text| {
                    text.split([',', '\n'])
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut own_logins = list("bot-login");
        let bot_login_given = !own_logins.is_empty();
        if own_logins.is_empty() {
            own_logins.push("github-actions[bot]".into());
        }
        let server = env
            .var("GITHUB_SERVER_URL")
            .unwrap_or_else(|| "https://github.com".into());
        let run_url = match (env.var("GITHUB_REPOSITORY"), env.var("GITHUB_RUN_ID")) {
            (Some(repo), Some(run)) => Some(format!("{server}/{repo}/actions/runs/{run}")),
            _ => None,
        };
        let settings = Settings {
            trigger_label,
            command_prefix,
            require_plan_approval: env.bool_input("require-plan-approval", true)?,
            archive_on_close: env.bool_input("archive-on-close", true)?,
            check_runs: env.bool_input("check-run", true)?,
            automation_mode,
            starting_branch: env.input("starting-branch"),
            allowed_bots: list("allowed-bots"),
            identity: Identity {
                own_logins,
                // The Action holds no other secret: status markers are signed with a key
                // derived from the Jules API key (docs/security.md).
                marker_key: MarkerKey::derive([jules_api_key.as_str()]),
            },
            // The workflow that runs the Action on `workflow_run` is the CI fixer's opt-in.
            ci_fixer: Some(CiFixerPolicy::default()),
            prompt: env.input("prompt"),
            title: env.input("title"),
            attempt: Attempt {
                run_url,
                trigger_id: env.var("GITHUB_RUN_ID").unwrap_or_else(|| "local".into()),
                // A re-run of the same workflow run may follow a crash after the create.
                recheck_before_create: env
                    .var("GITHUB_RUN_ATTEMPT")
                    .filter(|attempt| attempt != "1")
                    .map(|_| chrono::Utc::now() - chrono::Duration::days(1)),
                ..Attempt::default()
            },
            ..Settings::default()
        };
        Ok(Inputs {
            jules_api_key: SecretString::from(jules_api_key),
            github_token: env.input("github-token").map(SecretString::from),
            jules_api_url: env
                .input("jules-api-url")
                .unwrap_or_else(|| DEFAULT_API_URL.into()),
            github_api_url: env
                .var("GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".into()),
            settings,
            wait,
            timeout: Duration::from_secs(timeout_minutes * 60),
            poll: Duration::from_millis(
                env.var("JULES_BRIDGE_POLL_MS")
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(5_000),
            ),
            retry: retry_policy(env),
            dry_run: env.bool_input("dry-run", false)?,
            bot_login_given,
        })
    }
}

/// Who the `github-token` posts as: a personal access token's user (`GET /user`), or
/// `github-actions[bot]` for the Actions token, which GitHub does not let read `GET /user`
/// (403; an App installation token answers the same, and needs `bot-login`). Anything else
/// fails the run: guessing would make the bridge miss its own comments.
async fn own_logins(github: &GitHubClient) -> Result<Vec<String>, String> {
    match github.current_login().await {
        Ok(login) => Ok(vec![login]),
        Err(error) if error.status() == Some(403) => Ok(vec!["github-actions[bot]".into()]),
        Err(error) => Err(format!(
            "cannot learn who the `github-token` posts as (GET /user): {error}; set `bot-login` to skip this"
        )),
    }
}

/// Jules retry tuning for operators (and tests): `JULES_BRIDGE_RETRY_MIN_MS` (first delay)
/// and `JULES_BRIDGE_RETRY_DEADLINE_SECS` (total time per call).
fn retry_policy(env: &RunnerEnv) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let Some(ms) = env
        .var("JULES_BRIDGE_RETRY_MIN_MS")
        .and_then(|v| v.parse().ok())
    {
        policy.min_delay = Duration::from_millis(ms);
        policy.max_delay = policy.max_delay.min(Duration::from_millis(ms * 16));
    }
    if let Some(secs) = env
        .var("JULES_BRIDGE_RETRY_DEADLINE_SECS")
        .and_then(|v| v.parse().ok())
    {
        policy.deadline = Duration::from_secs(secs);
    }
    policy
}

/// Runs the action. Workflow commands are written to `out` (the runner reads stdout).
pub async fn run<W: Write>(env: &RunnerEnv, out: W) -> ExitCode {
    let mut commands = Commands::new(out);
    // Mask first: nothing may print a secret before the runner knows to hide it.
    for secret in ["jules-api-key", "github-token"] {
        if let Some(value) = env.input(secret) {
            commands.add_mask(&value);
        }
    }
    let outputs = Outputs::new(env.var("GITHUB_OUTPUT").map(PathBuf::from));
    let summary = Summary::new(env.var("GITHUB_STEP_SUMMARY").map(PathBuf::from));
    match run_inner(env, &mut commands, &outputs, &summary).await {
        Ok(code) => code,
        Err(message) => {
            commands.error(&message);
            let _ = outputs.set("action-taken", ActionTaken::Failed.as_str());
            let _ = summary.append(&format!("## jules-bridge\n\n❌ {message}\n"));
            ExitCode::FAILURE
        }
    }
}

async fn run_inner<W: Write>(
    env: &RunnerEnv,
    commands: &mut Commands<W>,
    outputs: &Outputs,
    summary: &Summary,
) -> Result<ExitCode, String> {
    let mut inputs = Inputs::read(env)?;
    let event_name = env
        .var("GITHUB_EVENT_NAME")
        .ok_or("GITHUB_EVENT_NAME is not set: is this running in GitHub Actions?")?;
    let event_path = env
        .var("GITHUB_EVENT_PATH")
        .ok_or("GITHUB_EVENT_PATH is not set")?;
    let body = std::fs::read(&event_path)
        .map_err(|err| format!("cannot read the event file {event_path}: {err}"))?;
    let event = parse_event(&event_name, &body).map_err(|err| err.to_string())?;

    let token = inputs.github_token.clone().ok_or(
        "the `github-token` input is empty; keep its default `${{ github.token }}` or pass a token",
    )?;
    // `ghs_` is the prefix of the Actions token and of App installation tokens, which GitHub
    // never lets read `GET /user` (403): no need to ask.
    let server_token = token.expose_secret().starts_with("ghs_");
    let github =
        GitHubClient::with_token(&inputs.github_api_url, token).map_err(|err| err.to_string())?;
    if !inputs.bot_login_given && !server_token {
        inputs.settings.identity.own_logins = own_logins(&github).await?;
    }
    // Told when the session moved (`watch` lists activities only then), for the progress lines.
    let moved = std::sync::Arc::new(tokio::sync::Notify::new());
    let observer = {
        let moved = moved.clone();
        CallObserver(std::sync::Arc::new(move |method, status| {
            if method == "activities.list" && (200..300).contains(&status) {
                moved.notify_one();
            }
        }))
    };
    let jules = JulesClient::new(
        inputs.jules_api_key.clone(),
        ClientConfig {
            base_url: inputs.jules_api_url.clone(),
            retry: inputs.retry.clone(),
            observer: Some(observer),
            ..ClientConfig::default()
        },
    )
    .map_err(|err| err.to_string())?;
    if inputs.dry_run {
        // The same decision, read-only: GitHub and Jules are read, nothing is written.
        let report = crate::simulate::explain(
            &event_name,
            &event,
            &inputs.settings,
            Some(&github),
            Some(&jules),
        )
        .await;
        commands.info(&report);
        summary
            .append(&format!(
                "## jules-bridge (dry run)\n\n```text\n{report}\n```\n"
            ))
            .map_err(|err| format!("cannot write the step summary: {err}"))?;
        outputs
            .set("action-taken", "dry-run")
            .map_err(|err| err.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }

    let handler = Handler {
        github: &github,
        jules: &jules,
        settings: &inputs.settings,
        gate: None,
        replies: Default::default(),
    };

    let mut outcome = handler
        .handle(&event)
        .await
        .map_err(|err| err.to_string())?;
    if outcome.action == ActionTaken::Ignored {
        commands.notice(&format!("jules-bridge: nothing to do ({})", outcome.reason));
    } else {
        commands.info(&format!(
            "jules-bridge: {} ({})",
            outcome.action.as_str(),
            outcome.reason
        ));
    }

    let mut failure = None;
    let until = match inputs.wait {
        Wait::None => None,
        Wait::Plan => Some(Until::Plan),
        Wait::Done => Some(Until::Done),
    };
    if let (Some(until), Some(session)) = (until, outcome.session.clone()) {
        let started = tokio::time::Instant::now();
        commands.info(&format!(
            "jules-bridge: following {} until {} (at most {} minutes)",
            session.name,
            match until {
                Until::Plan => "the plan is ready",
                Until::Done => "it is done",
            },
            inputs.timeout.as_secs() / 60
        ));
        let following = handler.follow(
            &session.name,
            outcome.report.as_ref(),
            until,
            inputs.timeout,
            inputs.poll,
        );
        let progress = print_progress(&jules, &session.name, &moved, &mut *commands, started);
        let followed = tokio::select! {
            followed = following => followed.map_err(|err| err.to_string())?,
            never = progress => match never {},
        };
        let last = match &followed {
            Followed::Reached(reached) => Some(&reached.0),
            Followed::TimedOut(last) => last.as_deref(),
        };
        commands.info(&final_line(
            last,
            &session,
            matches!(followed, Followed::TimedOut(_)),
            started.elapsed(),
        ));
        match followed {
            Followed::Reached(reached) => {
                let (session, view) = *reached;
                if let Some(reason) = view
                    .failure
                    .clone()
                    .filter(|_| session.state == crate::jules::State::Failed)
                {
                    failure = Some(format!("the Jules session failed: {reason}"));
                } else if session.state == crate::jules::State::Failed {
                    failure = Some("the Jules session failed".to_owned());
                }
                outcome.session = Some(session);
                outcome.view = Some(view);
            }
            Followed::TimedOut(last) => {
                if let Some(last) = last {
                    outcome.session = Some(*last);
                }
                failure = Some(format!(
                    "timed out after {} minutes waiting for the session",
                    inputs.timeout.as_secs() / 60
                ));
            }
        }
    }

    write_outputs(outputs, &outcome)
        .map_err(|err| format!("cannot write the step outputs: {err}"))?;
    summary
        .append(&summary_markdown(&event_name, &outcome))
        .map_err(|err| format!("cannot write the step summary: {err}"))?;
    if let Some(failure) = failure {
        commands.error(&failure);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// While `wait` follows the session: a line whenever its state changes, and a reminder every
/// few minutes that nothing did, so a long wait is never silent. It reads the session only
/// after the follower saw it move (`moved`), so it adds one call per change, not per poll.
async fn print_progress<W: Write>(
    jules: &JulesClient,
    session: &str,
    moved: &tokio::sync::Notify,
    commands: &mut Commands<W>,
    started: tokio::time::Instant,
) -> std::convert::Infallible {
    const REMINDER: Duration = Duration::from_secs(300);
    let mut last: Option<State> = None;
    loop {
        let woke = tokio::time::timeout(REMINDER, moved.notified())
            .await
            .is_ok();
        if !woke {
            if let Some(state) = &last {
                commands.info(&format!(
                    "jules-bridge: still {} ({state}) after {}",
                    render::state_words(state),
                    elapsed(started.elapsed())
                ));
            }
            continue;
        }
        // Best effort: the follower reports errors that matter.
        let Ok(current) = jules.get_session(session).await else {
            continue;
        };
        if last.as_ref() != Some(&current.state) {
            commands.info(&format!(
                "jules-bridge: session {} is {} ({}) after {}",
                current.session_id(),
                current.state,
                render::state_words(&current.state),
                elapsed(started.elapsed())
            ));
            last = Some(current.state);
        }
    }
}

/// The line that ends a wait: where the session is, its pull request, its page.
fn final_line(
    last: Option<&Session>,
    followed: &Session,
    timed_out: bool,
    took: Duration,
) -> String {
    let session = last.unwrap_or(followed);
    let mut line = if timed_out {
        format!("jules-bridge: stopped waiting after {}; ", elapsed(took))
    } else {
        format!("jules-bridge: done waiting after {}; ", elapsed(took))
    };
    if session.state.is_default() {
        line.push_str(&format!("session {}", session.session_id()));
    } else {
        line.push_str(&format!(
            "session {} is {}",
            session.session_id(),
            session.state
        ));
    }
    if let Some(pr) = session.pull_request() {
        line.push_str(&format!(", pull request {}", pr.url));
    }
    let url = if session.url.is_empty() {
        &followed.url
    } else {
        &session.url
    };
    if !url.is_empty() {
        line.push_str(&format!(" ({url})"));
    }
    line
}

/// `45 s`, `3 min 05 s`.
fn elapsed(took: Duration) -> String {
    let secs = took.as_secs();
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {:02} s", secs / 60, secs % 60)
    }
}

fn write_outputs(outputs: &Outputs, outcome: &Outcome) -> std::io::Result<()> {
    outputs.set("action-taken", outcome.action.as_str())?;
    if let Some(session) = &outcome.session {
        outputs.set("session-name", &session.name)?;
        outputs.set("session-id", session.session_id())?;
        let url = outcome
            .view
            .as_ref()
            .map(|view| view.url.clone())
            .unwrap_or_else(|| session.url.clone());
        outputs.set("session-url", &url)?;
        let state = outcome
            .view
            .as_ref()
            .map(|view| view.state.to_string())
            .unwrap_or_else(|| session.state.to_string());
        outputs.set("state", &state)?;
        if let Some(pr) = session.pull_request() {
            outputs.set("pull-request-url", &pr.url)?;
        }
    }
    Ok(())
}

fn summary_markdown(event_name: &str, outcome: &Outcome) -> String {
    let mut text = format!(
        "## jules-bridge\n\n| | |\n|---|---|\n| event | `{event_name}` |\n| action | **{}** |\n| why | {} |\n",
        outcome.action.as_str(),
        outcome.reason.replace('|', "\\|")
    );
    if let Some(view) = &outcome.view {
        text.push_str(&format!(
            "| session | [{}]({}) |\n| state | {} |\n",
            view.name,
            view.url,
            render::state_words(&view.state)
        ));
        if let Some((url, _)) = &view.pull_request {
            text.push_str(&format!("| pull request | {url} |\n"));
        }
    }
    if let Some(prompt) = &outcome.prompt {
        let fence = "`".repeat(
            prompt
                .split(|c| c != '`')
                .map(str::len)
                .max()
                .unwrap_or(0)
                .max(2)
                + 1,
        );
        text.push_str(&format!(
            "\n<details><summary>Prompt sent to Jules</summary>\n\n{fence}text\n{}\n{fence}\n\n</details>\n",
            crate::jules::strip_request_tag(prompt)
        ));
    }
    text
}
