use super::*;

fn problems(yaml: &str) -> Vec<String> {
    parse(yaml).expect_err("the file should be invalid").0
}

#[test]
fn valid_full_file() {
    let yaml = "\
# jules-bridge settings
trigger_label: jules-go
command_prefix: /agent
require_plan_approval: false
automation_mode: AUTOMATION_MODE_UNSPECIFIED
starting_branch: develop
prompt_template: |
  {instruction}

  {context}
  Asked by @{requester} on {repo}#{number}.
allowed_bots: [renovate, 'dependabot[bot]']
limits:
  max_concurrent_sessions: 3
  daily_session_budget: 15
";
    let config = parse(yaml).unwrap();
    assert_eq!(
        config,
        RepoConfig {
            trigger_label: Some("jules-go".into()),
            command_prefix: Some("/agent".into()),
            require_plan_approval: Some(false),
            archive_on_close: None,
            automation_mode: Some("AUTOMATION_MODE_UNSPECIFIED".into()),
            starting_branch: Some("develop".into()),
            prompt_template: Some(
                "{instruction}\n\n{context}\nAsked by @{requester} on {repo}#{number}.\n".into()
            ),
            allowed_bots: Some(vec!["renovate".into(), "dependabot[bot]".into()]),
            limits: Some(Limits {
                max_concurrent_sessions: Some(3),
                daily_session_budget: Some(15),
            }),
            ci_fixer: None,
            stall_minutes: None,
            remind_hours: None,
        }
    );
    assert_eq!(config.max_concurrent_sessions(), Some(3));
    assert_eq!(config.daily_session_budget(), Some(15));
}

#[test]
fn empty_file_is_the_default() {
    for yaml in [
        "",
        "\n\n",
        "# nothing here\n  # still nothing\n",
        "---\n",
        "~\n",
    ] {
        assert_eq!(parse(yaml), Ok(RepoConfig::default()), "{yaml:?}");
    }
    let config = parse("limits:\n").unwrap();
    assert_eq!(config.max_concurrent_sessions(), None);
    assert_eq!(config.daily_session_budget(), None);
}

#[test]
fn the_stall_watchdog_settings_are_checked_and_applied() {
    let base = Settings::default();
    assert_eq!((base.stall_minutes, base.remind_hours), (30, 24));
    let config = parse("stall_minutes: 45\nremind_hours: 0\n").unwrap();
    let settings = config.apply(&base);
    assert_eq!((settings.stall_minutes, settings.remind_hours), (45, 0));
    // Absent keys keep the server's defaults.
    let settings = parse("stall_minutes: 0\n").unwrap().apply(&base);
    assert_eq!((settings.stall_minutes, settings.remind_hours), (0, 24));
    assert_eq!(
        problems("stall_minutes: -1\nremind_hours: 1.5\n"),
        vec![
            "line 1: `stall_minutes` must be a whole number of minutes from 0 to 10080 (0 turns it off), not the number `-1`".to_owned(),
            "line 2: `remind_hours` must be a whole number of hours from 0 to 720 (0 turns it off), not the number `1.5`".to_owned(),
        ]
    );
    assert_eq!(
        problems("remind_hours: one day\nstall_minutes: 99999\n"),
        vec![
            "line 1: `remind_hours` must be a whole number of hours from 0 to 720 (0 turns it off), not the text `one day`".to_owned(),
            "line 2: `stall_minutes` must be a whole number of minutes from 0 to 10080 (0 turns it off), not the number `99999`".to_owned(),
        ]
    );
}

