//! `jules-bridge simulate`: a dry run on a saved event payload.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use secrecy::SecretString;

use super::exit;
use crate::engine::ci_fixer::CiFixerPolicy;
use crate::engine::marker::MarkerKey;
use crate::engine::settings::Identity;
use crate::github::GitHubClient;
use crate::handler::Settings;
use crate::jules::{ClientConfig, JulesClient};
use crate::payload::parse_event;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The event name (`issues`, `issue_comment`, `pull_request`, ...).
    #[arg(long)]
    event_name: String,
    /// The payload file (a webhook body or an Action's event file).
    #[arg(long)]
    event: PathBuf,
    /// The trigger label.
    #[arg(long, default_value = "jules-bridge")]
    trigger_label: String,
    /// The comment command prefix.
    #[arg(long, default_value = "/jules")]
    command_prefix: String,
    /// The prompt for dispatch and schedule events.
    #[arg(long)]
    prompt: Option<String>,
    /// A GitHub token to look up the sender's permission (optional: without it, assumed).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    github_api_url: String,
    /// A Jules API key to read the session (optional: without it, assumed none).
    /// With it, status markers are checked with the key the Action signs them with.
    #[arg(long, env = "JULES_API_KEY", hide_env_values = true)]
    jules_api_key: Option<String>,
    #[arg(long, env = "JULES_API_URL", default_value = crate::jules::DEFAULT_API_URL)]
    jules_api_url: String,
    /// The bridge's own logins (comma-separated), as the Action's `bot-login`.
    #[arg(long, default_value = "github-actions[bot]", value_delimiter = ',')]
    bot_login: Vec<String>,
    /// Bots allowed to trigger (comma-separated), as the Action's `allowed-bots`.
    #[arg(long, value_delimiter = ',')]
    allowed_bots: Vec<String>,
}

/// The event names the bridge acts on (see `crate::payload::parse_event`); any other is read
/// and ignored.
const HANDLED_EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
    "workflow_dispatch",
    "schedule",
    "workflow_run",
    "push",
    "installation",
    "installation_repositories",
    "ping",
];

/// The handled event name `name` is most likely a typo of, if any.
fn suggestion(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    HANDLED_EVENTS
        .iter()
        .map(|known| (strsim::damerau_levenshtein(&name, known), *known))
        .filter(|(distance, known)| *distance <= 2 || *distance * 3 <= known.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

pub async fn run(args: SimulateArgs) -> ExitCode {
    if !HANDLED_EVENTS.contains(&args.event_name.as_str()) {
        if let Some(known) = suggestion(&args.event_name) {
            eprintln!(
                "error: unknown event name `{}`; did you mean `{known}`?",
                args.event_name
            );
            return ExitCode::from(exit::USAGE);
        }
        eprintln!(
            "note: the bridge does not act on `{}` events (it acts on {}); explaining anyway",
            args.event_name,
            HANDLED_EVENTS.join(", ")
        );
    }
    let body = match std::fs::read(&args.event) {
        Ok(body) => body,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", args.event.display());
            return ExitCode::from(exit::USAGE);
        }
    };
    let event = match parse_event(&args.event_name, &body) {
        Ok(event) => event,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let jules_key = args.jules_api_key.filter(|key| !key.trim().is_empty());
    let settings = Settings {
        trigger_label: args.trigger_label,
        command_prefix: args.command_prefix,
        prompt: args.prompt,
        allowed_bots: args.allowed_bots,
        // As the Action: markers are signed with a key derived from the Jules API key, and
        // the workflow that runs on `workflow_run` is the CI fixer's opt-in.
        identity: Identity {
            own_logins: args.bot_login,
            marker_key: jules_key
                .as_deref()
                .map(|key| MarkerKey::derive([key]))
                .unwrap_or_else(MarkerKey::unkeyed),
        },
        ci_fixer: Some(CiFixerPolicy::default()),
        ..Settings::default()
    };
    let github = args
        .github_token
        .filter(|token| !token.trim().is_empty())
        .and_then(|token| {
            GitHubClient::with_token(&args.github_api_url, SecretString::from(token)).ok()
        });
    let jules = jules_key.and_then(|key| {
        JulesClient::new(
            SecretString::from(key),
            ClientConfig {
                base_url: args.jules_api_url,
                ..ClientConfig::default()
            },
        )
        .ok()
    });
    let report = crate::simulate::explain(
        &args.event_name,
        &event,
        &settings,
        github.as_ref(),
        jules.as_ref(),
    )
    .await;
    print!("{report}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn a_near_miss_suggests_the_event_name() {
        assert_eq!(suggestion("issue"), Some("issues"));
        assert_eq!(suggestion("Issues"), Some("issues"));
        assert_eq!(suggestion("issue_comments"), Some("issue_comment"));
        assert_eq!(suggestion("workflow-dispatch"), Some("workflow_dispatch"));
        assert_eq!(suggestion("pullrequest"), Some("pull_request"));
        assert_eq!(suggestion("star"), None);
        assert_eq!(suggestion("deployment_status"), None);
    }
}
