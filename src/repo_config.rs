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

/// Why [`refuse_anchors`] refused a file.
enum Refusal {
    /// The problem: an anchor or an alias, with its line.
    Anchor(String),
    /// The scanner could not read the file (serde_yaml has the last word on its syntax).
    Syntax(String),
}

/// Refuses the first anchor or alias in `yaml`, found by a YAML scanner: `&` and `*` in quoted
/// or block text, in comments, or inside plain text are text, not anchors.
fn refuse_anchors(yaml: &str) -> Result<(), Refusal> {
    // A byte-order mark is not YAML content; serde_yaml skips it, the scanner does not.
    let text = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    if !text.contains(['&', '*']) {
        return Ok(());
    }
    match scan(text) {
        // libyaml (serde_yaml) reads a tab as a space where YAML allows either; the scanner
        // refuses some of those (`key:<tab>value`). Anchors and aliases stand where they
        // stand either way, and the lines stay the same.
        Err(Refusal::Syntax(_)) if text.contains('\t') => scan(&text.replace('\t', " ")),
        result => result,
    }
}

fn scan(text: &str) -> Result<(), Refusal> {
    let mut scanner = Scanner::new(text.chars());
    for token in &mut scanner {
        let (what, sign, name) = match token.1 {
            TokenType::Anchor(name) => ("anchor", '&', name),
            TokenType::Alias(name) => ("alias", '*', name),
            _ => continue,
        };
        return Err(Refusal::Anchor(format!(
            "line {}: {NO_ANCHORS} (found the {what} {}); write each value out in full",
            token.0.line(),
            code_text(&format!("{sign}{name}"))
        )));
    }
    match scanner.get_error() {
        Some(error) => Err(Refusal::Syntax(format!(
            "{} at line {}",
            error.info(),
            error.marker().line()
        ))),
        None => Ok(()),
    }
}

/// Whether serde_yaml would make more values of `yaml` than a file of its size can hold
/// without aliases (each value takes at least one character, and a key without a value one
/// more); stops counting there, so the answer costs no more than the file.
fn exceeds_node_budget(yaml: &str) -> bool {
    let left = Cell::new(2 * yaml.len() + 64);
    let result = NodeBudget { left: &left }.deserialize(serde_yaml::Deserializer::from_str(yaml));
    result.is_err() && left.get() == 0
}

/// Counts the values a deserializer produces, failing once `left` runs out: serde_yaml
/// replays an alias's whole value each time it is used, so this is what bounds an expansion.
#[derive(Clone, Copy)]
struct NodeBudget<'b> {
    left: &'b Cell<usize>,
}

impl NodeBudget<'_> {
    fn spend<E: de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom("the file holds too many values")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeBudget<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeBudget<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<(), D::Error> {
        self.spend()?;
        self.deserialize(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged value (`!tag value`).
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess;
        self.spend()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
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

/// The values a prompt template's placeholders stand for.
///
/// They are inserted as given (never scanned for placeholders again): sanitise untrusted text
/// such as `title` before, as the default prompt does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    /// `{instruction}`: what the person asked for.
    pub instruction: String,
    /// `{context}`: the issue or pull request (or failed run) as the default prompt shows it.
    pub context: String,
    /// `{requester}`: the login of who asked.
    pub requester: String,
    /// `{repo}`: `owner/name`.
    pub repo: String,
    /// `{number}`: the issue or pull request number.
    pub number: u64,
    /// `{title}`: the issue or pull request title.
    pub title: String,
    /// `{url}`: the issue or pull request link.
    pub url: String,
}

impl TemplateValues {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(match name {
            "instruction" => Cow::Borrowed(self.instruction.as_str()),
            "context" => Cow::Borrowed(self.context.as_str()),
            "requester" => Cow::Borrowed(self.requester.as_str()),
            "repo" => Cow::Borrowed(self.repo.as_str()),
            "number" => Cow::Owned(self.number.to_string()),
            "title" => Cow::Borrowed(self.title.as_str()),
            "url" => Cow::Borrowed(self.url.as_str()),
            _ => return None,
        })
    }
}

