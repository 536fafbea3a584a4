//! Bulk indexing: turning decoded Kafka messages into `_bulk` request bodies,
//! and sending them until Elasticsearch has stored every document.
//!
//! Guarantees:
//! - a [`Batch`] remembers which Kafka messages it holds whole, so their
//!   offsets can be committed once the batch is stored;
//! - transient failures (connection, timeouts, 429/5xx, per-item 429/5xx) are
//!   retried with exponential backoff and jitter, without limit, re-sending
//!   only the documents that failed; permanent per-item failures are counted
//!   and logged, never retried;
//! - document `_id`s are deterministic, so a replay overwrites instead of
//!   duplicating.

use std::hash::BuildHasher as _;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use elasticsearch::http::Method;
use ferrotrace_common::log_limit::LogLimiter;
use ferrotrace_format::jaeger::doc_id::DOC_ID_LEN;
use ferrotrace_format::jaeger::{
    index, service_doc, DocDestination, SpanDocWriter, TagsAsFields, WireDocWriter, WrittenDoc,
};
use ferrotrace_format::otlp::SpanView;
use foldhash::{HashSet, HashSetExt};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::client::{is_retryable_status, snippet, EsClient, EsError};
use crate::metrics as m;

/// Every bulk worker retries during an outage, and a bad mapping rejects
/// every document of a kind: one line per interval for each, with the count
/// of the lines held back (the metrics count every event).
static RETRY_LOG: LazyLock<LogLimiter> = LazyLock::new(LogLimiter::default);
static REJECT_LOG: LazyLock<LogLimiter> = LazyLock::new(LogLimiter::default);

/// A Kafka message whose documents are all inside one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef {
    pub partition: i32,
    pub offset: i64,
    /// Assignment generation of the partition when the message was read.
    pub epoch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Span,
    Service,
}

impl DocKind {
    pub fn label(self) -> &'static str {
        match self {
            DocKind::Span => "span",
            DocKind::Service => "service",
        }
    }
}

/// One action+document pair inside the body.
#[derive(Clone, Debug)]
struct Item {
    range: Range<usize>,
    kind: DocKind,
    /// The Kafka message the document came from.
    message: MessageRef,
}

/// The documents of whole Kafka messages, as one `_bulk` NDJSON body.
#[derive(Debug, Default)]
pub struct Batch {
    body: Vec<u8>,
    items: Vec<Item>,
    pub messages: Vec<MessageRef>,
    pub spans: usize,
    /// Service/operation keys whose documents this batch writes: remembered
    /// by [`BatchBuilder::services_stored`] once the batch is stored.
    pub services: Vec<u64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
    pub fn docs(&self) -> usize {
        self.items.len()
    }
    /// Bytes of the `_bulk` body.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
    /// The `_bulk` body: action lines and documents, NDJSON.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Where and how documents are written.
#[derive(Clone, Debug, Default)]
pub struct IndexOptions {
    pub prefix: String,
    pub date_separator: String,
    /// Write to the `-write` aliases of rollover mode instead of daily indices.
    pub use_aliases: bool,
    pub tags_as_fields: TagsAsFields,
}

impl IndexOptions {
    /// `[prefix-]jaeger-<kind>-write`, the alias rollover mode writes to.
    pub fn write_alias(&self, kind: index::IndexKind) -> String {
        index::write_alias(kind, &self.prefix)
    }
}

/// Names the index of each document: the daily index of its start time, or
/// the write alias in rollover mode.
struct IndexTarget {
    daily: index::IndexNamer,
    alias: Option<String>,
}

impl IndexTarget {
    fn new(kind: index::IndexKind, options: &IndexOptions) -> Self {
        IndexTarget {
            daily: index::IndexNamer::new(kind, &options.prefix, &options.date_separator),
            alias: options.use_aliases.then(|| options.write_alias(kind)),
        }
    }

