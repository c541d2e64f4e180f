//! Finds `/jules …` commands in GitHub comment bodies.
//!
//! A command is a line of a *top-level Markdown paragraph* that starts (after
//! optional spaces or tabs) with the configured prefix, matched
//! case-insensitively and followed by whitespace or the end of the line.
//!
//! The parser is Markdown-aware on purpose: people quote each other, paste
//! logs and write documentation about the bot, and none of that must trigger
//! it. Text is only considered when a reader sees it as plain paragraph text,
//! so a prefix inside any of these is ignored:
//!
//! * fenced (```` ``` ```` / `~~~`) and indented code blocks, inline code;
//! * block quotes (`> /jules approve` quoted from someone else);
//! * HTML blocks (`<details>` without blank lines, `<!-- … -->`) and inline
//!   HTML such as comments;
//! * link and image text, and ~~struck-through~~ text;
//! * list items, tables, headings and footnotes. List items are excluded to
//!   keep the grammar small and predictable: a command is always a paragraph
//!   of its own.
//!
//! Positions come from pulldown-cmark's offset iterator, while the command
//! text itself is taken from the source slice, so a `Run` instruction keeps
//! the inline formatting exactly as the user typed it.
//!
//! Note that a paragraph separated by blank lines from a surrounding
//! `<details>` tag is ordinary Markdown (GitHub renders it inside the
//! expandable section), so a command there *is* recognised.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Range, RangeInclusive};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// One thing a commenter asked the bot to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `/jules <text>`: start a session with this instruction, or send it to the running one.
    Run(String),
    /// `/jules approve [PLAN]`: approve the pending plan; with a plan-id prefix only if it matches.
    Approve { plan: Option<String> },
    /// `/jules new <text>`: a fresh session with this instruction, even while one is active
    /// (the old one is archived): for work that must start from the current branch head.
    New(String),
    /// `/jules status`
    Status,
    /// `/jules stop`: archive the running session (Jules pauses it).
    Stop,
    /// `/jules help` (also `/jules` alone)
    Help,
}

impl Command {
    /// A stable lowercase name for logs, metrics and replies.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::New(_) => "new",
            Command::Approve { .. } => "approve",
            Command::Status => "status",
            Command::Stop => "stop",
            Command::Help => "help",
        }
    }
}

