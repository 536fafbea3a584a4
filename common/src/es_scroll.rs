//! The one scroll reader over Elasticsearch/OpenSearch: every hit of a
//! search, page by page, then the scroll contexts released. The ingester's
//! dependencies job and the load tester's verifier both read with it.
//!
//! It is written against [`SearchClient`], the two calls a scroll makes, so
//! each caller keeps its own HTTP client and with it its own credentials
//! and TLS trust: the ingester its `elasticsearch` client with the `--es-*`
//! flags, the verifier its `reqwest` client. This module needs nothing but
//! serde.
//!
//! Guarantees: a page of hits without a `_scroll_id`, or a scroll that
//! expires (404) between pages, is an error, never a silently short read.
//! Releasing the scroll contexts is best effort: an unreleased one expires
//! after [`KEEP_ALIVE`] anyway.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// How long Elasticsearch keeps a scroll context between two pages.
pub const KEEP_ALIVE: &str = "1m";

/// The calls a scroll makes, over the caller's own HTTP client.
pub trait SearchClient {
    type Error: From<ScrollError>;

    /// POSTs `body` as JSON to `path` (from the server's root, e.g.
    /// `/_search/scroll`) and parses the answer; `None` when it is 404.
    fn post_json<T: DeserializeOwned + Send>(
        &self,
        path: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Option<T>, Self::Error>> + Send;

    /// DELETEs with a JSON body, ignoring the outcome.
    fn delete_json(&self, path: &str, body: &Value) -> impl Future<Output = ()> + Send;
}

/// A scroll that cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrollError {
    #[error("{path}: a page of hits came without a _scroll_id")]
    NoScrollId { path: String },
    #[error("/_search/scroll: scroll expired (404)")]
    Expired,
}

const SCROLL_PATH: &str = "/_search/scroll";

#[derive(Deserialize)]
#[serde(bound = "S: DeserializeOwned + Default")]
struct Page<S> {
    #[serde(rename = "_scroll_id")]
    scroll_id: Option<String>,
    hits: Hits<S>,
}

#[derive(Deserialize)]
#[serde(bound = "S: DeserializeOwned + Default")]
struct Hits<S> {
    hits: Vec<Hit<S>>,
}

#[derive(Deserialize)]
#[serde(bound = "S: DeserializeOwned + Default")]
struct Hit<S> {
    /// A hit without `_source` (one stored with `_source` disabled) reads
    /// as the default.
    #[serde(rename = "_source", default)]
    source: S,
}