    fn name_for(&mut self, start_time_micros: u64) -> &str {
        match &self.alias {
            Some(alias) => alias,
            None => self.daily.name_for(start_time_micros),
        }
    }
}

/// Builds batches from decoded messages; reuses its buffers across messages.
pub struct BatchBuilder {
    options: IndexOptions,
    writers: Writers,
    span_indices: IndexTarget,
    service_indices: IndexTarget,
    /// Service/operation pairs stored per day (Jaeger writes each once). Filled
    /// only after a bulk succeeded, so a lost bulk cannot hide a pair.
    services_seen: HashSet<u64>,
    /// Pairs already in the current batch.
    services_in_batch: HashSet<u64>,
    batch: Batch,
    started: Option<Instant>,
    /// Bodies of stored batches, emptied, for the next batches.
    bodies: BodyPool,
}

/// The span document writers, one per input form.
struct Writers {
    /// For a decoded request.
    decoded: SpanDocWriter,
    /// For an `otlp_proto` message, without decoding it.
    wire: WireDocWriter,
}

/// Bound on the service/operation cache; cleared when reached (it is only an optimisation).
const SERVICES_SEEN_MAX: usize = 100_000;

impl BatchBuilder {
    pub fn new(options: IndexOptions) -> Self {
        Self {
            span_indices: IndexTarget::new(index::IndexKind::Span, &options),
            service_indices: IndexTarget::new(index::IndexKind::Service, &options),
            writers: Writers {
                decoded: SpanDocWriter::with_tags_as_fields(options.tags_as_fields.clone()),
                wire: WireDocWriter::with_tags_as_fields(options.tags_as_fields.clone()),
            },
            options,
            services_seen: HashSet::new(),
            services_in_batch: HashSet::new(),
            batch: Batch::default(),
            started: None,
            bodies: BodyPool::default(),
        }
    }

    /// Reuses the bodies of stored batches, up to `keep` of them (see [`BodyPool`]).
    pub fn with_body_pool(mut self, keep: usize, max_capacity: usize) -> Self {
        self.bodies = BodyPool::new(keep, max_capacity);
        self
    }

    /// Where [`send`] hands the bodies of stored batches back.
    pub fn body_pool(&self) -> BodyPool {
        self.bodies.clone()
    }

    /// Appends every span of `request` (one Kafka message) to the current batch;
    /// returns how many spans were skipped for invalid IDs.
    pub fn add(&mut self, message: MessageRef, request: &ExportTraceServiceRequest) -> usize {
        self.started.get_or_insert_with(Instant::now);
        let (mut docs, writer) = self.docs(message);
        let stats = writer.decoded.write_request(request, |doc| docs.push(doc));
        self.batch.messages.push(message);
        stats.skipped_invalid_ids
    }

    /// Appends every span of `value`, an `otlp_proto` Kafka message, to the
    /// current batch, written straight from its protobuf wire (the documents
    /// [`add`](Self::add) writes for the decoded request); returns how many
    /// spans were skipped for invalid IDs. A message that does not decode
    /// gives prost's error and leaves the batch as it was.
    pub fn add_encoded(
        &mut self,
        message: MessageRef,
        value: &[u8],
    ) -> Result<usize, prost::DecodeError> {
        self.add_encoded_visiting(message, value, |_| {})
    }

