//! Limits of `.github/jules-bridge.yml`, the per-repository file the server reads from GitHub:
//! a size cap, no YAML anchors or aliases (an "alias bomb" of a few kilobytes expands to
//! gigabytes in serde_yaml), and a config problem reported once per file content, not once per
//! delivery or retry.
//!
//! The allocation checks use a counting allocator that counts, per thread, the bytes
//! allocated: each test parses on its own thread, so other tests running at once do not count.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use jules_bridge::repo_config::{self, ConfigProblems, MAX_BYTES};
use jules_bridge::store::DeliveryStatus;
use serde_json::json;
use support::*;

// ---- allocation counting ------------------------------------------------------------------

struct Counting;

thread_local! {
    // `const` and without a destructor: reading it never allocates.
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a plain
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|count| count.set(count.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|count| count.set(count.get() + new_size));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `parse(yaml)`, with the bytes it allocated (on this thread) and the time it took.
fn measured_parse(
    yaml: &str,
) -> (
    Result<repo_config::RepoConfig, ConfigProblems>,
    usize,
    Duration,
) {
    let before = ALLOCATED.with(Cell::get);
    let started = Instant::now();
    let result = repo_config::parse(yaml);
    let elapsed = started.elapsed();
    let allocated = ALLOCATED.with(Cell::get) - before;
    (result, allocated, elapsed)
}

/// The alias bomb of the report: one anchored list of `items` zeros, and a list of `aliases`
/// aliases to it (`items * aliases` values once expanded).
fn bomb(items: usize, aliases: usize) -> String {
    format!(
        "x-a: &a [{}]\nx-b: [{}]\n",
        vec!["0"; items].join(","),
        vec!["*a"; aliases].join(",")
    )
}

const ANCHORS: &str = "anchors and aliases are not supported";

// ---- the parser ---------------------------------------------------------------------------

/// 3,000 x 3,000: a 15 KB file that serde_yaml expands to nine million values (about a
/// gigabyte). It is refused at the first anchor, before anything is expanded.
#[test]
fn an_alias_bomb_under_the_size_limit_is_refused_without_expanding_it() {
    let yaml = bomb(3_000, 3_000);
    assert!(yaml.len() < MAX_BYTES, "{} bytes", yaml.len());
    let (result, allocated, elapsed) = measured_parse(&yaml);
    let problems = result.expect_err("the bomb is refused").0;
    eprintln!(
        "{}-byte bomb refused in {elapsed:?}, {allocated} bytes allocated: {problems:?}",
        yaml.len()
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("line 1: "), "{problems:?}");
    assert!(problems[0].contains(ANCHORS), "{problems:?}");
    assert!(
        allocated < 1024 * 1024,
        "{allocated} bytes allocated to refuse a {}-byte file",
        yaml.len()
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

/// The file of the report (40,000 items, 40,000 aliases: about 200 KB) is refused by its size
/// alone, without being read as YAML.
#[test]
fn the_reported_200_kb_bomb_is_refused_by_its_size() {
    let yaml = bomb(40_000, 40_000);
    let (result, allocated, elapsed) = measured_parse(&yaml);
    let problems = result.expect_err("the bomb is refused").0;
    eprintln!(
        "{}-byte bomb refused in {elapsed:?}, {allocated} bytes allocated: {problems:?}",
        yaml.len()
    );
    assert_eq!(
        problems,
        vec![format!(
            "the file is {} bytes, over the limit of 32 KiB (32768 bytes); this file holds a few settings, not data",
            yaml.len()
        )]
    );
    assert!(allocated < 64 * 1024, "{allocated} bytes allocated");
    assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
}

/// A valid file padded with comments to 33 KiB is refused, naming the limit and the size; at
/// exactly 32 KiB it is read.
#[test]
fn a_33_kib_file_is_refused_naming_the_limit() {
    let padded = |size: usize| {
        let mut yaml = String::from("trigger_label: go\n");
        while yaml.len() < size {
            yaml.push_str("# padding\n");
        }
        yaml.truncate(size - 1);
        yaml.push('\n');
        yaml
    };
    let yaml = padded(33 * 1024);
    assert_eq!(yaml.len(), 33_792);
    let problems = repo_config::parse(&yaml).expect_err("too big").0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("33792 bytes"), "{problems:?}");
    assert!(
        problems[0].contains("32 KiB") && problems[0].contains("32768 bytes"),
        "{problems:?}"
    );

    let at_limit = padded(MAX_BYTES);
    assert_eq!(at_limit.len(), 32 * 1024);
    let config = repo_config::parse(&at_limit).expect("a file at the limit is read");
    assert_eq!(config.trigger_label.as_deref(), Some("go"));
}

/// `&` and `*` are only anchors and aliases where a node starts: in quoted text, block text,
/// plain text after its first character, comments and keys they are ordinary characters.
#[test]
fn ampersands_and_stars_in_text_are_not_anchors() {
    let yaml = "\
# Settings & notes: *not* an alias, &not an anchor
trigger_label: 'R&D *urgent*'
command_prefix: /jules
starting_branch: feature&fix
prompt_template: \"Fix *bold* & more: {instruction}\"
allowed_bots: [a&b, 'c*d', \"*e\", '&f'] # *g &h
limits:
  max_concurrent_sessions: 3 # &i
";
    let config = repo_config::parse(yaml).expect("the file is valid");
    assert_eq!(config.trigger_label.as_deref(), Some("R&D *urgent*"));
    assert_eq!(config.starting_branch.as_deref(), Some("feature&fix"));
    assert_eq!(
        config.prompt_template.as_deref(),
        Some("Fix *bold* & more: {instruction}")
    );
    assert_eq!(
        config.allowed_bots,
        Some(vec!["a&b".into(), "c*d".into(), "*e".into(), "&f".into()])
    );
    assert_eq!(config.max_concurrent_sessions(), Some(3));

    // Block text: lines may start with `*` or `&` (a Markdown list, say).
    let yaml = "\
prompt_template: |
  *Important*: {instruction}
  & also:
    * {context}
    &anchor *alias
  - &x [*x]
trigger_label: >-
  a &b *c
";
    let config = repo_config::parse(yaml).expect("the file is valid");
    assert_eq!(
        config.prompt_template.as_deref(),
        Some("*Important*: {instruction}\n& also:\n  * {context}\n  &anchor *alias\n- &x [*x]\n")
    );
    assert_eq!(config.trigger_label.as_deref(), Some("a &b *c"));

    // Quoted text over several lines, with escapes.
    let yaml = "prompt_template: \"{instruction}\n  *a &b \\\" *c\"\ntrigger_label: 'x\n  &y'\n";
    let config = repo_config::parse(yaml).expect("the file is valid");
    assert_eq!(
        config.prompt_template.as_deref(),
        Some("{instruction} *a &b \" *c")
    );
    assert_eq!(config.trigger_label.as_deref(), Some("x &y"));
}

/// Every place an anchor or an alias can stand is refused, with its line.
#[test]
fn every_anchor_and_alias_is_refused() {
    let cases = [
        ("trigger_label: &label go\n", 1),
        ("allowed_bots: &bots [renovate]\n", 1),
        ("limits: &limits\n  max_concurrent_sessions: 3\n", 1),
        ("trigger_label: go\nallowed_bots:\n  - &bot renovate\n", 3),
        // An alias to an anchor defined in an ignored key.
        ("x-bots: &bots [renovate]\nallowed_bots: *bots\n", 1),
        // A merge key.
        (
            "base: &base\n  max_concurrent_sessions: 3\nlimits:\n  <<: *base\n",
            1,
        ),
        // Anchors on keys, in flow collections, on empty values, and tagged.
        ("&k trigger_label: go\n", 1),
        ("limits: {max_concurrent_sessions: &n 3}\n", 1),
        ("trigger_label: go\nstarting_branch: &empty\n", 2),
        ("trigger_label: !!str &t go\n", 1),
        ("---\ntrigger_label: go\n---\nx: &a [1]\ny: *a\n", 4),
    ];
    for (yaml, line) in cases {
        let (result, allocated, _) = measured_parse(yaml);
        let problems = result.expect_err(yaml).0;
        assert_eq!(problems.len(), 1, "{yaml:?}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("line {line}: ")) && problems[0].contains(ANCHORS),
            "{yaml:?}: {problems:?}"
        );
        assert!(allocated < 64 * 1024, "{yaml:?}: {allocated} bytes");
    }
    // An alias to nothing is refused the same way.
    let problems = repo_config::parse("allowed_bots: *nothing\n")
        .unwrap_err()
        .0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 1"), "{problems:?}");
}

/// The problem reads as a sentence in the comment, and it says what to do.
#[test]
fn the_anchor_problem_says_what_to_do() {
    let problems =
        repo_config::parse("x-bots: &bots [renovate]\nallowed_bots: *bots\n").unwrap_err();
    assert_eq!(
        problems.0,
        vec![format!(
            "line 1: {ANCHORS} in this file (found the anchor `&bots`); write each value out in full"
        )]
    );
    let problems = repo_config::parse("allowed_bots: [renovate, *bot]\n").unwrap_err();
    assert!(
        problems.0[0].contains("found the alias `*bot`"),
        "{problems:?}"
    );
    let comment = repo_config::problems_comment(repo_config::PATH, &problems);
    assert!(comment.contains(ANCHORS), "{comment}");
}

// ---- the server ---------------------------------------------------------------------------

/// `app_labeled(number)`, made unique by `nonce` (the server refuses a body it has stored:
/// a replay).
fn labeled(number: u64, nonce: u64) -> serde_json::Value {
    let mut payload = app_labeled(number);
    payload["test_nonce"] = json!(nonce);
    payload
}

/// A push to the default branch that changes the file (the server clears its cache entry),
/// made unique by `nonce`.
fn config_push(nonce: u64) -> serde_json::Value {
    let base = app_labeled(1);
    let branch = base["repository"]["default_branch"]
        .as_str()
        .unwrap_or("main");
    json!({
        "ref": format!("refs/heads/{branch}"),
        "commits": [{"added": [], "modified": [repo_config::PATH], "removed": []}],
        "repository": base["repository"],
        "sender": base["sender"],
        "installation": base["installation"],
        "test_nonce": nonce,
    })
}

fn problem_comments(world: &World, number: u64) -> Vec<github_fake::Comment> {
    world
        .bot_comments(number)
        .into_iter()
        .filter(|c| c.body.contains("<!-- jules-bridge:config-problems -->"))
        .collect()
}

/// The 200 KB bomb on the default branch: the labelled issue is told why the file is refused,
/// and the session starts with the server's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_the_bomb_and_uses_its_defaults() {
    let world = World::new(Mode::App).await;
    let yaml = bomb(40_000, 40_000);
    world.github.set_file(APP_REPO, repo_config::PATH, &yaml);
    let bridge = world.start().await;
    let started = Instant::now();
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(301)).await,
        202
    );
    eventually("the session starts with the defaults", || async {
        world.sessions_for(301).await.len() == 1 && !world.status_comments(301).is_empty()
    })
    .await;
    eprintln!("handled in {:?}", started.elapsed());
    let reported = problem_comments(&world, 301);
    assert_eq!(reported.len(), 1);
    assert!(
        reported[0].body.contains(&format!(
            "the file is {} bytes, over the limit of 32 KiB",
            yaml.len()
        )),
        "{}",
        reported[0].body
    );

    // The same bomb under the size limit is refused for its anchor.
    world
        .github
        .set_file(APP_REPO, repo_config::PATH, &bomb(3_000, 3_000));
    assert_eq!(world.deliver(&bridge, "push", &config_push(0)).await, 202);
    bridge.drained().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(302)).await,
        202
    );
    eventually("the second session starts", || async {
        world.sessions_for(302).await.len() == 1 && !world.status_comments(302).is_empty()
    })
    .await;
    let reported = problem_comments(&world, 302);
    assert_eq!(reported.len(), 1);
    assert!(reported[0].body.contains(ANCHORS), "{}", reported[0].body);
    bridge.stop().await;
}