/// Fills a prompt template: `{name}` becomes the value of a known placeholder, an unknown
/// `{placeholder}` is left as written, and `{{` / `}}` stand for `{` / `}`.
pub fn render_template(template: &str, values: &TemplateValues) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => match values.get(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

enum Piece<'t> {
    Text(&'t str),
    /// `{name}`, without the braces.
    Placeholder(&'t str),
}

/// Splits a template into text and `{placeholders}` (escapes already resolved).
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            pieces.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix('}') {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else {
            // `{name}`: a name without braces or line breaks, else a lone `{`.
            let after = &tail[1..];
            let name = after
                .find(['{', '}', '\n'])
                .filter(|&end| after[end..].starts_with('}'))
                .map(|end| &after[..end]);
            match name {
                Some(name) => {
                    pieces.push(Piece::Placeholder(name));
                    rest = &after[name.len() + 1..];
                }
                None => {
                    pieces.push(Piece::Text("{"));
                    rest = after;
                }
            }
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}

/// Collects the problems of one file.
struct Checker<'y> {
    yaml: &'y str,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn top_level(&mut self, mapping: &Mapping) {
        for (key, value) in mapping {
            let Some(key) = key.as_str() else {
                self.problems.push(format!(
                    "unknown key {}; the keys are {}",
                    code_text(&key_text(key)),
                    key_list(TOP_KEYS)
                ));
                continue;
            };
            let line = self.line(None, key);
            match key {
                "trigger_label" => {
                    if let Some(label) = self.string(line, key, value) {
                        let label = label.trim();
                        if label.is_empty() {
                            self.problem(line, "`trigger_label` must not be empty");
                        } else if label.eq_ignore_ascii_case("jules") {
                            self.problem(
                                line,
                                "`trigger_label` must not be `jules`: Jules' own GitHub App acts on that label, and both would start a session",
                            );
                        } else if label.chars().count() > 50 {
                            self.problem(
                                line,
                                "`trigger_label` is too long: GitHub labels have at most 50 characters",
                            );
                        }
                    }
                }
                "command_prefix" => {
                    if let Some(prefix) = self.string(line, key, value) {
                        let prefix = prefix.trim();
                        if !prefix.starts_with('/')
                            || prefix.len() < 2
                            || prefix.contains(char::is_whitespace)
                        {
                            self.problem(
                                line,
                                &format!(
                                    "`command_prefix` must be one word starting with `/` (like `/jules`), not {}",
                                    code_text(prefix)
                                ),
                            );
                        }
                    }
                }
                "require_plan_approval" | "archive_on_close" => self.boolean(line, key, value),
                "automation_mode" => {
                    if let Some(mode) = self.string(line, key, value) {
                        if !AUTOMATION_MODES.contains(&mode.trim()) {
                            self.problem(
                                line,
                                &format!(
                                    "`automation_mode` must be `AUTO_CREATE_PR` or `AUTOMATION_MODE_UNSPECIFIED`, not {}",
                                    code_text(mode)
                                ),
                            );
                        }
                    }
                }
                "starting_branch" => {
                    if let Some(branch) = self.string(line, key, value) {
                        if let Err(why) = check_branch(branch.trim()) {
                            self.problem(
                                line,
                                &format!(
                                    "`starting_branch` {} is not a branch name: {why}",
                                    code_text(branch)
                                ),
                            );
                        }
                    }
                }
                "prompt_template" => {
                    if let Some(template) = self.string(line, key, value) {
                        self.template(line, template);
                    }
                }
                "allowed_bots" => self.bots(line, value),
                "limits" => self.limits(line, value),
                "ci_fixer" => self.ci_fixer(line, value),
                "stall_minutes" => self.whole_number(line, key, value, STALL_MINUTES, "minutes"),
                "remind_hours" => self.whole_number(line, key, value, REMIND_HOURS, "hours"),
                unknown => self.unknown_top(line, unknown),
            }
        }
    }

    fn ci_fixer(&mut self, line: Option<usize>, value: &Value) {
        const EXAMPLE: &str = "`ci_fixer: {workflows: [CI], branches: [main]}`";
        let Value::Mapping(mapping) = value else {
            self.problem(
                line,
                &format!(
                    "`ci_fixer` must be a mapping such as {EXAMPLE}, not {}",
                    describe(value)
                ),
            );
            return;
        };
        for required in ["workflows", "branches"] {
            if !mapping.contains_key(required) {
                self.problem(
                    line,
                    &format!("`ci_fixer` needs `{required}`: the CI fixer acts only on the workflows and branches you name, such as {EXAMPLE}"),
                );
            }
        }
        for (key, value) in mapping {
            let name = key.as_str().map_or_else(|| key_text(key), str::to_owned);
            let line = self.line(Some("ci_fixer"), &name).or(line);
            match name.as_str() {
                "workflows" | "branches" => {
                    let items = match value {
                        Value::Sequence(items) if !items.is_empty() => items,
                        other => {
                            self.problem(
                                line,
                                &format!(
                                    "`ci_fixer.{name}` must be a non-empty list of names, not {}",
                                    describe(other)
                                ),
                            );
                            continue;
                        }
                    };
                    for item in items {
                        let text = item.as_str().map(str::trim).unwrap_or_default();
                        if text.is_empty() {
                            self.problem(
                                line,
                                &format!(
                                    "`ci_fixer.{name}` holds names, not {}",
                                    describe(item)
                                ),
                            );
                        } else if name == "branches" && text != "*" {
                            let branch = text.strip_suffix('*').unwrap_or(text);
                            let branch = branch.trim_end_matches('/');
                            if let Err(why) = check_branch(branch) {
                                self.problem(
                                    line,
                                    &format!(
                                        "`ci_fixer.branches` {} is not a branch name: {why}",
                                        code_text(text)
                                    ),
                                );
                            }
                        }
                    }
                }
                "max_per_branch_per_day" => match value.as_i64() {
                    Some(count) if (1..=20).contains(&count) => {}
                    _ => self.problem(
                        line,
                        &format!(
                            "`ci_fixer.max_per_branch_per_day` must be a whole number from 1 to 20, not {}",
                            describe(value)
                        ),
                    ),
                },
                _ => {
                    let suggestion = closest(&name, CI_FIXER_KEYS)
                        .map(|known| format!("did you mean `{known}`?"))
                        .unwrap_or_else(|| format!("the keys are {}", key_list(CI_FIXER_KEYS)));
                    self.problem(
                        line,
                        &format!(
                            "unknown key {} under `ci_fixer`; {suggestion}",
                            code_text(&name)
                        ),
                    );
                }
            }
        }
    }

    fn limits(&mut self, line: Option<usize>, value: &Value) {
        let mapping = match value {
            Value::Null => return,
            Value::Mapping(mapping) => mapping,
            other => {
                self.problem(
                    line,
                    &format!(
                        "`limits` must be a mapping such as `max_concurrent_sessions: 3`, not {}",
                        describe(other)
                    ),
                );
                return;
            }
        };
        for (key, value) in mapping {
            let name = key.as_str().map_or_else(|| key_text(key), str::to_owned);
            let line = self.line(Some("limits"), &name).or(line);
            let range = match name.as_str() {
                "max_concurrent_sessions" => 1..=100,
                "daily_session_budget" => 1..=1000,
                _ => {
                    let suggestion = closest(&name, LIMIT_KEYS)
                        .map(|known| format!("did you mean `{known}`?"))
                        .unwrap_or_else(|| format!("the keys are {}", key_list(LIMIT_KEYS)));
                    self.problem(
                        line,
                        &format!(
                            "unknown key {} under `limits`; {suggestion}",
                            code_text(&name)
                        ),
                    );
                    continue;
                }
            };
            match value {
                Value::Null => {}
                Value::Number(number) => match number.as_i64() {
                    Some(count) if range.contains(&count) => {}
                    _ => self.problem(
                        line,
                        &format!(
                            "`limits.{name}` must be {} to {}, not {number}",
                            range.start(),
                            range.end()
                        ),
                    ),
                },
                other => self.problem(
                    line,
                    &format!(
                        "`limits.{name}` must be a whole number from {} to {}, not {}",
                        range.start(),
                        range.end(),
                        describe(other)
                    ),
                ),
            }
        }
    }

    fn bots(&mut self, line: Option<usize>, value: &Value) {
        let items = match value {
            Value::Null => return,
            Value::Sequence(items) => items,
            other => {
                self.problem(
                    line,
                    &format!(
                        "`allowed_bots` must be a list of bot logins such as `[renovate, dependabot]`, not {}",
                        describe(other)
                    ),
                );
                return;
            }
        };
        for (index, item) in items.iter().enumerate() {
            match item {
                Value::String(login)
                    if !login.trim().is_empty() && !login.trim().contains(char::is_whitespace) => {}
                Value::String(login) => self.problem(
                    line,
                    &format!(
                        "`allowed_bots[{index}]` must be one bot login, not {}",
                        code_text(login)
                    ),
                ),
                other => self.problem(
                    line,
                    &format!(
                        "`allowed_bots[{index}]` must be a bot login, not {}",
                        describe(other)
                    ),
                ),
            }
        }
    }

    fn template(&mut self, line: Option<usize>, template: &str) {
        let mut has_content = false;
        for piece in pieces(template) {
            let Piece::Placeholder(name) = piece else {
                continue;
            };
            if name == "instruction" || name == "context" {
                has_content = true;
            } else if !PLACEHOLDERS.contains(&name) {
                // `{instructions}` is surely a typo; `{"json": 1}` is text left as written.
                if let Some(known) = closest(name, PLACEHOLDERS) {
                    self.problem(
                        line,
                        &format!(
                            "`prompt_template` uses {}, which is not a placeholder; did you mean `{{{known}}}`? (write `{{{{` and `}}}}` for literal braces)",
                            code_text(&format!("{{{name}}}"))
                        ),
                    );
                }
            }
        }
        if !has_content {
            self.problem(
                line,
                &format!(
                    "`prompt_template` must contain `{{instruction}}` or `{{context}}`, or Jules would not know the task; the placeholders are {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|name| format!("`{{{name}}}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    fn unknown_top(&mut self, line: Option<usize>, key: &str) {
        let normal = normalise(key);
        let message = if LIMIT_KEYS.contains(&normal.as_str()) {
            format!(
                "unknown key {}; it belongs under `limits:` (`limits.{normal}`)",
                code_text(key)
            )
        } else if let Some(known) = closest(key, TOP_KEYS) {
            format!("unknown key {}; did you mean `{known}`?", code_text(key))
        } else if normal == "jules_api_key" {
            format!(
                "unknown key {}; never put secrets in this file: the server has its own Jules API key",
                code_text(key)
            )
        } else if normal == "prompt" {
            format!(
                "unknown key {}; for a prompt of your own, use `prompt_template`",
                code_text(key)
            )
        } else if ACTION_ONLY_INPUTS.contains(&normal.as_str()) {
            format!(
                "unknown key {}: it is an input of the GitHub Action, not a setting of this file; the keys are {}",
                code_text(key),
                key_list(TOP_KEYS)
            )
        } else {
            format!(
                "unknown key {}; the keys are {}",
                code_text(key),
                key_list(TOP_KEYS)
            )
        };
        self.problem(line, &message);
    }

    /// A text value, or `None` (after noting a problem unless the value is empty).
    fn string<'v>(&mut self, line: Option<usize>, key: &str, value: &'v Value) -> Option<&'v str> {
        match value {
            Value::Null => None,
            Value::String(text) => Some(text),
            Value::Number(_) | Value::Bool(_) => {
                let text = key_text(value);
                self.problem(
                    line,
                    &format!(
                        "`{key}` must be text, not {}; quote it: `{key}: \"{text}\"`",
                        describe(value)
                    ),
                );
                None
            }
            other => {
                self.problem(
                    line,
                    &format!("`{key}` must be text, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// A whole number in `range` (`unit` names what it counts); `0` turns the setting off.
    fn whole_number(
        &mut self,
        line: Option<usize>,
        key: &str,
        value: &Value,
        range: std::ops::RangeInclusive<i64>,
        unit: &str,
    ) {
        match value {
            Value::Null => {}
            Value::Number(number) if number.as_i64().is_some_and(|n| range.contains(&n)) => {}
            other => self.problem(
                line,
                &format!(
                    "`{key}` must be a whole number of {unit} from {} to {} (0 turns it off), not {}",
                    range.start(),
                    range.end(),
                    describe(other)
                ),
            ),
        }
    }

    fn boolean(&mut self, line: Option<usize>, key: &str, value: &Value) {
        match value {
            Value::Null | Value::Bool(_) => {}
            Value::String(text)
                if ["yes", "no", "on", "off", "y", "n", "true", "false"]
                    .contains(&text.trim().to_ascii_lowercase().as_str()) =>
            {
                self.problem(
                    line,
                    &format!(
                        "`{key}` must be `true` or `false`, not the text {} (YAML 1.2 reads only `true` and `false` as booleans)",
                        code_text(text)
                    ),
                )
            }
            other => self.problem(
                line,
                &format!("`{key}` must be `true` or `false`, not {}", describe(other)),
            ),
        }
    }

    fn problem(&mut self, line: Option<usize>, message: &str) {
        self.problems.push(match line {
            Some(line) => format!("line {line}: {message}"),
            None => message.to_owned(),
        });
    }

    /// The line (1-based) of `key`, at the top level or in the block of `parent`.
    fn line(&self, parent: Option<&str>, key: &str) -> Option<usize> {
        let lines = self.yaml.trim_start_matches('\u{feff}').lines().enumerate();
        let is_top = |text: &str| !text.starts_with([' ', '\t']);
        match parent {
            None => lines
                .filter(|(_, text)| is_top(text))
                .find(|(_, text)| starts_with_key(text, key))
                .map(|(index, _)| index + 1),
            Some(parent) => {
                let mut inside = false;
                for (index, text) in lines {
                    let trimmed = text.trim_start();
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    if is_top(text) {
                        if inside {
                            return None;
                        }
                        inside = starts_with_key(text, parent);
                    } else if inside && starts_with_key(trimmed, key) {
                        return Some(index + 1);
                    }
                }
                None
            }
        }
    }
}

/// Whether `line` (without its indentation) is `key:`, `"key":` or `'key':`.
fn starts_with_key(line: &str, key: &str) -> bool {
    let rest = [format!("\"{key}\""), format!("'{key}'"), key.to_owned()]
        .iter()
        .find_map(|form| line.strip_prefix(form.as_str()))
        .map(str::trim_start);
    match rest.and_then(|rest| rest.strip_prefix(':')) {
        Some(after) => after.is_empty() || after.starts_with([' ', '\t']),
        None => false,
    }
}

/// Git's branch name rules, the ones a person is likely to break.
fn check_branch(branch: &str) -> Result<(), &'static str> {
    if branch.is_empty() {
        return Err("it is empty");
    }
    if branch.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("it contains a space");
    }
    if branch.contains(['~', '^', ':', '?', '*', '[', '\\']) || branch.contains("..") {
        return Err("it contains one of `~ ^ : ? * [ \\ ..`");
    }
    if branch.starts_with(['-', '/'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch.contains("//")
        || branch.contains("@{")
    {
        return Err("git does not allow that form");
    }
    if branch.starts_with("refs/") {
        return Err("write the branch name without `refs/heads/`");
    }
    Ok(())
}

/// The known name closest to `name`, if at most two edits away.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let normal = normalise(name);
    known
        .iter()
        .map(|candidate| (edit_distance(&normal, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Lower case, with `-` read as `_` (the Action's inputs are kebab-case).
fn normalise(name: &str) -> String {
    name.trim().to_lowercase().replace('-', "_")
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, left) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, right) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(left != *right);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

fn key_list(keys: &[&str]) -> String {
    keys.iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A scalar as written, or a short description of anything else.
fn key_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Null => "null".to_owned(),
        other => describe(other),
    }
}

/// What a value is, for "must be X, not Y".
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_owned(),
        Value::Bool(flag) => format!("`{flag}`"),
        Value::Number(number) => format!("the number `{number}`"),
        Value::String(text) => format!("the text {}", code_text(text)),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => format!("a value tagged {}", code_text(&tagged.tag.to_string())),
    }
}

/// Text from the file as inline code, safe in a comment: one line, no backticks, short.
fn code_text(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut clean: String = one_line(text).replace('`', "'");
    if clean.chars().count() > MAX_CHARS {
        clean = clean.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    format!("`{clean}`")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
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
                    "{instruction}\n\n{context}\nAsked by @{requester} on {repo}#{number}.\n"
                        .into()
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
}
