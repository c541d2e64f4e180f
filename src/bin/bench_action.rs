//! Action start benchmark: the release `jules-bridge action` binary, run as the Actions runner
//! runs it (a labelled issue, `INPUT_*` with hyphens), against `jules-fake` and `github-fake`
//! running in this process, which record when the requests arrive.
//!
//! ```text
//! cargo run --release --features bench --bin bench_action -- [--runs 30] [--bridge PATH] [--out FILE]
//! ```
//!
//! Builds `target/release/jules-bridge` first (`cargo build --release --bin jules-bridge`)
//! unless `--bridge` names a binary. Times are measured from just before `spawn`:
//! the 👀 reaction (GitHub, after the permission check), the first Jules request, the status
//! comment, and the process exit. Prints p50/p90/max and writes
//! `bench/results/action.json` with every run and the binary size.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use github_fake::FakeGitHub;
use jules_fake::{FakeConfig, FakeServer};
use serde_json::{json, Value};

const JULES_KEY: &str = "bench-jules-key";
const TOKEN: &str = "ghs_benchactiontoken0123456789";
const REPO: &str = "Codertocat/Hello-World";

struct Options {
    runs: usize,
    bridge: Option<PathBuf>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!("usage: bench_action [--runs 30] [--bridge PATH] [--out bench/results/action.json]");
    std::process::exit(2)
}

fn options() -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options {
        runs: 30,
        bridge: None,
        out: root.join("bench/results/action.json"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--runs" => options.runs = value().parse().unwrap_or_else(|_| usage()),
            "--bridge" => options.bridge = Some(PathBuf::from(value())),
            "--out" => options.out = PathBuf::from(value()),
            _ => usage(),
        }
    }
    options
}

/// The release binary: built here unless given.
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
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    target.join("release/jules-bridge")
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn wall_millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(values: &[f64]) -> Value {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let round = |v: f64| (v * 100.0).round() / 100.0;
    json!({
        "p50": round(percentile(&sorted, 50.0)),
        "p90": round(percentile(&sorted, 90.0)),
        "max": round(sorted.last().copied().unwrap_or(f64::NAN)),
        "min": round(sorted.first().copied().unwrap_or(f64::NAN)),
        "n": sorted.len(),
    })
}

fn main() -> anyhow::Result<()> {
    let options = options();
    let bridge = bridge_binary(options.bridge.clone());
    let size = std::fs::metadata(&bridge)?.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let jules = runtime.block_on(FakeServer::start(FakeConfig {
        api_key: Some(JULES_KEY.into()),
        step: Duration::ZERO,
        sources: None,
        // One session per run, none of them ever finishing: more than 15 would be refused.
        limits: jules_fake::Limits::unlimited(),
        ..FakeConfig::default()
    }))?;
    let github = runtime.block_on(FakeGitHub::start());
    github.add_actions_token(TOKEN);
    github.set_permission(REPO, "Codertocat", "write");

    let dir = tempfile_dir()?;
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks/issues.labeled.json"),
    )?)?;

    let mut runs = Vec::new();
    // One warm-up run (page cache, first connection of the fakes), not reported.
    for n in 0..=options.runs {
        let issue = 5000 + n as u64;
        let mut payload = fixture.clone();
        payload["label"]["name"] = json!("jules-bridge");
        payload["issue"]["number"] = json!(issue);
        github.add_event_issue(&payload);
        let event_path = dir.join(format!("event-{n}.json"));
        std::fs::write(&event_path, serde_json::to_vec(&payload)?)?;
        jules.clear_request_log();

        let mut command = Command::new(&bridge);
        command
            .arg("action")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "issues")
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_OUTPUT", dir.join(format!("output-{n}")))
            .env("GITHUB_STEP_SUMMARY", dir.join(format!("summary-{n}")))
            .env("GITHUB_API_URL", github.url())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_RUN_ID", "4242")
            .env("INPUT_JULES-API-KEY", JULES_KEY)
            .env("INPUT_GITHUB-TOKEN", TOKEN)
            .env("INPUT_JULES-API-URL", jules.url())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let wall0 = Utc::now();
        let start = Instant::now();
        let child = command.spawn()?;
        let output = child.wait_with_output()?;
        let exit = start.elapsed();
        if !output.status.success() {
            anyhow::bail!(
                "the action failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let log = jules.request_log();
        let first_jules = log.first().map(|r| r.at.duration_since(start));
        let status_comment = github
            .comments(REPO, issue)
            .into_iter()
            .find(|c| c.body.contains("<!-- jules-bridge:session="));
        let reaction = github.reactions().into_iter().find(|r| {
            r.target
                == github_fake::ReactionTarget::Issue {
                    repo: REPO.into(),
                    number: issue,
                }
        });
        let run = json!({
            "first_jules_request_ms": first_jules.map(millis),
            "first_jules_method": log.first().map(|r| r.method),
            "jules_requests": log.len(),
            "reaction_ms": reaction.map(|r| wall_millis(wall0, r.created_at)),
            "status_comment_ms": status_comment.map(|c| wall_millis(wall0, c.created_at)),
            "exit_ms": millis(exit),
        });
        if n > 0 {
            println!("run {n:>2}: {run}");
            runs.push(run);
        }
    }

    let field = |name: &str| -> Vec<f64> {
        runs.iter()
            .filter_map(|r| r[name].as_f64())
            .collect::<Vec<f64>>()
    };
    let result = json!({
        "benchmark": "action-start",
        "binary": bridge.display().to_string(),
        "binary_bytes": size,
        "binary_stripped": true,
        "runs": options.runs,
        "first_jules_request_ms": summary(&field("first_jules_request_ms")),
        "reaction_ms": summary(&field("reaction_ms")),
        "status_comment_ms": summary(&field("status_comment_ms")),
        "exit_ms": summary(&field("exit_ms")),
        "first_jules_method": runs.first().map(|r| r["first_jules_method"].clone()),
        "per_run": runs,
        "target_first_request_ms": 50,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&result_without_runs(&result))?
    );
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.out, serde_json::to_string_pretty(&result)? + "\n")?;
    println!("wrote {}", options.out.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn result_without_runs(result: &Value) -> Value {
    let mut short = result.clone();
    if let Some(object) = short.as_object_mut() {
        object.remove("per_run");
    }
    short
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bench-action-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
