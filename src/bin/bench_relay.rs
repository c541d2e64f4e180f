//! Relay cost benchmark: the release `jules-bridge serve` (its own process, SQLite, token mode)
//! relaying N tracked sessions on `jules-fake` to `github-fake`, both running in this process
//! and recording every request. Most sessions sit idle (AWAITING_PLAN_APPROVAL); a few
//! `[fake:slow]` ones work through their plan during the measured window.
//!
//! ```text
//! cargo run --release --features bench --bin bench_relay -- \
//!     [--sessions 10,100,1000] [--active 5] [--duration 20] [--runs 3] \
//!     [--fast-ms 500] [--slow-ms 2000] [--step-ms 200] [--budget 100] [--bridge PATH] [--out FILE]
//! ```
//!
//! Builds `target/release/jules-bridge` first unless `--bridge` names a binary. Per run:
//!
//! - Jules calls per relay tick: the fake's request log split at each `sessions.list` call
//!   (one per tick), against the sessions changed in that tick (sessions with an activity
//!   created since the previous tick's list call: the ground truth), and the sessions the
//!   relay treated as changed (those it listed activities of). The start-up ticks (after a
//!   start the relay relays every session once: max(1, N/100 - 1) ticks) are reported apart
//!   from the steady state.
//! - GitHub calls per relayed activity (steady state): requests `github-fake` received after
//!   the start-up ticks, over the activities created in that time.
//! - Relay delay: activity `createTime` -> the status comment edit that carried it (the first
//!   edit after the first `activities.list` of that session that arrived after the activity).
//! - RSS: `/proc/PID/status` VmRSS sampled every 50 ms, and VmHWM (peak) at the end.
//! - Request budget: the most `activities.list` calls Jules received in any 60 s, against
//!   `--budget` (`JULES_ACTIVITIES_PER_MINUTE`; Jules' observed quota is 120).
//!
//! Prints a summary per N (medians over the runs) and writes `bench/results/relay.json`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use github_fake::FakeGitHub;
use jules_bridge::jules::{ClientConfig, JulesClient, NewSession, RetryPolicy, State};
use jules_bridge::store::TrackedSession;
use jules_fake::{FakeConfig, FakeServer, RequestRecord};
use serde_json::{json, Value};

const JULES_KEY: &str = "bench-jules-key";
/// The harness's own key (set-up and ground truth), apart from the bridge's quota.
const HARNESS_KEY: &str = "bench-harness-key";
const TOKEN: &str = "ghs_benchrelaytoken0123456789";
const REPO: &str = "bench-org/bench-repo";
const BOT: &str = "github-actions[bot]";

#[derive(Debug, Clone)]
struct Options {
    sessions: Vec<usize>,
    active: usize,
    duration: u64,
    runs: usize,
    fast_ms: u64,
    slow_ms: u64,
    step_ms: u64,
    /// `JULES_ACTIVITIES_PER_MINUTE` for the server (0: no budget).
    budget: u32,
    bridge: Option<PathBuf>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_relay [--sessions 10,100,1000] [--active 5] [--duration 20] [--runs 3] \
         [--fast-ms 500] [--slow-ms 2000] [--step-ms 200] [--budget 100] [--bridge PATH] [--out FILE]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options {
        sessions: vec![10, 100, 1000],
        active: 5,
        duration: 20,
        runs: 3,
        fast_ms: 500,
        slow_ms: 2000,
        step_ms: 200,
        budget: 100,
        bridge: None,
        out: root.join("bench/results/relay.json"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let number = |text: String| text.parse::<u64>().unwrap_or_else(|_| usage());
        match arg.as_str() {
            "--sessions" => {
                options.sessions = value()
                    .split(',')
                    .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--active" => options.active = number(value()) as usize,
            "--duration" => options.duration = number(value()),
            "--runs" => options.runs = number(value()) as usize,
            "--fast-ms" => options.fast_ms = number(value()),
            "--slow-ms" => options.slow_ms = number(value()),
            "--step-ms" => options.step_ms = number(value()),
            "--budget" => options.budget = number(value()) as u32,
            "--bridge" => options.bridge = Some(PathBuf::from(value())),
            "--out" => options.out = PathBuf::from(value()),
            _ => usage(),
        }
    }
    options
}

fn bridge_binary(given: Option<PathBuf>) -> PathBuf {
    if let Some(path) = given {
        return path;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "jules-bridge"])
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build --release --bin jules-bridge failed"
    );
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("release/jules-bridge")
}