/// Jules refuses every create, so the delivery is tried 3 times; the same issue is labelled
/// again, and another issue too. The file's problems are reported once, on the first issue:
/// not once per attempt, per delivery or per issue. A new (still invalid) file is reported
/// again, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_problems_are_reported_once_per_file_content() {
    let world = World::new(Mode::App).await;
    world
        .github
        .set_file(APP_REPO, repo_config::PATH, "triger_label: go\n");
    inject(
        &world.jules,
        json!({"errorStatus": 503, "errorRate": 1.0, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start().await;
    let dead = |count: usize| {
        let bridge = &bridge;
        async move { bridge.deliveries_with(DeliveryStatus::Dead).await.len() == count }
    };

    assert_eq!(
        world.deliver(&bridge, "issues", &labeled(310, 1)).await,
        202
    );
    eventually("the first delivery is dead-lettered", || dead(1)).await;
    assert_eq!(
        bridge.deliveries_with(DeliveryStatus::Dead).await[0].attempts,
        3
    );
    assert_eq!(
        problem_comments(&world, 310).len(),
        1,
        "once for 3 attempts"
    );

    assert_eq!(
        world.deliver(&bridge, "issues", &labeled(310, 2)).await,
        202
    );
    eventually("the relabel is dead-lettered", || dead(2)).await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled(311, 3)).await,
        202
    );
    eventually("the other issue is dead-lettered", || dead(3)).await;
    // The file is read again (as after the cache's lifetime): same content, not reported.
    assert_eq!(world.deliver(&bridge, "push", &config_push(1)).await, 202);
    bridge.drained().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled(311, 4)).await,
        202
    );
    eventually("the fourth delivery is dead-lettered", || dead(4)).await;
    assert_eq!(problem_comments(&world, 310).len(), 1);
    assert!(problem_comments(&world, 311).is_empty());

    // Another invalid file: reported once more.
    world
        .github
        .set_file(APP_REPO, repo_config::PATH, "comand_prefix: /go\n");
    assert_eq!(world.deliver(&bridge, "push", &config_push(2)).await, 202);
    bridge.drained().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled(312, 5)).await,
        202
    );
    eventually("the fifth delivery is dead-lettered", || dead(5)).await;
    let reported = problem_comments(&world, 312);
    assert_eq!(reported.len(), 1);
    assert!(
        reported[0].body.contains("comand_prefix"),
        "{}",
        reported[0].body
    );
    assert_eq!(problem_comments(&world, 310).len(), 1);
    assert!(problem_comments(&world, 311).is_empty());
    bridge.stop().await;
}

