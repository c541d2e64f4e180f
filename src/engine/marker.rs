//! The signed marker on the last line of every status comment, and the key that signs it.
//!
//! ```text
//! <!-- jules-bridge:session=sessions/ID requester=LOGIN plan=5103d6 sig=HEX -->
//! ```
//!
//! The stateless Action finds an issue's session again through this marker, so the marker is
//! a capability: whoever can plant one could point the bridge at any session. Anyone can
//! write an HTML comment into an issue comment, and the bridge's own replies once echoed
//! text. So a marker is trusted only when
//! - it is the last line of the comment (an echo in the middle of a text never counts), and
//! - its signature, an HMAC-SHA256 over the session, the repository, the issue number, the
//!   requester and the plan shown, verifies under the bridge's key.
//!
//! The key is derived from a secret the bridge already holds: the Jules API key in Action
//! mode, the webhook secret in server mode (docs/security.md). A marker copied to another
//! issue or repository does not verify, because the issue and repository are signed. A
//! marker signed under a key the bridge no longer holds (a rotated Jules key, or a status
//! comment of an older version) is [`MarkerCheck::Unverified`]: the caller may adopt its
//! session only after the session itself proves it belongs to this issue.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::event::RepoName;

const MARKER_START: &str = "<!-- jules-bridge:session=";
const MARKER_END: &str = "-->";
/// Bytes of the HMAC kept in the marker: 128 bits, far beyond guessing.
const SIGNATURE_BYTES: usize = 16;

/// What a status comment's marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// `sessions/ID`.
    pub session: String,
    pub requester: Option<String>,
    /// The short id of the plan the comment shows for approval, if it shows one: a bare
    /// `/jules approve` approves only that plan.
    pub plan: Option<String>,
}

/// The result of reading a comment's last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerCheck {
    /// No marker on the last line.
    None,
    /// A marker whose signature verifies for this repository and issue.
    Verified(Marker),
    /// A well-formed marker that does not verify: forged, copied from elsewhere, or signed
    /// with a key the bridge no longer holds.
    Unverified(Marker),
}

/// Signs markers with the first key and accepts a signature by any of them (several during
/// a rotation of the webhook secret).
#[derive(Clone)]
pub struct MarkerKey {
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for MarkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "MarkerKey({} key(s))", self.keys.len())
    }
}

