//! The three list filters the API understands (a tiny subset of AIP-160), parsed strictly:
//! anything else is an INVALID_ARGUMENT, like the real service.

use chrono::{DateTime, Utc};

use crate::clock::Timestamp;
use crate::errors::ApiError;

fn invalid_filter(filter: &str) -> ApiError {
    ApiError::invalid_argument(format!("Invalid filter: \"{filter}\"."))
}

/// A value that may be wrapped in double quotes.
fn unquote(value: &str) -> Option<&str> {
    let value = value.trim();
    match value.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').filter(|v| !v.contains('"')),
        None if !value.is_empty() && !value.contains(['"', ' ']) => Some(value),
        None => None,
    }
}

/// Splits `field OP value` for a single operator, tolerating any spacing.
fn split_comparison<'a>(term: &'a str, field: &str, op: &str) -> Option<&'a str> {
    term.trim()
        .strip_prefix(field)?
        .trim_start()
        .strip_prefix(op)
        .map(str::trim)
}

/// sessions.list: `archived = true` shows only archived sessions; absent or `archived = false`
/// shows only unarchived ones. Returns whether archived sessions are wanted.
pub fn parse_archived_filter(filter: Option<&str>) -> Result<bool, ApiError> {
    let filter = match filter.map(str::trim) {
        None | Some("") => return Ok(false),
        Some(filter) => filter,
    };
    let value = split_comparison(filter, "archived", "=")
        .and_then(unquote)
        .ok_or_else(|| invalid_filter(filter))?;
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid_filter(filter)),
    }
}

/// activities.list: `create_time > "TIMESTAMP"` (quotes and spaces optional). Returns the
/// bound; only activities created strictly after it are listed.
pub fn parse_create_time_filter(filter: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let filter = match filter.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(filter) => filter,
    };
    // `>=` must not be read as `>` followed by a value starting with `=`.
    let value = split_comparison(filter, "create_time", ">")
        .or_else(|| split_comparison(filter, "createTime", ">"))
        .filter(|value| !value.starts_with('='))
        .and_then(unquote)
        .ok_or_else(|| invalid_filter(filter))?;
    let bound = DateTime::parse_from_rfc3339(value).map_err(|_| invalid_filter(filter))?;
    Ok(Some(bound.with_timezone(&Utc)))
}

/// sources.list: `name=sources/a OR name=sources/b` (values may be quoted). Returns the
/// accepted names, or None when there is no filter.
pub fn parse_source_name_filter(filter: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let filter = match filter.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(filter) => filter,
    };
    filter
        .split(" OR ")
        .map(|term| {
            split_comparison(term, "name", "=")
                .and_then(unquote)
                .map(str::to_string)
                .ok_or_else(|| invalid_filter(filter))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_filter_variants() {
        assert_eq!(parse_archived_filter(None), Ok(false));
        assert_eq!(parse_archived_filter(Some("archived = true")), Ok(true));
        assert_eq!(parse_archived_filter(Some("archived=true")), Ok(true));
        assert_eq!(parse_archived_filter(Some("archived = false")), Ok(false));
        assert!(parse_archived_filter(Some("state = COMPLETED")).is_err());
        assert!(parse_archived_filter(Some("archived = maybe")).is_err());
    }

    #[test]
    fn create_time_filter_variants() {
        let expected = DateTime::parse_from_rfc3339("2026-01-17T00:03:53.137240Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        for filter in [
            "create_time > \"2026-01-17T00:03:53.137240Z\"",
            "create_time>\"2026-01-17T00:03:53.137240Z\"",
            "create_time>2026-01-17T00:03:53.137240Z",
            "createTime > 2026-01-17T00:03:53.137240Z",
        ] {
            assert_eq!(
                parse_create_time_filter(Some(filter)),
                Ok(expected),
                "{filter}"
            );
        }
        for bad in [
            "create_time >= \"2026-01-17T00:03:53.137240Z\"",
            "create_time < \"2026-01-17T00:03:53.137240Z\"",
            "create_time > \"yesterday\"",
            "update_time > \"2026-01-17T00:03:53.137240Z\"",
        ] {
            assert!(parse_create_time_filter(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_name_filter_variants() {
        assert_eq!(
            parse_source_name_filter(Some("name=sources/a OR name = \"sources/b\"")),
            Ok(Some(vec!["sources/a".to_string(), "sources/b".to_string()]))
        );
        assert!(parse_source_name_filter(Some("id=github/a/b")).is_err());
        assert!(parse_source_name_filter(Some("name=")).is_err());
    }
}