#[test]
fn unknown_keys_are_all_reported_with_a_suggestion() {
    let yaml = "\
command_prefix: /jules
# a comment
triger_label: jules-bridge
limits:
  max_sessions: 3
  daily-session-budget: 5
colour: blue
";
    assert_eq!(
        problems(yaml),
        vec![
            "line 3: unknown key `triger_label`; did you mean `trigger_label`?".to_owned(),
            "line 5: unknown key `max_sessions` under `limits`; the keys are `max_concurrent_sessions`, `daily_session_budget`".to_owned(),
            "line 6: unknown key `daily-session-budget` under `limits`; did you mean `daily_session_budget`?".to_owned(),
            "line 7: unknown key `colour`; the keys are `trigger_label`, `command_prefix`, `require_plan_approval`, `archive_on_close`, `automation_mode`, `starting_branch`, `prompt_template`, `allowed_bots`, `limits`, `ci_fixer`, `stall_minutes`, `remind_hours`".to_owned(),
        ]
    );
    assert_eq!(
        problems("max_concurrent_sessions: 2\nwait: done\n"),
        vec![
            "line 1: unknown key `max_concurrent_sessions`; it belongs under `limits:` (`limits.max_concurrent_sessions`)".to_owned(),
            "line 2: unknown key `wait`: it is an input of the GitHub Action, not a setting of this file; the keys are `trigger_label`, `command_prefix`, `require_plan_approval`, `archive_on_close`, `automation_mode`, `starting_branch`, `prompt_template`, `allowed_bots`, `limits`, `ci_fixer`, `stall_minutes`, `remind_hours`".to_owned(),
        ]
    );
    assert_eq!(
        problems("\u{feff}Trigger-Label: x\n"),
        vec!["line 1: unknown key `Trigger-Label`; did you mean `trigger_label`?".to_owned()]
    );
}

#[test]
fn wrong_types_name_the_key_path_and_line() {
    let yaml = "\
trigger_label: jules-bridge
require_plan_approval: yes
limits:
  max_concurrent_sessions: three
allowed_bots:
  - renovate
  - [nested]
command_prefix: 7
automation_mode: [AUTO_CREATE_PR]
";
    assert_eq!(
        problems(yaml),
        vec![
            "line 2: `require_plan_approval` must be `true` or `false`, not the text `yes` (YAML 1.2 reads only `true` and `false` as booleans)".to_owned(),
            "line 4: `limits.max_concurrent_sessions` must be a whole number from 1 to 100, not the text `three`".to_owned(),
            "line 5: `allowed_bots[1]` must be a bot login, not a list".to_owned(),
            "line 8: `command_prefix` must be text, not the number `7`; quote it: `command_prefix: \"7\"`".to_owned(),
            "line 9: `automation_mode` must be text, not a list".to_owned(),
        ]
    );
    assert_eq!(
        problems("limits: 5\nallowed_bots: renovate\n"),
        vec![
            "line 1: `limits` must be a mapping such as `max_concurrent_sessions: 3`, not the number `5`".to_owned(),
            "line 2: `allowed_bots` must be a list of bot logins such as `[renovate, dependabot]`, not the text `renovate`".to_owned(),
        ]
    );
    assert_eq!(
        problems("- trigger_label\n"),
        vec!["the file must be a mapping of settings such as `trigger_label: jules-bridge`, not a list".to_owned()]
    );
}

#[test]
fn invalid_yaml_says_where() {
    let found = problems("trigger_label: a\n  command_prefix: /x\n: :\n");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("the file is not valid YAML: "),
        "{found:?}"
    );
    assert!(found[0].contains("line 2"), "{found:?}");

    let found = problems("trigger_label: a\ntrigger_label: b\n");
    assert!(found[0].contains("duplicate"), "{found:?}");
}

#[test]
fn trigger_label_validation() {
    assert_eq!(
        problems("trigger_label: Jules\n"),
        vec!["line 1: `trigger_label` must not be `jules`: Jules' own GitHub App acts on that label, and both would start a session".to_owned()]
    );
    assert_eq!(
        problems("trigger_label: ''\n"),
        vec!["line 1: `trigger_label` must not be empty".to_owned()]
    );
    assert_eq!(
        problems(&format!("trigger_label: {}\n", "x".repeat(51))),
        vec![
            "line 1: `trigger_label` is too long: GitHub labels have at most 50 characters"
                .to_owned()
        ]
    );
}

#[test]
fn command_prefix_validation() {
    for prefix in ["jules", "'/ jules'", "/", "'/two words'"] {
        let found = problems(&format!("command_prefix: {prefix}\n"));
        assert_eq!(found.len(), 1, "{prefix}");
        assert!(
            found[0].starts_with(
                "line 1: `command_prefix` must be one word starting with `/` (like `/jules`), not `"
            ),
            "{found:?}"
        );
    }
    assert!(parse("command_prefix: /bot\n").is_ok());
}

