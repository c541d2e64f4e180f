//! `jules-bridge jules <resource> <verb>`: the 12 Jules methods from the shell.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde::Serialize;
use tokio::time::Instant;

use super::exit;
use super::render::{self, Subject, Tried};
use crate::jules::{
    AutomationMode, CallObserver, ClientConfig, JulesClient, JulesError, NewSession, RetryPolicy,
    Session, State, Timestamp, WatchEvent, WatchOptions, DEFAULT_API_URL,
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
    /// The longest one API call may take, retries included. Answers that mean "later" (429,
    /// 5xx, no answer in time) are retried until then; a refused connection gets two quick
    /// retries, an unknown host none.
    #[arg(
        long,
        env = "JULES_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    timeout: u64,
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
    let limit = Duration::from_secs(args.timeout);
    let exchanges = Arc::new(AtomicUsize::new(0));
    let counter = exchanges.clone();
    let config = ClientConfig {
        base_url: args.api_url.clone(),
        connect_timeout: limit.min(Duration::from_secs(10)),
        request_timeout: limit.min(Duration::from_secs(30)),
        retry: quick_retries(limit),
        observer: Some(CallObserver(Arc::new(move |_method, _status| {
            counter.fetch_add(1, Ordering::Relaxed);
        }))),
        ..ClientConfig::default()
    };
    let client = match JulesClient::new(SecretString::from(key.to_owned()), config) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let effort = Effort {
        client,
        limit,
        exchanges,
    };
    let out = Output { json: args.json };
    match dispatch(&effort, args.resource, &out).await {
        Ok(code) => code,
        Err(failure) => {
            let host = render::host_of(&args.api_url);
            eprintln!(
                "error: {}",
                render::failure(&failure.error, &failure.subject, &failure.tried, &host)
            );
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// Attempts the client makes on its own: two quick retries, enough for a service that is
/// restarting, never the minutes a long-running server would wait. Answers that mean "try
/// later" are retried again by [`Effort::call`], with longer delays, up to `--timeout`.
fn quick_retries(limit: Duration) -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(800),
        deadline: limit.min(Duration::from_secs(3)),
        max_attempts: QUICK_ATTEMPTS,
    }
}

/// The least time left for which [`Effort::call`] starts another attempt.
const LAST_CHANCE: Duration = Duration::from_millis(500);

/// Attempts of one call inside the client (see [`quick_retries`]).
const QUICK_ATTEMPTS: usize = 3;

/// The delays between "later" answers, within `--timeout`.
fn patient_retries(limit: Duration) -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15),
        deadline: limit,
        max_attempts: 100,
    }
}

/// A failed command: the last error, what it was about, and what was tried.
struct Failure {
    error: JulesError,
    subject: Subject,
    tried: Tried,
}

impl Failure {
    fn about(mut self, subject: Subject) -> Self {
        self.subject = subject;
        self
    }
}

/// How a call is repeated by [`Effort::call`].
#[derive(Clone, Copy)]
enum Again<'a> {
    /// Not at all beyond the client's quick retries: the call changes something each time
    /// (create, message) or a repeat would answer differently (approve).
    Never,
    /// Answers that mean "later" are retried until `--timeout`.
    Later,
    /// Also a 404 while the session is new and its activities do not answer yet: Jules
    /// answers that for a few seconds after a session is created.
    LaterOrWhileSessionAppears(&'a str),
}

/// The CLI's patience: the client, `--timeout`, and the count of HTTP exchanges made.
struct Effort {
    client: JulesClient,
    limit: Duration,
    exchanges: Arc<AtomicUsize>,
}

