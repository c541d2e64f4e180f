//! Turning page-at-a-time list methods into streams that follow `nextPageToken`.

use std::future::Future;

use futures::{stream, Stream, TryStreamExt};

use super::error::JulesError;

/// Streams every item of a paged list. `fetch` gets the page token (`None` for the first
/// page) and answers the page's items and the next token; an absent or empty token ends it.
pub fn paginate<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, JulesError>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), JulesError>>,
{
    // State: the fetcher and the token of the next page (`None` once the last page is read).
    stream::try_unfold((fetch, Some(None)), |(mut fetch, next)| async move {
        let Some(token) = next else {
            return Ok(None);
        };
        let (items, next_token) = fetch(token).await?;
        let next = next_token.filter(|token| !token.is_empty()).map(Some);
        let items = stream::iter(items.into_iter().map(Ok));
        Ok(Some((items, (fetch, next))))
    })
    .try_flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn follows_tokens_until_the_last_page() {
        let pages = |token: Option<String>| async move {
            Ok(match token.as_deref() {
                None => (vec![1, 2], Some("a".to_owned())),
                Some("a") => (vec![], Some("b".to_owned())),
                Some("b") => (vec![3], Some(String::new())),
                Some(other) => panic!("unexpected token {other}"),
            })
        };
        let items: Vec<i32> = paginate(pages).try_collect().await.unwrap();
        assert_eq!(items, [1, 2, 3]);
    }
}