impl MarkerKey {
    /// Derives the marker key from each secret (the first one signs). The derivation keeps
    /// the secret itself out of the marker's MAC, so a marker never helps recover it.
    pub fn derive<'s>(secrets: impl IntoIterator<Item = &'s str>) -> MarkerKey {
        let keys = secrets
            .into_iter()
            .filter(|secret| !secret.is_empty())
            .map(|secret| {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes keys of any length");
                mac.update(b"jules-bridge status marker v1");
                mac.finalize().into_bytes().into()
            })
            .collect();
        MarkerKey { keys }
    }

    /// A key that verifies nothing and signs with a fixed, public value: for tests and
    /// `simulate` without secrets. Its markers are never trusted by a real bridge.
    pub fn unkeyed() -> MarkerKey {
        MarkerKey::derive(["jules-bridge unkeyed"])
    }

    fn mac(key: &[u8; 32], marker: &Marker, repo: &RepoName, issue: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        // Length-prefixed fields: no two different markers sign the same bytes.
        let repo = repo.to_string().to_lowercase();
        let issue = issue.to_string();
        for field in [
            marker.session.as_str(),
            repo.as_str(),
            issue.as_str(),
            marker.requester.as_deref().unwrap_or(""),
            marker.plan.as_deref().unwrap_or(""),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// The marker line for `marker` on issue `issue` of `repo`.
    pub fn sign(&self, marker: &Marker, repo: &RepoName, issue: u64) -> String {
        let signature = self
            .keys
            .first()
            .map(|key| {
                let tag = Self::mac(key, marker, repo, issue).finalize().into_bytes();
                hex::encode(&tag[..SIGNATURE_BYTES])
            })
            .unwrap_or_default();
        let mut line = format!("{MARKER_START}{}", marker.session);
        if let Some(requester) = &marker.requester {
            line.push_str(&format!(" requester={requester}"));
        }
        if let Some(plan) = &marker.plan {
            line.push_str(&format!(" plan={plan}"));
        }
        line.push_str(&format!(" sig={signature} {MARKER_END}"));
        line
    }

    /// Reads the marker on the last line of `body` and checks it belongs to issue `issue` of
    /// `repo`.
    pub fn check(&self, body: &str, repo: &RepoName, issue: u64) -> MarkerCheck {
        let Some((marker, signature)) = parse_last_line(body) else {
            return MarkerCheck::None;
        };
        let verified = signature
            .and_then(|hex_text| hex::decode(hex_text).ok())
            // A shorter tag would be easier to guess.
            .filter(|given| given.len() == SIGNATURE_BYTES)
            .is_some_and(|given| {
                self.keys.iter().any(|key| {
                    // Constant time: timing must not reveal how much of a guess was right.
                    Self::mac(key, &marker, repo, issue)
                        .verify_truncated_left(&given)
                        .is_ok()
                })
            });
        if verified {
            MarkerCheck::Verified(marker)
        } else {
            MarkerCheck::Unverified(marker)
        }
    }
}

/// The marker fields and signature on the last non-empty line of `body`, if that line is
/// a marker and nothing else.
fn parse_last_line(body: &str) -> Option<(Marker, Option<String>)> {
    let line = body.trim_end().lines().next_back()?.trim();
    let inner = line.strip_prefix(MARKER_START)?.strip_suffix(MARKER_END)?;
    let mut fields = inner.split_whitespace();
    let session = fields.next()?.to_owned();
    let valid_session = session
        .strip_prefix("sessions/")
        .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
    if !valid_session {
        return None;
    }
    let mut marker = Marker {
        session,
        requester: None,
        plan: None,
    };
    let mut signature = None;
    for field in fields {
        if let Some(requester) = field.strip_prefix("requester=") {
            marker.requester = Some(requester.to_owned());
        } else if let Some(plan) = field.strip_prefix("plan=") {
            marker.plan = Some(plan.to_owned());
        } else if let Some(sig) = field.strip_prefix("sig=") {
            signature = Some(sig.to_owned());
        }
    }
    Some((marker, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> RepoName {
        let (owner, name) = name.split_once('/').unwrap();
        RepoName {
            owner: owner.into(),
            name: name.into(),
        }
    }

    fn marker() -> Marker {
        Marker {
            session: "sessions/123".into(),
            requester: Some("alice".into()),
            plan: Some("5103d6".into()),
        }
    }

    #[test]
    fn a_signed_marker_verifies_only_where_it_was_signed() {
        let key = MarkerKey::derive(["jules-key"]);
        let line = key.sign(&marker(), &repo("o/a"), 7);
        let body = format!("status text\n\n{line}\n");
        assert_eq!(
            key.check(&body, &repo("o/a"), 7),
            MarkerCheck::Verified(marker())
        );
        // GitHub names are case-insensitive.
        assert!(matches!(
            key.check(&body, &repo("O/A"), 7),
            MarkerCheck::Verified(_)
        ));
        // Copied to another issue or repository, or checked with another key: not trusted.
        assert!(matches!(
            key.check(&body, &repo("o/a"), 8),
            MarkerCheck::Unverified(_)
        ));
        assert!(matches!(
            key.check(&body, &repo("o/b"), 7),
            MarkerCheck::Unverified(_)
        ));
        assert!(matches!(
            MarkerKey::derive(["other"]).check(&body, &repo("o/a"), 7),
            MarkerCheck::Unverified(_)
        ));
    }

    #[test]
    fn any_change_to_a_field_breaks_the_signature() {
        let key = MarkerKey::derive(["k"]);
        let line = key.sign(&marker(), &repo("o/a"), 7);
        for (from, to) in [
            ("sessions/123", "sessions/124"),
            ("requester=alice", "requester=mallory"),
            ("plan=5103d6", "plan=ffffff"),
        ] {
            let forged = line.replace(from, to);
            assert!(
                matches!(
                    key.check(&forged, &repo("o/a"), 7),
                    MarkerCheck::Unverified(_)
                ),
                "{forged}"
            );
        }
    }

    #[test]
    fn only_the_last_line_counts() {
        let key = MarkerKey::derive(["k"]);
        let line = key.sign(&marker(), &repo("o/a"), 7);
        let echoed = format!("I could not read `/jules status {line}`\n\nhelp text");
        assert_eq!(key.check(&echoed, &repo("o/a"), 7), MarkerCheck::None);
        let inline = format!("text {line}");
        assert_eq!(key.check(&inline, &repo("o/a"), 7), MarkerCheck::None);
        assert_eq!(key.check("no marker", &repo("o/a"), 7), MarkerCheck::None);
        assert_eq!(
            key.check("<!-- jules-bridge:session=../x -->", &repo("o/a"), 7),
            MarkerCheck::None
        );
    }

    #[test]
    fn an_old_unsigned_marker_is_read_but_not_trusted() {
        let key = MarkerKey::derive(["k"]);
        let old = "status\n<!-- jules-bridge:session=sessions/9 requester=bob -->";
        assert_eq!(
            key.check(old, &repo("o/a"), 1),
            MarkerCheck::Unverified(Marker {
                session: "sessions/9".into(),
                requester: Some("bob".into()),
                plan: None,
            })
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies_while_it_is_listed() {
        let old = MarkerKey::derive(["old-secret"]);
        let line = old.sign(&marker(), &repo("o/a"), 7);
        let rotating = MarkerKey::derive(["new-secret", "old-secret"]);
        assert!(matches!(
            rotating.check(&line, &repo("o/a"), 7),
            MarkerCheck::Verified(_)
        ));
        let rotated = MarkerKey::derive(["new-secret"]);
        assert!(matches!(
            rotated.check(&line, &repo("o/a"), 7),
            MarkerCheck::Unverified(_)
        ));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = MarkerKey::derive(["super-secret"]);
        assert_eq!(format!("{key:?}"), "MarkerKey(1 key(s))");
    }
}