/// A line that is clearly addressed to the bot but cannot be understood;
/// the user should be told why rather than have it silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CommandError {
    /// `/jules approve x y` etc.
    Malformed {
        /// The offending command line, trimmed, as the user wrote it.
        line: String,
        /// A user-facing explanation that shows the expected form.
        reason: String,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Malformed { line, reason } => write!(f, "`{line}`: {reason}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// Plan ids are hex strings; users may paste any prefix of reasonable length.
const PLAN_ID_LENGTH: RangeInclusive<usize> = 4..=32;

/// Every command in a comment body, in order.
pub fn parse_commands(body: &str, prefix: &str) -> Vec<Result<Command, CommandError>> {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        // An empty prefix would turn every line of every comment into a command.
        return Vec::new();
    }
    top_level_paragraphs(body)
        .iter()
        .flat_map(|paragraph| commands_in_paragraph(body, paragraph, prefix))
        .collect()
}

/// For an edited comment: the commands of `new` that were not already in `old` (compare normalised command values; a command that appears twice in new but once in old counts once as new).
///
/// Editing a comment (fixing a typo, adding a note) must not re-run the
/// commands it already contained, so this is a multiset difference on
/// normalised values: whitespace changes inside a `Run` do not make it new.
pub fn new_commands(old: &str, new: &str, prefix: &str) -> Vec<Result<Command, CommandError>> {
    let mut already_seen: HashMap<Result<Command, CommandError>, usize> = HashMap::new();
    for command in parse_commands(old, prefix) {
        *already_seen.entry(normalised(&command)).or_default() += 1;
    }
    parse_commands(new, prefix)
        .into_iter()
        .filter(|command| !consume_one(&mut already_seen, normalised(command)))
        .collect()
}

/// Takes one occurrence of `key` out of the multiset; false when none is left.
fn consume_one(
    multiset: &mut HashMap<Result<Command, CommandError>, usize>,
    key: Result<Command, CommandError>,
) -> bool {
    match multiset.get_mut(&key) {
        Some(count) if *count > 0 => {
            *count -= 1;
            true
        }
        _ => false,
    }
}

/// The value two commands are compared by when deciding whether an edit added one.
fn normalised(command: &Result<Command, CommandError>) -> Result<Command, CommandError> {
    match command {
        Ok(Command::Run(text)) => Ok(Command::Run(collapse_whitespace(text))),
        Ok(other) => Ok(other.clone()),
        Err(CommandError::Malformed { line, .. }) => Err(CommandError::Malformed {
            line: collapse_whitespace(&line.to_lowercase()),
            reason: String::new(),
        }),
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Options close to GitHub Flavored Markdown, so that what counts as a
/// paragraph here matches what the user sees rendered.
fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM
}

/// A paragraph directly at the document's top level, with the byte ranges
/// of its text that a reader sees as plain text.
struct Paragraph {
    source: Range<usize>,
    plain_text: Vec<Range<usize>>,
}

impl Paragraph {
    /// Binary search: text ranges come from the event stream in order and
    /// never overlap, and a hostile comment can hold very many of them.
    fn is_plain_text_at(&self, offset: usize) -> bool {
        let after = self
            .plain_text
            .partition_point(|range| range.start <= offset);
        after > 0
            && self
                .plain_text
                .get(after - 1)
                .is_some_and(|range| range.contains(&offset))
    }
}

/// Only top-level paragraphs can hold commands: this single rule excludes
/// block quotes, list items, footnotes and tables, while code blocks, HTML
/// blocks and headings are not paragraphs at all.
fn top_level_paragraphs(body: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut depth = 0usize;
    let mut hiding_depth = 0usize;
    for (event, range) in Parser::new_ext(body, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                if depth == 0 && matches!(tag, Tag::Paragraph) {
                    current = Some(Paragraph {
                        source: range,
                        plain_text: Vec::new(),
                    });
                    hiding_depth = 0;
                } else if current.is_some() && hides_commands(&TagEnd::from(tag)) {
                    hiding_depth += 1;
                }
                depth += 1;
            }
            Event::End(tag_end) => {
                depth = depth.saturating_sub(1);
                if current.is_some() && hides_commands(&tag_end) {
                    hiding_depth = hiding_depth.saturating_sub(1);
                }
                if depth == 0 {
                    paragraphs.extend(current.take());
                }
            }
            Event::Text(_) if hiding_depth == 0 => {
                if let Some(paragraph) = current.as_mut() {
                    paragraph.plain_text.push(range);
                }
            }
            _ => {}
        }
    }
    paragraphs
}

/// Inline elements whose text a reader does not take as an instruction:
/// link or image text, and text the author struck through.
fn hides_commands(tag: &TagEnd) -> bool {
    matches!(tag, TagEnd::Link | TagEnd::Image | TagEnd::Strikethrough)
}

/// One line of the source, with the byte offset where it starts in the body.
struct SourceLine<'a> {
    start: usize,
    text: &'a str,
}

/// Splits on `\r\n`, `\n` and a lone `\r`, the three line endings CommonMark accepts.
fn source_lines(text: &str, base_offset: usize) -> Vec<SourceLine<'_>> {
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, character)) = chars.next() {
        if character != '\n' && character != '\r' {
            continue;
        }
        lines.push(SourceLine {
            start: base_offset + line_start,
            text: &text[line_start..index],
        });
        let mut next_start = index + 1;
        if character == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n') {
            chars.next();
            next_start += 1;
        }
        line_start = next_start;
    }
    if line_start < text.len() {
        lines.push(SourceLine {
            start: base_offset + line_start,
            text: &text[line_start..],
        });
    }
    lines
}

/// The commands of one paragraph. A `Run` instruction extends over the
/// following lines of the paragraph until the next command line.
fn commands_in_paragraph(
    body: &str,
    paragraph: &Paragraph,
    prefix: &str,
) -> Vec<Result<Command, CommandError>> {
    let source = body.get(paragraph.source.clone()).unwrap_or_default();
    let lines = source_lines(source, paragraph.source.start);
    let command_lines: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            command_arguments(line, paragraph, prefix).map(|arguments| (index, arguments))
        })
        .collect();
    command_lines
        .iter()
        .enumerate()
        .map(|(position, &(index, arguments))| {
            let next_command = command_lines
                .get(position + 1)
                .map_or(lines.len(), |&(next_index, _)| next_index);
            let following = lines.get(index + 1..next_command).unwrap_or_default();
            let command_line = lines.get(index).map_or("", |line| line.text.trim());
            interpret(
                command_line,
                arguments,
                &continuation_text(following),
                prefix,
            )
        })
        .collect()
}

