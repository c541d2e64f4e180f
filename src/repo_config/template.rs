//! Prompt templates: `{placeholder}`s filled with values that are never scanned again.

use super::*;

/// The values a prompt template's placeholders stand for.
///
/// They are inserted as given (never scanned for placeholders again): sanitise untrusted text
/// such as `title` before, as the default prompt does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateValues {
    /// `{instruction}`: what the person asked for.
    pub instruction: String,
    /// `{context}`: the issue or pull request (or failed run) as the default prompt shows it.
    pub context: String,
    /// `{requester}`: the login of who asked.
    pub requester: String,
    /// `{repo}`: `owner/name`.
    pub repo: String,
    /// `{number}`: the issue or pull request number.
    pub number: u64,
    /// `{title}`: the issue or pull request title.
    pub title: String,
    /// `{url}`: the issue or pull request link.
    pub url: String,
}

impl TemplateValues {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(match name {
            "instruction" => Cow::Borrowed(self.instruction.as_str()),
            "context" => Cow::Borrowed(self.context.as_str()),
            "requester" => Cow::Borrowed(self.requester.as_str()),
            "repo" => Cow::Borrowed(self.repo.as_str()),
            "number" => Cow::Owned(self.number.to_string()),
            "title" => Cow::Borrowed(self.title.as_str()),
            "url" => Cow::Borrowed(self.url.as_str()),
            _ => return None,
        })
    }
}

/// Fills a prompt template: `{name}` becomes the value of a known placeholder, an unknown
/// `{placeholder}` is left as written, and `{{` / `}}` stand for `{` / `}`.
pub fn render_template(template: &str, values: &TemplateValues) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => match values.get(name) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

pub(super) enum Piece<'t> {
    Text(&'t str),
    /// `{name}`, without the braces.
    Placeholder(&'t str),
}

/// Splits a template into text and `{placeholders}` (escapes already resolved).
pub(super) fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            pieces.push(Piece::Text("{"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix('}') {
            pieces.push(Piece::Text("}"));
            rest = after;
        } else {
            // `{name}`: a name without braces or line breaks, else a lone `{`.
            let after = &tail[1..];
            let name = after
                .find(['{', '}', '\n'])
                .filter(|&end| after[end..].starts_with('}'))
                .map(|end| &after[..end]);
            match name {
                Some(name) => {
                    pieces.push(Piece::Placeholder(name));
                    rest = &after[name.len() + 1..];
                }
                None => {
                    pieces.push(Piece::Text("{"));
                    rest = after;
                }
            }
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}