    /// [`add_encoded`](Self::add_encoded), with `visit` called first with
    /// every span's view from the same walk of the wire (none for a message
    /// that does not decode).
    pub fn add_encoded_visiting(
        &mut self,
        message: MessageRef,
        value: &[u8],
        visit: impl FnMut(SpanView<'_>),
    ) -> Result<usize, prost::DecodeError> {
        let started = self.started;
        self.started.get_or_insert_with(Instant::now);
        let (mut docs, writer) = self.docs(message);
        match writer.wire.write_message_into(value, &mut docs, visit) {
            Ok(stats) => {
                self.batch.messages.push(message);
                Ok(stats.skipped_invalid_ids)
            }
            Err(error) => {
                self.started = started;
                Err(error)
            }
        }
    }

    /// Where the documents of `message` go (the current batch), and the
    /// writers.
    fn docs(&mut self, message: MessageRef) -> (DocSink<'_>, &mut Writers) {
        let sink = DocSink {
            message,
            batch: &mut self.batch,
            span_indices: &mut self.span_indices,
            service_indices: &mut self.service_indices,
            services_seen: &self.services_seen,
            services_in_batch: &mut self.services_in_batch,
            started_at: 0,
            id_at: 0,
        };
        (sink, &mut self.writers)
    }

    /// True when the batch reached a size limit and should be sent.
    pub fn is_full(&self, max_docs: usize, max_bytes: usize) -> bool {
        self.batch.items.len() >= max_docs || self.batch.body.len() >= max_bytes
    }

    /// True when no message is waiting in the current batch.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// How long ago the first message of the current batch was added.
    pub fn age(&self) -> Option<Duration> {
        self.started.map(|t| t.elapsed())
    }

    /// Remembers the service/operation pairs of a stored batch.
    pub fn services_stored(&mut self, keys: &[u64]) {
        if self.services_seen.len() + keys.len() > SERVICES_SEEN_MAX {
            self.services_seen.clear();
        }
        self.services_seen.extend(keys);
    }

    /// Takes the current batch, leaving an empty one.
    pub fn take(&mut self) -> Option<Batch> {
        self.started = None;
        self.services_in_batch.clear();
        if self.batch.is_empty() {
            return None;
        }
        let next = Batch {
            body: self.bodies.take(),
            ..Batch::default()
        };
        Some(std::mem::replace(&mut self.batch, next))
    }

    pub fn options(&self) -> &IndexOptions {
        &self.options
    }
}

/// Appends the span documents of one Kafka message, and the service
/// documents not yet written, to a batch. The writer writes each span
/// document straight into the body, after an action line whose `_id` is
/// filled in once the document, which it hashes, is written.
struct DocSink<'b> {
    message: MessageRef,
    batch: &'b mut Batch,
    span_indices: &'b mut IndexTarget,
    service_indices: &'b mut IndexTarget,
    services_seen: &'b HashSet<u64>,
    services_in_batch: &'b mut HashSet<u64>,
    /// Where the current span document's action line starts in the body.
    started_at: usize,
    /// Where its `_id` goes.
    id_at: usize,
}

impl DocDestination for DocSink<'_> {
    fn begin(&mut self, start_time_micros: u64) -> &mut Vec<u8> {
        let index_name = self.span_indices.name_for(start_time_micros);
        let body = &mut self.batch.body;
        self.started_at = body.len();
        self.id_at = push_action(body, index_name, &[b'0'; DOC_ID_LEN]);
        body
    }

    fn end(&mut self, doc: WrittenDoc<'_>) {
        let (batch, message) = (&mut *self.batch, self.message);
        batch.body[self.id_at..self.id_at + DOC_ID_LEN].copy_from_slice(doc.doc_id);
        end_doc(batch, self.started_at, DocKind::Span, message);
        batch.spans += 1;

        let day = doc.start_time_micros / MICROS_PER_DAY;
        let key = service_key(day, doc.service_name, doc.operation_name);
        if !self.services_seen.contains(&key) && self.services_in_batch.insert(key) {
            batch.services.push(key);
            let index_name = self.service_indices.name_for(doc.start_time_micros);
            let id = service_doc::service_doc_id(doc.service_name, doc.operation_name);
            let start = batch.body.len();
            push_action(&mut batch.body, index_name, id.as_bytes());
            service_doc::write_service_doc(&mut batch.body, doc.service_name, doc.operation_name);
            end_doc(batch, start, DocKind::Service, message);
        }
    }
}

const MICROS_PER_DAY: u64 = 86_400_000_000;

