//! `github-fake`: the recording fake GitHub API as a process, for demos and manual dry runs.
//!
//! ```text
//! github-fake [--permission OWNER/REPO:USER:ROLE]...
//! ```
//! Prints `github-fake listening on http://ADDR` when ready; serves until Ctrl-C or SIGTERM.
//! Any bearer token is accepted and acts as `github-actions[bot]`.

use github_fake::FakeGitHub;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut permissions = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--permission" => match args
                .next()
                .as_deref()
                .map(|v| v.splitn(3, ':').collect::<Vec<_>>())
            {
                Some(parts) if parts.len() == 3 => permissions.push((
                    parts[0].to_owned(),
                    parts[1].to_owned(),
                    parts[2].to_owned(),
                )),
                _ => fail("--permission takes OWNER/REPO:USER:ROLE"),
            },
            "-h" | "--help" => {
                println!("usage: github-fake [--permission OWNER/REPO:USER:ROLE]...");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    let fake = FakeGitHub::start().await;
    for (repo, user, role) in &permissions {
        fake.set_permission(repo, user, role);
    }
    println!("github-fake listening on {}", fake.url());
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(message: &str) -> ! {
    eprintln!("github-fake: {message}");
    std::process::exit(2);
}