impl Effort {
    /// Runs one API call (`method`, for messages) until it succeeds, fails for good, or
    /// `--timeout` passes, repeating it as `again` says.
    async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        again: Again<'_>,
        mut call: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, JulesError>>,
    {
        let tried = self.start();
        let mut schedule = patient_retries(self.limit).start();
        let mut last: Option<JulesError> = None;
        loop {
            let remaining = self.limit.saturating_sub(tried.started.elapsed());
            let error = match tokio::time::timeout(remaining, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
                // Cut off at the limit, perhaps mid-exchange (which the observer did not
                // count): what was retried is the story, or else no answer came in time.
                Err(_) => {
                    let error = last.unwrap_or(JulesError::Timeout { method });
                    return Err(self.failure(error, &tried, 1));
                }
            };
            let repeat = match again {
                Again::Never => false,
                Again::Later => worth_waiting(&error),
                Again::LaterOrWhileSessionAppears(id) if error.is_not_found() => {
                    match activities_pending(&self.client, id).await {
                        Ok(pending) => pending,
                        Err(missing) => return Err(self.failure(missing, &tried, 0)),
                    }
                }
                Again::LaterOrWhileSessionAppears(_) => worth_waiting(&error),
            };
            let retry_after = error.api().and_then(|api| api.retry_after);
            // Another attempt only if it has a fair chance to finish within the limit.
            let delay = repeat
                .then(|| schedule.next_delay(retry_after))
                .flatten()
                .filter(|delay| tried.started.elapsed() + *delay + LAST_CHANCE < self.limit);
            match delay {
                Some(delay) => {
                    last = Some(error);
                    tokio::time::sleep(delay).await;
                }
                None => return Err(self.failure(error, &tried, 0)),
            }
        }
    }

    fn start(&self) -> Started {
        Started {
            started: Instant::now(),
            exchanges: self.exchanges.load(Ordering::Relaxed),
        }
    }

    fn failure(&self, error: JulesError, started: &Started, uncounted: usize) -> Failure {
        Failure {
            error,
            subject: Subject::Call,
            tried: Tried {
                attempts: (self.exchanges.load(Ordering::Relaxed) - started.exchanges + uncounted)
                    .max(1),
                elapsed: started.started.elapsed(),
                limit: self.limit,
                quick_retries: QUICK_ATTEMPTS - 1,
            },
        }
    }
}

/// After a 404 from an activities call: whether it is the 404 Jules answers for a new
/// session's activities for a few seconds (so worth waiting for). The session's own 404 is
/// returned: that is the answer. Once the list answers, a 404 is about what was asked.
async fn activities_pending(client: &JulesClient, id: &str) -> Result<bool, JulesError> {
    let session = client.get_session(id).await?;
    let new = session.create_time.is_none_or(|created| {
        chrono::Utc::now() - created < chrono::Duration::seconds(NEW_SESSION_SECS)
    });
    if !new {
        return Ok(false);
    }
    match client.list_activities_page(id, None, Some(1), None).await {
        Ok(_) => Ok(false),
        Err(error) => Ok(error.is_not_found() || worth_waiting(&error)),
    }
}

/// How long after its creation a session's activities may still be missing.
const NEW_SESSION_SECS: i64 = 60;

/// When a call (or a watch) began, and how many exchanges had been made before.
struct Started {
    started: Instant,
    exchanges: usize,
}

/// Answers that mean "later": rate limits and plan limits, server errors, no answer in time,
/// a connection lost mid-request. Not a failure to connect at all: the client already tried
/// that quickly, and waiting longer rarely helps a wrong address.
fn worth_waiting(error: &JulesError) -> bool {
    match error {
        JulesError::Api(api) => api.is_at_limit() || api.is_server_error(),
        JulesError::Timeout { .. } => true,
        JulesError::Transport { connect, .. } => !connect,
        _ => false,
    }
}

