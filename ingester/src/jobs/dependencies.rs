//! One day's service dependencies, like Jaeger's spark-dependencies job,
//! without Spark: the day's span index is read in parallel, trace by trace,
//! and the parent → child service links are counted into one document of
//! `[prefix-]jaeger-dependencies-YYYY-MM-DD`, which the Jaeger UI's "System
//! Architecture" view reads.
//!
//! Reading: the trace-ID space is cut into ranges by the first four hex
//! digits (a trace ID never spans two ranges), and each range is read as a
//! scroll sorted by `traceID`, so the spans of a trace arrive together and a
//! worker holds one trace at a time: memory is bounded by the largest trace
//! and the page size, not by the day. Sorted scrolls work on every
//! Elasticsearch 7+ and OpenSearch. `--shard i/N` reads the i-th of N equal
//! parts of the space and stores partial counts; `--merge` sums them.
//!
//! Link rules (spark-dependencies' `SpansToDependencyLinks`), per trace, after
//! dropping duplicate spans:
//! - Zipkin shared spans (a client and a server span with the same span ID)
//!   give client service → server service;
//! - every span with references gives, per referenced span found in the
//!   trace, parent service → span service (same-service links included); a
//!   shared span is linked only through its client half, and a reference to
//!   a shared span counts from its server half;
//! - a span with references and no children that carries `peer.service`
//!   gives service → peer.service (an uninstrumented callee).
//!
//! Output: `{"timestamp":"YYYY-MM-DDT00:00:00Z","dependencies":[{"parent",
//! "child","callCount","source":"jaeger"}]}` under a fixed `_id` (the date),
//! so a re-run replaces the day's document instead of adding a second one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticsearch::http::Method;
use ferrotrace_format::jaeger::index::{index_base, index_name, IndexKind};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use ferrotrace_common::es_scroll;

use crate::es::admin::{failed, index_exists, AdminError};
use crate::es::client::EsClient;

const MICROS_PER_DAY: u64 = 86_400_000_000;
/// Four hex digits of trace-ID prefix: the unit ranges are cut in.
const PREFIX_SPACE: u32 = 0x1_0000;
const SOURCE: &str = "jaeger";

/// What to read and where to write.
#[derive(Debug, Clone)]
pub struct DependenciesOptions {
    pub prefix: String,
    pub date_separator: String,
    /// Read `jaeger-span-read` (filtered to the day) and write through
    /// `jaeger-dependencies-write`.
    pub use_aliases: bool,
    /// How `.` is replaced in tag keys stored as fields (`tag.peer@service`).
    pub dot_replacement: String,
    /// The UTC day, as days since 1970-01-01.
    pub day: i64,
    pub parallelism: usize,
    pub page_size: usize,
}

/// Which part of the work this run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read the whole day and write the dependencies document.
    Full,
    /// Read part `index` of `count` and store its partial counts.
    Shard { index: u32, count: u32 },
    /// Sum the partial counts of `shards` shard runs into the document.
    Merge { shards: u32 },
}