#[test]
fn automation_mode_and_branch_validation() {
    assert_eq!(
        problems("automation_mode: auto\n"),
        vec!["line 1: `automation_mode` must be `AUTO_CREATE_PR` or `AUTOMATION_MODE_UNSPECIFIED`, not `auto`".to_owned()]
    );
    assert!(parse("automation_mode: AUTO_CREATE_PR\n").is_ok());
    assert_eq!(
        problems("starting_branch: 'my branch'\n"),
        vec![
            "line 1: `starting_branch` `my branch` is not a branch name: it contains a space"
                .to_owned()
        ]
    );
    assert_eq!(problems("starting_branch: a..b\n").len(), 1);
    assert_eq!(problems("starting_branch: refs/heads/main\n").len(), 1);
    assert!(parse("starting_branch: release/1.x\n").is_ok());
}

#[test]
fn limits_validation() {
    let yaml = "limits:\n  max_concurrent_sessions: 0\n  daily_session_budget: 1001\n";
    assert_eq!(
        problems(yaml),
        vec![
            "line 2: `limits.max_concurrent_sessions` must be 1 to 100, not 0".to_owned(),
            "line 3: `limits.daily_session_budget` must be 1 to 1000, not 1001".to_owned(),
        ]
    );
    assert_eq!(
        problems("limits: {max_concurrent_sessions: -1}\n"),
        vec!["line 1: `limits.max_concurrent_sessions` must be 1 to 100, not -1".to_owned()]
    );
    assert_eq!(
        problems("limits:\n  daily_session_budget: 2.5\n"),
        vec!["line 2: `limits.daily_session_budget` must be 1 to 1000, not 2.5".to_owned()]
    );
    let config =
        parse("limits:\n  max_concurrent_sessions: 100\n  daily_session_budget: 1\n").unwrap();
    assert_eq!(config.max_concurrent_sessions(), Some(100));
    assert_eq!(config.daily_session_budget(), Some(1));
}

#[test]
fn allowed_bots_validation() {
    assert_eq!(
        problems("allowed_bots: ['', 'two words']\n"),
        vec![
            "line 1: `allowed_bots[0]` must be one bot login, not ``".to_owned(),
            "line 1: `allowed_bots[1]` must be one bot login, not `two words`".to_owned(),
        ]
    );
}

#[test]
fn prompt_template_validation() {
    assert_eq!(
        problems("prompt_template: Fix {title}\n"),
        vec!["line 1: `prompt_template` must contain `{instruction}` or `{context}`, or Jules would not know the task; the placeholders are `{instruction}`, `{context}`, `{requester}`, `{repo}`, `{number}`, `{title}`, `{url}`".to_owned()]
    );
    // An escaped placeholder is text, not a placeholder.
    assert_eq!(problems("prompt_template: 'Do {{instruction}}'\n").len(), 1);
    assert_eq!(
        problems("prompt_template: '{context} {instructions}'\n"),
        vec!["line 1: `prompt_template` uses `{instructions}`, which is not a placeholder; did you mean `{instruction}`? (write `{{` and `}}` for literal braces)".to_owned()]
    );
    // Braces far from any placeholder are left alone.
    assert!(parse("prompt_template: '{context} as {\"json\": true}'\n").is_ok());
}

#[test]
fn problems_are_a_markdown_list_and_a_comment() {
    let found = parse("triger_label: x\ncommand_prefix: jules\n").unwrap_err();
    let list = found.to_string();
    assert_eq!(list.lines().count(), 2);
    assert!(
        list.lines().all(|line| line.starts_with("- line ")),
        "{list}"
    );

    let comment = problems_comment(PATH, &found);
    assert!(comment.contains("`.github/jules-bridge.yml`"), "{comment}");
    assert!(!comment.contains("``"), "{comment}");
    assert!(comment.contains(&list), "{comment}");
    assert!(comment.contains("default settings"), "{comment}");
}

