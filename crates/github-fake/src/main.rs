//! `github-fake`: the recording fake GitHub API as a process, for demos and manual dry runs.
//!
//! ```text
//! github-fake [--listen ADDR] [--permission OWNER/REPO:USER:ROLE]...
//!             [--file OWNER/REPO:PATH=LOCALFILE]... [--pull OWNER/REPO#N:HEADREF[:BASEREF]]...
//!             [--actions-token TOKEN]... [--token TOKEN=LOGIN]... [--issue OWNER/REPO#N]...
//! ```
//! `--file` serves a local file's content at `PATH` of the repository (for every ref), so a
//! `.github/jules-bridge.yml` can be tried by hand; `--pull` registers a pull request whose
//! head is `HEADREF` in the same repository (base `main` unless given).
//!
//! `--listen` defaults to `127.0.0.1:0` (a free port). Prints `github-fake listening on
//! http://ADDR` when ready; serves until Ctrl-C or SIGTERM.
//! Like GitHub, only known tokens authenticate (others answer 401 `Bad credentials`):
//! `--actions-token` registers an Actions `GITHUB_TOKEN` (acts as `github-actions[bot]`),
//! `--token TOKEN=LOGIN` a personal access token of `LOGIN`. Comments and reactions need an
//! existing issue: `--issue OWNER/REPO#N` declares one (pull requests from `--pull` exist too).

use github_fake::FakeGitHub;

const USAGE: &str = "usage: github-fake [--listen ADDR] [--permission OWNER/REPO:USER:ROLE]... \
                     [--file OWNER/REPO:PATH=LOCALFILE]... [--pull OWNER/REPO#N:HEADREF[:BASEREF]]... \
                     [--actions-token TOKEN]... [--token TOKEN=LOGIN]... [--issue OWNER/REPO#N]...";

/// A file to serve: repository, path in it, content.
struct File {
    repo: String,
    path: String,
    content: String,
}

/// A pull request to register: repository, number, head ref, base ref.
struct Pull {
    repo: String,
    number: u64,
    head: String,
    base: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:0".to_owned();
    let mut permissions = Vec::new();
    let mut files = Vec::new();
    let mut pulls = Vec::new();
    let mut actions_tokens = Vec::new();
    let mut tokens = Vec::new();
    let mut issues = Vec::new();
    while let Some(arg) = args.next() {
        // `--name=value` as well as `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value.into())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> String {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| fail(&format!("{name} takes {what}")))
        };
        match name.as_str() {
            "--listen" => listen = value("HOST:PORT (for example 127.0.0.1:8788)"),
            "--permission" => {
                let text = value("OWNER/REPO:USER:ROLE");
                match text.splitn(3, ':').collect::<Vec<_>>()[..] {
                    [repo, user, role] if is_repo(repo) && !user.is_empty() && !role.is_empty() => {
                        permissions.push((repo.to_owned(), user.to_owned(), role.to_owned()))
                    }
                    _ => fail(&format!(
                        "--permission takes OWNER/REPO:USER:ROLE, not {text:?}"
                    )),
                }
            }
            "--file" => files.push(parse_file(&value("OWNER/REPO:PATH=LOCALFILE"))),
            "--pull" => pulls.push(parse_pull(&value("OWNER/REPO#N:HEADREF"))),
            "--actions-token" => actions_tokens.push(value("TOKEN")),
            "--token" => {
                let text = value("TOKEN=LOGIN");
                match text.split_once('=') {
                    Some((token, login)) if !token.is_empty() && !login.is_empty() => {
                        tokens.push((token.to_owned(), login.to_owned()))
                    }
                    _ => fail("--token takes TOKEN=LOGIN"),
                }
            }
            "--issue" => issues.push(parse_issue(&value("OWNER/REPO#N"))),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|error| fail(&format!("cannot listen on {listen}: {error}")));
    let fake = FakeGitHub::start_on(listener);
    for (repo, user, role) in &permissions {
        fake.set_permission(repo, user, role);
    }
    for token in &actions_tokens {
        fake.add_actions_token(token);
    }
    for (token, login) in &tokens {
        fake.set_token_login(token, login);
    }
    for (repo, number) in &issues {
        fake.add_issue_at(repo, *number);
    }
    for file in &files {
        fake.set_file(&file.repo, &file.path, &file.content);
        eprintln!(
            "github-fake: serving {} bytes at {}:{}",
            file.content.len(),
            file.repo,
            file.path
        );
    }
    for pull in &pulls {
        fake.add_pull(&pull.repo, pull.number, &pull.head, &pull.repo, &pull.base);
        eprintln!(
            "github-fake: pull request {}#{} from {} into {}",
            pull.repo, pull.number, pull.head, pull.base
        );
    }
    println!("github-fake listening on {}", fake.url());
    let _ = tokio::signal::ctrl_c().await;
}

