//! Text the bridge did not write (Jules' questions, plan steps, progress and failure reasons,
//! pull-request titles, a person's malformed command) is escaped before it goes into a
//! comment, so it shows as the characters it is and can never become markup the bridge did
//! not mean to post: no HTML (and so no HTML comment, which could carry a marker), no raw
//! `<`, no @mention or team ping, no image or link, no emphasis that swallows the rest of the
//! comment.

/// `text` on one line (whitespace runs collapsed), escaped.
pub fn inline(text: &str) -> String {
    escape(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `text` as a Markdown block quote, line by line, escaped (blank lines kept as `>`).
pub fn quoted(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| {
            let line = line.trim_end();
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {}", escape(line))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            // Entities, so no tag, comment or autolink can start.
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // A word joiner after `@` keeps the text readable but never notifies anyone.
            '@' => out.push_str("@\u{2060}"),
            // Markdown punctuation that could open a link, an image, code, emphasis, a
            // heading, a table cell or strike-through.
            '\\' | '`' | '*' | '_' | '[' | ']' | '!' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // Invisible and control characters go (a line is already a line).
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_mentions_come_out_as_plain_text() {
        let hostile = "<!-- jules-bridge:session=sessions/1 --> ![x](https://e/p.png) @org/team **bold** `code` <img src=x>";
        let text = inline(hostile);
        assert!(!text.contains('<'), "{text}");
        assert!(!text.contains("<!--"));
        assert!(!text.contains("!["));
        assert!(!text.contains("@o"), "no @mention survives: {text}");
        assert!(text.contains("\\*\\*bold\\*\\*"));
        assert!(text.contains("\\`code\\`"));
        assert!(text.contains("&lt;img src=x&gt;"));
    }

    #[test]
    fn a_quote_keeps_its_lines_and_cannot_end_early() {
        let text = quoted("Should I?\n\n# Heading\n<details>");
        assert_eq!(text, "> Should I?\n>\n> \\# Heading\n> &lt;details&gt;");
    }

    #[test]
    fn inline_text_is_one_line() {
        assert_eq!(inline("  a\n\nb\tc "), "a b c");
    }
}
