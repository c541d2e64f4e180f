//! Page sizes and opaque, position-based page tokens.
//!
//! A token encodes the sort key of the last item served, so the next page starts strictly
//! after it. Items created between two page requests therefore never shift a page
//! (unlike offset tokens), and a deleted item cannot make the walk skip another one.
//!
//! activities.list is different: the live token is a plain nanoseconds-since-epoch cursor
//! ("the first activity at or after T"), and clients build such tokens themselves.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::clock::Timestamp;
use crate::errors::ApiError;

pub const MAX_PAGE_SIZE: usize = 100;
const TOKEN_PREFIX: &str = "jf1|";

/// `pageSize`: absent or 0 means the method's default, above 100 is clamped, negative or
/// non-numeric is an INVALID_ARGUMENT.
pub fn page_size(raw: Option<&str>, default: usize) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value: i64 = raw.trim().parse().map_err(|_| {
        ApiError::invalid_payload(format!(
            "Invalid value at 'page_size' (TYPE_INT32), \"{raw}\""
        ))
    })?;
    if value < 0 {
        return Err(ApiError::invalid_argument(
            "page_size must not be negative.",
        ));
    }
    if value > i64::from(i32::MAX) {
        return Err(ApiError::invalid_payload(format!(
            "Invalid value at 'page_size' (TYPE_INT32), \"{raw}\""
        )));
    }
    Ok(match value as usize {
        0 => default,
        size => size.min(MAX_PAGE_SIZE),
    })
}

/// `list` names the collection ("sessions", ...) so a token from one list is rejected by another.
pub fn encode_token(list: &str, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{list}|{last_key}"))
}

/// Absent or empty token: first page. Anything we did not hand out: INVALID_ARGUMENT.
pub fn decode_token(list: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let raw = match raw {
        None | Some("") => return Ok(None),
        Some(raw) => raw,
    };
    let invalid = || ApiError::invalid_argument(format!("Invalid page token: \"{raw}\"."));
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let expected = format!("{TOKEN_PREFIX}{list}|");
    text.strip_prefix(&expected)
        .map(|key| Some(key.to_string()))
        .ok_or_else(invalid)
}

/// Nanoseconds since the Unix epoch (i128: no overflow for any chrono time).
pub fn nanos_of(time: &Timestamp) -> i128 {
    i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos())
}

/// The activities page token that starts at `time`.
pub fn nanos_cursor(time: &Timestamp) -> String {
    nanos_of(time).to_string()
}

/// A token made of digits only is a nanoseconds cursor (the fake's opaque tokens never are).
pub fn is_nanos_cursor(raw: &str) -> bool {
    !raw.is_empty() && raw.bytes().all(|byte| byte.is_ascii_digit())
}

pub fn decode_nanos_cursor(raw: &str) -> Result<i128, ApiError> {
    raw.parse::<u64>()
        .map(i128::from)
        .map_err(|_| ApiError::invalid_argument(format!("Invalid page token: \"{raw}\".")))
}

/// One page of `items` (already sorted ascending by their string key), starting after
/// `after`. Returns the page and, when more items follow, the key to resume after.
pub fn paginate<T>(
    items: Vec<(String, T)>,
    after: Option<&str>,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut remaining = items
        .into_iter()
        .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after));
    let mut page = Vec::with_capacity(size);
    let mut last_key = None;
    for (key, item) in remaining.by_ref().take(size) {
        page.push(item);
        last_key = Some(key);
    }
    let more = remaining.next().is_some();
    (page, if more { last_key } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_clamps_and_rejects_negative() {
        assert_eq!(page_size(None, 30), Ok(30));
        assert_eq!(page_size(Some("0"), 50), Ok(50));
        assert_eq!(page_size(Some("7"), 50), Ok(7));
        assert_eq!(page_size(Some("1000"), 50), Ok(100));
        assert!(page_size(Some("-1"), 50).is_err());
        assert!(page_size(Some("ten"), 50).is_err());
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let token = encode_token("sessions", "key|1");
        assert!(token.parse::<u64>().is_err());
        assert_eq!(
            decode_token("sessions", Some(&token)),
            Ok(Some("key|1".into()))
        );
        assert!(decode_token("activities", Some(&token)).is_err());
        assert!(decode_token("sessions", Some("garbage")).is_err());
        assert!(decode_token("sessions", Some("12345")).is_err());
        assert_eq!(decode_token("sessions", Some("")), Ok(None));
    }

    #[test]
    fn nanos_cursors_round_trip() {
        let time = chrono::DateTime::parse_from_rfc3339("2026-01-17T00:03:53.137240Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .expect("valid literal");
        let cursor = nanos_cursor(&time);
        assert_eq!(cursor, "1768608233137240000");
        assert!(is_nanos_cursor(&cursor));
        assert_eq!(decode_nanos_cursor(&cursor), Ok(nanos_of(&time)));
        assert!(!is_nanos_cursor(&encode_token("activities/1", "k")));
        assert!(decode_nanos_cursor("99999999999999999999999").is_err());
    }

    #[test]
    fn paginate_resumes_strictly_after_the_key() {
        let items: Vec<(String, u32)> = (1..=5).map(|n| (format!("k{n}"), n)).collect();
        let (first, next) = paginate(items.clone(), None, 2);
        assert_eq!(first, vec![1, 2]);
        assert_eq!(next.as_deref(), Some("k2"));
        let (last, next) = paginate(items.clone(), Some("k4"), 2);
        assert_eq!(last, vec![5]);
        assert_eq!(next, None);
        let (exact, next) = paginate(items, Some("k3"), 2);
        assert_eq!(exact, vec![4, 5]);
        assert_eq!(next, None, "no token when the page ends the list");
    }
}
