//! Per-repository settings: `.github/jules-bridge.yml` on the default branch (server mode).
//!
//! Every key is optional and overrides the server's default for that repository (see
//! [`RepoConfig::apply`]); the keys mirror the GitHub Action's inputs, in snake_case.
//!
//! [`parse`] reports every problem at once, in words a maintainer can act on: unknown keys
//! (with the closest known key as a suggestion), values of the wrong type, values out of range.
//! Each problem names its line when it can be found. serde_yaml stops at the first error and
//! has no spans, so the file is first read as a [`serde_yaml::Value`] and checked key by key;
//! lines are found in the text by key. Only a file without problems is then deserialised into
//! [`RepoConfig`] (with `serde_path_to_error`, so an error missed by the checks still names
//! its key path and line).
//!
//! Whoever can push to a repository's default branch writes this file, and the server reads
//! it for every repository the App is installed on, so it is read with limits: at most
//! [`MAX_BYTES`], and without YAML anchors or aliases (`&name`, `*name`). serde_yaml expands
//! every alias in full before any check sees the value, so a 15 KB "alias bomb" (an anchored
//! list of 3,000 items, aliased 3,000 times) would become nine million values. serde_yaml
//! shows no events, so the file is first tokenised by `yaml-rust2`'s scanner, which reports
//! each anchor and alias as it is written; a file with one is refused before serde_yaml reads
//! it. As a second line of defence serde_yaml's reading is bounded too (`NodeBudget`), so
//! the two parsers disagreeing on some corner of YAML cannot bring the expansion back.
//!
//! While the file is invalid the server keeps using its defaults for the repository and says
//! so on the triggering issue ([`problems_comment`]).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Visitor};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::engine::ci_fixer::CiFixerPolicy;
use yaml_rust2::scanner::{Scanner, TokenType};

use crate::handler::Settings;
use crate::jules::AutomationMode;

mod bounded;
mod checker;
mod template;
#[cfg(test)]
mod tests;

use bounded::*;
use checker::*;
pub use template::{render_template, TemplateValues};

/// Where the file is read from, on the repository's default branch.
pub const PATH: &str = ".github/jules-bridge.yml";

/// The largest file read (32 KiB): a few settings and a prompt take a few hundred bytes.
pub const MAX_BYTES: usize = 32 * 1024;

/// The problem of a file with an anchor or an alias.
const NO_ANCHORS: &str = "anchors and aliases are not supported in this file";

/// The settings one repository chose. `None` keeps the server's default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// The label that starts a session (never `jules`).
    pub trigger_label: Option<String>,
    /// The comment command prefix: one word starting with `/`.
    pub command_prefix: Option<String>,
    pub require_plan_approval: Option<bool>,
    /// Archive a session when its pull request is merged or closed (default true).
    pub archive_on_close: Option<bool>,
    /// `AUTO_CREATE_PR` or `AUTOMATION_MODE_UNSPECIFIED`.
    pub automation_mode: Option<String>,
    /// The branch Jules starts from (default: the PR's head branch, else the default branch).
    pub starting_branch: Option<String>,
    /// The prompt sent to Jules, with placeholders (see [`render_template`]).
    pub prompt_template: Option<String>,
    /// Bot logins that may trigger sessions (with or without `[bot]`).
    pub allowed_bots: Option<Vec<String>>,
    pub limits: Option<Limits>,
    /// Failed workflow runs that start a fixing session (off when absent).
    pub ci_fixer: Option<CiFixer>,
    /// Minutes without new activity before a working session is called stalled (0: off).
    pub stall_minutes: Option<u32>,
    /// Hours a plan or question waits before its one reminder (0: off).
    pub remind_hours: Option<u32>,
}

