//! Who may make the bridge act.
//!
//! Only people with write, maintain or admin permission on the repository may start or steer a
//! session: a Jules session runs with the repository's code and can open pull requests, and it
//! costs the operator's quota. `author_association` in a payload is only a hint; the decision
//! uses the collaborator permission API. Bots are ignored unless the operator lists them, and
//! the bridge never reacts to its own comments (loop guard by login, not by
//! `performed_via_github_app`, which GitHub often leaves null).

use super::event::Actor;

/// A user's permission on a repository, from the collaborator permission API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    /// Not a collaborator (the API answered 404 or `none`).
    None,
    /// A custom organisation role; `permission` (legacy) says what it maps to.
    Custom {
        role: String,
        base: Box<Permission>,
    },
}

impl Permission {
    /// From the API's `role_name` and legacy `permission` fields.
    pub fn from_api(role_name: Option<&str>, permission: Option<&str>) -> Permission {
        let parse = |value: &str| match value {
            "admin" => Some(Permission::Admin),
            "maintain" => Some(Permission::Maintain),
            "write" | "push" => Some(Permission::Write),
            "triage" => Some(Permission::Triage),
            "read" | "pull" => Some(Permission::Read),
            "none" | "" => Some(Permission::None),
            _ => None,
        };
        let base = permission.and_then(parse).unwrap_or(Permission::None);
        match role_name {
            Some(role) => parse(role).unwrap_or_else(|| Permission::Custom {
                role: role.to_owned(),
                base: Box::new(base),
            }),
            None => base,
        }
    }

    /// Write access or more: may trigger the bridge.
    pub fn can_trigger(&self) -> bool {
        match self {
            Permission::Admin | Permission::Maintain | Permission::Write => true,
            Permission::Custom { base, .. } => base.can_trigger(),
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Permission::Admin => "admin".into(),
            Permission::Maintain => "maintain".into(),
            Permission::Write => "write".into(),
            Permission::Triage => "triage".into(),
            Permission::Read => "read".into(),
            Permission::None => "no".into(),
            Permission::Custom { role, .. } => role.clone(),
        }
    }
}

/// What to do about an event's sender, before any permission lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderCheck {
    /// A person (or an allowed bot): look up their permission.
    CheckPermission,
    /// A bot the operator listed in `allowed-bots`: trusted without a lookup.
    TrustedBot,
    /// The bridge itself: never act on our own comments.
    Ourselves,
    /// Any other bot.
    UntrustedBot,
}

/// Classifies `sender`. `own_logins` are the logins the bridge posts as (for example
/// `github-actions[bot]`, or `my-app[bot]`); `allowed_bots` come from the configuration.
pub fn check_sender(sender: &Actor, own_logins: &[String], allowed_bots: &[String]) -> SenderCheck {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if own_logins.iter().any(|own| same(own, &sender.login)) {
        return SenderCheck::Ourselves;
    }
    if !sender.is_bot {
        return SenderCheck::CheckPermission;
    }
    let bare = sender.login.trim_end_matches("[bot]");
    if allowed_bots
        .iter()
        .any(|allowed| same(allowed.trim_end_matches("[bot]"), bare))
    {
        SenderCheck::TrustedBot
    } else {
        SenderCheck::UntrustedBot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(login: &str, is_bot: bool) -> Actor {
        Actor {
            login: login.into(),
            is_bot,
        }
    }

    #[test]
    fn write_maintain_and_admin_may_trigger() {
        for (role, permission, allowed) in [
            ("admin", "admin", true),
            ("maintain", "write", true),
            ("write", "write", true),
            ("triage", "read", false),
            ("read", "read", false),
            ("security-reviewer", "read", false),
            ("release-manager", "write", true),
        ] {
            let perm = Permission::from_api(Some(role), Some(permission));
            assert_eq!(perm.can_trigger(), allowed, "{role}/{permission}");
        }
        assert!(!Permission::None.can_trigger());
        assert!(Permission::from_api(None, Some("admin")).can_trigger());
    }

    #[test]
    fn own_comments_and_bots_are_not_people() {
        let own = vec!["github-actions[bot]".to_owned()];
        let allowed = vec!["renovate".to_owned()];
        assert_eq!(
            check_sender(&actor("github-actions[bot]", true), &own, &allowed),
            SenderCheck::Ourselves
        );
        assert_eq!(
            check_sender(&actor("dependabot[bot]", true), &own, &allowed),
            SenderCheck::UntrustedBot
        );
        assert_eq!(
            check_sender(&actor("renovate[bot]", true), &own, &allowed),
            SenderCheck::TrustedBot
        );
        assert_eq!(
            check_sender(&actor("alice", false), &own, &allowed),
            SenderCheck::CheckPermission
        );
    }
}
