//! Which deliveries can need work at all, decided at ingest from the event alone.
//!
//! Most deliveries a bridge receives need nothing: comments that hold no command (the
//! conversation on an issue), events it does not act on. Knowing that when the delivery
//! arrives lets the server store it as done in the same group commit that makes it durable,
//! so no worker ever claims and completes it (two more write transactions each).
//!
//! The rule must never drop work, and the repository's settings (its `command_prefix`) are not
//! known here. It therefore answers [`Triage::NoWork`] only where NO setting could find work:
//! a command is a line that starts, after spaces or tabs, with the prefix, and every prefix
//! starts with `/` (the repository config checker refuses others). A comment with no line
//! starting with `/` holds no command under any prefix; anything else goes to a worker, which
//! decides with the repository's settings. A fuzz target holds this against the parser.

use super::event::{Event, EventKind};

/// Whether a delivery goes to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triage {
    /// A worker must look at it (with the repository's settings, GitHub and Jules).
    Work,
    /// Nothing can come of it; why, for the operator's delivery list.
    NoWork(String),
}

/// Decides from the event alone; see the module docs for why it is safe.
pub fn triage(event: &Event) -> Triage {
    match &event.kind {
        EventKind::Ignored { reason } => Triage::NoWork(reason.clone()),
        EventKind::ReviewCommentCreated { .. } => {
            Triage::NoWork(super::decide::READ_WITH_ITS_REVIEW.into())
        }
        EventKind::CommentCreated { comment, .. } | EventKind::CommentEdited { comment, .. }
            if !may_hold_a_command(&comment.body) =>
        {
            Triage::NoWork("the comment has no command".into())
        }
        _ => Triage::Work,
    }
}

/// False only when no line of `body` starts, after spaces or tabs, with `/`: then no command
/// prefix matches anywhere. Splits on `\n` and `\r` (CommonMark's line endings) like the
/// command parser.
pub fn may_hold_a_command(body: &str) -> bool {
    body.split(['\n', '\r'])
        .any(|line| line.trim_start_matches([' ', '\t']).starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::command::parse_commands;

    #[test]
    fn conversation_needs_no_worker() {
        for body in [
            "You are totally right! I'll get this fixed right away.",
            "See the path a/b/c and https://example.com/jules",
            "> /jules approve\nquoted, but the quote marker comes first",
            "",
        ] {
            assert!(!may_hold_a_command(body), "{body:?}");
        }
    }

    #[test]
    fn anything_that_could_be_a_command_under_any_prefix_goes_to_a_worker() {
        for body in [
            "/jules approve",
            "thanks!\n  /agent fix the tests",
            "first line\r/jules help",
            "\t/x",
            // Not a command for the parser (a code block), but the check is a superset.
            "```\n/jules approve\n```",
        ] {
            assert!(may_hold_a_command(body), "{body:?}");
        }
    }

    #[test]
    fn never_drops_a_command_the_parser_finds() {
        let bodies = [
            "/jules approve abcd",
            "hello\n/JULES add tests",
            "a\r\n   /jules status",
            "x\r/jules help",
            "/agent do it",
            "\t/jules\n",
        ];
        for body in bodies {
            for prefix in ["/jules", "/agent", "/JULES"] {
                if !parse_commands(body, prefix).is_empty() {
                    assert!(may_hold_a_command(body), "{body:?} with {prefix}");
                }
            }
        }
    }
}