/// `ci_fixer:`: the opt-in to fix failed workflow runs, naming which.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiFixer {
    /// Workflow names or files (`CI`, `ci.yml`).
    pub workflows: Vec<String>,
    /// Branch names; `name/*` matches a prefix, `*` any branch.
    pub branches: Vec<String>,
    /// Fix sessions per branch in 24 hours (1 to 20, default 2).
    pub max_per_branch_per_day: Option<u32>,
}

/// How much one repository may use Jules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sessions running at once (1 to 100).
    pub max_concurrent_sessions: Option<u32>,
    /// Sessions started per day (1 to 1000).
    pub daily_session_budget: Option<u32>,
}

/// Every problem found in a configuration file, each a sentence a maintainer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<String>);

impl fmt::Display for ConfigProblems {
    /// A Markdown bullet list, one problem a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            writeln!(f, "- {}", one_line(problem))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigProblems {}

const TOP_KEYS: &[&str] = &[
    "trigger_label",
    "command_prefix",
    "require_plan_approval",
    "archive_on_close",
    "automation_mode",
    "starting_branch",
    "prompt_template",
    "allowed_bots",
    "limits",
    "ci_fixer",
    "stall_minutes",
    "remind_hours",
];

const CI_FIXER_KEYS: &[&str] = &["workflows", "branches", "max_per_branch_per_day"];

/// `stall_minutes`: up to a week.
const STALL_MINUTES: std::ops::RangeInclusive<i64> = 0..=10_080;
/// `remind_hours`: up to 30 days.
const REMIND_HOURS: std::ops::RangeInclusive<i64> = 0..=720;

const LIMIT_KEYS: &[&str] = &["max_concurrent_sessions", "daily_session_budget"];

/// The placeholders a prompt template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "instruction",
    "context",
    "requester",
    "repo",
    "number",
    "title",
    "url",
];

const AUTOMATION_MODES: &[&str] = &["AUTO_CREATE_PR", "AUTOMATION_MODE_UNSPECIFIED"];

/// Inputs of the GitHub Action that have no place in this file.
const ACTION_ONLY_INPUTS: &[&str] = &[
    "github_token",
    "prompt",
    "title",
    "wait",
    "timeout_minutes",
    "bot_login",
    "jules_api_url",
    "dry_run",
];

