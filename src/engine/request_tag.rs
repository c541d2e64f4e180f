//! The request tags the bridge puts on the sessions it creates (see `jules::create`): they
//! make a retried create find the session an earlier attempt made, count the CI fixer's
//! sessions, and prove which issue a session belongs to. A tag holds at most 100 characters,
//! and a GitHub `owner/name` alone can be longer, so a long name is replaced by a hash of
//! it: cutting tags at 100 characters would make two long names, or two issues of one long
//! name, share a tag.

use sha2::{Digest, Sha256};

use super::event::RepoName;

/// Longest repository part kept as it is; the rest of a tag (`#issue:trigger`) fits in the
/// remaining characters.
const MAX_REPO_CHARS: usize = 56;
const MAX_TAG_CHARS: usize = 100;

/// The repository part of a tag: `owner/name`, or `r-<hash>` for a long one.
pub fn repo_key(repo: &RepoName) -> String {
    let name = clean(&repo.to_string());
    if name.len() <= MAX_REPO_CHARS {
        name
    } else {
        let digest = Sha256::digest(repo.to_string().to_lowercase().as_bytes());
        format!("r-{}", &hex::encode(digest)[..24])
    }
}

/// What every tag of a session for issue `issue` starts with.
pub fn issue_prefix(repo: &RepoName, issue: u64) -> String {
    format!("{}#{issue}:", repo_key(repo))
}

/// The tag of a session started for `issue` by `trigger` (`c<comment id>`, `label-<id>`).
pub fn for_issue(repo: &RepoName, issue: u64, trigger: &str) -> String {
    bounded(format!("{}{}", issue_prefix(repo, issue), clean(trigger)))
}

/// Any other tag of the repository: `<repo key><rest>` (`:run-…`, `:ci:…`).
pub fn for_repo(repo: &RepoName, rest: &str) -> String {
    bounded(format!("{}{}", repo_key(repo), clean(rest)))
}

/// Characters a tag cannot hold are replaced.
fn clean(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:/#-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A tag that is still too long (an overlong trigger) becomes a hash of itself: distinct
/// requests keep distinct tags, whatever their length.
fn bounded(tag: String) -> String {
    if tag.len() <= MAX_TAG_CHARS {
        tag
    } else {
        format!("h-{}", &hex::encode(Sha256::digest(tag.as_bytes()))[..32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(owner: &str, name: &str) -> RepoName {
        RepoName {
            owner: owner.into(),
            name: name.into(),
        }
    }

    #[test]
    fn short_names_read_as_themselves() {
        assert_eq!(
            for_issue(&repo("octo", "app"), 12, "c99"),
            "octo/app#12:c99"
        );
        assert_eq!(for_repo(&repo("octo", "app"), ":run-7"), "octo/app:run-7");
    }

    #[test]
    fn long_names_never_cut_into_each_other() {
        let owner = "an-organisation-with-a-long-name";
        let long = "a".repeat(90);
        let tags = [
            for_issue(&repo(owner, &format!("{long}-one")), 1, "c1"),
            for_issue(&repo(owner, &format!("{long}-two")), 1, "c1"),
            for_issue(&repo(owner, &format!("{long}-one")), 2, "c1"),
            for_issue(&repo(owner, &format!("{long}-one")), 1, "c2"),
        ];
        for (i, a) in tags.iter().enumerate() {
            assert!(a.len() <= 100, "{a}");
            for b in &tags[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The issue can still be read from the tag.
        let named = repo(owner, &format!("{long}-one"));
        assert!(tags[0].starts_with(&issue_prefix(&named, 1)));
        // GitHub names are case-insensitive: the hash is too.
        assert_eq!(
            repo_key(&named),
            repo_key(&repo(&owner.to_uppercase(), &format!("{long}-ONE")))
        );
    }

    #[test]
    fn an_overlong_trigger_is_hashed_not_cut() {
        let a = for_issue(&repo("o", "r"), 1, &"x".repeat(200));
        let b = for_issue(&repo("o", "r"), 1, &format!("{}y", "x".repeat(199)));
        assert!(a.len() <= 100 && b.len() <= 100);
        assert_ne!(a, b);
    }
}
