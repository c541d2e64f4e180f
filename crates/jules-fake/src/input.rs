//! Request bodies, read the way Google's proto3 JSON front end reads them: field names in
//! lowerCamelCase or their original snake_case, `null` meaning "unset", and any unknown
//! field rejected with `Invalid JSON payload received. Unknown name "x": Cannot find field.`

use serde_json::{Map, Value};

use crate::errors::ApiError;

/// Which fields a message accepts. Leaf fields are type-checked later by serde.
pub enum Field {
    Leaf,
    Message(&'static [(&'static str, Field)]),
}

const GITHUB_REPO_CONTEXT: &[(&str, Field)] = &[("startingBranch", Field::Leaf)];

const SOURCE_CONTEXT: &[(&str, Field)] = &[
    ("source", Field::Leaf),
    ("githubRepoContext", Field::Message(GITHUB_REPO_CONTEXT)),
    ("workingBranch", Field::Leaf),
    ("environmentVariablesEnabled", Field::Leaf),
];

/// Every Session field. Output-only ones are accepted on create and ignored, like the
/// real service does.
pub const SESSION: &[(&str, Field)] = &[
    ("name", Field::Leaf),
    ("id", Field::Leaf),
    ("prompt", Field::Leaf),
    ("title", Field::Leaf),
    ("sourceContext", Field::Message(SOURCE_CONTEXT)),
    ("requirePlanApproval", Field::Leaf),
    ("automationMode", Field::Leaf),
    ("state", Field::Leaf),
    ("url", Field::Leaf),
    ("createTime", Field::Leaf),
    ("updateTime", Field::Leaf),
    ("archived", Field::Leaf),
    ("outputs", Field::Leaf),
];

pub const SEND_MESSAGE: &[(&str, Field)] = &[("prompt", Field::Leaf)];

/// approvePlan, archive and unarchive take an empty message.
pub const EMPTY: &[(&str, Field)] = &[];

/// Parses and normalises a body: an absent body is `{}`; keys come back in lowerCamelCase
/// with `null` members dropped.
pub fn parse_body(
    bytes: &[u8],
    schema: &'static [(&'static str, Field)],
) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::invalid_payload("Unexpected token."))?;
    match value {
        Value::Object(object) => normalise(object, schema, ""),
        _ => Err(ApiError::invalid_payload("Root element must be a message.")),
    }
}

fn normalise(
    object: Map<String, Value>,
    schema: &'static [(&'static str, Field)],
    path: &str,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, value) in object {
        let camel = snake_to_camel(&key);
        let Some((name, field)) = schema.iter().find(|(name, _)| *name == camel) else {
            let location = if path.is_empty() {
                String::new()
            } else {
                format!(" at '{path}'")
            };
            return Err(ApiError::invalid_payload(format!(
                "Unknown name \"{key}\"{location}: Cannot find field."
            )));
        };
        if value.is_null() {
            continue;
        }
        let value = match (field, value) {
            (Field::Leaf, value) => value,
            (Field::Message(inner), Value::Object(object)) => {
                let inner_path = if path.is_empty() {
                    camel_to_snake(name)
                } else {
                    format!("{path}.{}", camel_to_snake(name))
                };
                Value::Object(normalise(object, inner, &inner_path)?)
            }
            (Field::Message(_), other) => {
                return Err(ApiError::invalid_payload(format!(
                    "Invalid value at '{}', {other}",
                    camel_to_snake(name)
                )))
            }
        };
        out.insert((*name).to_string(), value);
    }
    Ok(out)
}

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper_next = false;
    for ch in key.chars() {
        if ch == '_' {
            upper_next = true;
        } else if upper_next {
            out.extend(ch.to_uppercase());
            upper_next = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for ch in key.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Deserialises a normalised body into a typed request, mapping type errors to 400.
pub fn typed<T: serde::de::DeserializeOwned>(body: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::invalid_payload(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_snake_case_and_drops_nulls() {
        let body = br#"{"require_plan_approval": true, "title": null, "source_context": {"github_repo_context": {"starting_branch": "dev"}}}"#;
        let parsed = parse_body(body, SESSION).expect("valid body");
        assert_eq!(parsed.get("requirePlanApproval"), Some(&Value::Bool(true)));
        assert!(!parsed.contains_key("title"));
        assert_eq!(
            parsed["sourceContext"]["githubRepoContext"]["startingBranch"],
            "dev"
        );
    }

    #[test]
    fn unknown_fields_use_googles_wording() {
        let error = parse_body(br#"{"foo": 1}"#, SESSION).expect_err("unknown field");
        assert_eq!(
            error.message,
            "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."
        );
        let nested = parse_body(br#"{"sourceContext": {"repo": "x"}}"#, SESSION)
            .expect_err("unknown nested field");
        assert_eq!(
            nested.message,
            "Invalid JSON payload received. Unknown name \"repo\" at 'source_context': Cannot find field."
        );
    }

    #[test]
    fn empty_body_is_an_empty_message_and_garbage_is_rejected() {
        assert_eq!(parse_body(b"", EMPTY), Ok(Map::new()));
        assert!(parse_body(b"{", EMPTY).is_err());
        assert!(parse_body(b"[]", EMPTY).is_err());
        assert!(parse_body(br#"{"x":1}"#, EMPTY).is_err());
    }
}