/// Appends the action line `{"index":{"_index":…,"_id":…}}`; returns where the `_id` starts.
fn push_action(body: &mut Vec<u8>, index_name: &str, id: &[u8]) -> usize {
    body.extend_from_slice(br#"{"index":{"_index":""#);
    body.extend_from_slice(index_name.as_bytes());
    body.extend_from_slice(br#"","_id":""#);
    let id_at = body.len();
    body.extend_from_slice(id);
    body.extend_from_slice(b"\"}}\n");
    id_at
}

/// Ends the document whose action line starts at `start` in the body, and
/// records it as an item of `message`.
fn end_doc(batch: &mut Batch, start: usize, kind: DocKind, message: MessageRef) {
    batch.body.push(b'\n');
    batch.items.push(Item {
        range: start..batch.body.len(),
        kind,
        message,
    });
}

/// A key for the seen-set of day, service and operation (kept in memory
/// only): foldhash reads 8 bytes a step where FNV-1a took one.
fn service_key(day: u64, service: &str, operation: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one((day, service, operation))
}

/// Emptied `_bulk` bodies, handed back by [`send`] once Elasticsearch has
/// answered, for the next batches. A body grows to about `--es-bulk-bytes`;
/// a fresh one per batch would be grown again (copying what it holds at every
/// doubling) and its new pages faulted in and zeroed by the kernel. At most
/// `keep` bodies of at most `max_capacity` bytes wait here, so the bodies in
/// memory stay bounded by the bulk workers and the bulk size.
#[derive(Clone, Debug, Default)]
pub struct BodyPool {
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
    keep: usize,
    max_capacity: usize,
}

impl BodyPool {
    pub fn new(keep: usize, max_capacity: usize) -> Self {
        BodyPool {
            spare: Arc::default(),
            keep,
            max_capacity,
        }
    }

    /// A spare body, empty, or a new one when none waits.
    fn take(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default()
    }

    /// Keeps the body of `batch`, which is not sent, for a later batch, as
    /// [`send`] keeps a sent one: for measuring the writer without the
    /// network (the benches), where a new body per batch would be grown
    /// again, copying what it holds at every doubling.
    pub fn recycle(&self, batch: Batch) {
        self.give(Bytes::from(batch.body));
    }

    /// Keeps `body` for a next batch when nothing else holds it any more (the
    /// HTTP client may still, for a moment) and there is room.
    fn give(&self, body: Bytes) {
        let Ok(mut body) = body.try_into_mut() else {
            return;
        };
        body.clear();
        let body = Vec::from(body);
        if body.capacity() == 0 || body.capacity() > self.max_capacity {
            return;
        }
        if let Ok(mut spare) = self.spare.lock() {
            if spare.len() < self.keep {
                spare.push(body);
            }
        }
    }
}

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every document is stored or permanently rejected (and counted): commit.
    Stored {
        spans: usize,
        rejected: Vec<Rejected>,
    },
    /// Gave up because the process is stopping: do not commit.
    Abandoned,
}

/// A document Elasticsearch refused for good (mapping error, 400...): it
/// goes to the dead-letter topic rather than being dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub message: MessageRef,
    pub kind: DocKind,
    pub status: u16,
    pub error: String,
    /// The bulk action line and the document, as sent.
    pub doc: Vec<u8>,
}

/// The `_bulk` endpoint, asking only for what [`classify`] reads: the
/// `errors` flag and each item's status and error (Elasticsearch's and
/// OpenSearch's `filter_path`), not the index, id, version, shards and
/// sequence numbers of every document.
pub const BULK_PATH: &str = "/_bulk?filter_path=errors,items.*.status,items.*.error";

/// The `errors` flag alone: the items of a bulk without errors are skipped,
/// not parsed.
#[derive(Deserialize)]
struct BulkErrors {
    errors: bool,
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<BulkItem>,
}

#[derive(Deserialize)]
struct BulkItem {
    #[serde(alias = "create", alias = "update", alias = "delete")]
    index: BulkItemResult,
}

#[derive(Deserialize)]
struct BulkItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Retry delays: 100 ms doubling to 10 s, with jitter, forever.
pub fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
}

/// Sends `batch` until every document is stored or permanently refused,
/// in requests of at most `max_bytes` (a hard cap: proxies and hosted
/// clusters refuse larger bodies with 413). Stops retrying only when
/// `give_up` is cancelled. The bodies sent go back to `bodies`.
pub async fn send(
    client: &EsClient,
    batch: Batch,
    max_bytes: usize,
    give_up: &CancellationToken,
    bodies: &BodyPool,
) -> Outcome {
    let chunks = plan_requests(&batch.items, max_bytes);
    if chunks.len() == 1 {
        let body = Bytes::from(batch.body);
        return send_request(client, batch.items, body, give_up, bodies).await;
    }
    let (mut spans, mut rejected) = (0, Vec::new());
    for chunk in chunks {
        let items = &batch.items[chunk];
        let mut body = Vec::with_capacity(items.iter().map(|i| i.range.len()).sum());
        let mut chunk_items = Vec::with_capacity(items.len());
        for item in items {
            let start = body.len();
            body.extend_from_slice(&batch.body[item.range.clone()]);
            chunk_items.push(Item {
                range: start..body.len(),
                ..item.clone()
            });
        }
        match send_request(client, chunk_items, Bytes::from(body), give_up, bodies).await {
            Outcome::Stored {
                spans: s,
                rejected: r,
            } => {
                spans += s;
                rejected.extend(r);
            }
            Outcome::Abandoned => return Outcome::Abandoned,
        }
    }
    bodies.give(Bytes::from(batch.body));
    Outcome::Stored { spans, rejected }
}