/// The repository's label changes while its file is cached: the push that changes the file
/// (GitHub's documented push payload, `tests/fixtures/webhooks/push.json`, to the default
/// branch of the token fixtures' repository) clears the cache, so the new label starts a
/// session at once, not after the cache's five minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_changes_the_file_takes_effect_at_once() {
    let world = World::new(Mode::Token).await;
    world
        .github
        .set_file(TOKEN_REPO, repo_config::PATH, "trigger_label: label-a\n");
    let bridge = world.start().await;
    let labeled_b = |number: u64| {
        fixture(
            "issues.labeled.json",
            &[
                ("/label/name", json!("label-b")),
                ("/issue/number", json!(number)),
            ],
        )
    };
    // Label B is nobody's word yet (and the file is now cached).
    assert_eq!(world.deliver(&bridge, "issues", &labeled_b(320)).await, 202);
    world.idle(&bridge).await;
    assert!(world.sessions_for(320).await.is_empty());

    world
        .github
        .set_file(TOKEN_REPO, repo_config::PATH, "trigger_label: label-b\n");
    let push = fixture(
        "push.json",
        &[("/commits/0/modified", json!([repo_config::PATH]))],
    );
    assert_eq!(world.deliver(&bridge, "push", &push).await, 202);
    bridge.drained().await;
    let pushed = bridge
        .deliveries()
        .await
        .into_iter()
        .find(|d| d.event == "push")
        .expect("the push is stored");
    assert_eq!(
        (pushed.status, pushed.note.as_deref()),
        (
            DeliveryStatus::Done,
            Some("repository config changed: cache cleared")
        )
    );

    assert_eq!(world.deliver(&bridge, "issues", &labeled_b(321)).await, 202);
    world.idle(&bridge).await;
    assert_eq!(world.sessions_for(321).await.len(), 1);
    assert_eq!(world.status_comments(321).len(), 1);
    bridge.stop().await;
}

