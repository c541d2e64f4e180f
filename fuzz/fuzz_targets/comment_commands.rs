//! Comment bodies: the command parser, hidden-content removal, truncation and the status
//! marker, all run on text any GitHub user can write.
//!
//! Input: UTF-8 (lossy), split at the first NUL byte into the old and the new body of an
//! edited comment (no NUL: old is empty). Nothing may panic, and these invariants must hold:
//!
//! - `parse_commands`: no command unless the body contains the prefix (case-insensitive);
//!   an approve's plan id is 4-32 lower-case hex digits; a `Run` text is non-empty and trimmed.
//! - `triage::may_hold_a_command`: true whenever the parser finds a command under any of a few
//!   prefixes (ingest stores a comment it calls command-free as done, unseen by any worker).
//! - `new_commands`: an edit that changes nothing adds nothing; against an empty old body it
//!   is `parse_commands`; it never returns more commands than the new body has, and each one
//!   is one of them, in order.
//! - `strip_hidden`: output is trimmed, no longer than the input, contains no CR, no control
//!   character other than `\n`/`\t`, no bidi control, no zero-width character except a ZWJ
//!   between two pictographs, no tag character outside a flag sequence, and no 4 newlines in a
//!   row. It is idempotent whenever the output contains no `<!--`. It is *not* idempotent in
//!   general, by design: comments are removed on the original text before invisible characters
//!   are, so `<\u{200B}!-- x -->` (visible to GitHub as text, not a comment) becomes the
//!   comment `<!-- x -->`, which a second pass removes; and the code spans that protect a
//!   `<!--` are computed on the original text, so removing a character can turn a protected
//!   `<!--` into an unprotected one or the reverse.
//! - `truncate(x, 100)`: `x` itself when it has at most 100 characters; otherwise a prefix of
//!   `x` of at most 100 characters followed by the truncation marker.
//! - `MarkerKey::check`: a marker found on the last line names `sessions/<alphanumeric id>`;
//!   what is found in arbitrary text never verifies (only the bridge's key signs), and a
//!   marker the key signs verifies back to itself for its own issue only.
//! - `escape::inline` / `escape::quoted`: no `<`, no `@` followed by a letter, no image or
//!   link opener survives in what the bridge would post.
#![no_main]

use jules_bridge::engine::command::{new_commands, parse_commands, Command};
use jules_bridge::engine::sanitize::{strip_hidden, truncate};
use jules_bridge::engine::triage::may_hold_a_command;
use jules_bridge::engine::escape;
use jules_bridge::engine::event::RepoName;
use jules_bridge::engine::marker::{MarkerCheck, MarkerKey};
use libfuzzer_sys::fuzz_target;

const PREFIX: &str = "/jules";
const TRUNCATION_MARKER: &str = "\n\n[… truncated]";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (old, new) = text.split_once('\0').unwrap_or(("", &text));

    check_commands(old, new);
    check_strip_hidden(new);
    check_truncate(new);
    check_marker(new);
    check_escape(new);
});

fn check_commands(old: &str, new: &str) {
    let commands = parse_commands(new, PREFIX);
    if !may_hold_a_command(new) {
        for prefix in [PREFIX, "/agent", "/J", "/é"] {
            let found = parse_commands(new, prefix);
            assert!(found.is_empty(), "{found:?} for {prefix} in a body triaged as command-free");
        }
    }
    if !new.to_lowercase().contains(PREFIX) {
        assert!(commands.is_empty(), "{commands:?} without a prefix");
    }
    for command in &commands {
        match command {
            Ok(Command::Approve { plan: Some(plan) }) => {
                assert!((4..=32).contains(&plan.len()), "plan id {plan:?}");
                assert!(
                    plan.chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                    "plan id {plan:?}"
                );
            }
            Ok(Command::Run(instruction)) => {
                assert!(!instruction.is_empty(), "empty Run");
                assert_eq!(instruction, instruction.trim(), "untrimmed Run");
            }
            Ok(_) | Err(_) => {}
        }
    }

    assert!(new_commands(new, new, PREFIX).is_empty(), "an unchanged edit adds commands");
    assert_eq!(new_commands("", new, PREFIX), commands);

    // The result is a subsequence of `commands`.
    let added = new_commands(old, new, PREFIX);
    let mut remaining = commands.iter();
    for command in &added {
        assert!(
            remaining.any(|candidate| candidate == command),
            "{command:?} is not one of the new body's commands, in order"
        );
    }
}

fn check_strip_hidden(text: &str) {
    let once = strip_hidden(text);
    assert_eq!(once, once.trim(), "untrimmed");
    assert!(once.len() <= text.len(), "grew");
    assert!(!once.contains("\n\n\n\n"), "more than two blank lines");

    let chars: Vec<char> = once.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1).copied();
        match c {
            '\u{200D}' => assert!(
                previous.is_some_and(is_pictograph) && next.is_some_and(is_pictograph),
                "stray ZWJ in {once:?}"
            ),
            '\u{E0000}'..='\u{E007F}' => assert!(
                previous.is_some_and(|p| p == '\u{1F3F4}' || ('\u{E0000}'..='\u{E007F}').contains(&p)),
                "stray tag character in {once:?}"
            ),
            '\n' | '\t' => {}
            other => assert!(!is_hidden(other), "hidden {other:?} kept in {once:?}"),
        }
    }

    if !once.contains("<!--") {
        assert_eq!(strip_hidden(&once), once, "not idempotent");
    }
}

/// Mirrors the characters `strip_hidden` documents as invisible (CR and every control
/// character included, as `\n` and `\t` are handled by the caller).
fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
            | '\u{180E}'
            | '\u{00AD}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
    ) || c.is_control()
}

fn is_pictograph(c: char) -> bool {
    matches!(c, '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}')
}

fn check_truncate(text: &str) {
    let cut = truncate(text, 100);
    if text.chars().count() <= 100 {
        assert_eq!(cut, text);
        return;
    }
    let kept = cut
        .strip_suffix(TRUNCATION_MARKER)
        .or_else(|| (cut == TRUNCATION_MARKER.trim_start()).then_some(""))
        .unwrap_or_else(|| panic!("no truncation marker: {cut:?}"));
    assert!(kept.chars().count() <= 100, "kept too much");
    assert!(text.starts_with(kept), "not a prefix");
}

fn check_marker(text: &str) {
    let key = MarkerKey::derive(["fuzz-key"]);
    let repo = RepoName {
        owner: "octo".into(),
        name: "repo".into(),
    };
    let marker = match key.check(text, &repo, 7) {
        MarkerCheck::None => return,
        MarkerCheck::Verified(marker) => {
            panic!("arbitrary text verified as a signed marker: {marker:?}")
        }
        MarkerCheck::Unverified(marker) => marker,
    };
    let id = marker
        .session
        .strip_prefix("sessions/")
        .expect("session name");
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
    // Requester and plan come from whitespace-split fields: re-signing must round-trip.
    let signed = key.sign(&marker, &repo, 7);
    assert_eq!(key.check(&signed, &repo, 7), MarkerCheck::Verified(marker.clone()));
    assert!(matches!(key.check(&signed, &repo, 8), MarkerCheck::Unverified(_)));
}

fn check_escape(text: &str) {
    for escaped in [escape::inline(text), escape::quoted(text)] {
        assert!(!escaped.contains('<'), "{escaped:?}");
        assert!(!escaped.contains("!["), "{escaped:?}");
        let mut chars = escaped.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '@' {
                assert!(
                    !chars.peek().is_some_and(|next| next.is_alphanumeric()),
                    "a mention survived: {escaped:?}"
                );
            }
        }
    }
}