impl Mode {
    /// Parses `--shard i/N`.
    pub fn parse_shard(text: &str) -> Result<Mode, String> {
        let parse = || {
            let (i, n) = text.split_once('/')?;
            let (index, count) = (i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?);
            (count > 0 && index < count && count <= PREFIX_SPACE)
                .then_some(Mode::Shard { index, count })
        };
        parse().ok_or_else(|| format!("--shard {text:?} must be i/N with 0 <= i < N <= 65536"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DependenciesError {
    #[error(transparent)]
    Es(#[from] AdminError),
    #[error("{0}")]
    Incomplete(String),
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

/// What a run read and found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub links: BTreeMap<(String, String), u64>,
    pub traces: u64,
    pub spans: u64,
}

/// The fields of a span document the rules need.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpanDoc {
    #[serde(rename = "traceID", default)]
    pub trace_id: String,
    #[serde(rename = "spanID", default)]
    pub span_id: String,
    #[serde(rename = "parentSpanID", default)]
    pub parent_span_id: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<DocReference>>,
    #[serde(rename = "startTime", default)]
    pub start_time: u64,
    #[serde(default)]
    pub process: DocProcess,
    #[serde(default)]
    pub tags: Option<Vec<DocTag>>,
    #[serde(default)]
    pub tag: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocReference {
    #[serde(rename = "spanID", default)]
    pub span_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DocProcess {
    #[serde(rename = "serviceName", default)]
    pub service_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocTag {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

/// A span reduced to what the link rules look at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkSpan {
    pub span_id: String,
    pub service: String,
    pub kind: Option<String>,
    /// Referenced span IDs: `references`, then a legacy `parentSpanID` not
    /// already among them.
    pub refs: Vec<String>,
    pub peer_service: Option<String>,
    pub start_time: u64,
}

impl LinkSpan {
    /// Reduces a document; `tag` keys are matched with `.` replaced.
    pub fn from_doc(doc: SpanDoc, dot_replacement: &str) -> LinkSpan {
        let tag = |key: &str| -> Option<String> {
            let from_array = doc
                .tags
                .iter()
                .flatten()
                .find(|t| t.key == key)
                .map(|t| value_text(&t.value));
            from_array.or_else(|| {
                let field = key.replace('.', dot_replacement);
                doc.tag.as_ref().and_then(|m| m.get(&field)).map(value_text)
            })
        };
        let kind = tag("span.kind");
        let peer_service = tag("peer.service").filter(|p| !p.is_empty());
        let mut refs: Vec<String> = doc
            .references
            .iter()
            .flatten()
            .map(|r| r.span_id.clone())
            .collect();
        if let Some(parent) = doc
            .parent_span_id
            .filter(|p| !p.is_empty() && p.chars().any(|c| c != '0'))
        {
            if !refs.contains(&parent) {
                refs.push(parent);
            }
        }
        LinkSpan {
            span_id: doc.span_id,
            service: doc.process.service_name,
            kind,
            refs,
            peer_service,
            start_time: doc.start_time,
        }
    }

    fn is_client(&self) -> bool {
        self.kind.as_deref() == Some("client")
    }

    fn is_server(&self) -> bool {
        self.kind.as_deref() == Some("server")
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The links of one trace, with repeats (each is one call).
pub fn trace_links(spans: &[LinkSpan]) -> Vec<(String, String)> {
    // Identical spans (the same document stored twice) count once.
    let mut seen = HashSet::new();
    let spans: Vec<&LinkSpan> = spans.iter().filter(|s| seen.insert(*s)).collect();
    let mut by_id: HashMap<&str, Vec<&LinkSpan>> = HashMap::new();
    let mut has_children: HashSet<&str> = HashSet::new();
    for span in &spans {
        by_id.entry(span.span_id.as_str()).or_default().push(span);
        for r in &span.refs {
            has_children.insert(r.as_str());
        }
    }
    let mut links = Vec::new();
    // Zipkin shared spans: the client half calls the server half. Spans
    // are visited in document order, so the result does not depend on hashing.
    let mut shared_done = HashSet::new();
    for span in &spans {
        let group = &by_id[span.span_id.as_str()];
        if group.len() > 1 && shared_done.insert(span.span_id.as_str()) {
            let client = group.iter().find(|s| s.is_client());
            let server = group.iter().find(|s| s.is_server());
            if let (Some(client), Some(server)) = (client, server) {
                links.push((client.service.clone(), server.service.clone()));
            }
        }
    }
    for span in &spans {
        if span.refs.is_empty() || span.service.is_empty() {
            continue;
        }
        // The half of a shared span that is not the client is linked above.
        if by_id[span.span_id.as_str()].len() > 1 && !span.is_client() {
            continue;
        }
        for r in &span.refs {
            let Some(parents) = by_id.get(r.as_str()) else {
                continue;
            };
            let parent = if parents.len() > 1 {
                parents.iter().find(|p| p.is_server())
            } else {
                parents.first()
            };
            if let Some(parent) = parent.filter(|p| !p.service.is_empty()) {
                links.push((parent.service.clone(), span.service.clone()));
            }
        }
        if !has_children.contains(span.span_id.as_str()) {
            if let Some(peer) = &span.peer_service {
                links.push((span.service.clone(), peer.clone()));
            }
        }
    }
    links
}

/// Trace-ID ranges `[lower, upper)` for `parallelism` workers over the part
/// of the space `mode` covers; `None` is unbounded.
pub fn trace_ranges(parallelism: usize, mode: Mode) -> Vec<(Option<String>, Option<String>)> {
    let (from, to) = match mode {
        Mode::Shard { index, count } => (
            (u64::from(index) * u64::from(PREFIX_SPACE) / u64::from(count)) as u32,
            (u64::from(index + 1) * u64::from(PREFIX_SPACE) / u64::from(count)) as u32,
        ),
        _ => (0, PREFIX_SPACE),
    };
    let width = (to - from) as usize;
    let parts = parallelism.clamp(1, width.max(1));
    let bound = |at: u32| (at != 0 && at != PREFIX_SPACE).then(|| format!("{at:04x}"));
    (0..parts)
        .map(|i| {
            let lower = from + (width * i / parts) as u32;
            let upper = from + (width * (i + 1) / parts) as u32;
            (bound(lower), bound(upper))
        })
        .filter(|(l, u)| l != u || l.is_none())
        .collect()
}

/// Runs the job and writes a summary line (plus one line per link) to `out`.
pub async fn run(
    es: &EsClient,
    options: &DependenciesOptions,
    mode: Mode,
    out: &mut impl Write,
) -> Result<Summary, DependenciesError> {
    let started = Instant::now();
    let summary = match mode {
        Mode::Merge { shards } => merge(es, options, shards).await?,
        Mode::Full | Mode::Shard { .. } => scan(es, options, mode).await?,
    };
    match mode {
        Mode::Shard { index, count } => store_partial(es, options, index, count, &summary).await?,
        Mode::Full | Mode::Merge { .. } => store(es, options, &summary.links).await?,
    }
    for ((parent, child), count) in &summary.links {
        writeln!(out, "{parent} -> {child}: {count}")?;
    }
    writeln!(
        out,
        "summary: {} links, {} traces, {} spans, {:.1} s",
        summary.links.len(),
        summary.traces,
        summary.spans,
        started.elapsed().as_secs_f64()
    )?;
    Ok(summary)
}

fn day_micros(options: &DependenciesOptions) -> u64 {
    (options.day.max(0) as u64) * MICROS_PER_DAY
}

fn span_source(options: &DependenciesOptions) -> String {
    if options.use_aliases {
        index_base(IndexKind::Span, &options.prefix) + "read"
    } else {
        index_name(
            IndexKind::Span,
            &options.prefix,
            &options.date_separator,
            day_micros(options),
        )
    }
}

fn dependencies_target(options: &DependenciesOptions) -> String {
    if options.use_aliases {
        index_base(IndexKind::Dependencies, &options.prefix) + "write"
    } else {
        index_name(
            IndexKind::Dependencies,
            &options.prefix,
            &options.date_separator,
            day_micros(options),
        )
    }
}

fn date_text(options: &DependenciesOptions) -> String {
    ferrotrace_format::civil_date::date_string(options.day, "-")
}

/// Counters shared by the workers, logged every few seconds.
#[derive(Default)]
struct Progress {
    traces: AtomicU64,
    spans: AtomicU64,
    ranges_done: AtomicU64,
}

async fn scan(
    es: &EsClient,
    options: &DependenciesOptions,
    mode: Mode,
) -> Result<Summary, DependenciesError> {
    let index = span_source(options);
    if !index_exists(es, &index).await? {
        tracing::warn!(%index, "no span index for the day: no dependencies to count");
        return Ok(Summary::default());
    }
    let ranges = trace_ranges(options.parallelism, mode);
    let total_ranges = ranges.len();
    let progress = Arc::new(Progress::default());
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                tracing::info!(
                    traces = progress.traces.load(Ordering::Relaxed),
                    spans = progress.spans.load(Ordering::Relaxed),
                    ranges_done = progress.ranges_done.load(Ordering::Relaxed),
                    ranges = total_ranges,
                    "reading spans"
                );
            }
        })
    };
    let results: Result<Vec<Summary>, DependenciesError> = futures::stream::iter(ranges)
        .map(|range| {
            let progress = progress.clone();
            let index = index.clone();
            async move {
                let summary = scan_range(es, options, &index, range, &progress).await?;
                progress.ranges_done.fetch_add(1, Ordering::Relaxed);
                Ok::<_, DependenciesError>(summary)
            }
        })
        .buffer_unordered(options.parallelism.max(1))
        .try_collect()
        .await;
    reporter.abort();
    let mut total = Summary::default();
    for part in results? {
        add(&mut total, part);
    }
    Ok(total)
}

fn add(total: &mut Summary, part: Summary) {
    total.traces += part.traces;
    total.spans += part.spans;
    for (link, count) in part.links {
        *total.links.entry(link).or_default() += count;
    }
}

/// Reads one trace-ID range in `traceID` order and counts its links.
async fn scan_range(
    es: &EsClient,
    options: &DependenciesOptions,
    index: &str,
    (lower, upper): (Option<String>, Option<String>),
    progress: &Progress,
) -> Result<Summary, DependenciesError> {
    let mut filters = Vec::new();
    let mut bounds = serde_json::Map::new();
    if let Some(lower) = &lower {
        bounds.insert("gte".into(), json!(lower));
    }
    if let Some(upper) = &upper {
        bounds.insert("lt".into(), json!(upper));
    }
    if !bounds.is_empty() {
        filters.push(json!({"range": {"traceID": bounds}}));
    }
    if options.use_aliases {
        // The read alias spans many days.
        let from = day_micros(options) / 1_000;
        filters.push(json!({"range": {"startTimeMillis": {"gte": from, "lt": from + 86_400_000}}}));
    }
    let query = json!({
        "size": options.page_size,
        "sort": ["traceID"],
        "_source": ["traceID", "spanID", "parentSpanID", "references", "startTime",
                    "process.serviceName", "tags", "tag"],
        "query": {"bool": {"filter": filters}},
    });
    let action = format!(
        "reading {index} from trace ID {}",
        lower.as_deref().unwrap_or("0000")
    );
    let mut summary = Summary::default();
    let mut trace_id = String::new();
    let mut trace: Vec<LinkSpan> = Vec::new();
    let found = es_scroll::scroll(es, index, &query, |doc: SpanDoc| {
        if doc.trace_id != trace_id {
            finish_trace(&mut summary, &mut trace, progress);
            trace_id.clone_from(&doc.trace_id);
        }
        trace.push(LinkSpan::from_doc(doc, &options.dot_replacement));
    })
    .await
    .map_err(failed(action.clone()))?;
    if !found {
        // Gone since `scan` found it: counting nothing for this range would
        // store a short count.
        return Err(AdminError::permanent(action, format!("no index {index}")).into());
    }
    finish_trace(&mut summary, &mut trace, progress);
    Ok(summary)
}

fn finish_trace(summary: &mut Summary, trace: &mut Vec<LinkSpan>, progress: &Progress) {
    if trace.is_empty() {
        return;
    }
    for link in trace_links(trace) {
        *summary.links.entry(link).or_default() += 1;
    }
    summary.traces += 1;
    summary.spans += trace.len() as u64;
    progress.traces.fetch_add(1, Ordering::Relaxed);
    progress
        .spans
        .fetch_add(trace.len() as u64, Ordering::Relaxed);
    trace.clear();
}

fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    action: &str,
) -> Result<T, DependenciesError> {
    serde_json::from_value(value)
        .map_err(|e| AdminError::permanent(action, format!("unexpected answer: {e}")).into())
}

fn links_json(links: &BTreeMap<(String, String), u64>) -> Value {
    Value::Array(
        links
            .iter()
            .map(|((parent, child), count)| {
                json!({"parent": parent, "child": child, "callCount": count, "source": SOURCE})
            })
            .collect(),
    )
}

/// Writes the day's document, replacing an earlier run's.
async fn store(
    es: &EsClient,
    options: &DependenciesOptions,
    links: &BTreeMap<(String, String), u64>,
) -> Result<(), DependenciesError> {
    let index = dependencies_target(options);
    let date = date_text(options);
    let doc = json!({"timestamp": format!("{date}T00:00:00Z"), "dependencies": links_json(links)});
    es.json(
        Method::Put,
        &format!("/{index}/_doc/{date}?refresh=true"),
        Some(&doc),
        &[],
    )
    .await
    .map_err(failed(format!(
        "writing the dependencies of {date} to {index}"
    )))?;
    Ok(())
}

/// `[prefix-]ferrotrace-dependencies-shards-YYYY-MM-DD`: partial counts of
/// shard runs, named apart from `jaeger-dependencies-*` so that no reader
/// of Jaeger's indices ever sees them.
fn partial_index(options: &DependenciesOptions) -> String {
    let mut name = String::new();
    ferrotrace_format::jaeger::index::push_prefix(&mut name, &options.prefix);
    name.push_str("ferrotrace-dependencies-shards-");
    name.push_str(&date_text(options).replace('-', &options.date_separator));
    name
}

async fn store_partial(
    es: &EsClient,
    options: &DependenciesOptions,
    index: u32,
    count: u32,
    summary: &Summary,
) -> Result<(), DependenciesError> {
    let target = partial_index(options);
    let doc = json!({
        "shard": index, "shards": count,
        "traces": summary.traces, "spans": summary.spans,
        "dependencies": links_json(&summary.links),
    });
    es.json(
        Method::Put,
        &format!("/{target}/_doc/{index}-of-{count}?refresh=true"),
        Some(&doc),
        &[],
    )
    .await
    .map_err(failed(format!("storing shard {index}/{count} in {target}")))?;
    Ok(())
}

#[derive(Deserialize)]
struct PartialDoc {
    shard: u32,
    shards: u32,
    traces: u64,
    spans: u64,
    dependencies: Vec<StoredLink>,
}

#[derive(Deserialize)]
struct StoredLink {
    parent: String,
    child: String,
    #[serde(rename = "callCount")]
    call_count: u64,
}

async fn merge(
    es: &EsClient,
    options: &DependenciesOptions,
    shards: u32,
) -> Result<Summary, DependenciesError> {
    let index = partial_index(options);
    let action = format!("reading the shard counts in {index}");
    let (status, answer) = es
        .json(
            Method::Post,
            &format!("/{index}/_search"),
            Some(&json!({"size": 10_000, "query": {"term": {"shards": shards}}})),
            &[404],
        )
        .await
        .map_err(failed(action.clone()))?;
    let mut found: BTreeMap<u32, PartialDoc> = BTreeMap::new();
    if status != 404 {
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for hit in hits {
            let doc: PartialDoc = parse(hit["_source"].clone(), &action)?;
            if doc.shards == shards {
                found.insert(doc.shard, doc);
            }
        }
    }
    let missing: Vec<String> = (0..shards)
        .filter(|i| !found.contains_key(i))
        .map(|i| format!("{i}/{shards}"))
        .collect();
    if !missing.is_empty() {
        return Err(DependenciesError::Incomplete(format!(
            "shards {} have not stored their counts in {index} yet",
            missing.join(", ")
        )));
    }
    let mut total = Summary::default();
    for doc in found.into_values() {
        let mut part = Summary {
            traces: doc.traces,
            spans: doc.spans,
            ..Summary::default()
        };
        for link in doc.dependencies {
            *part.links.entry((link.parent, link.child)).or_default() += link.call_count;
        }
        add(&mut total, part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, service: &str, kind: Option<&str>, refs: &[&str]) -> LinkSpan {
        LinkSpan {
            span_id: id.into(),
            service: service.into(),
            kind: kind.map(String::from),
            refs: refs.iter().map(|r| r.to_string()).collect(),
            peer_service: None,
            start_time: 0,
        }
    }

    fn counted(spans: &[LinkSpan]) -> BTreeMap<(String, String), u64> {
        let mut links = BTreeMap::new();
        for link in trace_links(spans) {
            *links.entry(link).or_default() += 1;
        }
        links
    }

    fn links(pairs: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
        pairs
            .iter()
            .map(|(p, c, n)| ((p.to_string(), c.to_string()), *n))
            .collect()
    }

    #[test]
    fn parent_and_child_in_other_services_link_and_same_service_links_count_too() {
        let trace = [
            span("a", "frontend", Some("server"), &[]),
            span("b", "frontend", Some("client"), &["a"]),
            span("c", "customer", Some("server"), &["b"]),
            span("d", "customer", Some("client"), &["c"]),
            span("e", "mysql", Some("server"), &["d"]),
        ];
        assert_eq!(
            counted(&trace),
            links(&[
                ("frontend", "frontend", 1),
                ("frontend", "customer", 1),
                ("customer", "customer", 1),
                ("customer", "mysql", 1)
            ])
        );
    }

    #[test]
    fn zipkin_shared_span_ids_link_client_to_server_once() {
        // Client and server halves share span ID "s"; the server's child
        // references "s" and counts from the server half.
        let trace = [
            span("r", "web", Some("server"), &[]),
            span("s", "web", Some("client"), &["r"]),
            span("s", "api", Some("server"), &["r"]),
            span("t", "api", Some("client"), &["s"]),
        ];
        assert_eq!(
            counted(&trace),
            links(&[("web", "api", 1), ("web", "web", 1), ("api", "api", 1)])
        );
    }

    #[test]
    fn a_leaf_client_with_peer_service_links_to_the_uninstrumented_callee() {
        let mut leaf = span("b", "api", Some("client"), &["a"]);
        leaf.peer_service = Some("redis".into());
        let mut inner = span("c", "api", Some("client"), &["a"]);
        inner.peer_service = Some("not-a-leaf".into());
        let trace = [
            span("a", "api", Some("server"), &[]),
            leaf,
            inner,
            span("d", "db", Some("server"), &["c"]),
        ];
        assert_eq!(
            counted(&trace),
            links(&[("api", "api", 2), ("api", "redis", 1), ("api", "db", 1)])
        );
    }

    #[test]
    fn follows_from_and_legacy_parent_ids_are_references_and_missing_parents_are_skipped() {
        let doc: SpanDoc = serde_json::from_value(json!({
            "traceID": "t", "spanID": "c", "parentSpanID": "p",
            "references": [{"refType": "FOLLOWS_FROM", "traceID": "t", "spanID": "f"}],
            "process": {"serviceName": "worker"},
            "tags": [{"key": "span.kind", "type": "string", "value": "consumer"}],
        }))
        .unwrap();
        let child = LinkSpan::from_doc(doc, "@");
        assert_eq!(child.refs, ["f", "p"]);
        assert_eq!(child.kind.as_deref(), Some("consumer"));
        let trace = [
            span("f", "queue", Some("producer"), &[]),
            span("p", "api", None, &[]),
            child,
            span("x", "api", None, &["missing"]),
        ];
        assert_eq!(
            counted(&trace),
            links(&[("queue", "worker", 1), ("api", "worker", 1)])
        );
    }

    #[test]
    fn duplicate_spans_count_once() {
        let trace = [
            span("a", "web", Some("server"), &[]),
            span("b", "api", Some("server"), &["a"]),
            span("b", "api", Some("server"), &["a"]),
        ];
        assert_eq!(counted(&trace), links(&[("web", "api", 1)]));
    }

    #[test]
    fn tags_stored_as_fields_are_read_too() {
        let doc: SpanDoc = serde_json::from_value(json!({
            "traceID": "t", "spanID": "c", "references": [],
            "process": {"serviceName": "api"},
            "tags": [],
            "tag": {"span@kind": "client", "peer@service": "redis"},
        }))
        .unwrap();
        let span = LinkSpan::from_doc(doc, "@");
        assert_eq!(span.kind.as_deref(), Some("client"));
        assert_eq!(span.peer_service.as_deref(), Some("redis"));
        // An all-zero legacy parent ID is no parent.
        let doc: SpanDoc = serde_json::from_value(json!({
            "traceID": "t", "spanID": "c", "parentSpanID": "0000000000000000",
            "process": {"serviceName": "api"},
        }))
        .unwrap();
        assert!(LinkSpan::from_doc(doc, "@").refs.is_empty());
    }

    #[test]
    fn ranges_cover_the_trace_id_space_without_gaps_or_overlaps() {
        let ranges = trace_ranges(4, Mode::Full);
        assert_eq!(
            ranges,
            [
                (None, Some("4000".into())),
                (Some("4000".into()), Some("8000".into())),
                (Some("8000".into()), Some("c000".into())),
                (Some("c000".into()), None),
            ]
        );
        assert_eq!(trace_ranges(1, Mode::Full), [(None, None)]);
        // Three shards of two ranges each tile the space end to end.
        let mut all = Vec::new();
        for index in 0..3 {
            all.extend(trace_ranges(2, Mode::Shard { index, count: 3 }));
        }
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].0, None);
        assert_eq!(all[5].1, None);
        for pair in all.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
    }

    #[test]
    fn shard_flags_parse_or_explain() {
        assert_eq!(
            Mode::parse_shard("1/3"),
            Ok(Mode::Shard { index: 1, count: 3 })
        );
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(Mode::parse_shard(bad).is_err(), "{bad}");
        }
    }
}
