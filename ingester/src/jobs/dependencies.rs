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
//! Link rules: `dependencies::links`, shared with the live path.
//!
//! Output: `{"timestamp":"YYYY-MM-DDT00:00:00Z","dependencies":[{"parent",
//! "child","callCount","source":"jaeger"}]}` under a fixed `_id` (the date),
//! so a re-run replaces the day's document instead of adding a second one.
//! The day's live documents (written by ingesters run with
//! `--dependencies-live`) are then emptied, so jaeger-query, which sums
//! every document of its time range, does not count the day twice.
//! `--from-live` is the cheap end-of-day compaction: it moves the live
//! documents' counts into the day's document without reading any span.

use ferrotrace_format::civil_date::MICROS_PER_DAY;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elasticsearch::http::Method;
use ferrotrace_format::jaeger::index::{index_name, read_alias, IndexKind};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use ferrotrace_common::es_scroll;

use crate::dependencies::links::{add_links, count_trace, LinkSpan, Links};
use crate::dependencies::store::{self, links_from, links_json, StoredLink, Target};
use crate::es::admin::{failed, index_exists, AdminError};
use crate::es::client::EsClient;

/// Four hex digits of trace-ID prefix: the unit ranges are cut in.
const PREFIX_SPACE: u32 = 0x1_0000;

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
    /// Move the day's live documents' counts into the day's document.
    FromLive,
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
    pub links: Links,
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
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
        Mode::FromLive => compact(es, options).await?,
    };
    match mode {
        Mode::Shard { index, count } => store_partial(es, options, index, count, &summary).await?,
        Mode::Full | Mode::Merge { .. } => {
            if counted_live_today(es, options).await? {
                // Ingesters are still counting the day: a recount stored now
                // would count twice the traces they hold but have not written.
                writeln!(
                    out,
                    "note: ingesters count {} live; the recount is not stored (run it for a past day, or --from-live once the day is over)",
                    date_text(options)
                )?;
            } else {
                store(es, options, &summary.links).await?;
                // The recount replaces what the ingesters counted live.
                store::empty_live_day(es, &target(options), options.day).await?;
            }
        }
        Mode::FromLive => {}
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

/// Whether the day is today (or later) and ingesters have written live counts for it.
async fn counted_live_today(
    es: &EsClient,
    options: &DependenciesOptions,
) -> Result<bool, DependenciesError> {
    if options.day < crate::jobs::retention::today_utc() {
        return Ok(false);
    }
    let live = store::read_live_day(es, &target(options), options.day).await?;
    Ok(live.iter().any(|doc| !doc.stored.links.is_empty()))
}

fn day_micros(options: &DependenciesOptions) -> u64 {
    (options.day.max(0) as u64) * MICROS_PER_DAY
}

fn span_source(options: &DependenciesOptions) -> String {
    if options.use_aliases {
        read_alias(IndexKind::Span, &options.prefix)
    } else {
        index_name(
            IndexKind::Span,
            &options.prefix,
            &options.date_separator,
            day_micros(options),
        )
    }
}

fn target(options: &DependenciesOptions) -> Target {
    Target {
        prefix: options.prefix.clone(),
        date_separator: options.date_separator.clone(),
        use_aliases: options.use_aliases,
    }
}

/// The UTC day `--date` names, in days since 1970-01-01: `YYYY-MM-DD`,
/// `today` or `yesterday` (what a CronJob just after midnight compacts).
pub fn parse_day(date: &str, today: i64) -> Option<i64> {
    match date {
        "today" => Some(today),
        "yesterday" => Some(today - 1),
        _ => ferrotrace_format::civil_date::parse_date(date, "-"),
    }
}

fn date_text(options: &DependenciesOptions) -> String {
    store::date_text(options.day)
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
    add_links(&mut total.links, &part.links);
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
    count_trace(&mut summary.links, trace);
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

/// Writes the day's document, replacing an earlier run's.
async fn store(
    es: &EsClient,
    options: &DependenciesOptions,
    links: &Links,
) -> Result<(), DependenciesError> {
    let index = target(options).write_index(options.day);
    let date = date_text(options);
    let doc =
        json!({"timestamp": store::day_timestamp(options.day), "dependencies": links_json(links)});
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

/// `--from-live`: the day's document gains the counts of the day's live
/// documents, which are emptied first (each conditional on the version
/// read), so a count moves once: a second run, or a live document written
/// again later, adds only what is new. A crash between the two steps loses
/// the emptied counts until a full run recounts the day.
async fn compact(
    es: &EsClient,
    options: &DependenciesOptions,
) -> Result<Summary, DependenciesError> {
    let target = target(options);
    let moved = store::empty_live_day(es, &target, options.day).await?;
    let index = target.read_index(options.day);
    let date = date_text(options);
    let action = format!("reading the dependencies of {date} in {index}");
    let (status, answer) = es
        .json(
            Method::Post,
            &format!("/{index}/_search"),
            Some(&json!({"query": {"ids": {"values": [date]}}})),
            &[404],
        )
        .await
        .map_err(failed(action.clone()))?;
    let mut links = Links::new();
    if status != 404 {
        if let Some(hit) = answer["hits"]["hits"].as_array().and_then(|h| h.first()) {
            let stored: Vec<StoredLink> = parse(hit["_source"]["dependencies"].clone(), &action)?;
            links = links_from(stored);
        }
    }
    add_links(&mut links, &moved);
    store(es, options, &links).await?;
    Ok(Summary {
        links,
        ..Summary::default()
    })
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
        part.links = links_from(doc.dependencies);
        add(&mut total, part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_a_day_today_or_yesterday() {
        let today = 20_794; // 2026-12-07
        assert_eq!(parse_day("today", today), Some(today));
        assert_eq!(parse_day("yesterday", today), Some(today - 1));
        assert_eq!(parse_day("2026-12-06", today), Some(today - 1));
        assert_eq!(parse_day("1970-01-02", today), Some(1));
        for bad in ["tomorrow", "2026-13-01", "2026/12/06", ""] {
            assert_eq!(parse_day(bad, today), None, "{bad:?}");
        }
    }

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

    fn counted(spans: &[LinkSpan]) -> Links {
        let mut links = Links::new();
        count_trace(&mut links, spans);
        links
    }

    fn links(pairs: &[(&str, &str, u64)]) -> Links {
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