/// Runs `search` (a search body: `size` is the page size, with `query`,
/// `sort` and `_source` as the caller wants) over `index` as a scroll and
/// calls `each` with the `_source` of every hit, in the order the pages
/// come. Returns `false` when the index does not exist (the first search
/// answered 404), `true` otherwise.
pub async fn scroll<C, S>(
    client: &C,
    index: &str,
    search: &Value,
    mut each: impl FnMut(S),
) -> Result<bool, C::Error>
where
    C: SearchClient,
    S: DeserializeOwned + Default + Send,
{
    let path = format!("/{index}/_search?scroll={KEEP_ALIVE}");
    let Some(mut page): Option<Page<S>> = client.post_json(&path, search).await? else {
        return Ok(false);
    };
    let mut scroll_ids: Vec<String> = Vec::new();
    let result = loop {
        if let Some(id) = &page.scroll_id {
            if !scroll_ids.contains(id) {
                scroll_ids.push(id.clone());
            }
        }
        if page.hits.hits.is_empty() {
            break Ok(());
        }
        let scroll_id = page.scroll_id.take();
        for hit in page.hits.hits {
            each(hit.source);
        }
        let Some(scroll_id) = scroll_id else {
            break Err(ScrollError::NoScrollId { path }.into());
        };
        let body = json!({"scroll": KEEP_ALIVE, "scroll_id": scroll_id});
        match client.post_json(SCROLL_PATH, &body).await {
            Ok(Some(next)) => page = next,
            Ok(None) => break Err(ScrollError::Expired.into()),
            Err(error) => break Err(error),
        }
    };
    if !scroll_ids.is_empty() {
        client
            .delete_json(SCROLL_PATH, &json!({ "scroll_id": scroll_ids }))
            .await;
    }
    result.map(|()| true)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers scroll calls from a list of pages and records every call.
    struct Pages {
        answers: Mutex<Vec<Option<Value>>>,
        calls: Mutex<Vec<(String, Value)>>,
    }

    impl Pages {
        fn new(answers: Vec<Option<Value>>) -> Self {
            Pages {
                answers: Mutex::new(answers.into_iter().rev().collect()),
                calls: Mutex::default(),
            }
        }

        fn calls(&self) -> Vec<(String, Value)> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[derive(Debug, PartialEq)]
    struct Failed(String);

    impl From<ScrollError> for Failed {
        fn from(error: ScrollError) -> Self {
            Failed(error.to_string())
        }
    }

    impl SearchClient for Pages {
        type Error = Failed;

        async fn post_json<T: DeserializeOwned + Send>(
            &self,
            path: &str,
            body: &Value,
        ) -> Result<Option<T>, Failed> {
            self.calls
                .lock()
                .unwrap()
                .push((format!("POST {path}"), body.clone()));
            let answer = self.answers.lock().unwrap().pop().flatten();
            answer
                .map(|a| serde_json::from_value(a).map_err(|e| Failed(e.to_string())))
                .transpose()
        }

        async fn delete_json(&self, path: &str, body: &Value) {
            self.calls
                .lock()
                .unwrap()
                .push((format!("DELETE {path}"), body.clone()));
        }
    }

    fn page(scroll_id: Option<&str>, ids: &[&str]) -> Option<Value> {
        let hits: Vec<Value> = ids.iter().map(|id| json!({"_source": id})).collect();
        Some(json!({"_scroll_id": scroll_id, "hits": {"hits": hits}}))
    }

    fn run(pages: &Pages) -> (Result<bool, Failed>, Vec<String>) {
        let mut seen = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(scroll(pages, "spans", &json!({"size": 2}), |s: String| {
            seen.push(s)
        }));
        (result, seen)
    }

    #[test]
    fn follows_pages_to_the_empty_one_and_releases_every_context() {
        let pages = Pages::new(vec![
            page(Some("a"), &["1", "2"]),
            page(Some("b"), &["3"]),
            page(Some("b"), &[]),
        ]);
        let (result, seen) = run(&pages);
        assert_eq!(result, Ok(true));
        assert_eq!(seen, ["1", "2", "3"]);
        let calls = pages.calls();
        assert_eq!(calls[0].0, "POST /spans/_search?scroll=1m");
        assert_eq!(
            calls[1],
            (
                "POST /_search/scroll".into(),
                json!({"scroll": "1m", "scroll_id": "a"})
            )
        );
        assert_eq!(calls[2].1["scroll_id"], "b");
        assert_eq!(
            calls[3],
            (
                "DELETE /_search/scroll".into(),
                json!({"scroll_id": ["a", "b"]})
            )
        );
    }

    #[test]
    fn a_missing_index_is_no_hits_and_no_error() {
        let pages = Pages::new(vec![None]);
        let (result, seen) = run(&pages);
        assert_eq!(result, Ok(false));
        assert!(seen.is_empty());
        assert_eq!(pages.calls().len(), 1, "nothing to release");
    }

    #[test]
    fn an_expired_scroll_or_a_missing_scroll_id_is_an_error_not_a_short_read() {
        let pages = Pages::new(vec![page(Some("a"), &["1"]), None]);
        let (result, seen) = run(&pages);
        assert_eq!(
            result,
            Err(Failed("/_search/scroll: scroll expired (404)".into()))
        );
        assert_eq!(seen, ["1"]);
        assert_eq!(pages.calls().last().unwrap().0, "DELETE /_search/scroll");

        let pages = Pages::new(vec![page(None, &["1"])]);
        let (result, _) = run(&pages);
        assert_eq!(
            result,
            Err(Failed(
                "/spans/_search?scroll=1m: a page of hits came without a _scroll_id".into()
            ))
        );
    }
}