/// `allowed_bots` in the repository's file: a listed bot's command starts a session; another
/// bot's is ignored without a reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repositorys_allowed_bots_hold_end_to_end() {
    let world = World::new(Mode::App).await;
    world
        .github
        .set_file(APP_REPO, repo_config::PATH, "allowed_bots: [renovate]\n");
    let bridge = world.start().await;
    let task = "/jules update the lockfile and fix the build";
    let listed = app_comment(330, task, 9800, "renovate[bot]", true);
    let other = app_comment(331, task, 9801, "dependabot[bot]", true);
    assert_eq!(world.deliver(&bridge, "issue_comment", &listed).await, 202);
    assert_eq!(world.deliver(&bridge, "issue_comment", &other).await, 202);
    world.idle(&bridge).await;

    let started = world.sessions_for(330).await;
    assert_eq!(started.len(), 1, "the listed bot started a session");
    assert!(
        started[0]
            .prompt
            .contains("update the lockfile and fix the build"),
        "{}",
        started[0].prompt
    );
    assert_eq!(world.status_comments(330).len(), 1);

    assert!(world.sessions_for(331).await.is_empty());
    assert!(world.bot_comments(331).is_empty(), "no reply to a bot");
    let ignored = bridge
        .deliveries()
        .await
        .into_iter()
        .find(|d| d.issue_key.as_deref().is_some_and(|k| k.ends_with("#331")))
        .expect("the other bot's delivery");
    assert_eq!(
        ignored.note.as_deref(),
        Some("ignored: dependabot[bot] is a bot that is not in allowed-bots"),
        "{ignored:?}"
    );
    bridge.stop().await;
}
