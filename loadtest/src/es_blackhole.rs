//! A blackhole Elasticsearch for benchmarks of the pipeline, cheap enough
//! that the ingester, not the stand-in, sets the pace (Vector has a
//! blackhole sink for the same reason).
//!
//! It answers `GET /` as OpenSearch 2, acknowledges every `PUT` (templates,
//! indices, aliases), and answers every `_bulk` request as Elasticsearch
//! does when each item was created: `"errors":false` and one item per
//! action, with its index and id, cut to the request's `filter_path` as
//! Elasticsearch cuts it (the ingester asks for each item's status only).
//! Nothing is stored. It counts what an
//! index would hold: documents, span documents (those whose index name
//! holds `jaeger-span-`), distinct span document ids, and distinct
//! (trace ID, span ID) pairs among them. `GET /_blackhole` returns the
//! counts, so a benchmark can tell lost spans from duplicated ones without
//! a real Elasticsearch. The documents themselves are not checked: that is
//! what the tests against osmem are for.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

/// What `GET /_blackhole` reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// `_bulk` requests answered.
    pub requests: u64,
    /// Bytes of `_bulk` bodies.
    pub bytes: u64,
    /// Actions (documents) of all kinds.
    pub docs: u64,
    /// Actions on a span index.
    pub span_docs: u64,
    /// Distinct `_id`s among the span documents.
    pub distinct_span_docs: u64,
    /// Distinct (trace ID, span ID) pairs among the span documents.
    pub distinct_spans: u64,
}

/// The counters and the distinct ids seen so far. A span document's `_id`
/// is `{trace id}-{span id}-{hash of the document}` (32, 16 and 16 hex
/// digits); it is held as numbers, one map entry per span with its first
/// document's hash, so that a span costs one lookup. The ids are random, so
/// the fast `foldhash` serves.
#[derive(Default)]
struct Seen {
    /// The counters; the distinct counts are derived from the sets below.
    counts: Counts,
    /// (trace ID, span ID) → the hash of its first document.
    spans: foldhash::HashMap<SpanKey, u64>,
    /// The further distinct documents of a span (another hash).
    more_docs: foldhash::HashSet<(SpanKey, u64)>,
    /// Ids of another form, as they are: each a span of its own.
    others: foldhash::HashSet<Box<[u8]>>,
    /// Documents without an `_id`: Elasticsearch gives each a new one.
    unnamed: u64,
}

type SpanKey = (u128, u64);

impl Seen {
    fn add(&mut self, id: &[u8]) {
        match parse_span_doc_id(id) {
            Some((span, hash)) => match self.spans.entry(span) {
                Entry::Vacant(entry) => {
                    entry.insert(hash);
                }
                Entry::Occupied(entry) => {
                    if *entry.get() != hash {
                        self.more_docs.insert((span, hash));
                    }
                }
            },
            None if id.is_empty() => self.unnamed += 1,
            None => {
                if !self.others.contains(id) {
                    self.others.insert(id.into());
                }
            }
        }
    }

    fn distinct_spans(&self) -> u64 {
        (self.spans.len() + self.others.len()) as u64 + self.unnamed
    }

    fn distinct_docs(&self) -> u64 {
        (self.spans.len() + self.more_docs.len() + self.others.len()) as u64 + self.unnamed
    }
}

/// `{trace id}-{span id}-{hash}` as numbers; `None` for an id of another form.
fn parse_span_doc_id(id: &[u8]) -> Option<(SpanKey, u64)> {
    if id.len() != 66 || id[32] != b'-' || id[49] != b'-' {
        return None;
    }
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    let mut hash = [0u8; 8];
    hex::decode_to_slice(&id[..32], &mut trace).ok()?;
    hex::decode_to_slice(&id[33..49], &mut span).ok()?;
    hex::decode_to_slice(&id[50..], &mut hash).ok()?;
    Some((
        (u128::from_be_bytes(trace), u64::from_be_bytes(span)),
        u64::from_be_bytes(hash),
    ))
}

/// The blackhole's shared state.
#[derive(Clone, Default)]
pub struct Blackhole {
    seen: Arc<Mutex<Seen>>,
}

impl Blackhole {
    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        Counts {
            distinct_span_docs: seen.distinct_docs(),
            distinct_spans: seen.distinct_spans(),
            ..seen.counts
        }
    }

    /// Counts one `_bulk` body and returns Elasticsearch's answer to it,
    /// cut to `filter_path` (the request's parameter, when it has one), or
    /// the reason it is not a bulk body (Elasticsearch answers 400 then).
    pub fn bulk(&self, body: &[u8], filter_path: Option<&str>) -> Result<Vec<u8>, String> {
        let actions = parse_bulk(body)?;
        let answer = write_answer(&actions, &Filter::new(filter_path));

        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = &mut *seen;
        seen.counts.requests += 1;
        seen.counts.bytes += body.len() as u64;
        seen.counts.docs += actions.len() as u64;
        for action in actions.iter().filter(|a| a.is_span()) {
            seen.counts.span_docs += 1;
            seen.add(action.id);
        }
        Ok(answer)
    }
}

