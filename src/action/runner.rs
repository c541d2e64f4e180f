//! The GitHub Actions runner contract: inputs, workflow commands, outputs, step summary.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// The runner's environment, read once at start (never deep in the code).
#[derive(Debug, Clone, Default)]
pub struct RunnerEnv {
    vars: HashMap<String, String>,
}

impl RunnerEnv {
    pub fn from_process() -> Self {
        RunnerEnv {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        RunnerEnv {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A plain variable, trimmed; empty counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// An action input: `INPUT_<NAME>`, upper-cased, spaces to `_`, hyphens kept.
    pub fn input(&self, name: &str) -> Option<String> {
        self.var(&format!("INPUT_{}", name.to_uppercase().replace(' ', "_")))
    }

    /// A boolean input (`true`/`false`, as the YAML 1.2 core schema spells them).
    pub fn bool_input(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.input(name).map(|value| value.to_lowercase()) {
            None => Ok(default),
            Some(value) if value == "true" => Ok(true),
            Some(value) if value == "false" => Ok(false),
            Some(value) => Err(format!(
                "input `{name}` must be `true` or `false`, not `{value}`"
            )),
        }
    }
}

/// Escapes a workflow command message (`%`, CR, LF).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow commands go to stdout, which the runner reads.
pub struct Commands<W: Write> {
    out: W,
}

impl<W: Write> Commands<W> {
    pub fn new(out: W) -> Self {
        Commands { out }
    }

    /// Masks a secret in every later log line. Must come before the value could be printed.
    pub fn add_mask(&mut self, secret: &str) {
        for line in secret.lines().filter(|line| !line.trim().is_empty()) {
            self.line(&format!("::add-mask::{}", escape_data(line)));
        }
    }

    pub fn error(&mut self, message: &str) {
        self.line(&format!(
            "::error title=jules-bridge::{}",
            escape_data(message)
        ));
    }

    pub fn warning(&mut self, message: &str) {
        self.line(&format!("::warning::{}", escape_data(message)));
    }

    pub fn notice(&mut self, message: &str) {
        self.line(&format!("::notice::{}", escape_data(message)));
    }

    pub fn info(&mut self, message: &str) {
        self.line(message);
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}").and_then(|()| self.out.flush());
    }
}

/// Appends `name=value` outputs to `GITHUB_OUTPUT`.
pub struct Outputs {
    path: Option<PathBuf>,
}

impl Outputs {
    pub fn new(path: Option<PathBuf>) -> Self {
        Outputs { path }
    }

    pub fn set(&self, name: &str, value: &str) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        if value.contains('\n') || value.contains('\r') {
            // A multi-line value needs a delimiter that cannot occur in it.
            let delimiter = loop {
                let candidate = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
                if !value.contains(&candidate) {
                    break candidate;
                }
            };
            writeln!(file, "{name}<<{delimiter}\n{value}\n{delimiter}")
        } else {
            writeln!(file, "{name}={value}")
        }
    }
}

/// The step summary (`GITHUB_STEP_SUMMARY`), GitHub-flavoured Markdown, at most 1 MiB.
pub struct Summary {
    path: Option<PathBuf>,
}

const SUMMARY_LIMIT: usize = 1024 * 1024;

impl Summary {
    pub fn new(path: Option<PathBuf>) -> Self {
        Summary { path }
    }

    pub fn append(&self, markdown: &str) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let used = std::fs::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let room = SUMMARY_LIMIT.saturating_sub(used + 64);
        let text = if markdown.len() > room {
            let mut cut = room;
            while !markdown.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}\n\n*(summary truncated)*\n", &markdown[..cut])
        } else {
            markdown.to_owned()
        };
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_keep_their_hyphens() {
        let env = RunnerEnv::from_pairs([("INPUT_GITHUB-TOKEN", "  ghs_x  "), ("INPUT_WAIT", "")]);
        assert_eq!(env.input("github-token").as_deref(), Some("ghs_x"));
        assert_eq!(env.input("wait"), None);
        assert!(env.bool_input("dry-run", false).is_ok_and(|v| !v));
    }

    #[test]
    fn multi_line_outputs_use_a_fresh_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let outputs = Outputs::new(Some(path.clone()));
        outputs.set("state", "COMPLETED").unwrap();
        outputs.set("prompt", "line 1\nline 2").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("state=COMPLETED"));
        let header = lines.next().unwrap();
        let delimiter = header.strip_prefix("prompt<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.next(), Some("line 1"));
        assert_eq!(lines.next(), Some("line 2"));
        assert_eq!(lines.next(), Some(delimiter));
    }

    #[test]
    fn command_messages_are_escaped() {
        let mut out = Vec::new();
        Commands::new(&mut out).error("50% failed\nsecond line");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error title=jules-bridge::50%25 failed%0Asecond line\n"
        );
    }
}
