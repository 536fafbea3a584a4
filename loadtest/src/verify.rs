//! End-to-end verification of a load run: every span the collector
//! acknowledged must be in Elasticsearch exactly once.
//!
//! After the run, [`verify`] waits for the ingester to catch up (the span
//! count in the run's time range stops growing or reaches what was
//! acknowledged), reads back the `traceID` and `spanID` of every span
//! document since the run started, and compares them with [`Acked`]:
//!
//! - a trace with fewer distinct span IDs than were acknowledged has *lost*
//!   spans;
//! - a `(traceID, spanID)` pair stored in `k > 1` documents counts `k - 1`
//!   *duplicated* spans (the ingester's `_id`s are deterministic, so a replay
//!   overwrites and a second document is a bug);
//! - more distinct span IDs than were sent for a trace are *extra* spans;
//! - documents of traces the run did not send are *foreign*: other traffic,
//!   counted but not an error.
//!
//! Trace IDs are parsed as Jaeger writes them (16 hex digits when the high
//! half is zero, else 32), so the comparison is on bytes, never on text.
//!
//! Reading uses the shared scroll reader (`ferrotrace_common::es_scroll`),
//! sorted by `_doc`, not `search_after` on `traceID`/`spanID`: two copies of
//! one span share that sort key, and `search_after` skips the second copy
//! when a page ends between them, which would hide exactly the duplicates
//! this module is looking for. A `_doc` scroll also needs no keyword mapping
//! and is the cheapest full scan on every Elasticsearch and OpenSearch.
//! Memory is 24 bytes per document of our traces plus the [`Acked`] map.
//!
//! A secured Elasticsearch is reached with [`EsAccess`]: basic auth or an API
//! key (one `Authorization` header built once, marked sensitive, never in
//! `Debug`) and a CA trusted besides the built-in roots, as the ingester does.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrotrace_common::es_scroll::{self, SearchClient};
use ferrotrace_format::jaeger::ids::{self, SpanIdBytes, TraceIdBytes};
use ferrotrace_format::jaeger::index::{index_base, IndexKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Documents per scroll page.
pub const DEFAULT_PAGE_SIZE: usize = 5_000;
/// How often the indexed count is polled while waiting.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Per-request timeout: a scroll page of 5 000 small sources is far below it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of an error body goes into an error message.
const BODY_EXCERPT: usize = 300;

/// What was acknowledged for one trace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Expected {
    /// Spans in fully acknowledged requests: all must be found.
    certain: u32,
    /// Spans in partly acknowledged requests: any number may be found.
    uncertain: u32,
}

/// Spans acknowledged per trace during a run.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    traces: HashMap<TraceIdBytes, Expected>,
}

impl Acked {
    /// `spans` more spans of this trace were acknowledged.
    pub fn record(&mut self, trace_id: TraceIdBytes, spans: u32) {
        let entry = self.traces.entry(trace_id).or_default();
        entry.certain = entry.certain.saturating_add(spans);
    }

    /// `spans` spans of this trace were in a request that was only partly
    /// acknowledged (or whose answer was lost): anywhere from none to all of
    /// them may be stored.
    ///
    /// For a trace with any uncertain spans, only its certain spans (from
    /// [`Acked::record`]) can be lost, duplicates are not counted (the
    /// sender may have re-sent such a request with re-encoded spans, which
    /// get different `_id`s), and finding more distinct spans than certain
    /// plus uncertain still counts as extra.
    pub fn record_uncertain(&mut self, trace_id: TraceIdBytes, spans: u32) {
        let entry = self.traces.entry(trace_id).or_default();
        entry.uncertain = entry.uncertain.saturating_add(spans);
    }

    /// Adds another sender's acknowledgements.
    pub fn merge(&mut self, other: Acked) {
        if self.traces.is_empty() {
            self.traces = other.traces;
            return;
        }
        for (trace_id, expected) in other.traces {
            let entry = self.traces.entry(trace_id).or_default();
            entry.certain = entry.certain.saturating_add(expected.certain);
            entry.uncertain = entry.uncertain.saturating_add(expected.uncertain);
        }
    }

    /// Spans that must be found (certain acknowledgements only).
    pub fn spans(&self) -> u64 {
        self.traces.values().map(|e| u64::from(e.certain)).sum()
    }

    /// Spans that may or may not be found.
    pub fn uncertain_spans(&self) -> u64 {
        self.traces.values().map(|e| u64::from(e.uncertain)).sum()
    }