/// One action line of a bulk body: `{"index":{"_index":"…","_id":"…"}}`.
#[derive(Debug, PartialEq, Eq)]
struct Action<'a> {
    kind: &'a [u8],
    index: &'a [u8],
    id: &'a [u8],
}

impl Action<'_> {
    fn is_span(&self) -> bool {
        self.kind != b"delete" && self.index.windows(12).any(|w| w == b"jaeger-span-")
    }
}

/// The actions of a bulk body. Every action but `delete` is followed by its
/// document's line, which is skipped unread.
fn parse_bulk(body: &[u8]) -> Result<Vec<Action<'_>>, String> {
    let mut actions = Vec::new();
    let mut lines = lines(body).enumerate().filter(|(_, line)| !line.is_empty());
    while let Some((number, line)) = lines.next() {
        let action = parse_action(line).ok_or_else(|| {
            format!(
                "line {}: not a bulk action: {}",
                number + 1,
                String::from_utf8_lossy(&line[..line.len().min(120)])
            )
        })?;
        if action.kind != b"delete" && lines.next().is_none() {
            return Err(format!(
                "line {}: the {} action has no document line",
                number + 1,
                String::from_utf8_lossy(action.kind)
            ));
        }
        actions.push(action);
    }
    Ok(actions)
}