/// `OWNER/REPO:PATH=LOCALFILE`, the local file read now.
fn parse_file(text: &str) -> File {
    let parsed = text.split_once(':').and_then(|(repo, rest)| {
        let (path, local) = rest.split_once('=')?;
        let path = path.trim_start_matches('/');
        (is_repo(repo) && !path.is_empty() && !local.is_empty()).then_some((repo, path, local))
    });
    let Some((repo, path, local)) = parsed else {
        fail(&format!(
            "--file takes OWNER/REPO:PATH=LOCALFILE (for example \
             octo/app:.github/jules-bridge.yml=./my-config.yml), not {text:?}"
        ))
    };
    let content = std::fs::read_to_string(local)
        .unwrap_or_else(|error| fail(&format!("--file: cannot read {local}: {error}")));
    File {
        repo: repo.to_owned(),
        path: path.to_owned(),
        content,
    }
}

/// `OWNER/REPO#N:HEADREF[:BASEREF]`.
fn parse_pull(text: &str) -> Pull {
    let parsed = text.split_once('#').and_then(|(repo, rest)| {
        let (number, refs) = rest.split_once(':')?;
        let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
        let (head, base) = refs.split_once(':').unwrap_or((refs, "main"));
        (is_repo(repo) && !head.is_empty() && !base.is_empty()).then(|| Pull {
            repo: repo.to_owned(),
            number,
            head: head.to_owned(),
            base: base.to_owned(),
        })
    });
    parsed.unwrap_or_else(|| {
        fail(&format!(
            "--pull takes OWNER/REPO#N:HEADREF[:BASEREF] (for example octo/app#7:fix-parser), \
             not {text:?}"
        ))
    })
}

/// `OWNER/REPO#N`.
fn parse_issue(text: &str) -> (String, u64) {
    text.split_once('#')
        .and_then(|(repo, n)| Some((repo, n.parse::<u64>().ok().filter(|n| *n > 0)?)))
        .filter(|(repo, _)| is_repo(repo))
        .map(|(repo, n)| (repo.to_owned(), n))
        .unwrap_or_else(|| fail(&format!("--issue takes OWNER/REPO#N, not {text:?}")))
}

fn is_repo(text: &str) -> bool {
    matches!(text.split_once('/'), Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/'))
}

fn fail(message: &str) -> ! {
    eprintln!("github-fake: {message}");
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pulls_and_files_as_documented() {
        let pull = parse_pull("octo/app#7:fix-parser");
        assert_eq!(
            (pull.repo.as_str(), pull.number, pull.head.as_str()),
            ("octo/app", 7, "fix-parser")
        );
        assert_eq!(pull.base, "main");
        assert_eq!(parse_pull("octo/app#8:feature/x:develop").base, "develop");

        let local = std::env::temp_dir().join(format!("github-fake-{}.yml", std::process::id()));
        std::fs::write(&local, "trigger_label: go\n").unwrap();
        let file = parse_file(&format!(
            "octo/app:/.github/jules-bridge.yml={}",
            local.display()
        ));
        std::fs::remove_file(&local).unwrap();
        assert_eq!(file.repo, "octo/app");
        assert_eq!(file.path, ".github/jules-bridge.yml");
        assert_eq!(file.content, "trigger_label: go\n");

        assert_eq!(parse_issue("octo/app#3"), ("octo/app".to_owned(), 3));

        assert!(is_repo("octo/app"));
        assert!(!is_repo("octo"));
        assert!(!is_repo("octo/app/x"));
    }
}