#[test]
fn problem_text_cannot_break_the_comment() {
    let found = problems("\"a`b\\nc\": 1\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("unknown key `a'b c`;") || found[0].starts_with("line"));
    assert!(!found[0].contains('\n'));
}

#[test]
fn the_ci_fixer_is_off_unless_named_and_checked_when_it_is() {
    assert_eq!(
        RepoConfig::default().apply(&Settings::default()).ci_fixer,
        None
    );
    let config = parse(
        "ci_fixer:\n  workflows: [CI, deploy.yml]\n  branches: [main, 'release/*']\n  max_per_branch_per_day: 3\n",
    )
    .unwrap();
    let policy = config.apply(&Settings::default()).ci_fixer.unwrap();
    assert_eq!(
        policy.workflows,
        vec!["CI".to_owned(), "deploy.yml".to_owned()]
    );
    assert_eq!(
        policy.branches,
        vec!["main".to_owned(), "release/*".to_owned()]
    );
    assert_eq!(policy.max_per_branch_per_day, 3);
    let any = parse("ci_fixer: {workflows: [CI], branches: ['*']}").unwrap();
    let policy = any.apply(&Settings::default()).ci_fixer.unwrap();
    assert!(policy.branches.is_empty());
    assert_eq!(policy.max_per_branch_per_day, 2);

    for (yaml, expected) in [
        ("ci_fixer: true", "`ci_fixer` must be a mapping"),
        ("ci_fixer: {workflows: [CI]}", "`ci_fixer` needs `branches`"),
        (
            "ci_fixer: {workflows: [], branches: [main]}",
            "non-empty list",
        ),
        (
            "ci_fixer: {workflows: [CI], branches: [main], max_per_branch_per_day: 99}",
            "1 to 20",
        ),
        (
            "ci_fixer: {workflows: [CI], branches: [main], branch: x}",
            "did you mean `branches`?",
        ),
    ] {
        let problems = parse(yaml).unwrap_err().0.join("\n");
        assert!(problems.contains(expected), "{yaml}: {problems}");
    }
}

#[test]
fn apply_overrides_only_what_is_set() {
    let base = Settings {
        allowed_bots: vec!["server-bot".into()],
        starting_branch: None,
        prompt: Some("from the server".into()),
        ..Settings::default()
    };
    let unchanged = RepoConfig::default().apply(&base);
    assert_eq!(format!("{unchanged:?}"), format!("{base:?}"));

    let config =
        parse("command_prefix: /agent\nautomation_mode: AUTOMATION_MODE_UNSPECIFIED\nallowed_bots: [renovate]\n")
            .unwrap();
    let settings = config.apply(&base);
    assert_eq!(settings.command_prefix, "/agent");
    assert_eq!(settings.automation_mode, AutomationMode::Unspecified);
    assert_eq!(settings.allowed_bots, vec!["renovate".to_owned()]);
    assert_eq!(settings.trigger_label, base.trigger_label);
    assert_eq!(settings.require_plan_approval, base.require_plan_approval);
    assert_eq!(settings.starting_branch, None);
    assert_eq!(settings.identity.own_logins, base.identity.own_logins);
    assert_eq!(settings.prompt, base.prompt);

    let settings = parse(
        "trigger_label: go\nrequire_plan_approval: false\nstarting_branch: dev\nallowed_bots: []\n",
    )
    .unwrap()
    .apply(&base);
    assert_eq!(settings.trigger_label, "go");
    assert!(!settings.require_plan_approval);
    assert_eq!(settings.starting_branch.as_deref(), Some("dev"));
    assert!(settings.allowed_bots.is_empty());
    assert_eq!(settings.command_prefix, base.command_prefix);
}

#[test]
fn template_rendering() {
    let values = TemplateValues {
        instruction: "Fix the crash".into(),
        context: "Issue text".into(),
        requester: "alice".into(),
        repo: "octo/repo".into(),
        number: 42,
        title: "Crash on start".into(),
        url: "https://github.com/octo/repo/issues/42".into(),
    };
    assert_eq!(
        render_template(
            "{instruction}\n{context}\n@{requester} {repo}#{number} {title} <{url}>",
            &values
        ),
        "Fix the crash\nIssue text\n@alice octo/repo#42 Crash on start <https://github.com/octo/repo/issues/42>"
    );
    // Unknown placeholders stay as written; `{{` and `}}` are braces.
    assert_eq!(
        render_template("{instruction} {unknown} {{context}} {} { x", &values),
        "Fix the crash {unknown} {context} {} { x"
    );
    assert_eq!(
        render_template("a }} b } c {{{number}}}", &values),
        "a } b } c {42}"
    );
    // Values are not scanned again.
    let tricky = TemplateValues {
        instruction: "{context}".into(),
        context: "ctx".into(),
        ..TemplateValues::default()
    };
    assert_eq!(render_template("{instruction}", &tricky), "{context}");
    assert_eq!(render_template("", &values), "");
    assert_eq!(render_template("é{title}ü", &values), "éCrash on startü");
}

#[test]
fn the_node_budget_bounds_an_expansion_the_scanner_missed() {
    // The alias bomb, given to serde_yaml directly: stopped after the budget, not expanded.
    let bomb = format!(
        "x-a: &a [{}]\nx-b: [{}]\n",
        vec!["0"; 3_000].join(","),
        vec!["*a"; 3_000].join(",")
    );
    let started = std::time::Instant::now();
    assert!(exceeds_node_budget(&bomb));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // A few small aliases stay within it (the scanner refuses those).
    assert!(!exceeds_node_budget("a: &x [1, 2]\nb: *x\n"));

    // The densest files without aliases stay within it, up to the size limit.
    let flow_keys = format!("{{{}}}\n", vec!["a"; MAX_BYTES / 2 - 2].join(","));
    let empty_entries = "-\n".repeat(MAX_BYTES / 2);
    let nested = format!("{}{}\n", "[".repeat(100), "]".repeat(100));
    for yaml in [flow_keys.as_str(), &empty_entries, &nested] {
        assert!(yaml.len() <= MAX_BYTES);
        assert!(!exceeds_node_budget(yaml), "{}", &yaml[..40]);
    }
}

#[test]
fn tabs_serde_yaml_accepts_are_accepted() {
    let config = parse("trigger_label:\tgo\nallowed_bots:\t[renovate]\t# bots\n").unwrap();
    assert_eq!(config.trigger_label.as_deref(), Some("go"));
    assert_eq!(config.allowed_bots, Some(vec!["renovate".to_owned()]));
    let config = parse("prompt_template: '{instruction}\n\t*x &y'\n").unwrap();
    assert_eq!(
        config.prompt_template.as_deref(),
        Some("{instruction} *x &y")
    );
    for yaml in ["trigger_label:\t&x go\n", "x: &x [a]\nallowed_bots:\t*x\n"] {
        let found = problems(yaml);
        assert!(found[0].contains(NO_ANCHORS), "{yaml:?}: {found:?}");
    }
}

#[test]
fn syntax_errors_keep_serde_yamls_message() {
    // Both parsers refuse: serde_yaml's message, as before.
    let found = problems("a: &x [1\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("line 1: anchors"), "{found:?}");
    let found = problems("trigger_label: 'open\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("the file is not valid YAML: "),
        "{found:?}"
    );
    // Only serde_yaml reads it (a byte-order mark inside the file): refused, since the
    // anchor check did not see all of it. (Without `&` or `*` it is not scanned at all.)
    let yaml = "trigger_label: go # R&D\n\u{feff}\n";
    assert!(serde_yaml::from_str::<Value>(yaml).is_ok());
    assert!(parse("trigger_label: go\n\u{feff}\n").is_ok());
    let found = problems(yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("the file is not valid YAML: ") && found[0].contains("line 3"),
        "{found:?}"
    );
}

#[test]
fn suggestions_need_at_most_two_edits() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(closest("command_prefx", TOP_KEYS), Some("command_prefix"));
    assert_eq!(closest("limit", TOP_KEYS), Some("limits"));
    assert_eq!(closest("trigger", TOP_KEYS), None);
}