    /// Traces with any acknowledged span, certain or uncertain.
    pub fn traces(&self) -> usize {
        self.traces.len()
    }
}

/// Where to look and how long to wait.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Base URL, e.g. `http://127.0.0.1:9200`.
    pub es_url: String,
    /// Jaeger's index prefix: `""` reads `jaeger-span-*`, `"prod"` reads
    /// `prod-jaeger-span-*`.
    pub index_prefix: String,
    /// Only span documents with `startTime` (µs) at or after this count.
    pub since_micros: u64,
    /// Stop waiting for indexing after this long.
    pub wait: Duration,
    /// ...or when the indexed count has not grown for this long.
    pub idle: Duration,
    /// How many lost traces and duplicated spans to list.
    pub max_listed: usize,
    /// Print a line to stderr this often while waiting for indexing.
    pub progress_every: Option<Duration>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            es_url: "http://127.0.0.1:9200".into(),
            index_prefix: String::new(),
            since_micros: 0,
            wait: Duration::from_secs(120),
            idle: Duration::from_secs(15),
            max_listed: 10,
            progress_every: None,
        }
    }
}

/// How Elasticsearch is authenticated to.
#[derive(Clone, Default)]
pub enum EsAuth {
    #[default]
    None,
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `Authorization: ApiKey <key>`, the key being base64 of `id:api_key`.
    ApiKey(String),
}

impl fmt::Debug for EsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EsAuth::None => f.write_str("None"),
            EsAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            EsAuth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

