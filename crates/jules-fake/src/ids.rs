//! Identifiers and generated names, shaped like the real service's.

/// Session ids are decimal strings (the real ones have up to 20 digits).
pub fn new_session_id() -> String {
    // Keep ids at least 16 digits long so they look like real ones.
    let id: u64 = rand::random::<u64>() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000;
    id.to_string()
}

/// Activity, plan and plan-step ids: 32 lowercase hex characters.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A git commit id: 40 lowercase hex characters.
pub fn new_commit_id() -> String {
    let mut id = new_hex_id();
    id.push_str(&new_hex_id()[..8]);
    id
}

/// Scenario markers such as `[fake:ask]` steer the fake; they should not leak into titles.
pub fn strip_scenario_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[fake:") {
        out.push_str(&rest[..start]);
        match rest[start..].find(']') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The server makes a title from the prompt's first words when the client sends none.
pub fn title_from_prompt(prompt: &str) -> String {
    const MAX_WORDS: usize = 8;
    // Like a person skimming the task: the first non-empty line, without markup comments.
    let first_line = prompt
        .lines()
        .map(|line| line.split("<!--").next().unwrap_or(""))
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let cleaned = strip_scenario_markers(first_line);
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    if words.is_empty() {
        return "Untitled task".to_string();
    }
    let mut title = words[..words.len().min(MAX_WORDS)].join(" ");
    if words.len() > MAX_WORDS {
        title.push_str("...");
    }
    let mut chars = title.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => title,
    }
}

/// The live API titles an untitled session with the whole prompt. Only the fake's own
/// scenario markers are left out.
pub fn title_from_whole_prompt(prompt: &str) -> String {
    let mut title = prompt.to_string();
    while let Some(start) = title.find("[fake:") {
        let end = title[start..]
            .find(']')
            .map_or(title.len(), |end| start + end + 1);
        title.replace_range(start..end, "");
    }
    match title.trim() {
        "" => "Untitled task".to_string(),
        trimmed => trimmed.to_string(),
    }
}

/// Jules branch names usually end in `-<session id>`: `jules-<slug>-<id>`.
pub fn working_branch(title: &str, session_id: &str) -> String {
    let mut slug = String::new();
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("jules-{session_id}")
    } else {
        format!("jules-{slug}-{session_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_real_shapes() {
        let session = new_session_id();
        assert!(session.len() >= 16 && session.len() <= 20);
        assert!(session.chars().all(|c| c.is_ascii_digit()));
        let hex = new_hex_id();
        assert_eq!(hex.len(), 32);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(new_commit_id().len(), 40);
    }

    #[test]
    fn titles_skip_markers_and_truncate() {
        assert_eq!(title_from_prompt("[fake:ask] fix the bug"), "Fix the bug");
        assert_eq!(
            title_from_prompt("fix it\n\nmore context\n<!-- tag: 1 -->"),
            "Fix it"
        );
        assert_eq!(
            title_from_prompt("one two three four five six seven eight nine"),
            "One two three four five six seven eight..."
        );
        assert_eq!(title_from_prompt("[fake:slow]"), "Untitled task");
    }

    #[test]
    fn whole_prompt_titles_keep_everything_but_markers() {
        let prompt = "Fix the bug\n\nIt crashes on start. [fake:ask] Thanks!";
        assert_eq!(
            title_from_whole_prompt(prompt),
            "Fix the bug\n\nIt crashes on start.  Thanks!"
        );
        assert_eq!(title_from_whole_prompt("  [fake:slow] "), "Untitled task");
    }

    #[test]
    fn branch_names_end_in_the_session_id() {
        assert_eq!(
            working_branch("Fix the bug!", "123"),
            "jules-fix-the-bug-123"
        );
        assert_eq!(working_branch("!!!", "9"), "jules-9");
    }
}
