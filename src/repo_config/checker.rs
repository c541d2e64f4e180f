//! Checking a settings file key by key, every problem at once, each with its line.

use super::template::{pieces, Piece};
use super::*;

/// Collects the problems of one file.
pub(super) struct Checker<'y> {
    pub(super) yaml: &'y str,
    pub(super) problems: Vec<String>,
}

impl Checker<'_> {
    pub(super) fn top_level(&mut self, mapping: &Mapping) {
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
pub(super) fn starts_with_key(line: &str, key: &str) -> bool {
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
pub(super) fn check_branch(branch: &str) -> Result<(), &'static str> {
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
pub(super) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let normal = normalise(name);
    known
        .iter()
        .map(|candidate| (edit_distance(&normal, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Lower case, with `-` read as `_` (the Action's inputs are kebab-case).
pub(super) fn normalise(name: &str) -> String {
    name.trim().to_lowercase().replace('-', "_")
}

/// Levenshtein distance, in characters.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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

pub(super) fn key_list(keys: &[&str]) -> String {
    keys.iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A scalar as written, or a short description of anything else.
pub(super) fn key_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Null => "null".to_owned(),
        other => describe(other),
    }
}

/// What a value is, for "must be X, not Y".
pub(super) fn describe(value: &Value) -> String {
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
pub(super) fn code_text(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut clean: String = one_line(text).replace('`', "'");
    if clean.chars().count() > MAX_CHARS {
        clean = clean.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    format!("`{clean}`")
}

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