/// Reads a configuration file. An empty file (or one with only comments) is the default
/// configuration.
///
/// The work is bounded by the file's size: a file over [`MAX_BYTES`] is refused unread, one
/// with an anchor or an alias at its first one. Still, it takes a few milliseconds for a large
/// file: call it off the async runtime (`spawn_blocking`).
pub fn parse(yaml: &str) -> Result<RepoConfig, ConfigProblems> {
    if yaml.len() > MAX_BYTES {
        return Err(ConfigProblems(vec![format!(
            "the file is {} bytes, over the limit of 32 KiB ({MAX_BYTES} bytes); this file holds a few settings, not data",
            yaml.len()
        )]));
    }
    let scan_error = match refuse_anchors(yaml) {
        Ok(()) => None,
        Err(Refusal::Anchor(problem)) => return Err(ConfigProblems(vec![problem])),
        Err(Refusal::Syntax(error)) => Some(error),
    };
    // Bounded whatever serde_yaml makes of the file (see the module documentation).
    if exceeds_node_budget(yaml) {
        return Err(ConfigProblems(vec![format!(
            "{NO_ANCHORS}; write each value out in full"
        )]));
    }
    let value: Value = match serde_yaml::from_str(yaml) {
        Ok(value) => value,
        Err(error) => {
            return Err(ConfigProblems(vec![format!(
                "the file is not valid YAML: {error}"
            )]))
        }
    };
    // A file only one of the two parsers accepts is refused: the anchor check did not see all
    // of it.
    if let Some(error) = scan_error {
        return Err(ConfigProblems(vec![format!(
            "the file is not valid YAML: {error}"
        )]));
    }
    let mapping = match &value {
        Value::Null => return Ok(RepoConfig::default()),
        Value::Mapping(mapping) => mapping,
        other => {
            return Err(ConfigProblems(vec![format!(
            "the file must be a mapping of settings such as `trigger_label: jules-bridge`, not {}",
            describe(other)
        )]))
        }
    };

    let mut checker = Checker {
        yaml,
        problems: Vec::new(),
    };
    checker.top_level(mapping);
    if !checker.problems.is_empty() {
        return Err(ConfigProblems(checker.problems));
    }

    // The checks above accept exactly what deserialises; this is a safety net that still names
    // the key path and the line if they ever disagree.
    let deserializer = serde_yaml::Deserializer::from_str(yaml);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let line = inner
            .location()
            .map(|location| format!("line {}: ", location.line()))
            .unwrap_or_default();
        ConfigProblems(vec![format!("{line}`{path}`: {inner}")])
    })
}
impl RepoConfig {
    /// Settings for this repository: the server's defaults overridden by the file.
    pub fn apply(&self, base: &Settings) -> Settings {
        let mut settings = base.clone();
        if let Some(label) = &self.trigger_label {
            settings.trigger_label = label.trim().to_owned();
        }
        if let Some(prefix) = &self.command_prefix {
            settings.command_prefix = prefix.trim().to_owned();
        }
        if let Some(require) = self.require_plan_approval {
            settings.require_plan_approval = require;
        }
        if let Some(archive) = self.archive_on_close {
            settings.archive_on_close = archive;
        }
        if let Some(mode) = &self.automation_mode {
            settings.automation_mode = AutomationMode::from(mode.trim());
        }
        if let Some(branch) = &self.starting_branch {
            settings.starting_branch = Some(branch.trim().to_owned());
        }
        if let Some(bots) = &self.allowed_bots {
            settings.allowed_bots = bots.iter().map(|bot| bot.trim().to_owned()).collect();
        }
        if let Some(template) = &self.prompt_template {
            settings.prompt_template = Some(template.clone());
        }
        if let Some(max) = self.max_concurrent_sessions() {
            settings.max_concurrent_sessions = Some(max);
        }
        if let Some(budget) = self.daily_session_budget() {
            settings.daily_session_budget = Some(budget);
        }
        if let Some(minutes) = self.stall_minutes {
            settings.stall_minutes = minutes;
        }
        if let Some(hours) = self.remind_hours {
            settings.remind_hours = hours;
        }
        if let Some(fixer) = &self.ci_fixer {
            let trimmed = |items: &[String]| -> Vec<String> {
                items.iter().map(|item| item.trim().to_owned()).collect()
            };
            let branches = trimmed(&fixer.branches);
            settings.ci_fixer = Some(CiFixerPolicy {
                workflows: trimmed(&fixer.workflows),
                // `*` alone: any branch.
                branches: if branches.iter().any(|b| b == "*") {
                    Vec::new()
                } else {
                    branches
                },
                max_per_branch_per_day: fixer
                    .max_per_branch_per_day
                    .unwrap_or(crate::engine::ci_fixer::DEFAULT_MAX_PER_BRANCH_PER_DAY),
            });
        }
        settings
    }

    pub fn max_concurrent_sessions(&self) -> Option<u32> {
        self.limits
            .and_then(|limits| limits.max_concurrent_sessions)
    }

    pub fn daily_session_budget(&self) -> Option<u32> {
        self.limits.and_then(|limits| limits.daily_session_budget)
    }
}

/// The comment posted on the triggering issue when the file is invalid.
pub fn problems_comment(path: &str, problems: &ConfigProblems) -> String {
    format!(
        "⚠️ **jules-bridge could not use {path}**\n\n\
         {problems}\n\
         Until the file on the default branch is fixed, this repository uses the bridge's default settings. \
         Every key is described in [the configuration reference](https://github.com/jules-bridge/jules-bridge/blob/main/docs/configuration.md#repository-configuration-file).\n\n\
         <!-- jules-bridge:config-problems -->",
        path = code_text(path),
    )
}
