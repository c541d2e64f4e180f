//! `jules-bridge jules <resource> <verb>`: the 12 Jules methods from the shell.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde::Serialize;

use super::exit;
use super::render;
use crate::jules::{
    AutomationMode, ClientConfig, JulesClient, JulesError, NewSession, State, Timestamp,
    WatchEvent, WatchOptions, DEFAULT_API_URL,
};

#[derive(Debug, Args)]
pub struct JulesArgs {
    /// The Jules API key.
    #[arg(long, env = "JULES_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// The Jules service root (for jules-fake: http://127.0.0.1:PORT).
    #[arg(long, env = "JULES_API_URL", default_value = DEFAULT_API_URL, global = true)]
    api_url: String,
    /// Print the API objects as JSON (lists and watch: one object per line).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    resource: Resource,
}

#[derive(Debug, Subcommand)]
enum Resource {
    /// Repositories connected to Jules.
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// Jules sessions (tasks).
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// What happened in a session.
    #[command(subcommand)]
    Activities(ActivitiesCmd),
}

#[derive(Debug, Subcommand)]
enum SourcesCmd {
    /// List sources (sources.list).
    List {
        /// Only `name` terms: `name=sources/github/o/r OR name=...`.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Show one source (sources.get).
    Get {
        /// `OWNER/REPO` or a source name (`sources/...`).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCmd {
    /// List sessions, newest first (sessions.list).
    List {
        /// Only archived sessions.
        #[arg(long)]
        archived: bool,
        /// At most this many.
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Show a session (sessions.get).
    Get { id: String },
    /// Start a session (sessions.create). Safe to retry: never creates a duplicate.
    Create {
        /// What Jules should do.
        #[arg(long)]
        prompt: String,
        /// The repository, `OWNER/REPO` or a source name; omit for a repoless session.
        #[arg(long)]
        source: Option<String>,
        /// The branch to start from (default: the repository's default branch).
        #[arg(long, requires = "source")]
        branch: Option<String>,
        #[arg(long)]
        title: Option<String>,
        /// Wait for `sessions approve` before Jules starts working.
        #[arg(long)]
        require_plan_approval: bool,
        /// Let Jules open a pull request when done.
        #[arg(long)]
        auto_pr: bool,
    },
    /// Send a message to a session (sessions.sendMessage).
    Message { id: String, text: String },
    /// Approve the pending plan (sessions.approvePlan).
    Approve { id: String },
    /// Archive a session (sessions.archive).
    Archive { id: String },
    /// Unarchive a session (sessions.unarchive).
    Unarchive { id: String },
    /// Delete a session (sessions.delete).
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum ActivitiesCmd {
    /// List a session's activities, oldest first (activities.list).
    List {
        id: String,
        /// Only activities created after this RFC 3339 timestamp.
        #[arg(long)]
        after: Option<Timestamp>,
    },
    /// Show one activity (activities.get).
    Get { id: String, activity_id: String },
    /// Print each new activity until the session completes (exit 0) or fails (exit 3).
    Watch {
        id: String,
        /// Only activities created after this RFC 3339 timestamp.
        #[arg(long)]
        after: Option<Timestamp>,
        /// Stop when the session is done, or as soon as it waits for a person.
        #[arg(long, value_enum, default_value_t = Until::Done)]
        until: Until,
        /// Polling interval while the session works, in milliseconds (slower while it waits).
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..))]
        poll_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Until {
    /// COMPLETED or FAILED.
    Done,
    /// Waiting for plan approval or an answer (or done).
    Waiting,
}

pub async fn run(args: JulesArgs) -> ExitCode {
    // A missing key is reported before any request is made.
    let Some(key) = args.api_key.as_deref().filter(|key| !key.trim().is_empty()) else {
        eprintln!("error: no Jules API key: set JULES_API_KEY or pass --api-key");
        return ExitCode::from(exit::USAGE);
    };
    let config = ClientConfig {
        base_url: args.api_url.clone(),
        ..ClientConfig::default()
    };
    let client = match JulesClient::new(SecretString::from(key.to_owned()), config) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let out = Output { json: args.json };
    match dispatch(&client, args.resource, &out).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", render::error(&error));
            ExitCode::from(exit::FAILURE)
        }
    }
}

async fn dispatch(
    client: &JulesClient,
    resource: Resource,
    out: &Output,
) -> Result<ExitCode, JulesError> {
    match resource {
        Resource::Sources(SourcesCmd::List { filter }) => {
            let sources = client.sources(filter);
            futures::pin_mut!(sources);
            while let Some(source) = sources.try_next().await? {
                out.line(&source, || render::source_line(&source));
            }
        }
        Resource::Sources(SourcesCmd::Get { name }) => {
            let source = client.get_source(&name).await?;
            out.document(&source, || render::source_line(&source));
        }
        Resource::Sessions(SessionsCmd::List { archived, limit }) => {
            let sessions = client.sessions(archived).take(limit);
            futures::pin_mut!(sessions);
            while let Some(session) = sessions.try_next().await? {
                out.line(&session, || render::session_line(&session));
            }
        }
        Resource::Sessions(SessionsCmd::Get { id }) => {
            let session = client.get_session(&id).await?;
            out.document(&session, || render::session_details(&session));
        }
        Resource::Sessions(SessionsCmd::Create {
            prompt,
            source,
            branch,
            title,
            require_plan_approval,
            auto_pr,
        }) => {
            let mut new = NewSession::new(prompt).with_plan_approval(require_plan_approval);
            if let Some(source) = &source {
                new = new.with_source(source, branch.as_deref());
            }
            if let Some(title) = title {
                new = new.with_title(title);
            }
            if auto_pr {
                new = new.with_automation_mode(AutomationMode::AutoCreatePr);
            }
            let session = client.create_session(&new).await?;
            out.document(&session, || render::session_details(&session));
        }
        Resource::Sessions(SessionsCmd::Message { id, text }) => {
            client.send_message(&id, &text).await?;
            out.done(&format!("message sent to {}", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Approve { id }) => {
            client.approve_plan(&id).await?;
            out.done(&format!("plan approved for {}", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Archive { id }) => {
            client.archive_session(&id).await?;
            out.done(&format!("{} archived", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Unarchive { id }) => {
            client.unarchive_session(&id).await?;
            out.done(&format!("{} unarchived", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Delete { id }) => {
            client.delete_session(&id).await?;
            out.done(&format!("{} deleted", render::session_ref(&id)));
        }
        Resource::Activities(ActivitiesCmd::List { id, after }) => {
            let activities = client.activities(&id, after);
            futures::pin_mut!(activities);
            while let Some(activity) = activities.try_next().await? {
                out.line(&activity, || render::activity_line(&activity));
            }
        }
        Resource::Activities(ActivitiesCmd::Get { id, activity_id }) => {
            let activity = client.get_activity(&id, &activity_id).await?;
            out.document(&activity, || render::activity_details(&activity));
        }
        Resource::Activities(ActivitiesCmd::Watch {
            id,
            after,
            until,
            poll_ms,
        }) => return watch(client, &id, after, until, poll_ms, out).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(
    client: &JulesClient,
    id: &str,
    after: Option<Timestamp>,
    until: Until,
    poll_ms: u64,
    out: &Output,
) -> Result<ExitCode, JulesError> {
    let options = WatchOptions {
        after,
        ..WatchOptions::with_fast_interval(Duration::from_millis(poll_ms))
    };
    let events = client.watch(id, options);
    futures::pin_mut!(events);
    while let Some(event) = events.try_next().await? {
        match event {
            WatchEvent::Activity(activity) => {
                out.line(&activity, || render::activity_line(&activity));
            }
            WatchEvent::State(session) => {
                // In JSON mode the activities are the record; states go to stderr.
                let line = render::state_line(&session);
                if out.json {
                    eprintln!("{line}");
                } else {
                    out.print(&line);
                }
                match session.state {
                    State::Failed => return Ok(ExitCode::from(exit::SESSION_FAILED)),
                    State::Completed => return Ok(ExitCode::SUCCESS),
                    ref state if until == Until::Waiting && state.awaits_human() => {
                        return Ok(ExitCode::SUCCESS)
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints either readable text or the API objects.
struct Output {
    json: bool,
}

impl Output {
    /// One item of a list or stream: one line either way.
    fn line<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            self.print(&serde_json::to_string(value).unwrap_or_default());
        } else {
            self.print(&text());
        }
    }

    /// A single object: pretty JSON, or readable text.
    fn document<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            self.print(&serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            self.print(&text());
        }
    }

    /// A method that answers `{}`.
    fn done(&self, text: &str) {
        if self.json {
            self.print("{}");
        } else {
            self.print(text);
        }
    }

    fn print(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    }
}