async fn dispatch(effort: &Effort, resource: Resource, out: &Output) -> Result<ExitCode, Failure> {
    let client = &effort.client;
    match resource {
        Resource::Sources(SourcesCmd::List { filter }) => {
            let mut token: Option<String> = None;
            loop {
                let page = effort
                    .call("sources.list", Again::Later, || {
                        client.list_sources_page(filter.as_deref(), Some(100), token.as_deref())
                    })
                    .await?;
                for source in &page.sources {
                    out.line(source, || render::source_line(source));
                }
                match next_token(page.next_page_token) {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        Resource::Sources(SourcesCmd::Get { name }) => {
            let source = effort
                .call("sources.get", Again::Later, || client.get_source(&name))
                .await
                .map_err(|failure| failure.about(Subject::Source(name.clone())))?;
            out.document(&source, || render::source_line(&source));
        }
        Resource::Sessions(SessionsCmd::List { archived, limit }) => {
            let mut token: Option<String> = None;
            let mut shown = 0;
            while shown < limit {
                let size = u32::try_from((limit - shown).min(100)).unwrap_or(100);
                let page = effort
                    .call("sessions.list", Again::Later, || {
                        client.list_sessions_page(archived, Some(size), token.as_deref())
                    })
                    .await?;
                for session in page.sessions.iter().take(limit - shown) {
                    out.line(session, || render::session_line(session));
                    shown += 1;
                }
                match next_token(page.next_page_token) {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        Resource::Sessions(SessionsCmd::Get { id }) => {
            let session = get_session(effort, &id).await?;
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
            // Never Jules' default title: the whole prompt, with the request tag in it.
            let title = title.unwrap_or_else(|| crate::engine::prompt::short_title(&prompt));
            let mut new = NewSession::new(prompt)
                .with_plan_approval(require_plan_approval)
                .with_title(title);
            if let Some(source) = &source {
                new = new.with_source(source, branch.as_deref());
            }
            if auto_pr {
                new = new.with_automation_mode(AutomationMode::AutoCreatePr);
            }
            let created = effort
                .call("sessions.create", Again::Never, || {
                    client.create_session(&new)
                })
                .await
                .map_err(|failure| match &source {
                    Some(source) if failure.error.is_not_found() => {
                        failure.about(Subject::Source(source.clone()))
                    }
                    _ => failure,
                })?;
            // The create answers without the state and the URL; a read has both. The session
            // exists either way, so a failed read only leaves them out.
            let session = match get_session(effort, &created.name).await {
                Ok(session) => session,
                Err(failure) => {
                    eprintln!(
                        "warning: created {}, but could not read its state: {}",
                        created.name, failure.error
                    );
                    created
                }
            };
            out.document(&session, || render::created_session(&session));
        }
        Resource::Sessions(SessionsCmd::Message { id, text }) => {
            effort
                .call("sessions.sendMessage", Again::Never, || {
                    client.send_message(&id, &text)
                })
                .await
                .map_err(|failure| failure.about(Subject::Session(id.clone())))?;
            out.done(&format!("message sent to {}", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Approve { id }) => {
            let approved = effort
                .call("sessions.approvePlan", Again::Never, || {
                    client.approve_plan(&id)
                })
                .await;
            if let Err(failure) = approved {
                let subject = match failure.error.api() {
                    Some(api) if api.is_failed_precondition() => {
                        // Best effort: the state says why nothing was pending.
                        let state = client.get_session(&id).await.ok().map(|s| s.state);
                        Subject::Approve {
                            id: id.clone(),
                            state,
                        }
                    }
                    _ => Subject::Session(id.clone()),
                };
                return Err(failure.about(subject));
            }
            out.done(&format!("plan approved for {}", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Archive { id }) => {
            effort
                .call("sessions.archive", Again::Later, || {
                    client.archive_session(&id)
                })
                .await
                .map_err(|failure| failure.about(Subject::Session(id.clone())))?;
            out.done(&format!("{} archived", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Unarchive { id }) => {
            effort
                .call("sessions.unarchive", Again::Later, || {
                    client.unarchive_session(&id)
                })
                .await
                .map_err(|failure| failure.about(Subject::Session(id.clone())))?;
            out.done(&format!("{} unarchived", render::session_ref(&id)));
        }
        Resource::Sessions(SessionsCmd::Delete { id }) => {
            effort
                .call("sessions.delete", Again::Later, || {
                    client.delete_session(&id)
                })
                .await
                .map_err(|failure| failure.about(Subject::Session(id.clone())))?;
            out.done(&format!("{} deleted", render::session_ref(&id)));
        }
        Resource::Activities(ActivitiesCmd::List { id, after }) => {
            let mut token: Option<String> = None;
            loop {
                let page = effort
                    .call(
                        "activities.list",
                        Again::LaterOrWhileSessionAppears(&id),
                        || client.list_activities_page(&id, after, Some(100), token.as_deref()),
                    )
                    .await
                    .map_err(|failure| failure.about(Subject::Session(id.clone())))?;
                for activity in &page.activities {
                    out.line(activity, || render::activity_line(activity));
                }
                match next_token(page.next_page_token) {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        Resource::Activities(ActivitiesCmd::Get { id, activity_id }) => {
            let got = effort
                .call(
                    "activities.get",
                    Again::LaterOrWhileSessionAppears(&id),
                    || client.get_activity(&id, &activity_id),
                )
                .await;
            let activity = match got {
                Ok(activity) => activity,
                Err(failure) if failure.error.is_not_found() => {
                    // Which of the two is missing: the session, or the activity in it?
                    let subject = match client.get_session(&id).await {
                        Ok(_) => Subject::Activity {
                            session: id.clone(),
                            activity: activity_id.clone(),
                        },
                        Err(_) => Subject::Session(id.clone()),
                    };
                    return Err(failure.about(subject));
                }
                Err(failure) => return Err(failure.about(Subject::Session(id.clone()))),
            };
            out.document(&activity, || render::activity_details(&activity));
        }
        Resource::Activities(ActivitiesCmd::Watch {
            id,
            after,
            until,
            poll_ms,
        }) => {
            return watch(effort, &id, after, until, poll_ms, out)
                .await
                .map_err(|failure| failure.about(Subject::Session(id.clone())))
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn get_session(effort: &Effort, id: &str) -> Result<Session, Failure> {
    effort
        .call("sessions.get", Again::Later, || {
            effort.client.get_session(id)
        })
        .await
        .map_err(|failure| failure.about(Subject::Session(id.to_owned())))
}

/// The token of the next page; an absent or empty one ends the list.
fn next_token(token: Option<String>) -> Option<String> {
    token.filter(|token| !token.is_empty())
}

/// Follows the session. A failure that means "later" (or the 404 of a session's first
/// seconds) starts the watch again after the last activity printed, as long as no more than
/// `--timeout` passes without progress; state lines are not repeated.
async fn watch(
    effort: &Effort,
    id: &str,
    mut after: Option<Timestamp>,
    until: Until,
    poll_ms: u64,
    out: &Output,
) -> Result<ExitCode, Failure> {
    let mut last_state: Option<State> = None;
    let mut started = effort.start();
    let mut schedule = patient_retries(effort.limit).start();
    loop {
        let options = WatchOptions {
            after,
            ..WatchOptions::with_fast_interval(Duration::from_millis(poll_ms))
        };
        let events = effort.client.watch(id, options);
        futures::pin_mut!(events);
        let error = loop {
            let event = match events.try_next().await {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(ExitCode::SUCCESS),
                Err(error) => break error,
            };
            // Progress: the patience starts over.
            started = effort.start();
            schedule = patient_retries(effort.limit).start();
            match event {
                WatchEvent::Activity(activity) => {
                    after = activity.create_time.or(after);
                    out.line(&activity, || render::activity_block(&activity));
                }
                WatchEvent::State(session) => {
                    if last_state.as_ref() != Some(&session.state) {
                        last_state = Some(session.state.clone());
                        // In JSON mode the activities are the record; states go to stderr.
                        let line = render::state_line(&session);
                        if out.json {
                            eprintln!("{line}");
                        } else {
                            out.print(&line);
                        }
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
        };
        let repeat = if error.is_not_found() {
            // A session that exists but whose activities are not there yet.
            activities_pending(&effort.client, id)
                .await
                .unwrap_or(false)
        } else {
            worth_waiting(&error)
        };
        let retry_after = error.api().and_then(|api| api.retry_after);
        let delay = repeat.then(|| schedule.next_delay(retry_after)).flatten();
        match delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => return Err(effort.failure(error, &started, 0)),
        }
    }
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