/// The lines of `body`, found with `memchr`: a document line is skipped at
/// the speed of memory, not byte by byte.
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(b'\n', text) {
            Some(end) => {
                rest = Some(&text[end + 1..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// `{"KIND":{"_index":"INDEX","_id":"ID",…}}`, compact as the ingester
/// writes it, read in one pass: index names and ids hold no quotes or
/// escapes.
fn parse_action(line: &[u8]) -> Option<Action<'_>> {
    let (kind, rest) = up_to_quote(line.strip_prefix(b"{\"")?)?;
    if !matches!(kind, b"index" | b"create" | b"update" | b"delete") {
        return None;
    }
    let mut rest = rest.strip_prefix(b":{")?;
    let (mut index, mut id): (&[u8], &[u8]) = (b"", b"");
    while let Some(field) = rest.strip_prefix(b"\"") {
        let (name, after) = up_to_quote(field)?;
        let after = after.strip_prefix(b":")?;
        let (value, after) = match after.strip_prefix(b"\"") {
            Some(text) => up_to_quote(text)?,
            // A number or a boolean (`"require_alias":true`).
            None => after.split_at(after.iter().position(|b| matches!(b, b',' | b'}'))?),
        };
        match name {
            b"_index" => index = value,
            b"_id" => id = value,
            _ => {}
        }
        rest = after.strip_prefix(b",").unwrap_or(after);
    }
    rest.starts_with(b"}}")
        .then_some(Action { kind, index, id })
}

/// `text` up to its first quote, and what follows that quote.
fn up_to_quote(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(b'"', text)?;
    Some((&text[..end], &text[end + 1..]))
}

/// The parts of a bulk answer a `filter_path` keeps: the forms the
/// ingester and common clients send (`errors`, `took`, `items`,
/// `items.*.FIELD`, comma-separated). Without a `filter_path`, all of it.
struct Filter<'a> {
    paths: Option<Vec<&'a str>>,
}

impl<'a> Filter<'a> {
    fn new(filter_path: Option<&'a str>) -> Filter<'a> {
        Filter {
            paths: filter_path.map(|paths| paths.split(',').map(str::trim).collect()),
        }
    }

    fn keeps(&self, top: &str) -> bool {
        self.paths.as_ref().is_none_or(|paths| {
            paths.iter().any(|path| {
                *path == top
                    || path
                        .strip_prefix(top)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    }

    fn keeps_item_field(&self, field: &str) -> bool {
        self.paths.as_ref().is_none_or(|paths| {
            paths.iter().any(|path| {
                matches!(*path, "items" | "items.*") || path.strip_prefix("items.*.") == Some(field)
            })
        })
    }
}

/// The answer to `actions`, each created (or updated, or deleted), as
/// Elasticsearch writes it, cut to `filter`.
fn write_answer(actions: &[Action], filter: &Filter) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + actions.len() * 190);
    let mut fields = Fields::open(&mut out);
    if filter.keeps("took") {
        fields.raw("took", b"0");
    }
    if filter.keeps("errors") {
        fields.raw("errors", b"false");
    }
    if filter.keeps("items") {
        let out = fields.name("items");
        out.push(b'[');
        for (n, action) in actions.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_item(out, action, filter);
        }
        out.push(b']');
    }
    fields.close();
    out
}

/// One item: `{"KIND":{…}}` with the fields `filter` keeps.
fn write_item(out: &mut Vec<u8>, action: &Action, filter: &Filter) {
    let (result, status): (&[u8], &[u8]) = match action.kind {
        b"update" => (b"updated", b"200"),
        b"delete" => (b"deleted", b"200"),
        _ => (b"created", b"201"),
    };
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(action.kind);
    out.extend_from_slice(b"\":");
    let mut fields = Fields::open(out);
    let all: [(&str, &[u8], bool); 8] = [
        ("_index", action.index, true),
        ("_id", action.id, true),
        ("_version", b"1", false),
        ("result", result, true),
        (
            "_shards",
            br#"{"total":1,"successful":1,"failed":0}"#,
            false,
        ),
        ("_seq_no", b"0", false),
        ("_primary_term", b"1", false),
        ("status", status, false),
    ];
    for (name, value, quoted) in all {
        if filter.keeps_item_field(name) {
            if quoted {
                fields.text(name, value);
            } else {
                fields.raw(name, value);
            }
        }
    }
    fields.close();
    out.push(b'}');
}

/// A JSON object written field by field, commas between them.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Fields<'a> {
    fn open(out: &'a mut Vec<u8>) -> Fields<'a> {
        out.push(b'{');
        Fields { out, first: true }
    }

    /// Writes `"name":` and returns the buffer for the value.
    fn name(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn raw(&mut self, name: &str, value: &[u8]) {
        self.name(name).extend_from_slice(value);
    }

    /// A string value that needs no escaping (index names, ids, results).
    fn text(&mut self, name: &str, value: &[u8]) {
        let out = self.name(name);
        out.push(b'"');
        out.extend_from_slice(value);
        out.push(b'"');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// The HTTP routes; `max_body_bytes` bounds a request body (Elasticsearch's
/// `http.max_content_length`, 100 MB by default).
pub fn router(blackhole: Blackhole, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/_blackhole", get(counts))
        .route("/_bulk", post(bulk))
        .route("/{index}/_bulk", post(bulk))
        .fallback(other)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(blackhole)
}

async fn counts(State(blackhole): State<Blackhole>) -> Response {
    match serde_json::to_vec(&blackhole.counts()) {
        Ok(body) => json(StatusCode::OK, body),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn bulk(
    State(blackhole): State<Blackhole>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match blackhole.bulk(&body, query.get("filter_path").map(String::as_str)) {
        Ok(answer) => json(StatusCode::OK, answer),
        Err(reason) => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "error": {"type": "illegal_argument_exception", "reason": reason},
                "status": 400
            })
            .to_string()
            .into_bytes(),
        ),
    }
}

/// `GET /` and any other `GET` as OpenSearch 2's root; every `PUT` (a
/// template, an index, an alias) acknowledged; anything else an empty
/// object.
async fn other(method: Method) -> Response {
    let body: &[u8] = match method {
        Method::GET => {
            br#"{"version":{"distribution":"opensearch","number":"2.19.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#
        }
        Method::PUT => br#"{"acknowledged":true}"#,
        _ => b"{}",
    };
    json(StatusCode::OK, body.to_vec())
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

    fn span_action(span: &str, hash: &str) -> String {
        format!(
            "{{\"index\":{{\"_index\":\"p-jaeger-span-2026-12-08\",\"_id\":\"{TRACE}-{span}-{hash}\"}}}}\n{{\"traceID\":\"{TRACE}\"}}\n"
        )
    }

    #[test]
    fn counts_documents_spans_and_distinct_ids() {
        let blackhole = Blackhole::default();
        let first = [
            span_action("b7ad6b7169203331", "00000000000000aa"),
            span_action("b7ad6b7169203331", "00000000000000bb"), // the same span, another document
            "{\"index\":{\"_index\":\"p-jaeger-service-2026-12-08\",\"_id\":\"svc\"}}\n{}\n".into(),
        ]
        .concat();
        blackhole.bulk(first.as_bytes(), None).expect("a bulk body");
        // A replay of the first document and a new span.
        let second = [
            span_action("b7ad6b7169203331", "00000000000000aa"),
            span_action("00f067aa0ba902b7", "00000000000000aa"),
        ]
        .concat();
        blackhole
            .bulk(second.as_bytes(), None)
            .expect("a bulk body");

        assert_eq!(
            blackhole.counts(),
            Counts {
                requests: 2,
                bytes: (first.len() + second.len()) as u64,
                docs: 5,
                span_docs: 4,
                distinct_span_docs: 3,
                distinct_spans: 2,
            }
        );
    }

    #[test]
    fn answers_one_created_item_per_action_in_order() {
        let body = [
            span_action("b7ad6b7169203331", "00000000000000aa"),
            "{\"create\":{\"_index\":\"s\",\"_id\":\"x\"}}\n{}\n".into(),
            "{\"delete\":{\"_index\":\"s\",\"_id\":\"y\"}}\n".into(),
        ]
        .concat();
        let answer = Blackhole::default()
            .bulk(body.as_bytes(), None)
            .expect("a bulk body");
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(answer["errors"], false);
        let items = answer["items"].as_array().expect("items");
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0]["index"]["_id"],
            format!("{TRACE}-b7ad6b7169203331-00000000000000aa")
        );
        assert_eq!(items[0]["index"]["_index"], "p-jaeger-span-2026-12-08");
        assert_eq!(items[0]["index"]["status"], 201);
        assert_eq!(items[1]["create"]["_id"], "x");
        assert_eq!(items[2]["delete"]["status"], 200);
    }

    #[test]
    fn an_id_of_another_form_is_counted_by_its_text_and_no_id_as_a_new_one() {
        let blackhole = Blackhole::default();
        let body = "{\"index\":{\"_index\":\"jaeger-span-x\",\"_id\":\"a\"}}\n{}\n\
                    {\"index\":{\"_index\":\"jaeger-span-x\",\"_id\":\"a\"}}\n{}\n\
                    {\"index\":{\"_index\":\"jaeger-span-x\",\"_id\":\"b\"}}\n{}\n\
                    {\"index\":{\"_index\":\"jaeger-span-x\"}}\n{}\n\
                    {\"index\":{\"_index\":\"jaeger-span-x\"}}\n{}\n";
        blackhole.bulk(body.as_bytes(), None).expect("a bulk body");
        let counts = blackhole.counts();
        assert_eq!(
            (
                counts.span_docs,
                counts.distinct_span_docs,
                counts.distinct_spans
            ),
            (5, 4, 4),
            "a and b once each, and each document without an id"
        );
    }

    #[test]
    fn cuts_the_answer_to_the_filter_path_as_elasticsearch_does() {
        let body = [
            span_action("b7ad6b7169203331", "00000000000000aa"),
            "{\"create\":{\"_index\":\"s\",\"_id\":\"x\"}}\n{}\n".into(),
        ]
        .concat();
        let blackhole = Blackhole::default();
        // The ingester's filter_path.
        let answer = blackhole
            .bulk(body.as_bytes(), Some("errors,items.*.status,items.*.error"))
            .expect("a bulk body");
        assert_eq!(
            String::from_utf8(answer).expect("UTF-8"),
            r#"{"errors":false,"items":[{"index":{"status":201}},{"create":{"status":201}}]}"#
        );
        let answer = blackhole
            .bulk(body.as_bytes(), Some("took,items.*._id"))
            .expect("a bulk body");
        assert_eq!(
            String::from_utf8(answer).expect("UTF-8"),
            format!(
                r#"{{"took":0,"items":[{{"index":{{"_id":"{TRACE}-b7ad6b7169203331-00000000000000aa"}}}},{{"create":{{"_id":"x"}}}}]}}"#
            )
        );
        let answer = blackhole
            .bulk(body.as_bytes(), Some("errors"))
            .expect("a bulk body");
        assert_eq!(answer, br#"{"errors":false}"#);
    }

    #[test]
    fn reads_the_fields_of_an_action_in_any_order() {
        let action = parse_action(br#"{"create":{"_id":"x","require_alias":true,"_index":"i"}}"#);
        assert_eq!(
            action,
            Some(Action {
                kind: b"create",
                index: b"i",
                id: b"x"
            })
        );
        assert_eq!(parse_action(br#"{"index":{"_index":"i""#), None, "unclosed");
    }

    #[test]
    fn refuses_what_is_not_a_bulk_body() {
        let blackhole = Blackhole::default();
        let error = blackhole
            .bulk(b"{\"query\":{}}\n", None)
            .expect_err("not an action");
        assert!(error.starts_with("line 1: not a bulk action"), "{error}");
        let error = blackhole
            .bulk(b"{\"index\":{\"_index\":\"i\"}}\n", None)
            .expect_err("no document");
        assert!(error.contains("has no document line"), "{error}");
        assert_eq!(
            blackhole.counts(),
            Counts::default(),
            "a refused body counts nothing"
        );
    }
}