/// The trimmed text after the prefix when `line` is a command line.
fn command_arguments<'a>(
    line: &SourceLine<'a>,
    paragraph: &Paragraph,
    prefix: &str,
) -> Option<&'a str> {
    let content = line.text.trim_start_matches([' ', '\t']);
    let indent = line.text.len() - content.len();
    if !paragraph.is_plain_text_at(line.start + indent) {
        return None;
    }
    let rest = strip_prefix_ignoring_case(content, prefix)?;
    // `/julesfoo` is a word of its own, not the prefix.
    let prefix_ends_here = rest.chars().next().is_none_or(char::is_whitespace);
    prefix_ends_here.then(|| rest.trim())
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut remaining = text.char_indices();
    for expected in prefix.chars() {
        let (_, actual) = remaining.next()?;
        if !same_letter_ignoring_case(actual, expected) {
            return None;
        }
    }
    let consumed = remaining.next().map_or(text.len(), |(index, _)| index);
    text.get(consumed..)
}

fn same_letter_ignoring_case(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// The paragraph lines after a command line, joined with `\n`; indentation
/// and trailing spaces carry no meaning in a paragraph, so they are dropped.
fn continuation_text(lines: &[SourceLine<'_>]) -> String {
    lines
        .iter()
        .map(|line| line.text.trim())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Turns the text after the prefix into a command. Only `Run` uses the
/// continuation lines; for the other verbs they are commentary for humans.
fn interpret(
    command_line: &str,
    arguments: &str,
    continuation: &str,
    prefix: &str,
) -> Result<Command, CommandError> {
    let (verb, verb_arguments) = split_verb(arguments);
    match verb.to_lowercase().as_str() {
        "approve" => parse_approve(command_line, verb_arguments, prefix),
        "status" if verb_arguments.is_empty() => Ok(Command::Status),
        "status" => Err(malformed(
            command_line,
            format!("`{prefix} status` takes no arguments."),
        )),
        "help" => Ok(Command::Help),
        // `/jules stop using tabs` is a task; only a bare `stop` stops.
        "stop" if verb_arguments.is_empty() && continuation.is_empty() => Ok(Command::Stop),
        "new" => {
            let text = join_instruction(verb_arguments, continuation);
            if text.is_empty() {
                Err(malformed(
                    command_line,
                    format!(
                        "`{prefix} new` needs the task: `{prefix} new <what Jules should do>`."
                    ),
                ))
            } else {
                Ok(Command::New(text))
            }
        }
        "" if continuation.is_empty() => Ok(Command::Help),
        other => match mistyped_verb(other, verb_arguments, continuation) {
            Some(meant) => Err(malformed(
                command_line,
                format!("Did you mean `{prefix} {meant}`? Nothing was sent to Jules."),
            )),
            None => Ok(Command::Run(join_instruction(arguments, continuation))),
        },
    }
}

/// The command a lone first word was probably meant to be (`aprove`, `stauts`, `hlep`): a
/// mistyped approval must not reach Jules as a message. Only a word that stands alone (or,
/// for `approve`, with a plan id) counts, so a task that merely starts with a similar word
/// (`/jules stats for the README`) is still a task.
fn mistyped_verb(word: &str, arguments: &str, continuation: &str) -> Option<&'static str> {
    if !continuation.is_empty() {
        return None;
    }
    let word = word.to_lowercase();
    ["approve", "status", "stop", "help"]
        .into_iter()
        .find(|&verb| {
            // (`new` takes a task, so a slip there reads as a task; it is never a near miss.)
            let takes = verb == "approve" && is_plan_id(arguments);
            let distance = strsim::damerau_levenshtein(&word, verb);
            // One slip in a short word, two in a long one.
            let close = distance > 0 && distance <= if verb.len() <= 5 { 1 } else { 2 };
            close && (arguments.is_empty() || takes)
        })
}

/// A message's `--anyway` (first or last word): send it even where the bridge would warn
/// first (a pull request behind its base). Returns the text without it.
pub fn take_anyway(text: &str) -> (String, bool) {
    const FLAG: &str = "--anyway";
    let trimmed = text.trim();
    if let Some(rest) = trimmed.strip_prefix(FLAG) {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return (rest.trim().to_owned(), true);
        }
    }
    if let Some(rest) = trimmed.strip_suffix(FLAG) {
        if rest.is_empty() || rest.ends_with(char::is_whitespace) {
            return (rest.trim().to_owned(), true);
        }
    }
    (trimmed.to_owned(), false)
}

fn split_verb(arguments: &str) -> (&str, &str) {
    match arguments.split_once(char::is_whitespace) {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (arguments, ""),
    }
}

fn parse_approve(
    command_line: &str,
    arguments: &str,
    prefix: &str,
) -> Result<Command, CommandError> {
    let usage =
        format!("Use `{prefix} approve [PLAN-ID]`, where PLAN-ID is 4 to 32 hex characters.");
    let mut words = arguments.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => Ok(Command::Approve { plan: None }),
        (Some(plan), None) if is_plan_id(plan) => Ok(Command::Approve {
            plan: Some(plan.to_ascii_lowercase()),
        }),
        (Some(plan), None) => Err(malformed(
            command_line,
            // The word is the person's own text: escaped, never inside a code span.
            format!("{} is not a plan id. {usage}", super::escape::inline(plan)),
        )),
        (Some(_), Some(_)) => Err(malformed(
            command_line,
            format!("`{prefix} approve` takes at most one plan id. {usage}"),
        )),
    }
}