/// The most instants that fall within any `window` (instants in order).
fn max_in_window(instants: impl Iterator<Item = Instant>, window: Duration) -> usize {
    let instants: Vec<Instant> = instants.collect();
    let mut best = 0;
    let mut start = 0;
    for end in 0..instants.len() {
        while instants[end].duration_since(instants[start]) >= window {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best
}

fn median(values: &mut [f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(f64::total_cmp);
    let mid = finite.len() / 2;
    if finite.len() % 2 == 1 {
        finite[mid]
    } else {
        (finite[mid - 1] + finite[mid]) / 2.0
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round2(value: f64) -> Value {
    if value.is_finite() {
        json!((value * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The session id of an API path (`/v1alpha/sessions/ID/activities?...` -> `ID`).
fn session_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1alpha/sessions/")?;
    let end = rest.find(['/', ':', '?']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The first `sessions.list` call of a relay tick (without a page token).
fn is_tick(record: &RequestRecord) -> bool {
    record.method == "sessions.list" && !record.path.contains("pageToken")
}

struct Edit {
    comment: u64,
    updated_at: DateTime<Utc>,
}

/// One measured run for one N.
async fn run_once(options: &Options, bridge: &Path, n: usize, run: usize) -> anyhow::Result<Value> {
    let active = options.active.min(n);
    let idle = n - active;
    let jules = FakeServer::start(FakeConfig {
        // Any key: the harness reads with its own, so nothing it reads is counted against
        // the bridge's quota (quotas are per key).
        api_key: None,
        step: Duration::from_millis(options.step_ms),
        sources: None,
        // The set-up creates and reads 1,000 sessions, far beyond the live limits; the
        // activities quota is switched on before the bridge starts (below).
        limits: jules_fake::Limits::unlimited(),
        ..FakeConfig::default()
    })
    .await?;
    let github = FakeGitHub::start().await;
    github.add_actions_token(TOKEN);
    let client = JulesClient::new(
        HARNESS_KEY.to_owned().into(),
        ClientConfig {
            base_url: jules.url(),
            retry: RetryPolicy {
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(100),
                deadline: Duration::from_secs(10),
                max_attempts: 6,
            },
            ..ClientConfig::default()
        },
    )?;

    // Idle sessions: they plan, then wait for an approval that never comes.
    let mut sessions: Vec<(String, bool)> = Vec::new();
    for i in 0..idle {
        let mut new = NewSession::new(format!("Idle task {i}")).with_source(REPO, None);
        new.require_plan_approval = true;
        let session = client.create_session(&new).await?;
        sessions.push((session.name, false));
    }
    // Wait until every idle session awaits approval, and until the fake's monotonic clock
    // (which runs ahead of the wall clock while it hands out many timestamps at once) is
    // behind the wall clock again, so createTime and arrival times are comparable.
    let settle = Instant::now();
    loop {
        let mut waiting = 0;
        let mut newest = None;
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_sessions_page(false, Some(100), token.as_deref())
                .await?;
            for session in &page.sessions {
                if session.state == State::AwaitingPlanApproval {
                    waiting += 1;
                }
                newest = newest.max(session.update_time);
            }
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        let caught_up =
            newest.is_none_or(|t| Utc::now() > t + chrono::TimeDelta::milliseconds(200));
        if waiting == idle && caught_up {
            break;
        }
        anyhow::ensure!(
            settle.elapsed() < Duration::from_secs(120),
            "idle sessions never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Active sessions (newest, so on the first list page): work on their own, ten times
    // slower than normal sessions, through the measured window.
    for i in 0..active {
        let new = NewSession::new(format!("Active task {i} [fake:slow]")).with_source(REPO, None);
        let session = client.create_session(&new).await?;
        sessions.push((session.name, true));
    }

    // The bridge's state: a status comment per session, and the tracked rows as if the
    // sessions had been started and relayed before.
    let dir = std::env::temp_dir().join(format!("bench-relay-{}-{n}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let database_url = format!("sqlite:{}", dir.join("bridge.db").display());
    let store = jules_bridge::store::open(&database_url).await?;
    store.migrate().await?;
    let mut comment_of: HashMap<String, u64> = HashMap::new();
    for (i, (name, _)) in sessions.iter().enumerate() {
        let current = client.get_session(name).await?;
        let activities = client.all_activities(name, None).await?;
        let issue = 1 + i as u64;
        let comment = github.add_comment(
            REPO,
            issue,
            BOT,
            &format!("<!-- jules-bridge:session={name} -->\nstatus"),
        );
        comment_of.insert(name.clone(), comment);
        store
            .upsert_session(&TrackedSession {
                name: name.clone(),
                repo: REPO.into(),
                issue: issue as i64,
                installation_id: None,
                status_comment_id: Some(comment as i64),
                requester: Some("octocat".into()),
                state: current.state.to_string(),
                update_time: current.update_time,
                last_activity_time: activities.iter().filter_map(|a| a.create_time).max(),
                active: true,
                created_at: Utc::now(),
                checked_at: Some(Utc::now()),
                on_pull: false,
            })
            .await?;
    }
    drop(store);

    // Watch the active sessions' status comments for edits (the relay delay).
    let edits: Arc<Mutex<Vec<Edit>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watched: Vec<u64> = sessions
        .iter()
        .filter(|(_, is_active)| *is_active)
        .map(|(name, _)| comment_of[name])
        .collect();
    let watcher = {
        let github = github.clone();
        let edits = Arc::clone(&edits);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut last: HashMap<u64, usize> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                for id in &watched {
                    if let Some(comment) = github.comment(*id) {
                        if last.get(id) != Some(&comment.edits) {
                            last.insert(*id, comment.edits);
                            if comment.edits > 0 {
                                edits.lock().unwrap().push(Edit {
                                    comment: *id,
                                    updated_at: comment.updated_at,
                                });
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    jules.clear_request_log();
    github.clear_requests();
    // From here on Jules holds the bridge to its live activities quota.
    jules.set_limits(jules_fake::Limits {
        list_activities_per_minute: Some(120),
        ..jules_fake::Limits::unlimited()
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listen = listener.local_addr()?;
    drop(listener);
    let window_start = Utc::now();
    let mut child: Child = Command::new(bridge)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("WEBHOOK_SECRET", "bench-secret")
        .env("JULES_API_KEY", JULES_KEY)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", github.url())
        .env("JULES_API_URL", jules.url())
        .env("DATABASE_URL", &database_url)
        .env("LISTEN", listen.to_string())
        .env("RELAY_FAST_MS", options.fast_ms.to_string())
        .env("RELAY_SLOW_MS", options.slow_ms.to_string())
        .env("JULES_ACTIVITIES_PER_MINUTE", options.budget.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.duration);
    let mut rss_samples: Vec<u64> = Vec::new();
    // The first ticks after a start relay every session once (the relay remembers nothing
    // yet): the first page at tick 0, older ones as the sweep reaches them.
    let startup = n.div_ceil(100).saturating_sub(1).max(1);
    let mut github_after_tick0: Option<usize> = None;
    let mut rss_after_tick0: Option<u64> = None;
    while Instant::now() < deadline {
        if let Some((rss, _)) = memory_kib(pid) {
            rss_samples.push(rss);
        }
        if github_after_tick0.is_none()
            && jules.request_log().iter().filter(|r| is_tick(r)).count() > startup
        {
            github_after_tick0 = Some(github.requests().len());
            rss_after_tick0 = memory_kib(pid).map(|(rss, _)| rss);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (rss_end, hwm) = memory_kib(pid).unwrap_or((0, 0));
    let window_end = Utc::now();
    // What Jules refused (its activities quota), as the bridge counted it.
    let metrics_text = reqwest::get(format!("http://{listen}/metrics"))
        .await?
        .text()
        .await?;
    let metric = |prefix: &str| -> f64 {
        metrics_text
            .lines()
            .filter(|line| line.starts_with(prefix))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let refused_429 =
        metric(r#"jules_bridge_jules_calls_total{method="activities.list",status="429"}"#);
    let budget_waits = metric("jules_bridge_jules_budget_waits_total");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();

    let log: Vec<RequestRecord> = jules.request_log();
    let github_requests = github.requests();
    jules.set_limits(jules_fake::Limits::unlimited());

    // Activities created in the window, per session (ground truth), from the fake.
    let mut created: Vec<(String, DateTime<Utc>)> = Vec::new();
    for (name, _) in &sessions {
        for activity in client.all_activities(name, None).await? {
            if let Some(time) = activity.create_time {
                if time > window_start && time <= window_end {
                    created.push((name.trim_start_matches("sessions/").to_owned(), time));
                }
            }
        }
    }

    // Ticks: the log split at each sessions.list call.
    let list_at: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| is_tick(r))
        .map(|(i, _)| i)
        .collect();
    let mut ticks = Vec::new();
    for (t, &begin) in list_at.iter().enumerate() {
        let end = list_at.get(t + 1).copied().unwrap_or(log.len());
        let calls = &log[begin..end];
        let prev_list = if t == 0 {
            window_start
        } else {
            log[list_at[t - 1]].time
        };
        let this_list = log[begin].time;
        let changed_truth: HashSet<&str> = created
            .iter()
            .filter(|(_, time)| *time > prev_list && *time <= this_list)
            .map(|(id, _)| id.as_str())
            .collect();
        let relayed: HashSet<&str> = calls
            .iter()
            .filter(|r| r.method == "activities.list")
            .filter_map(|r| session_of(&r.path))
            .collect();
        let mut by_method: BTreeMap<&str, usize> = BTreeMap::new();
        for call in calls {
            *by_method.entry(call.method).or_default() += 1;
        }
        ticks.push(json!({
            "tick": t,
            "calls": calls.len(),
            "changed": changed_truth.len(),
            "relayed": relayed.len(),
            "by_method": by_method,
            "within_target": calls.len() <= 2 + changed_truth.len(),
        }));
    }
    let steady: Vec<&Value> = ticks.iter().skip(startup).collect();
    let startup_calls: f64 = ticks
        .iter()
        .take(startup)
        .map(|t| t["calls"].as_f64().unwrap_or(0.0))
        .sum();
    let as_f = |v: &Value, key: &str| v[key].as_f64().unwrap_or(0.0);
    let steady_calls: Vec<f64> = steady.iter().map(|t| as_f(t, "calls")).collect();
    let steady_changed: Vec<f64> = steady.iter().map(|t| as_f(t, "changed")).collect();
    let steady_excess: Vec<f64> = steady
        .iter()
        .map(|t| as_f(t, "calls") - as_f(t, "changed"))
        .collect();
    let violations = steady
        .iter()
        .filter(|t| t["within_target"] == json!(false))
        .count();

    // GitHub calls per relayed activity, steady state (after tick 0).
    let tick0_github = github_after_tick0.unwrap_or(github_requests.len());
    let steady_github = &github_requests[tick0_github.min(github_requests.len())..];
    let mut steady_github_by_method: BTreeMap<String, usize> = BTreeMap::new();
    for request in steady_github {
        let route = request.path.split('?').next().unwrap_or_default();
        let kind = if route.contains("/comments/") {
            "comment"
        } else if route.contains("/comments") {
            "comments"
        } else {
            route
        };
        *steady_github_by_method
            .entry(format!("{} {kind}", request.method))
            .or_default() += 1;
    }
    let tick1_start = list_at
        .get(startup)
        .map(|&i| log[i].time)
        .unwrap_or(window_end);
    let steady_activities = created.iter().filter(|(_, t)| *t > tick1_start).count();

    // Relay delay of each activity of an active session created in the steady state.
    let edits = edits.lock().unwrap();
    let mut delays = Vec::new();
    for (id, time) in &created {
        let name = format!("sessions/{id}");
        let Some(&comment) = comment_of.get(&name) else {
            continue;
        };
        if !sessions.iter().any(|(n, a)| *a && *n == name) || *time <= tick1_start {
            continue;
        }
        let fetched = log.iter().find(|r| {
            r.method == "activities.list" && session_of(&r.path) == Some(id) && r.time > *time
        });
        let Some(fetched) = fetched else { continue };
        let edit = edits
            .iter()
            .filter(|e| e.comment == comment && e.updated_at >= fetched.time)
            .map(|e| e.updated_at)
            .min();
        if let Some(edit) = edit {
            delays.push((edit - *time).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }

    let _ = std::fs::remove_dir_all(&dir);
    let tick0 = ticks.first().cloned().unwrap_or(Value::Null);
    let result = json!({
        "sessions": n,
        "active": active,
        "run": run,
        "duration_s": options.duration,
        "ticks": ticks.len(),
        "tick0": tick0,
        "startup_ticks": startup,
        "startup_jules_calls": startup_calls,
        "startup_github_calls": tick0_github,
        "steady_calls_per_tick": {
            "mean": round2(steady_calls.iter().sum::<f64>() / steady_calls.len().max(1) as f64),
            "median": round2(median(&mut steady_calls.clone())),
            "max": round2(steady_calls.iter().copied().fold(0.0, f64::max)),
        },
        "steady_changed_per_tick_mean": round2(steady_changed.iter().sum::<f64>() / steady_changed.len().max(1) as f64),
        "steady_calls_minus_changed_max": round2(steady_excess.iter().copied().fold(0.0, f64::max)),
        "steady_ticks_over_target": violations,
        "steady_jules_calls": steady_calls.iter().sum::<f64>(),
        "steady_activities": steady_activities,
        "steady_github_calls": steady_github.len(),
        "steady_github_by_method": steady_github_by_method,
        "github_calls_per_activity": round2(steady_github.len() as f64 / steady_activities.max(1) as f64),
        "relay_delay_ms": {
            "n": delays.len(),
            "p50": round2(percentile(&delays, 50.0)),
            "p90": round2(percentile(&delays, 90.0)),
            "max": round2(percentile(&delays, 100.0)),
        },
        "budget_per_minute": options.budget,
        "activities_list_refused_429": refused_429,
        "budget_waits": budget_waits,
        "max_activities_list_in_60s": max_in_window(
            log.iter()
                .filter(|r| r.method == "activities.list")
                .map(|r| r.at),
            Duration::from_secs(60),
        ),
        "rss_mib": {
            "after_tick0": rss_after_tick0.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
            "end": (rss_end as f64 / 1024.0 * 10.0).round() / 10.0,
            "peak_sampled": (rss_samples.iter().copied().max().unwrap_or(0) as f64 / 1024.0 * 10.0).round() / 10.0,
            "hwm": (hwm as f64 / 1024.0 * 10.0).round() / 10.0,
        },
        "tick_detail": ticks,
    });
    Ok(result)
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let bridge = bridge_binary(options.bridge.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    let mut summaries = Vec::new();
    for &n in &options.sessions {
        let mut runs = Vec::new();
        for run in 0..options.runs {
            let result = runtime.block_on(run_once(&options, &bridge, n, run))?;
            let mut short = result.clone();
            short.as_object_mut().map(|o| o.remove("tick_detail"));
            println!("N={n} run {run}: {short}");
            runs.push(result);
        }
        let med = |pointer: &str| {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.pointer(pointer).and_then(Value::as_f64))
                .collect();
            round2(median(&mut values))
        };
        let summary = json!({
            "sessions": n,
            "active": options.active.min(n),
            "runs": options.runs,
            "ticks": med("/ticks"),
            "startup_ticks": med("/startup_ticks"),
            "startup_jules_calls": med("/startup_jules_calls"),
            "startup_github_calls": med("/startup_github_calls"),
            "steady_calls_per_tick_mean": med("/steady_calls_per_tick/mean"),
            "steady_calls_per_tick_median": med("/steady_calls_per_tick/median"),
            "steady_calls_per_tick_max": med("/steady_calls_per_tick/max"),
            "steady_changed_per_tick_mean": med("/steady_changed_per_tick_mean"),
            "steady_calls_minus_changed_max": med("/steady_calls_minus_changed_max"),
            "steady_ticks_over_target": med("/steady_ticks_over_target"),
            "github_calls_per_activity": med("/github_calls_per_activity"),
            "relay_delay_p50_ms": med("/relay_delay_ms/p50"),
            "relay_delay_p90_ms": med("/relay_delay_ms/p90"),
            "relay_delay_max_ms": med("/relay_delay_ms/max"),
            "rss_after_tick0_mib": med("/rss_mib/after_tick0"),
            "rss_end_mib": med("/rss_mib/end"),
            "rss_hwm_mib": med("/rss_mib/hwm"),
            "budget_per_minute": options.budget,
            "max_activities_list_in_60s": med("/max_activities_list_in_60s"),
            "activities_list_refused_429": med("/activities_list_refused_429"),
            "budget_waits": med("/budget_waits"),
        });
        println!("N={n} median of {} runs: {summary}", options.runs);
        summaries.push(summary);
        all.push(json!({ "sessions": n, "runs": runs }));
    }
    let result = json!({
        "benchmark": "relay-cost",
        "binary": bridge.display().to_string(),
        "options": {
            "active": options.active,
            "duration_s": options.duration,
            "runs": options.runs,
            "relay_fast_ms": options.fast_ms,
            "relay_slow_ms": options.slow_ms,
            "fake_step_ms": options.step_ms,
            "budget_per_minute": options.budget,
        },
        "summary": summaries,
        "detail": all,
    });
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.out, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("wrote {}", options.out.display());
    Ok(())
}