impl EsAuth {
    /// The `Authorization` header value, if any.
    fn header(&self) -> anyhow::Result<Option<reqwest::header::HeaderValue>> {
        use base64::Engine as _;
        let text = match self {
            EsAuth::None => return Ok(None),
            EsAuth::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            EsAuth::ApiKey(key) => format!("ApiKey {key}"),
        };
        let mut value = reqwest::header::HeaderValue::try_from(text).map_err(|_| {
            anyhow::anyhow!("the Elasticsearch credentials are not a valid header value")
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Credentials and trust for a secured Elasticsearch.
#[derive(Clone, Debug, Default)]
pub struct EsAccess {
    pub auth: EsAuth,
    /// PEM CA certificates trusted for `https://` URLs, besides the built-in roots.
    pub tls_ca_pem: Option<Vec<u8>>,
}

/// A trace with fewer spans stored than acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostTrace {
    /// As Jaeger stores it (16 or 32 lowercase hex digits).
    pub trace_id: String,
    /// Certain spans acknowledged.
    pub expected: u32,
    /// Distinct span IDs found.
    pub found: u32,
}

/// A span stored in more than one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicatedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Documents holding it (2 or more).
    pub copies: u32,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Certain spans acknowledged.
    pub expected_spans: u64,
    /// Spans of partly acknowledged requests (may or may not be found).
    pub uncertain_spans: u64,
    /// Distinct `(traceID, spanID)` of our traces found.
    pub found_spans: u64,
    pub lost_spans: u64,
    /// Traces with lost spans (all of them; `lost_traces` lists the first).
    pub lost_trace_count: u64,
    /// Extra documents with an already seen `(traceID, spanID)`.
    pub duplicated_spans: u64,
    /// Distinct spans of our traces beyond what was sent for them.
    pub extra_spans: u64,
    /// Documents in the time range of traces we did not send: not an error.
    pub foreign_spans: u64,
    /// The first `max_listed` traces with lost spans, by trace ID.
    pub lost_traces: Vec<LostTrace>,
    /// The first `max_listed` duplicated spans, by trace and span ID.
    pub duplicated: Vec<DuplicatedSpan>,
    /// Time spent waiting for indexing before reading.
    pub waited_seconds: f64,
    /// The index pattern, when no index matches it: a wrong
    /// `--es-index-prefix`, or nothing indexed yet. Every expected span
    /// then counts as lost.
    pub no_such_index: Option<String>,
}

impl Report {
    /// Every acknowledged span found, none twice, nothing extra, in an
    /// index that exists.
    pub fn is_exact(&self) -> bool {
        self.lost_spans == 0
            && self.duplicated_spans == 0
            && self.extra_spans == 0
            && self.no_such_index.is_none()
    }
}

/// Waits for indexing to settle, reads back the run's spans and compares.
///
/// The wait ends when the number of span documents in the range reaches
/// `acked.spans()`, or it has not grown for `options.idle`, or after
/// `options.wait`. That count includes foreign documents and duplicates, so
/// with other traffic the read may start early: when it then finds spans
/// missing, it waits until the count has not grown for `options.idle` and
/// reads again before reporting them lost. The idle rule is also what copes
/// with a slow ingester. A missing index reads as no documents, and the
/// report names the pattern that matched none ([`Report::no_such_index`]);
/// any other HTTP failure is an error naming the URL, status and body.
pub async fn verify(options: &VerifyOptions, acked: &Acked) -> anyhow::Result<Report> {
    verify_with_access(options, &EsAccess::default(), acked).await
}

/// [`verify`] against an Elasticsearch that wants credentials or a private CA.
pub async fn verify_with_access(
    options: &VerifyOptions,
    access: &EsAccess,
    acked: &Acked,
) -> anyhow::Result<Report> {
    verify_inner(options, access, acked, DEFAULT_PAGE_SIZE).await
}

/// [`verify`] with a chosen scroll page size (tests use small pages).
#[doc(hidden)]
pub async fn verify_with_page_size(
    options: &VerifyOptions,
    acked: &Acked,
    page_size: usize,
) -> anyhow::Result<Report> {
    verify_inner(options, &EsAccess::default(), acked, page_size).await
}

async fn verify_inner(
    options: &VerifyOptions,
    access: &EsAccess,
    acked: &Acked,
    page_size: usize,
) -> anyhow::Result<Report> {
    let es = Es::new(options, access)?;
    let started = Instant::now();
    let progress = Progress {
        every: options.progress_every,
        started,
    };
    let reached = es
        .wait_for_count(acked.spans(), options.wait, options.idle, &progress)
        .await?;
    let mut report = read(&es, acked, page_size, options.max_listed).await?;
    // The count includes other traffic's spans (an earlier run's, say), so
    // it can reach ours while some of ours are still on their way. Before
    // calling them lost, wait until the count stops growing, and read again.
    if reached && report.lost_spans > 0 {
        let left = options.wait.saturating_sub(started.elapsed());
        es.wait_for_count(u64::MAX, left, options.idle, &progress)
            .await?;
        report = read(&es, acked, page_size, options.max_listed).await?;
    }
    report.waited_seconds = started.elapsed().as_secs_f64();
    if es.count().await?.indices == 0 {
        report.no_such_index = Some(es.pattern.clone());
    }
    Ok(report)
}

/// Reads every span document in the range and compares them with `acked`.
async fn read(
    es: &Es,
    acked: &Acked,
    page_size: usize,
    max_listed: usize,
) -> anyhow::Result<Report> {
    es.refresh().await;
    let mut docs = Vec::new();
    let mut foreign = 0u64;
    let search = json!({
        "size": page_size.max(1),
        "sort": ["_doc"],
        "_source": ["traceID", "spanID"],
        "query": es.query,
    });
    es_scroll::scroll(es, &es.pattern, &search, |doc: IdsSource| {
        match (
            ids::parse_trace_id(&doc.trace_id),
            ids::parse_span_id(&doc.span_id),
        ) {
            (Some(t), Some(s)) if acked.traces.contains_key(&t) => docs.push((t, s)),
            _ => foreign += 1,
        }
    })
    .await?;
    let mut report = compare(acked, docs, max_listed);
    report.foreign_spans = foreign;
    Ok(report)
}

/// Compares the documents found for our traces with what was acknowledged.
/// `docs` holds one entry per document, in any order.
fn compare(acked: &Acked, mut docs: Vec<(TraceIdBytes, SpanIdBytes)>, max_listed: usize) -> Report {
    docs.sort_unstable();
    let mut report = Report {
        expected_spans: acked.spans(),
        uncertain_spans: acked.uncertain_spans(),
        found_spans: 0,
        lost_spans: 0,
        lost_trace_count: 0,
        duplicated_spans: 0,
        extra_spans: 0,
        foreign_spans: 0,
        lost_traces: Vec::new(),
        duplicated: Vec::new(),
        waited_seconds: 0.0,
        no_such_index: None,
    };
    // Distinct spans found per trace; traces never seen stay at 0.
    let mut distinct: HashMap<TraceIdBytes, u32> = HashMap::new();
    let mut duplicated = Vec::new();
    for group in docs.chunk_by(|a, b| a == b) {
        let (trace_id, span_id) = group[0];
        *distinct.entry(trace_id).or_default() += 1;
        report.found_spans += 1;
        let copies = u32::try_from(group.len()).unwrap_or(u32::MAX);
        let uncertain = acked.traces.get(&trace_id).is_some_and(|e| e.uncertain > 0);
        if copies > 1 && !uncertain {
            report.duplicated_spans += u64::from(copies - 1);
            duplicated.push((trace_id, span_id, copies));
        }
    }
    let mut lost = Vec::new();
    for (trace_id, expected) in &acked.traces {
        let found = distinct.get(trace_id).copied().unwrap_or(0);
        if found < expected.certain {
            report.lost_spans += u64::from(expected.certain - found);
            report.lost_trace_count += 1;
            lost.push((*trace_id, expected.certain, found));
        }
        let sent = u64::from(expected.certain) + u64::from(expected.uncertain);
        report.extra_spans += u64::from(found).saturating_sub(sent);
    }
    // Listed by ID so that two runs over the same data list the same offenders.
    lost.sort_unstable();
    report.lost_traces = lost
        .into_iter()
        .take(max_listed)
        .map(|(trace_id, expected, found)| LostTrace {
            trace_id: trace_hex(&trace_id),
            expected,
            found,
        })
        .collect();
    // `docs` was sorted, so `duplicated` already is.
    report.duplicated = duplicated
        .into_iter()
        .take(max_listed)
        .map(|(trace_id, span_id, copies)| DuplicatedSpan {
            trace_id: trace_hex(&trace_id),
            span_id: span_hex(&span_id),
            copies,
        })
        .collect();
    report
}

fn trace_hex(id: &TraceIdBytes) -> String {
    let mut buf = [0u8; 32];
    ids::jaeger_trace_id(id, &mut buf).to_owned()
}

fn span_hex(id: &SpanIdBytes) -> String {
    let mut buf = [0u8; 16];
    ids::span_id_hex(id, &mut buf).to_owned()
}

/// `{prefix-}jaeger-span-*`.
fn span_pattern(prefix: &str) -> String {
    let mut pattern = index_base(IndexKind::Span, prefix);
    pattern.push('*');
    pattern
}

/// The few Elasticsearch calls the verifier makes.
struct Es {
    http: reqwest::Client,
    base: String,
    pattern: String,
    query: Value,
}

#[derive(Deserialize)]
struct CountAnswer {
    count: u64,
    /// Absent from some servers' answers: then an index is assumed.
    #[serde(rename = "_shards")]
    shards: Option<Shards>,
}

#[derive(Deserialize)]
struct Shards {
    total: u64,
}

/// Documents in the range, and shards of the indices the pattern matched
/// (0: no index matches).
struct Count {
    documents: u64,
    indices: u64,
}

/// Where progress lines while waiting go, and how often.
struct Progress {
    every: Option<Duration>,
    started: Instant,
}

impl Progress {
    fn report(&self, count: &Count, expected: u64, pattern: &str) {
        let waited = self.started.elapsed().as_secs_f64();
        let found = if count.indices == 0 {
            format!("no index matches {pattern} yet")
        } else if expected == u64::MAX {
            format!(
                "found {} spans, waiting for the count to stop growing",
                count.documents
            )
        } else {
            format!("found {} of {expected} spans", count.documents)
        };
        eprintln!("[verify {waited:>6.1}s] {found}");
    }
}

#[derive(Deserialize, Default)]
struct IdsSource {
    #[serde(rename = "traceID", default)]
    trace_id: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

impl Es {
    fn new(options: &VerifyOptions, access: &EsAccess) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
        if let Some(pem) = &access.tls_ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .context("--es-tls-ca: not a PEM certificate bundle")?;
            if certificates.is_empty() {
                anyhow::bail!("--es-tls-ca: no certificate in the file");
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(value) = access.auth.header()? {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        let http = builder.build().context("building the HTTP client")?;
        Ok(Es {
            http,
            base: options.es_url.trim_end_matches('/').to_owned(),
            pattern: span_pattern(&options.index_prefix),
            query: json!({"range": {"startTime": {"gte": options.since_micros}}}),
        })
    }

    /// Polls the span count in the range until it reaches `expected` (then
    /// `true`), stops growing for `idle`, or `wait` has passed.
    async fn wait_for_count(
        &self,
        expected: u64,
        wait: Duration,
        idle: Duration,
        progress: &Progress,
    ) -> anyhow::Result<bool> {
        let started = Instant::now();
        let mut last_count = None;
        let mut last_growth = started;
        let mut last_report = started;
        loop {
            self.refresh().await;
            let counted = self.count().await?;
            let count = counted.documents;
            if count >= expected {
                return Ok(true);
            }
            if progress
                .every
                .is_some_and(|every| last_report.elapsed() >= every)
            {
                progress.report(&counted, expected, &self.pattern);
                last_report = Instant::now();
            }
            if last_count.is_none_or(|last| count > last) {
                last_count = Some(count);
                last_growth = Instant::now();
            }
            let now = Instant::now();
            let deadline = (started + wait).min(last_growth + idle);
            if now >= deadline {
                tracing::info!(count, expected, "stopped waiting for indexing");
                return Ok(false);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// Makes recent writes searchable; best effort (an index refreshes by
    /// itself every second anyway).
    async fn refresh(&self) {
        let url = format!("{}/{}/_refresh", self.base, self.pattern);
        if let Err(error) = self.http.post(&url).send().await {
            tracing::debug!(%error, url, "refresh failed");
        }
    }

    async fn count(&self) -> anyhow::Result<Count> {
        let path = format!("/{}/_count", self.pattern);
        let answer: Option<CountAnswer> =
            self.post_json(&path, &json!({"query": self.query})).await?;
        Ok(match answer {
            None => Count {
                documents: 0,
                indices: 0,
            },
            Some(answer) => Count {
                documents: answer.count,
                indices: answer.shards.map_or(1, |shards| shards.total),
            },
        })
    }
}

/// The scroll reader's calls, over the verifier's client and its credentials.
impl SearchClient for Es {
    type Error = anyhow::Error;

    /// `None` on 404 (no such index), an error naming the URL, status and
    /// body on any other failure.
    async fn post_json<T: serde::de::DeserializeOwned + Send>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Option<T>> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .json_body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("POST {url}: reading the answer ({status})"))?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            anyhow::bail!("POST {url} failed with {status}: {}", excerpt(&bytes));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("POST {url}: unexpected answer: {}", excerpt(&bytes)))
    }

    async fn delete_json(&self, path: &str, body: &Value) {
        let url = format!("{}{path}", self.base);
        // Best effort: the caller ignores the outcome.
        let _ = self.http.delete(&url).json_body(body).send().await;
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(BODY_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}…", &text[..end])
    } else {
        text.into_owned()
    }
}

/// reqwest's `json` needs a crate feature we do not enable; this is all of it.
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u8) -> TraceIdBytes {
        [n; 16]
    }

    fn span(n: u8) -> SpanIdBytes {
        [0, 0, 0, 0, 0, 0, 0, n]
    }

    #[test]
    fn counts_certain_and_uncertain_spans_apart() {
        let mut acked = Acked::default();
        acked.record(trace(1), 3);
        acked.record(trace(1), 2);
        acked.record_uncertain(trace(2), 4);
        let mut other = Acked::default();
        other.record(trace(2), 1);
        other.record(trace(3), 7);
        acked.merge(other);
        assert_eq!(acked.spans(), 5 + 1 + 7);
        assert_eq!(acked.uncertain_spans(), 4);
        assert_eq!(acked.traces(), 3);
        assert_eq!(
            acked.traces[&trace(2)],
            Expected {
                certain: 1,
                uncertain: 4
            }
        );
    }

    #[test]
    fn exact_when_every_span_is_found_once() {
        let mut acked = Acked::default();
        acked.record(trace(1), 2);
        let report = compare(&acked, vec![(trace(1), span(2)), (trace(1), span(1))], 10);
        assert!(report.is_exact(), "{report:?}");
        assert_eq!((report.expected_spans, report.found_spans), (2, 2));
    }

    #[test]
    fn counts_lost_spans_and_missing_traces() {
        let mut acked = Acked::default();
        acked.record(trace(1), 3);
        acked.record(trace(2), 2);
        let report = compare(&acked, vec![(trace(1), span(1))], 10);
        assert_eq!(report.lost_spans, 2 + 2);
        assert_eq!(report.lost_trace_count, 2);
        let listed: Vec<_> = report
            .lost_traces
            .iter()
            .map(|t| (t.trace_id.as_str(), t.expected, t.found))
            .collect();
        assert_eq!(
            listed,
            [
                ("01010101010101010101010101010101", 3, 1),
                ("02020202020202020202020202020202", 2, 0)
            ]
        );
        assert!(!report.is_exact());
    }

    #[test]
    fn counts_every_extra_copy_as_a_duplicate() {
        let mut acked = Acked::default();
        acked.record(trace(1), 2);
        let docs = vec![
            (trace(1), span(1)),
            (trace(1), span(2)),
            (trace(1), span(1)),
            (trace(1), span(1)),
        ];
        let report = compare(&acked, docs, 10);
        assert_eq!(report.found_spans, 2);
        assert_eq!(report.duplicated_spans, 2);
        assert_eq!(report.lost_spans, 0);
        assert_eq!(
            report.duplicated,
            [DuplicatedSpan {
                trace_id: "01".repeat(16),
                span_id: "0000000000000001".into(),
                copies: 3
            }]
        );
        assert!(!report.is_exact());
    }

    #[test]
    fn uncertain_trace_accepts_any_count_up_to_what_was_sent() {
        let mut acked = Acked::default();
        acked.record_uncertain(trace(1), 3);
        acked.record(trace(2), 1);
        acked.record_uncertain(trace(2), 2);
        let docs = vec![
            (trace(1), span(1)),
            (trace(1), span(1)),
            (trace(2), span(1)),
        ];
        let report = compare(&acked, docs, 10);
        assert!(report.is_exact(), "{report:?}");
        assert_eq!(report.duplicated_spans, 0);

        // The certain part of a trace must still be there...
        let report = compare(&acked, vec![(trace(1), span(1))], 10);
        assert_eq!(report.lost_spans, 1);
        // ...and no trace may have more spans than were sent.
        let docs = (1..=4).map(|n| (trace(1), span(n))).collect();
        let report = compare(&acked, docs, 10);
        assert_eq!(report.extra_spans, 1);
        assert_eq!(report.lost_spans, 1);
        assert!(!report.is_exact());
    }

    #[test]
    fn lists_at_most_max_listed_offenders_in_id_order() {
        let mut acked = Acked::default();
        for n in (1..=5).rev() {
            acked.record(trace(n), 1);
        }
        let docs = (1..=5).flat_map(|n| [(trace(n), span(9)); 2]).collect();
        let report = compare(&acked, docs, 2);
        assert_eq!(report.duplicated_spans, 5);
        assert_eq!(report.duplicated.len(), 2);
        assert_eq!(report.duplicated[1].trace_id, "02".repeat(16));
        let report = compare(&acked, Vec::new(), 2);
        assert_eq!(report.lost_trace_count, 5);
        let listed: Vec<_> = report
            .lost_traces
            .iter()
            .map(|t| &t.trace_id[..2])
            .collect();
        assert_eq!(listed, ["01", "02"]);
    }

    #[test]
    fn lists_high_zero_trace_ids_as_jaeger_stores_them() {
        let mut id = [0u8; 16];
        id[15] = 0x2a;
        let mut acked = Acked::default();
        acked.record(id, 1);
        let report = compare(&acked, Vec::new(), 10);
        assert_eq!(report.lost_traces[0].trace_id, "000000000000002a");
    }

    #[test]
    fn reads_prefixed_span_indices() {
        assert_eq!(span_pattern(""), "jaeger-span-*");
        assert_eq!(span_pattern("prod"), "prod-jaeger-span-*");
        assert_eq!(span_pattern("prod-"), "prod-jaeger-span-*");
    }

    #[test]
    fn auth_headers_are_built_once_and_kept_out_of_debug() {
        let basic = EsAuth::Basic {
            username: "elastic".into(),
            password: "pa55".into(),
        };
        let header = basic.header().unwrap().unwrap();
        // base64("elastic:pa55")
        assert_eq!(header, "Basic ZWxhc3RpYzpwYTU1");
        assert!(header.is_sensitive());
        assert!(!format!("{basic:?}").contains("pa55"));
        let key = EsAuth::ApiKey("aWQ6a2V5".into());
        assert_eq!(key.header().unwrap().unwrap(), "ApiKey aWQ6a2V5");
        assert!(!format!("{key:?}").contains("aWQ6a2V5"));
        assert_eq!(EsAuth::None.header().unwrap(), None);
    }

    #[test]
    fn cuts_long_bodies_on_a_char_boundary() {
        let body = "é".repeat(BODY_EXCERPT);
        let cut = excerpt(body.as_bytes());
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= BODY_EXCERPT + '…'.len_utf8());
        assert_eq!(excerpt(b"short"), "short");
    }
}