fn is_plan_id(word: &str) -> bool {
    PLAN_ID_LENGTH.contains(&word.len()) && word.chars().all(|c| c.is_ascii_hexdigit())
}

fn join_instruction(first_line: &str, continuation: &str) -> String {
    match (first_line.is_empty(), continuation.is_empty()) {
        (_, true) => first_line.to_string(),
        (true, false) => continuation.to_string(),
        (false, false) => format!("{first_line}\n{continuation}"),
    }
}

fn malformed(command_line: &str, reason: String) -> CommandError {
    CommandError::Malformed {
        line: command_line.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/jules";

    fn parse(body: &str) -> Vec<Result<Command, CommandError>> {
        parse_commands(body, PREFIX)
    }

    #[test]
    fn only_a_bare_stop_stops() {
        assert_eq!(parse("/jules stop"), vec![Ok(Command::Stop)]);
        assert_eq!(parse("/jules STOP"), vec![Ok(Command::Stop)]);
        assert_eq!(
            parse("/jules stop using tabs"),
            vec![Ok(Command::Run("stop using tabs".into()))]
        );
    }

    fn run(text: &str) -> Result<Command, CommandError> {
        Ok(Command::Run(text.to_string()))
    }

    fn approve(plan: Option<&str>) -> Result<Command, CommandError> {
        Ok(Command::Approve {
            plan: plan.map(str::to_string),
        })
    }

    fn is_malformed(result: &Result<Command, CommandError>) -> bool {
        matches!(result, Err(CommandError::Malformed { .. }))
    }

    #[test]
    fn simple_run() {
        assert_eq!(
            parse("/jules fix the flaky test"),
            vec![run("fix the flaky test")]
        );
    }

    #[test]
    fn run_continues_over_the_rest_of_the_paragraph() {
        assert_eq!(
            parse("/jules fix the flaky test\nin parser.rs\n\nThanks!"),
            vec![run("fix the flaky test\nin parser.rs")]
        );
    }

    #[test]
    fn run_keeps_inline_formatting_as_written() {
        assert_eq!(
            parse("/jules rename `foo` to **bar**"),
            vec![run("rename `foo` to **bar**")]
        );
    }

    #[test]
    fn command_after_prose_in_the_same_paragraph() {
        assert_eq!(
            parse("Looks good to me.\n/jules approve"),
            vec![approve(None)]
        );
    }

    #[test]
    fn leading_spaces_are_allowed() {
        assert_eq!(parse("   /jules status"), vec![Ok(Command::Status)]);
    }

    #[test]
    fn approve_without_and_with_plan_id() {
        assert_eq!(parse("/jules approve"), vec![approve(None)]);
        assert_eq!(
            parse("/jules approve 3F2a9C"),
            vec![approve(Some("3f2a9c"))]
        );
    }

    #[test]
    fn approve_with_bad_plan_id_explains_the_form() {
        for body in [
            "/jules approve now please",
            "/jules approve xyz123",
            "/jules approve abc",
            "/jules approve 0123456789abcdef0123456789abcdef0",
        ] {
            let commands = parse(body);
            assert_eq!(commands.len(), 1, "{body}");
            match &commands[0] {
                Err(CommandError::Malformed { line, reason }) => {
                    assert_eq!(line, body);
                    assert!(reason.contains("/jules approve [PLAN-ID]"), "{reason}");
                }
                other => panic!("expected Malformed for {body:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn status_takes_no_arguments() {
        assert_eq!(parse("/jules status"), vec![Ok(Command::Status)]);
        let commands = parse("/jules status of the build");
        assert_eq!(commands.len(), 1);
        assert!(is_malformed(&commands[0]));
    }

    #[test]
    fn help_ignores_arguments_and_bare_prefix_is_help() {
        assert_eq!(parse("/jules help me"), vec![Ok(Command::Help)]);
        assert_eq!(parse("/jules"), vec![Ok(Command::Help)]);
        assert_eq!(parse("/jules   \n\nother text"), vec![Ok(Command::Help)]);
    }

    #[test]
    fn bare_prefix_followed_by_lines_is_a_run() {
        assert_eq!(parse("/jules\nfix the build"), vec![run("fix the build")]);
    }

    #[test]
    fn custom_prefix() {
        assert_eq!(
            parse_commands("/bot status", "/bot"),
            vec![Ok(Command::Status)]
        );
        assert!(parse_commands("/jules status", "/bot").is_empty());
        assert!(parse_commands("/jules status", "  ").is_empty());
    }

    #[test]
    fn prefix_and_verb_are_case_insensitive() {
        assert_eq!(parse("/JULES Approve"), vec![approve(None)]);
        assert_eq!(
            parse_commands("/Jules STATUS", "/jUlEs"),
            vec![Ok(Command::Status)]
        );
    }

    #[test]
    fn a_mistyped_command_is_answered_not_sent() {
        for (body, meant) in [
            ("/jules aprove", "approve"),
            ("/jules approv 3f2a9c", "approve"),
            ("/jules APROVE", "approve"),
            ("/jules stauts", "status"),
            ("/jules statsu", "status"),
            ("/jules hlep", "help"),
            ("/jules stpo", "stop"),
        ] {
            match &parse(body)[..] {
                [Err(CommandError::Malformed { reason, .. })] => assert!(
                    reason.starts_with(&format!("Did you mean `/jules {meant}`?")),
                    "{body}: {reason}"
                ),
                other => panic!("expected a suggestion for {body:?}, got {other:?}"),
            }
        }
        // Tasks that merely start like a command are tasks.
        assert_eq!(
            parse("/jules stats for the README"),
            vec![run("stats for the README")]
        );
        assert_eq!(parse("/jules hello"), vec![run("hello")]);
        assert_eq!(
            parse(
                "/jules approved
thanks"
            ),
            vec![run("approved\nthanks")]
        );
    }

    #[test]
    fn verb_lookalikes_are_instructions() {
        assert_eq!(
            parse("/jules approve-ish stuff"),
            vec![run("approve-ish stuff")]
        );
        assert_eq!(parse("/jules deploy it"), vec![run("deploy it")]);
    }

    #[test]
    fn several_commands_in_one_comment() {
        assert_eq!(
            parse("/jules status\n/jules add tests\nfor the parser\n\n/jules approve beef"),
            vec![
                Ok(Command::Status),
                run("add tests\nfor the parser"),
                approve(Some("beef")),
            ]
        );
    }

    #[test]
    fn code_blocks_are_not_commands() {
        assert!(parse("```\n/jules approve\n```").is_empty());
        assert!(parse("~~~text\n/jules approve\n~~~").is_empty());
        assert!(parse("Example:\n\n    /jules approve\n").is_empty());
    }

    #[test]
    fn quotes_and_inline_code_are_not_commands() {
        assert!(parse("> /jules approve").is_empty());
        assert!(
            parse("> someone said\n/jules approve").is_empty(),
            "lazy continuation"
        );
        assert!(parse("`/jules approve`").is_empty());
        assert!(parse("try `foo\n/jules approve` here").is_empty());
    }

    #[test]
    fn html_is_not_a_command() {
        assert!(parse("<!-- /jules approve -->").is_empty());
        assert!(parse("<!--\n/jules approve\n\n-->").is_empty());
        assert!(parse("note <!--\n/jules approve -->").is_empty());
        assert!(parse("<details>\n<summary>log</summary>\n/jules approve\n</details>").is_empty());
    }

    #[test]
    fn links_lists_and_struck_text_are_not_commands() {
        assert!(parse("[see\n/jules approve](https://example.com)").is_empty());
        assert!(parse("- /jules approve").is_empty());
        assert!(parse("1. /jules approve").is_empty());
        assert!(parse("~~old\n/jules approve~~").is_empty());
        assert!(parse("# /jules approve").is_empty());
    }

    #[test]
    fn command_after_a_code_block_is_recognised() {
        assert_eq!(
            parse("```\n/jules approve\n```\n/jules status"),
            vec![Ok(Command::Status)]
        );
    }

    #[test]
    fn prefix_must_be_a_whole_word_at_line_start() {
        assert!(parse("/julesx approve").is_empty());
        assert!(parse("please /jules approve").is_empty());
        assert!(parse("\\/jules approve").is_empty());
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(
            parse("Hi\r\n\r\n/jules fix it\r\nplease\r\n\r\n/jules approve\r\n"),
            vec![run("fix it\nplease"), approve(None)]
        );
    }

    #[test]
    fn edit_that_only_fixes_a_typo_adds_nothing() {
        let old = "Teh plan looks fine.\n\n/jules approve";
        let new = "The plan looks fine.\n\n/jules approve";
        assert!(new_commands(old, new, PREFIX).is_empty());
    }

    #[test]
    fn edit_that_adds_approve_returns_it() {
        let old = "The plan looks fine.";
        let new = "The plan looks fine.\n\n/jules approve";
        assert_eq!(new_commands(old, new, PREFIX), vec![approve(None)]);
    }

    #[test]
    fn edit_counts_repeated_commands_as_a_multiset() {
        let old = "/jules status";
        let new = "/jules status\n\n/jules status";
        assert_eq!(new_commands(old, new, PREFIX), vec![Ok(Command::Status)]);
    }

    #[test]
    fn edit_that_only_rewraps_a_run_adds_nothing() {
        let old = "/jules fix the test in parser.rs";
        let new = "/jules fix the test\nin  parser.rs";
        assert!(new_commands(old, new, PREFIX).is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(Command::Run(String::new()).name(), "run");
        assert_eq!(Command::Approve { plan: None }.name(), "approve");
        assert_eq!(Command::Status.name(), "status");
        assert_eq!(Command::Help.name(), "help");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let weird = "/jules \u{202E}ǅ\u{200D}👩‍💻 ＩＩ\r\r\n/JULES İstanbul\u{0}\n> `<!--";
        let _ = parse(weird);
        let _ = parse_commands(weird, "İ");
        let _ = parse_commands("/jules x", "/jules\u{10FFFF}");
        let long = format!("/jules {}\n", "é🙂`*[<!--".repeat(20_000));
        let _ = parse(&long);
        let nested = format!("{}/jules approve", "> ".repeat(5_000));
        assert!(parse(&nested).is_empty());
        let many = "/jules approve\n".repeat(5_000);
        assert_eq!(new_commands("", &many, PREFIX).len(), 5_000);
    }
}

#[cfg(test)]
mod new_and_anyway {
    use super::*;

    #[test]
    fn new_starts_a_fresh_session_with_its_task() {
        assert_eq!(
            parse_commands("/jules new rebuild the index\nfrom main", "/jules"),
            vec![Ok(Command::New("rebuild the index\nfrom main".into()))]
        );
        let missing = parse_commands("/jules new", "/jules");
        assert!(
            matches!(&missing[..], [Err(CommandError::Malformed { reason, .. })] if reason.contains("`/jules new <what Jules should do>`")),
            "{missing:?}"
        );
        // A task that merely starts with "news" is a task.
        assert_eq!(
            parse_commands("/jules news feed: add paging", "/jules"),
            vec![Ok(Command::Run("news feed: add paging".into()))]
        );
    }

    #[test]
    fn anyway_is_a_first_or_last_word_only() {
        assert_eq!(
            take_anyway("fix the test --anyway"),
            ("fix the test".into(), true)
        );
        assert_eq!(
            take_anyway("--anyway fix the test"),
            ("fix the test".into(), true)
        );
        assert_eq!(take_anyway("fix the test"), ("fix the test".into(), false));
        assert_eq!(
            take_anyway("document --anyway-flag"),
            ("document --anyway-flag".into(), false)
        );
        assert_eq!(
            take_anyway("explain why --anyway exists here"),
            ("explain why --anyway exists here".into(), false)
        );
    }
}