/// Splits items, in order, into runs whose bodies total at most `max_bytes`.
/// A single document larger than the cap goes alone (it cannot be split).
fn plan_requests(items: &[Item], max_bytes: usize) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let len = item.range.len();
        if i > start && bytes + len > max_bytes {
            chunks.push(start..i);
            (start, bytes) = (i, 0);
        }
        if len > max_bytes {
            tracing::warn!(
                bytes = len,
                max_bytes,
                "one document is larger than --es-bulk-max-bytes; sent alone"
            );
        }
        bytes += len;
    }
    chunks.push(start..items.len());
    chunks
}

/// One bulk request, retried (failed items only) until done.
async fn send_request(
    client: &EsClient,
    items: Vec<Item>,
    body: Bytes,
    give_up: &CancellationToken,
    bodies: &BodyPool,
) -> Outcome {
    let mut backoff = retry_policy().build();
    let mut pending: Vec<Item> = items;
    let mut body = body;
    let mut rejected = Vec::new();
    let mut stored_spans = 0usize;
    loop {
        let started = Instant::now();
        metrics::counter!(m::BULK_BYTES).increment(body.len() as u64);
        let result = client
            .request(
                Method::Post,
                BULK_PATH,
                "application/x-ndjson",
                Some(body.clone()),
            )
            .await; // a Bytes clone is a reference count
        metrics::histogram!(m::BULK_DURATION).record(started.elapsed().as_secs_f64());
        let retry: Vec<Item> = match result {
            Err(error) => {
                debug_assert!(error.is_transient());
                if let Some(suppressed) = RETRY_LOG.allow() {
                    tracing::warn!(%error, docs = pending.len(), suppressed, "bulk request failed, retrying");
                }
                pending.clone()
            }
            Ok((status, response)) if !status.is_success() => {
                // The whole request was refused for a reason retrying cannot fix.
                let error =
                    EsError::Permanent(format!("bulk answered {status}: {}", snippet(&response)));
                tracing::error!(%error, docs = pending.len(), "bulk request refused, documents dropped");
                for item in &pending {
                    metrics::counter!(m::DOCS_REJECTED, "kind" => item.kind.label()).increment(1);
                    rejected.push(rejection(item, status.as_u16(), error.to_string(), &body));
                }
                Vec::new()
            }
            Ok((_, response)) => match classify(&pending, &response) {
                Ok(classified) => {
                    stored_spans += classified.stored_spans;
                    rejected.extend(
                        classified
                            .rejected
                            .into_iter()
                            .map(|(item, status, error)| rejection(&item, status, error, &body)),
                    );
                    classified.retry
                }
                Err(error) => {
                    if let Some(suppressed) = RETRY_LOG.allow() {
                        tracing::warn!(%error, suppressed, "unreadable bulk response, retrying the request");
                    }
                    pending.clone()
                }
            },
        };
        if retry.is_empty() {
            metrics::counter!(m::BULK_REQUESTS, "result" => "ok").increment(1);
            metrics::counter!(m::SPANS_INDEXED).increment(stored_spans as u64);
            bodies.give(body);
            return Outcome::Stored {
                spans: stored_spans,
                rejected,
            };
        }
        metrics::counter!(m::BULK_REQUESTS, "result" => "retry").increment(1);
        let delay = backoff.next().unwrap_or(Duration::from_secs(10));
        tokio::select! {
            _ = give_up.cancelled() => return Outcome::Abandoned,
            _ = tokio::time::sleep(delay) => {}
        }
        // Re-send only what failed, from the original body.
        let mut next = Vec::with_capacity(retry.iter().map(|i| i.range.len()).sum());
        let mut next_items = Vec::with_capacity(retry.len());
        for item in &retry {
            let start = next.len();
            next.extend_from_slice(&body[item.range.clone()]);
            next_items.push(Item {
                range: start..next.len(),
                ..item.clone()
            });
        }
        body = Bytes::from(next);
        pending = next_items;
    }
}

/// True when the response opens with `"errors":false`, as Elasticsearch and
/// OpenSearch write it: `{"took":N,"errors":false,` or, with `filter_path`,
/// `{"errors":false,`. Then its items need not be read at all (a JSON parse
/// would still scan every one of them). Any other form is parsed.
fn says_no_errors(response: &[u8]) -> bool {
    let Some(rest) = response.strip_prefix(b"{") else {
        return false;
    };
    let rest = match rest.strip_prefix(br#""took":"#) {
        Some(took) => {
            let digits = took.iter().take_while(|b| b.is_ascii_digit()).count();
            match took[digits..].strip_prefix(b",") {
                Some(rest) if digits > 0 => rest,
                _ => return false,
            }
        }
        None => rest,
    };
    matches!(
        rest.strip_prefix(br#""errors":false"#),
        Some([b',' | b'}', ..])
    )
}

struct Classified {
    retry: Vec<Item>,
    stored_spans: usize,
    /// Items refused for good, with the status and Elasticsearch's error.
    rejected: Vec<(Item, u16, String)>,
}

fn rejection(item: &Item, status: u16, error: String, body: &[u8]) -> Rejected {
    Rejected {
        message: item.message,
        kind: item.kind,
        status,
        error,
        doc: body[item.range.clone()].to_vec(),
    }
}

/// Splits a bulk response into stored, retryable and permanently rejected items.
fn classify(items: &[Item], response: &[u8]) -> Result<Classified, String> {
    let no_errors = says_no_errors(response) || {
        let errors: BulkErrors =
            serde_json::from_slice(response).map_err(|e| format!("{e}: {}", snippet(response)))?;
        !errors.errors
    };
    if no_errors {
        let spans = items.iter().filter(|i| i.kind == DocKind::Span).count();
        return Ok(Classified {
            retry: Vec::new(),
            stored_spans: spans,
            rejected: Vec::new(),
        });
    }
    let parsed: BulkResponse =
        serde_json::from_slice(response).map_err(|e| format!("{e}: {}", snippet(response)))?;
    if parsed.items.len() != items.len() {
        return Err(format!(
            "bulk response has {} items for {} documents",
            parsed.items.len(),
            items.len()
        ));
    }
    let mut classified = Classified {
        retry: Vec::new(),
        stored_spans: 0,
        rejected: Vec::new(),
    };
    for (item, result) in items.iter().zip(parsed.items) {
        let status = result.index.status;
        if !(200..300).contains(&status) {
            metrics::counter!(m::BULK_ITEM_FAILURES, "status" => status.to_string()).increment(1);
        }
        if (200..300).contains(&status) {
            classified.stored_spans += usize::from(item.kind == DocKind::Span);
        } else if is_retryable_status(status) {
            classified.retry.push(item.clone());
        } else {
            metrics::counter!(m::DOCS_REJECTED, "kind" => item.kind.label()).increment(1);
            let error = result.index.error.unwrap_or_default().to_string();
            if let Some(suppressed) = REJECT_LOG.allow() {
                tracing::error!(status, kind = item.kind.label(), %error, suppressed, "document rejected by elasticsearch");
            }
            classified.rejected.push((item.clone(), status, error));
        }
    }
    if !classified.retry.is_empty() {
        metrics::counter!(m::BULK_REQUESTS, "result" => "partial").increment(1);
    }
    Ok(classified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(kinds: &[DocKind]) -> Vec<Item> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| Item {
                message: MessageRef {
                    partition: 0,
                    offset: i as i64,
                    epoch: 0,
                },
                range: i * 10..i * 10 + 10,
                kind,
            })
            .collect()
    }

    #[test]
    fn a_clean_bulk_response_stores_everything() {
        let items = items(&[DocKind::Span, DocKind::Service, DocKind::Span]);
        let c = classify(&items, br#"{"took":3,"errors":false,"items":[]}"#).unwrap();
        assert!(c.retry.is_empty());
        assert_eq!((c.stored_spans, c.rejected.len()), (2, 0));
    }

    #[test]
    fn a_response_opening_with_errors_false_is_read_without_its_items() {
        for clean in [
            &br#"{"took":3,"errors":false,"items":[{"index":{"status":201}}]}"#[..],
            br#"{"errors":false,"items":[{"index":{"status":201}}]}"#,
            br#"{"errors":false}"#,
        ] {
            assert!(says_no_errors(clean), "{}", String::from_utf8_lossy(clean));
        }
        for other in [
            &br#"{"took":3,"errors":true,"items":[]}"#[..],
            br#"{"errors":falsey}"#,
            br#"{"took":,"errors":false}"#,
            br#"{ "errors": false }"#,
            br#"{"items":[{"index":{"error":{"reason":"{\"errors\":false,"}}}],"errors":true}"#,
            b"",
        ] {
            assert!(!says_no_errors(other), "{}", String::from_utf8_lossy(other));
        }
        // The other forms are parsed: a clean one with spaces still stores everything.
        let items = items(&[DocKind::Span]);
        let c = classify(&items, br#"{ "errors": false, "items": [] }"#).unwrap();
        assert_eq!((c.stored_spans, c.retry.len()), (1, 0));
    }

    #[test]
    fn a_sent_body_is_reused_for_a_later_batch_without_a_copy() {
        let pool = BodyPool::new(1, 1 << 20);
        let mut body = Vec::with_capacity(64 << 10);
        body.extend_from_slice(b"{\"index\":{}}\n{}\n");
        let address = body.as_ptr();
        let sent = Bytes::from(body);
        let held = sent.clone();
        pool.give(sent);
        assert_eq!(
            pool.take().capacity(),
            0,
            "a body still held elsewhere is not kept"
        );
        pool.give(held);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!((again.as_ptr(), again.capacity()), (address, 64 << 10));
        assert_eq!(pool.take().capacity(), 0, "taken once");
    }

    /// One span of service `frontend`, named `GET /`, of 2026-11-26.
    fn one_span_request() -> ExportTraceServiceRequest {
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("frontend".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "GET /".into(),
                        start_time_unix_nano: 1_795_651_200_000_000_000,
                        end_time_unix_nano: 1_795_651_200_001_000_000,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_recycled_batch_body_is_reused_by_a_later_batch() {
        let mut builder = BatchBuilder::new(IndexOptions::default()).with_body_pool(1, 1 << 20);
        let request = one_span_request();
        let message = MessageRef {
            partition: 0,
            offset: 0,
            epoch: 0,
        };
        builder.add(message, &request);
        let first = builder.take().expect("a batch");
        let address = first.body().as_ptr();
        builder.body_pool().recycle(first);
        // The builder took its next body when it handed out the first: the
        // recycled one is the body after that.
        builder.add(message, &request);
        builder.take().expect("a second batch");
        builder.add(message, &request);
        let third = builder.take().expect("a third batch");
        assert_eq!(third.body().as_ptr(), address);
        assert!(third.body().starts_with(b"{\"index\""), "written afresh");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_bounded_bodies() {
        let pool = BodyPool::new(2, 1 << 20);
        pool.give(Bytes::from(Vec::with_capacity(2 << 20)));
        assert_eq!(
            pool.take().capacity(),
            0,
            "a body over the capacity bound is dropped"
        );
        for _ in 0..3 {
            pool.give(Bytes::from(Vec::with_capacity(1024)));
        }
        let kept = std::iter::from_fn(|| Some(pool.take()).filter(|b| b.capacity() > 0)).count();
        assert_eq!(kept, 2);
    }

    #[test]
    fn only_retryable_items_are_resent() {
        let items = items(&[
            DocKind::Span,
            DocKind::Span,
            DocKind::Span,
            DocKind::Service,
        ]);
        let response = br#"{"errors":true,"items":[
            {"index":{"status":201}},
            {"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"index":{"status":400,"error":{"type":"mapper_parsing_exception"}}},
            {"index":{"status":503}}]}"#;
        let c = classify(&items, response).unwrap();
        assert_eq!(
            c.retry.iter().map(|i| i.range.start).collect::<Vec<_>>(),
            vec![10, 30]
        );
        assert_eq!((c.stored_spans, c.rejected.len()), (1, 1));
    }

    #[test]
    fn a_response_that_does_not_match_the_request_is_an_error() {
        let items = items(&[DocKind::Span, DocKind::Span]);
        assert!(classify(
            &items,
            br#"{"errors":true,"items":[{"index":{"status":201}}]}"#
        )
        .is_err());
        assert!(classify(&items, b"<html>").is_err());
    }

    #[test]
    fn service_keys_differ_by_day_service_and_operation() {
        let a = service_key(1, "frontend", "GET /");
        assert_eq!(a, service_key(1, "frontend", "GET /"));
        assert_ne!(a, service_key(2, "frontend", "GET /"));
        assert_ne!(a, service_key(1, "frontend", "GET /x"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(service_key(1, "ab", "c"), service_key(1, "a", "bc"));
    }

    #[test]
    fn retry_policy_backs_off_with_growing_delays() {
        let mut delays = retry_policy().build();
        let first = delays.next().unwrap();
        let later: Vec<_> = (0..10).filter_map(|_| delays.next()).collect();
        assert!(first <= Duration::from_millis(200), "{first:?}");
        assert_eq!(later.len(), 10, "the policy never stops retrying");
        assert!(later.iter().all(|d| *d <= Duration::from_secs(20)));
        assert!(later.last().unwrap() >= &Duration::from_secs(5));
    }

    #[test]
    fn plans_requests_under_the_hard_cap() {
        let items: Vec<Item> = [40usize, 40, 40, 150, 10, 10]
            .iter()
            .scan(0, |at, &len| {
                let item = Item {
                    message: MessageRef {
                        partition: 0,
                        offset: 0,
                        epoch: 0,
                    },
                    range: *at..*at + len,
                    kind: DocKind::Span,
                };
                *at += len;
                Some(item)
            })
            .collect();
        assert_eq!(plan_requests(&items, 100), vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(plan_requests(&items, 1000), vec![0..6]);
        assert_eq!(plan_requests(&[], 100), vec![0..0]);
    }

    /// A message that does not decode leaves none of its documents in the
    /// batch (it goes to the dead-letter topic whole), even when its first
    /// spans were readable.
    #[test]
    fn an_undecodable_message_leaves_the_batch_as_it_was() {
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message as _;
        let span = |name: &str| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name.into(),
            start_time_unix_nano: 1_795_651_200_000_000_000,
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("first"), span("second"), span("zz")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let good = request.encode_to_vec();
        // Invalid UTF-8 in the last span's name: prost refuses the message.
        let mut bad = good.clone();
        let at = bad.windows(2).rposition(|w| w == b"zz").expect("name");
        bad[at] = 0xff;
        let message = |offset| MessageRef {
            partition: 0,
            offset,
            epoch: 0,
        };
        let mut builder = BatchBuilder::new(IndexOptions {
            date_separator: "-".into(),
            ..IndexOptions::default()
        });
        assert_eq!(builder.add_encoded(message(0), &good), Ok(0));
        let error = builder
            .add_encoded(message(1), &bad)
            .expect_err("undecodable");
        assert!(error.to_string().contains("UTF-8"), "{error}");
        let batch = builder.take().expect("the good message");
        assert_eq!(batch.messages, vec![message(0)]);
        assert_eq!((batch.spans, batch.docs()), (3, 6), "3 spans, 3 operations");
        // Each span document follows an action line with its own `_id`.
        let mut ids = Vec::new();
        SpanDocWriter::new().write_request(&request, |doc| {
            ids.push((
                String::from_utf8(doc.doc_id.to_vec()).expect("ascii"),
                doc.json.to_vec(),
            ))
        });
        let lines: Vec<&[u8]> = batch.body().split(|&b| b == b'\n').collect();
        let span_docs: Vec<(String, Vec<u8>)> = lines
            .chunks_exact(2)
            .filter_map(|pair| {
                let action: serde_json::Value = serde_json::from_slice(pair[0]).expect("action");
                let index = &action["index"];
                index["_index"]
                    .as_str()?
                    .starts_with("jaeger-span-")
                    .then(|| {
                        (
                            index["_id"].as_str().expect("_id").to_owned(),
                            pair[1].to_vec(),
                        )
                    })
            })
            .collect();
        assert_eq!(span_docs, ids);
        // The same documents as the decoding path writes.
        builder.add(message(0), &request);
        assert_eq!(builder.take().expect("batch").body(), batch.body());
        // An undecodable message alone leaves no batch at all.
        assert!(builder.add_encoded(message(2), &bad).is_err());
        assert!(builder.is_empty() && builder.age().is_none());
    }

    #[test]
    fn a_service_pair_is_remembered_only_after_its_batch_is_stored() {
        let request = one_span_request();
        let message = MessageRef {
            partition: 0,
            offset: 0,
            epoch: 0,
        };
        let mut builder = BatchBuilder::new(IndexOptions {
            date_separator: "-".into(),
            ..IndexOptions::default()
        });
        builder.add(message, &request);
        builder.add(message, &request);
        let first = builder.take().unwrap();
        assert_eq!(first.docs(), 3, "two spans, one service document");
        // Not stored yet (the bulk may still fail): the next batch writes it again.
        builder.add(message, &request);
        assert_eq!(builder.take().unwrap().docs(), 2);
        builder.services_stored(&first.services);
        builder.add(message, &request);
        assert_eq!(builder.take().unwrap().docs(), 1, "span only");
    }
}
