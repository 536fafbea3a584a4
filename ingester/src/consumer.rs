//! The Kafka side of the ingester: the poll loop, per-partition offset
//! tracking, and rebalance handling.
//!
//! Commit discipline (at-least-once, never-lose): offsets are stored only for
//! a contiguous prefix of messages whose documents Elasticsearch has stored,
//! because bulk requests finish out of order. librdkafka's auto-commit then
//! commits only stored offsets (`enable.auto.offset.store=false`), and on
//! revocation and shutdown the stored offsets are committed synchronously. A
//! message read again after a crash or rebalance is harmless: document IDs
//! are deterministic.
//!
//! What cannot be stored is moved, never dropped: an undecodable message, a
//! message with spans the writer cannot store, and documents Elasticsearch
//! refuses go to the dead-letter topic, and their offsets advance only once
//! it acknowledged them. [`EncodingCheck`] keeps a wrong `--kafka-encoding`
//! from moving a whole topic there.
//!
//! Per-partition series (the lag gauge) exist exactly while the partition is
//! assigned here: created at 0 on assignment, removed on revocation and at
//! shutdown, so the sum over all ingesters is the group's lag after every
//! rebalance.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrotrace_common::kafka_client::KafkaLogs;
use ferrotrace_common::kafka_security::{self, KafkaSecurity};
use ferrotrace_common::telemetry;
use ferrotrace_format::kafka_codec::{self, CodecError, Encoding};
use ferrotrace_format::otlp::span_view;
use futures::{FutureExt as _, StreamExt as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dead_letter::{DeadLetter, DeadLetters, Unwritable};
use crate::dependencies::{
    self,
    live::{BatchSpans, LiveLinks},
};
use crate::encoding_check::{EncodingCheck, Verdict};
use crate::es::bulk::{self, BatchBuilder, MessageRef, Outcome};
use crate::es::client::EsClient;
use crate::liveness::Progress;
use crate::metrics as m;
use crate::metrics_gen::{self, MetricsGenerator, ObservedAt};
use crate::sampling;
use crate::tail_sampling::{self, Arrival, Decided, TailSampler};

/// Offsets stored for commit, per partition (the next offset to read).
pub type StoredOffsets = Arc<Mutex<HashMap<i32, i64>>>;

/// Rebalance events, handed from librdkafka's callbacks to the poll loop.
#[derive(Debug)]
enum Assignment {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// librdkafka context: records rebalances, commits on revocation, and keeps
/// the per-partition series of exactly the partitions assigned here.
pub struct IngestContext {
    topic: String,
    events: Mutex<Vec<Assignment>>,
    stored: StoredOffsets,
    /// The group has assigned this consumer its partitions (maybe none) at least once.
    joined: AtomicBool,
    logs: KafkaLogs,
    /// Partitions whose series exist. Statistics set their lag under this
    /// lock, so a revoked partition's series never comes back.
    owned: Mutex<BTreeSet<i32>>,
}

impl ClientContext for IngestContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.logs.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.logs.error(&error, reason);
    }

    /// librdkafka's statistics (every `statistics.interval.ms`): the lag of
    /// each partition assigned here. librdkafka keeps reporting partitions it
    /// no longer consumes, with their last figures: those are skipped.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let Ok(owned) = self.owned.lock() else {
            return;
        };
        for &partition in owned.iter() {
            let Some(p) = topic.partitions.get(&partition) else {
                continue;
            };
            let Some(lag) = unstored_messages(
                p.hi_offset,
                p.stored_offset,
                p.committed_offset,
                p.lo_offset,
            ) else {
                continue;
            };
            self.lag_gauge(partition).set(lag as f64);
        }
    }
}

/// Messages of a partition not yet stored in Elasticsearch: the high
/// watermark minus the first offset not stored, which is the offset stored
/// for commit, else the group's committed offset (a partition just taken
/// over), else the log start (nothing committed: `auto.offset.reset=earliest`
/// reads it all). None while the watermark is unknown; never negative (tansu
/// reports watermarks behind the offsets read).
pub(crate) fn unstored_messages(high: i64, stored: i64, committed: i64, low: i64) -> Option<i64> {
    if high < 0 {
        return None;
    }
    let next = [stored, committed, low].into_iter().find(|&o| o >= 0)?;
    Some((high - next).max(0))
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let partitions = partitions_of(list, &self.topic);
            // Commit what is stored for the revoked partitions before another
            // ingester takes them, so it starts right after our last stored span.
            let mut commit = TopicPartitionList::new();
            if let Ok(stored) = self.stored.lock() {
                for p in &partitions {
                    if let Some(&next) = stored.get(p) {
                        let _ = commit.add_partition_offset(&self.topic, *p, Offset::Offset(next));
                    }
                }
            }
            if commit.count() > 0 {
                if let Err(error) = consumer.commit(&commit, CommitMode::Sync) {
                    tracing::warn!(%error, "commit on revocation failed; the next owner will re-read some messages");
                }
            }
            tracing::info!(?partitions, "partitions revoked");
            self.disown(&partitions);
            self.push(Assignment::Revoked(partitions));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let partitions = partitions_of(list, &self.topic);
            tracing::info!(?partitions, "partitions assigned");
            self.joined.store(true, Ordering::Relaxed);
            self.own(&partitions);
            self.push(Assignment::Assigned(partitions));
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            tracing::warn!(%error, "offset commit failed; it is retried with the next commit");
        }
    }
}

impl IngestContext {
    /// Whether the consumer group has assigned this consumer its share of
    /// the partitions (none, when the group has more members than partitions).
    pub fn joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// The partitions assigned here, as of the last rebalance the loop served.
    pub fn owned_partitions(&self) -> Vec<i32> {
        self.owned
            .lock()
            .map(|owned| owned.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Queues a rebalance for the loop, which applies it with the next
    /// message; counted now, so the count moves on an idle topic too.
    fn push(&self, event: Assignment) {
        let kind = match event {
            Assignment::Assigned(_) => "assigned",
            Assignment::Revoked(_) => "revoked",
        };
        metrics::counter!(m::REBALANCES, "event" => kind).increment(1);
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
    fn drain(&self) -> Vec<Assignment> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    fn lag_gauge(&self, partition: i32) -> metrics::Gauge {
        metrics::gauge!(m::CONSUMER_LAG, "topic" => self.topic.clone(), "partition" => partition.to_string())
    }

    /// Newly assigned partitions get their series, at 0 until librdkafka's
    /// next statistics say more.
    fn own(&self, partitions: &[i32]) {
        let Ok(mut owned) = self.owned.lock() else {
            return;
        };
        for &partition in partitions {
            if owned.insert(partition) {
                self.lag_gauge(partition).set(0.0);
            }
        }
    }

    /// Revoked partitions' series are removed: their new owner exports them.
    fn disown(&self, partitions: &[i32]) {
        let Ok(mut owned) = self.owned.lock() else {
            return;
        };
        for partition in partitions {
            owned.remove(partition);
            let partition = partition.to_string();
            telemetry::remove_gauges(
                m::CONSUMER_LAG,
                &[("topic", &self.topic), ("partition", &partition)],
            );
        }
    }

    /// At shutdown: this process owns no partition any more.
    fn disown_all(&self) {
        let partitions: Vec<i32> = match self.owned.lock() {
            Ok(owned) => owned.iter().copied().collect(),
            Err(_) => return,
        };
        self.disown(&partitions);
    }
}

fn partitions_of(list: &TopicPartitionList, topic: &str) -> Vec<i32> {
    list.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

/// Which offsets of a partition are in flight, in read order.
#[derive(Debug, Default)]
struct PartitionState {
    epoch: u64,
    /// (offset, stored in Elasticsearch)
    in_flight: VecDeque<(i64, bool)>,
}

/// Tracks, per partition, the contiguous prefix of fully stored messages.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionState>,
    next_epoch: u64,
}

impl OffsetTracker {
    /// A partition was (re)assigned: start afresh with a new epoch.
    pub fn assign(&mut self, partition: i32) {
        self.next_epoch += 1;
        self.partitions.insert(
            partition,
            PartitionState {
                epoch: self.next_epoch,
                in_flight: VecDeque::new(),
            },
        );
    }

    /// A partition was revoked: late completions for it are ignored.
    pub fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Records a message read from `partition`; returns its reference, or None
    /// if the partition is not (or no longer) assigned.
    pub fn read(&mut self, partition: i32, offset: i64) -> Option<MessageRef> {
        let state = self.partitions.get_mut(&partition)?;
        state.in_flight.push_back((offset, false));
        Some(MessageRef {
            partition,
            offset,
            epoch: state.epoch,
        })
    }

    /// Marks messages stored; returns, per partition, the new next offset to
    /// commit when the contiguous prefix advanced.
    pub fn complete(&mut self, messages: &[MessageRef]) -> Vec<(i32, i64)> {
        let mut advanced: HashMap<i32, i64> = HashMap::new();
        for message in messages {
            let Some(state) = self.partitions.get_mut(&message.partition) else {
                continue;
            };
            if state.epoch != message.epoch {
                continue;
            }
            if let Ok(i) = state
                .in_flight
                .binary_search_by_key(&message.offset, |(o, _)| *o)
            {
                state.in_flight[i].1 = true;
            }
            while let Some(&(offset, true)) = state.in_flight.front() {
                state.in_flight.pop_front();
                advanced.insert(message.partition, offset + 1);
            }
        }
        let mut out: Vec<_> = advanced.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// The assignment generation of `partition`, if assigned.
    pub fn epoch(&self, partition: i32) -> Option<u64> {
        self.partitions.get(&partition).map(|s| s.epoch)
    }

    /// The partitions currently assigned.
    pub fn partitions(&self) -> Vec<i32> {
        self.partitions.keys().copied().collect()
    }

    /// Messages read but not yet stored, over all partitions.
    pub fn pending(&self) -> usize {
        self.partitions
            .values()
            .map(|s| s.in_flight.iter().filter(|(_, done)| !done).count())
            .sum()
    }
}

pub type IngestConsumer = StreamConsumer<IngestContext>;

/// How the consumer reaches Kafka and which group it joins.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// librdkafka's `topic.metadata.refresh.interval.ms`.
    pub metadata_refresh_interval: Duration,
    /// librdkafka's `queued.max.messages.kbytes`, in bytes.
    pub prefetch_bytes: usize,
    pub security: KafkaSecurity,
    /// `--kafka-consumer-config`, applied last: it overrides all of the above.
    pub properties: Vec<(String, String)>,
}

/// Creates the group consumer; it joins the group when it subscribes.
pub fn create_consumer(
    options: &ConsumerOptions,
) -> KafkaResult<(Arc<IngestConsumer>, StoredOffsets)> {
    let stored: StoredOffsets = Arc::default();
    let context = IngestContext {
        topic: options.topic.clone(),
        events: Mutex::default(),
        stored: stored.clone(),
        joined: AtomicBool::new(false),
        logs: KafkaLogs::new("consumer"),
        owned: Mutex::default(),
    };
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &options.brokers)
        .set("group.id", &options.group)
        .set("client.id", "ferrotrace-ingester")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Feeds the per-partition lag gauge (IngestContext::stats).
        .set("statistics.interval.ms", "5000")
        // librdkafka's 5 min would leave a topic created after start unread that long.
        .set(
            "topic.metadata.refresh.interval.ms",
            options.metadata_refresh_interval.as_millis().to_string(),
        )
        // librdkafka's 64 MiB of prefetched messages would be most of the memory.
        .set(
            "queued.max.messages.kbytes",
            (options.prefetch_bytes / 1024).max(1).to_string(),
        );
    options
        .security
        .apply(&mut client)
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    for (key, value) in &options.properties {
        client.set(key, value);
    }
    let consumer: IngestConsumer = client
        .create_with_context(context)
        .map_err(kafka_security::redact_error)?;
    Ok((Arc::new(consumer), stored))
}

/// Result of one bulk task, reported back to the poll loop.
struct Completion {
    messages: Vec<MessageRef>,
    /// Service/operation keys written by the bulk (see `BatchBuilder::services_stored`).
    services: Vec<u64>,
    /// The batch's sampled root spans, for adaptive sampling once stored.
    roots: sampling::throughput::Counts,
    /// The batch's spans, for the live dependencies once stored.
    spans: BatchSpans,
    outcome: Outcome,
    /// The reason when the messages were moved whole to the dead-letter
    /// topic rather than stored.
    dead_lettered: Option<&'static str>,
}

/// Everything the poll loop owns: the batch being built, the bulk tasks in
/// flight and the offsets waiting for them.
struct IngestLoop {
    topic: String,
    consumer: Arc<IngestConsumer>,
    stored: StoredOffsets,
    es: EsClient,
    builder: BatchBuilder,
    tracker: OffsetTracker,
    /// One permit per bulk request allowed in flight.
    slots: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// Dropped at drain so the channel closes when the last bulk task ends.
    done_tx: Option<mpsc::Sender<Completion>>,
    done_rx: mpsc::Receiver<Completion>,
    give_up: CancellationToken,
    /// Partitions paused because every bulk slot is busy and the batch is full.
    paused: bool,
    encoding: Encoding,
    dead_letters: DeadLetters,
    bulk_max_bytes: usize,
    metrics_gen: MetricsGenerator,
    /// Adaptive sampling's throughput (`--sampling-adaptive`), and the
    /// sampled root spans of the batch being built.
    sampling: Option<sampling::throughput::Recorder>,
    roots: sampling::throughput::Counts,
    /// Live dependency links (`--dependencies-live`), and the spans of the
    /// batch being built.
    live: Option<LiveLinks>,
    spans: BatchSpans,
    encoding_check: EncodingCheck,
    /// Dead letters of messages in the current batch that had spans the
    /// writer skipped, with their trace IDs: sent once the batch is stored.
    unwritable: Vec<(DeadLetter, Vec<String>)>,
    /// What the liveness watchdog reads.
    progress: Arc<Progress>,
    /// `--tail-sampling-config`: messages wait here for their trace's decision.
    tail: Option<TailSampler>,
    /// `messages_total{result="ok"}`, counted per message: the handle is
    /// held, as a `counter!` per message would look the series up each time.
    messages_ok: metrics::Counter,
    /// `inflight_bytes`, changed twice per bulk: held for the same reason.
    inflight_bytes: metrics::Gauge,
}

/// Where consumed messages go: documents to Elasticsearch through the batch
/// builder, messages that never decode to the dead-letter topic, and every
/// decoded request also through the metrics generator.
pub struct Sinks {
    pub es: EsClient,
    pub builder: BatchBuilder,
    pub dead_letters: DeadLetters,
    pub metrics_gen: MetricsGenerator,
    pub sampling: Option<sampling::throughput::Recorder>,
    pub tail_sampling: Option<TailSampler>,
    pub live: Option<LiveLinks>,
}

/// How the poll loop decodes, batches and bounds its work.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub topic: String,
    pub encoding: Encoding,
    /// Undecodable messages at the start of a partition that pause it (0: no check).
    pub encoding_check: usize,
    /// A batch is sent once it holds this many documents...
    pub bulk_actions: usize,
    /// ...or this many bytes...
    pub bulk_bytes: usize,
    /// ...or this long after its first document.
    pub flush_interval: Duration,
    /// Hard cap on one bulk request body.
    pub bulk_max_bytes: usize,
    /// Bulk requests in flight at once.
    pub bulk_workers: usize,
    /// How long a full batch waits for a bulk slot before the partitions pause.
    pub pause_after: Duration,
    /// Test only: stop iterating after this many messages, as a deadlock would.
    pub wedge_after_messages: Option<u64>,
}

/// Messages the loop reads one after another, at most, before it turns to
/// its timers and completions again (a full batch ends the run sooner).
const READ_AHEAD_MAX: usize = 64;

/// Consumes until `shutdown`, then drains in-flight bulks (until `give_up`) and commits.
pub async fn run(
    options: &LoopOptions,
    consumer: Arc<IngestConsumer>,
    stored: StoredOffsets,
    sinks: Sinks,
    progress: Arc<Progress>,
    shutdown: CancellationToken,
    give_up: CancellationToken,
) {
    let Sinks {
        es,
        builder,
        dead_letters,
        metrics_gen,
        sampling,
        tail_sampling,
        live,
    } = sinks;
    // At most one completion per in-flight bulk task, so this bound is never the limit.
    let (done_tx, done_rx) = mpsc::channel::<Completion>(options.bulk_workers * 2);
    let mut ingest = IngestLoop {
        topic: options.topic.clone(),
        consumer,
        stored,
        es,
        builder,
        tracker: OffsetTracker::default(),
        slots: Arc::new(Semaphore::new(options.bulk_workers)),
        tasks: JoinSet::new(),
        done_tx: Some(done_tx),
        done_rx,
        give_up,
        paused: false,
        encoding: options.encoding,
        dead_letters,
        bulk_max_bytes: options.bulk_max_bytes,
        metrics_gen,
        sampling,
        roots: Default::default(),
        live,
        spans: BatchSpans::default(),
        encoding_check: EncodingCheck::new(options.encoding_check),
        unwritable: Vec::new(),
        progress,
        tail: tail_sampling,
        messages_ok: metrics::counter!(m::MESSAGES, "result" => "ok"),
        inflight_bytes: metrics::gauge!(m::INFLIGHT_BYTES),
    };
    ingest.progress.advanced();
    // Test-only (a hidden flag): after this many messages the loop stops
    // iterating, as a deadlock would, to exercise the liveness watchdog.
    let mut wedge_in = options.wedge_after_messages;
    metrics::gauge!(m::UNDECODABLE_PAUSED_PARTITIONS).set(0.0);
    let flush_interval = options.flush_interval;
    let mut flush_tick = tokio::time::interval(flush_interval.max(Duration::from_millis(10)) / 2);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Service-graph spans expire on this tick, also while no message arrives.
    let mut sweep_tick = tokio::time::interval(metrics_gen::SWEEP_INTERVAL);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tail_tick = tokio::time::interval(tail_sampling::TICK);
    tail_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let consumer = ingest.consumer.clone();

    // When every bulk slot is busy and the batch is full, the loop stops
    // reading (librdkafka keeps prefetching into its bounded queue) and waits
    // for a slot. Normally one frees within milliseconds. If none has after
    // --kafka-pause-after (Elasticsearch slow or down), it pauses the
    // partitions and polls again, so the group membership
    // (max.poll.interval.ms) and rebalances stay served. Pausing at once
    // would be simpler but costly: librdkafka drops what it prefetched on
    // every pause and fetches it again on resume, once per bulk under a
    // backlog.
    let pause_after = options.pause_after;
    let mut waiting_since: Option<tokio::time::Instant> = None;
    // One stream for the loop's life: a stream per read would register and
    // remove its waker under a lock every time.
    let mut messages = consumer.stream();
    'consume: loop {
        let pause_at = waiting_since
            .filter(|_| !ingest.paused)
            .map(|since| since + pause_after);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = ingest.done_rx.recv() => ingest.completed(done),
            _ = flush_tick.tick() => {
                if ingest.builder.age().is_some_and(|age| age >= flush_interval) {
                    ingest.try_flush();
                }
            }
            _ = sweep_tick.tick() => ingest.metrics_gen.sweep(Instant::now()),
            _ = tail_tick.tick(), if ingest.tail.is_some() => ingest.release_decided(options),
            _ = sleep_until_some(pause_at), if pause_at.is_some() => ingest.pause(),
            Some(mut received) = messages.next(), if waiting_since.is_none() || ingest.paused => {
                // The messages librdkafka has already fetched are read here,
                // one after another, until the batch is full (or
                // READ_AHEAD_MAX of them), without another turn of the
                // select: its timers and channels cost more than a read, and
                // its code would push the writer's out of the cache.
                let mut read = 0;
                loop {
                    ingest.apply_rebalances();
                    match received {
                        Ok(message) => {
                            ingest.progress.advanced();
                            ingest.add(&message);
                            if let Some(left) = wedge_in.as_mut() {
                                *left = left.saturating_sub(1);
                                if *left == 0 {
                                    tracing::warn!("--test-wedge-after-messages: consume loop wedged");
                                    shutdown.cancelled().await;
                                    break 'consume;
                                }
                            }
                        }
                        Err(error) => {
                            // Broker trouble surfaces here repeatedly; librdkafka reconnects by itself.
                            consumer.context().logs.error(&error, "");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue 'consume;
                        }
                    }
                    read += 1;
                    if read == READ_AHEAD_MAX
                        || ingest.builder.is_full(options.bulk_actions, options.bulk_bytes)
                    {
                        break;
                    }
                    match messages.next().now_or_never() {
                        Some(Some(next)) => received = next,
                        _ => break,
                    }
                }
            }
        }
        // Waiting (then paused) exactly while a full batch waits for a bulk
        // slot (the batch may also have left through the flush tick).
        let full = ingest
            .builder
            .is_full(options.bulk_actions, options.bulk_bytes);
        if full && !ingest.try_flush() {
            waiting_since.get_or_insert_with(tokio::time::Instant::now);
        } else {
            waiting_since = None;
            ingest.resume();
        }
    }
    drop(messages);
    ingest.drain().await;
}

/// The dead-letter reason, text and "in the topic's encoding" flag of an
/// `otlp_proto` value prost cannot decode.
fn undecodable_request(error: &prost::DecodeError) -> (&'static str, String, bool) {
    (
        "undecodable",
        format!("invalid ExportTraceServiceRequest: {error}"),
        false,
    )
}

/// Sleeps until `at`; `None` never completes (the select guard keeps it off).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl IngestLoop {
    /// Decodes one message and appends its documents to the current batch.
    fn add(&mut self, message: &BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        if self.encoding_check.is_paused(partition) {
            // Fetched before the pause: read again once the flag is fixed.
            return;
        }
        let Some(reference) = self.tracker.read(partition, offset) else {
            // librdkafka fetches only assigned partitions, so an assignment was
            // missed: loud, because the partition stalls until the next rebalance.
            tracing::warn!(
                partition,
                offset,
                "message of a partition not known as assigned skipped"
            );
            return;
        };
        let (key, value) = (message.key(), message.payload().unwrap_or_default());
        if self.tail.is_some() && self.hold_for_tail_sampling(reference, key, value) {
            return;
        }
        self.write(reference, key, value, true);
    }

    /// Appends a message's documents to the current batch (or sends it to
    /// the dead-letter topic). `arriving`: it was just read, so it is
    /// counted and the metrics generator sees it; false for a message tail
    /// sampling held, which was counted and seen when it arrived.
    fn write(&mut self, reference: MessageRef, key: Option<&[u8]>, value: &[u8], arriving: bool) {
        let partition = reference.partition;
        // The documents go into the batch, and the number of spans skipped
        // for invalid IDs comes back; or the error's label and text, and
        // whether the message was in the topic's encoding (a Jaeger span its
        // translation refuses is).
        let written = match kafka_codec::decode(self.encoding, value) {
            Ok(otlp) => {
                // One walk of the OTLP wire writes the documents and hands
                // each span's view to the metrics generator and the
                // adaptive-sampling counts: no decode into prost structs. A
                // message tail sampling held was seen by both at arrival.
                let at = ObservedAt::now();
                let (metrics_gen, roots) = (&mut self.metrics_gen, &mut self.roots);
                let count_roots = arriving && self.sampling.is_some();
                let link = self.live.is_some();
                let mut link_spans = Vec::new();
                let written = self
                    .builder
                    .add_encoded_visiting(reference, &otlp, |span| {
                        if arriving {
                            metrics_gen.observe(&span, at);
                        }
                        if count_roots {
                            roots.observe(&span);
                        }
                        if link {
                            link_spans.extend(dependencies::live::link_span(&span));
                        }
                    })
                    .map_err(|e| undecodable_request(&e));
                if written.is_ok() && link {
                    // Counted once the batch is stored.
                    self.spans.push(reference, link_spans);
                }
                written
            }
            Err(error) => {
                let in_encoding = matches!(error, CodecError::Refused { .. });
                Err((error.label(), error.to_string(), in_encoding))
            }
        };
        match written {
            Ok(skipped) => {
                if arriving {
                    self.messages_ok.increment(1);
                }
                for (held, letter) in self.encoding_check.decoded(partition) {
                    self.dead_letter(held, letter);
                }
                if skipped > 0 {
                    // Stored but for these spans: the message also goes to
                    // the dead-letter topic once its batch is stored. Rare:
                    // the request is decoded (again) to describe them.
                    metrics::counter!(m::SPANS_SKIPPED).increment(skipped as u64);
                    let request = kafka_codec::decode(self.encoding, value)
                        .ok()
                        .and_then(|otlp| ExportTraceServiceRequest::decode(&*otlp).ok())
                        .unwrap_or_default();
                    let unwritable = Unwritable::of(&request, skipped);
                    tracing::warn!(
                        partition,
                        offset = reference.offset,
                        skipped,
                        trace_ids = ?unwritable.trace_ids,
                        error = %unwritable.error,
                        "spans with malformed IDs not indexed; the message goes to the dead-letter topic"
                    );
                    let letter =
                        self.letter(reference, key, value, "invalid_span", unwritable.error);
                    self.unwritable.push((letter, unwritable.trace_ids));
                }
            }
            Err((reason, error, in_encoding)) => {
                // It can never be stored: move it to the dead-letter topic,
                // and let its offset advance once that topic has it, unless
                // it looks like the whole partition is read wrongly.
                metrics::counter!(m::MESSAGES, "result" => "undecodable").increment(1);
                if in_encoding {
                    for (held, letter) in self.encoding_check.decoded(partition) {
                        self.dead_letter(held, letter);
                    }
                }
                let letter = self.letter(reference, key, value, reason, error.clone());
                match self.encoding_check.undecodable(reference, letter) {
                    Verdict::DeadLetter(reference, letter) => self.dead_letter(reference, letter),
                    Verdict::Held => {}
                    Verdict::Pause => self.pause_for_encoding(partition, &error),
                }
            }
        }
    }

    /// A dead letter of a message as read: key and value unchanged.
    fn letter(
        &self,
        reference: MessageRef,
        key: Option<&[u8]>,
        value: &[u8],
        reason: &'static str,
        error: String,
    ) -> DeadLetter {
        DeadLetter {
            source_topic: self.topic.clone(),
            partition: reference.partition,
            offset: reference.offset,
            key: key.map(<[u8]>::to_vec),
            value: value.to_vec(),
            reason,
            error,
        }
    }

    /// Tail sampling (docs/design.md §3.4): the metrics generator sees the
    /// message now, and the message waits for its trace's decision, or
    /// follows one already made. False when tail sampling passes it on
    /// (it does not decode, or names no trace): it is written as usual.
    fn hold_for_tail_sampling(
        &mut self,
        reference: MessageRef,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> bool {
        let Some(tail) = self.tail.as_mut() else {
            return false;
        };
        let Ok(otlp) = kafka_codec::decode(self.encoding, value) else {
            return false;
        };
        let arrival = tail.arrive(&otlp, reference, key, value, Instant::now());
        if matches!(arrival, Arrival::Pass) {
            return false;
        }
        self.messages_ok.increment(1);
        // It decodes: the partition is read in the right encoding.
        for (held, letter) in self.encoding_check.decoded(reference.partition) {
            self.dead_letter(held, letter);
        }
        // The metrics generator and the adaptive-sampling counts see every
        // span, kept or not, as it arrives.
        if self.metrics_gen.is_enabled() || self.sampling.is_some() {
            let at = ObservedAt::now();
            let (metrics_gen, roots) = (&mut self.metrics_gen, &mut self.roots);
            let count_roots = self.sampling.is_some();
            // `arrive` walked these bytes already: they are well-formed.
            let _ = span_view::for_each_span(&otlp, |span| {
                metrics_gen.observe(&span, at);
                if count_roots {
                    roots.observe(&span);
                }
            });
        }
        match arrival {
            Arrival::Follow { keep: true } => self.write(reference, key, value, false),
            Arrival::Follow { keep: false } => self.complete_dropped(&[reference]),
            Arrival::Held | Arrival::Pass => {}
        }
        // Over the byte or trace budget: the oldest traces are decided now.
        while let Some(decided) = self
            .tail
            .as_mut()
            .and_then(|t| t.next_early(Instant::now()))
        {
            self.apply_decision(decided);
        }
        true
    }

    /// On the tail-sampling tick: applies the decisions due, while the batch
    /// has room (a full batch waits for a bulk slot like any other).
    fn release_decided(&mut self, options: &LoopOptions) {
        let now = Instant::now();
        while !self
            .builder
            .is_full(options.bulk_actions, options.bulk_bytes)
        {
            let Some(decided) = self.tail.as_mut().and_then(|t| t.next_due(now)) else {
                break;
            };
            self.apply_decision(decided);
        }
        // Holding traces younger than decision_wait is progress by design;
        // decisions due but held back by a full batch are not.
        if self
            .tail
            .as_mut()
            .is_some_and(|t| !t.is_empty() && !t.has_due(now))
        {
            self.progress.advanced();
        }
    }

    /// A decided trace: kept messages are written as if they had just
    /// arrived; dropped ones count as done, so their offsets may advance.
    fn apply_decision(&mut self, decided: Decided) {
        if decided.keep {
            for held in decided.messages {
                self.write(held.reference, held.key.as_deref(), &held.value, false);
            }
        } else {
            let references: Vec<MessageRef> =
                decided.messages.iter().map(|h| h.reference).collect();
            self.complete_dropped(&references);
        }
    }

    fn complete_dropped(&mut self, references: &[MessageRef]) {
        let advanced = self.tracker.complete(references);
        self.store(advanced);
    }

    /// Moves an undecodable message to the dead-letter topic; its offset
    /// advances once the topic acknowledged it.
    fn dead_letter(&mut self, reference: MessageRef, letter: DeadLetter) {
        let Some(done_tx) = self.done_tx.clone() else {
            return;
        };
        let (dead_letters, give_up) = (self.dead_letters.clone(), self.give_up.clone());
        let encoding = self.encoding;
        self.tasks.spawn(async move {
            let sent = dead_letters.send(&letter, &give_up).await;
            let outcome = if sent {
                tracing::error!(
                    error = %letter.error,
                    partition = letter.partition,
                    offset = letter.offset,
                    bytes = letter.value.len(),
                    %encoding,
                    dlq = dead_letters.topic(),
                    "undecodable message sent to the dead-letter topic"
                );
                Outcome::Stored {
                    spans: 0,
                    rejected: Vec::new(),
                }
            } else {
                Outcome::Abandoned
            };
            let _ = done_tx
                .send(Completion {
                    messages: vec![reference],
                    services: Vec::new(),
                    roots: Default::default(),
                    spans: BatchSpans::default(),
                    outcome,
                    dead_lettered: Some(letter.reason),
                })
                .await;
        });
    }

    /// The first `--kafka-encoding-check` messages of `partition` all failed
    /// to decode: stop reading it rather than dead-letter the whole topic.
    fn pause_for_encoding(&mut self, partition: i32, error: &str) {
        // Its lag is the operator's to fix: a restart would not.
        self.progress.park(partition);
        tracing::error!(
            partition,
            topic = %self.topic,
            encoding = %self.encoding,
            %error,
            "the first messages of this partition all failed to decode: --kafka-encoding is \
             probably wrong (the producer writes another encoding). The partition is paused, \
             nothing of it is committed or dead-lettered; fix --kafka-encoding and restart, or \
             set --kafka-encoding-check=0 to move undecodable messages to the dead-letter topic"
        );
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        if let Err(error) = self.consumer.pause(&list) {
            tracing::warn!(%error, partition, "pausing the partition failed");
        }
        metrics::gauge!(m::UNDECODABLE_PAUSED_PARTITIONS).set(self.encoding_check.paused() as f64);
    }

    /// Applies the rebalances librdkafka reported since the last poll.
    fn apply_rebalances(&mut self) {
        for event in self.consumer.context().drain() {
            match event {
                Assignment::Assigned(partitions) => {
                    partitions.iter().for_each(|&p| self.tracker.assign(p));
                    if let Some(live) = &self.live {
                        for &p in &partitions {
                            live.assign(p, self.tracker.epoch(p).unwrap_or_default());
                        }
                    }
                    partitions
                        .iter()
                        .for_each(|&p| self.encoding_check.assign(p));
                    if self.paused {
                        // New partitions wait with the others for a free bulk slot.
                        self.set_paused(&partitions, true);
                    }
                }
                Assignment::Revoked(partitions) => {
                    for p in partitions {
                        self.tracker.revoke(p);
                        if let Some(tail) = self.tail.as_mut() {
                            tail.revoke(p);
                        }
                        if let Some(live) = &self.live {
                            live.revoke(p);
                        }
                        self.encoding_check.revoke(p);
                        self.progress.unpark(p);
                        if let Ok(mut stored) = self.stored.lock() {
                            stored.remove(&p);
                        }
                    }
                    metrics::gauge!(m::UNDECODABLE_PAUSED_PARTITIONS)
                        .set(self.encoding_check.paused() as f64);
                    if self.paused {
                        let paused = self.tracker.partitions().len();
                        metrics::gauge!(m::PAUSED_PARTITIONS).set(paused as f64);
                    }
                }
            }
        }
    }

    /// Records a finished bulk request: its messages' offsets may advance.
    fn completed(&mut self, done: Completion) {
        self.progress.advanced();
        if let Outcome::Stored { .. } = done.outcome {
            self.builder.services_stored(&done.services);
            if let Some(recorder) = &self.sampling {
                recorder.stored(done.roots);
            }
            let count = done.messages.len() as u64;
            match done.dead_lettered {
                Some(reason) => metrics::counter!(m::MESSAGES_DEAD_LETTERED, "reason" => reason)
                    .increment(count),
                None => metrics::counter!(m::MESSAGES_STORED).increment(count),
            }
            let advanced = self.tracker.complete(&done.messages);
            if let Some(live) = &self.live {
                live.stored(done.spans, &advanced);
            }
            self.store(advanced);
        }
    }

    /// Stores offsets for commit. `store_offsets` keeps the value as given (the
    /// next offset to read); `store_offset` would add one and skip a message on restart.
    fn store(&self, advanced: Vec<(i32, i64)>) {
        for (partition, next) in advanced {
            let mut list = TopicPartitionList::new();
            let result = list
                .add_partition_offset(&self.topic, partition, Offset::Offset(next))
                .and_then(|()| self.consumer.store_offsets(&list));
            match result {
                Ok(()) => {
                    if let Ok(mut stored) = self.stored.lock() {
                        stored.insert(partition, next);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, partition, next, "offset not stored (partition revoked?)")
                }
            }
        }
    }

    /// Hands the current batch to a bulk task if a slot is free; false when
    /// every slot is busy (the batch stays and keeps filling).
    fn try_flush(&mut self) -> bool {
        if self.builder.is_empty() {
            return true;
        }
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.spawn_bulk(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Hands the current batch to a bulk task, waiting for a free slot while
    /// still recording completions (shutdown only: the poll loop never waits).
    async fn flush(&mut self) {
        if self.builder.is_empty() {
            return;
        }
        let permit = loop {
            tokio::select! {
                biased;
                Some(done) = self.done_rx.recv() => self.completed(done),
                permit = self.slots.clone().acquire_owned() => match permit {
                    Ok(permit) => break permit,
                    Err(_) => return,
                },
            }
        };
        self.spawn_bulk(permit);
    }

    fn spawn_bulk(&mut self, permit: OwnedSemaphorePermit) {
        let Some(mut batch) = self.builder.take() else {
            return;
        };
        while let Some(finished) = self.tasks.try_join_next() {
            if let Err(error) = finished {
                tracing::error!(%error, "bulk task failed");
            }
        }
        let Some(done_tx) = self.done_tx.clone() else {
            return;
        };
        let (es, give_up, max_bytes) = (self.es.clone(), self.give_up.clone(), self.bulk_max_bytes);
        let bodies = self.builder.body_pool();
        let (dead_letters, topic) = (self.dead_letters.clone(), self.topic.clone());
        let unwritable = std::mem::take(&mut self.unwritable);
        let roots = std::mem::take(&mut self.roots);
        let spans = self.spans.take();
        let bytes = batch.bytes() as f64;
        let inflight_bytes = self.inflight_bytes.clone();
        inflight_bytes.increment(bytes);
        self.tasks.spawn(async move {
            let messages = std::mem::take(&mut batch.messages);
            let services = std::mem::take(&mut batch.services);
            let mut outcome = bulk::send(&es, batch, max_bytes, &give_up, &bodies).await;
            inflight_bytes.decrement(bytes);
            // Documents refused for good are moved, not dropped: the messages
            // count as done only once the dead-letter topic has them.
            if let Outcome::Stored { rejected, .. } = &outcome {
                for doc in rejected {
                    let letter = DeadLetter {
                        source_topic: topic.clone(),
                        partition: doc.message.partition,
                        offset: doc.message.offset,
                        key: None,
                        value: doc.doc.clone(),
                        reason: "rejected_by_elasticsearch",
                        error: format!("{} {}: {}", doc.kind.label(), doc.status, doc.error),
                    };
                    if !dead_letters.send(&letter, &give_up).await {
                        outcome = Outcome::Abandoned;
                        break;
                    }
                }
            }
            if let Outcome::Stored { .. } = &outcome {
                for (letter, trace_ids) in &unwritable {
                    if !dead_letters.send(letter, &give_up).await {
                        outcome = Outcome::Abandoned;
                        break;
                    }
                    tracing::warn!(
                        partition = letter.partition,
                        offset = letter.offset,
                        ?trace_ids,
                        error = %letter.error,
                        dlq = dead_letters.topic(),
                        "message with spans not indexed sent to the dead-letter topic"
                    );
                }
            }
            // The slot frees first, so the loop can send the next batch as soon as it hears of this one.
            drop(permit);
            let _ = done_tx
                .send(Completion {
                    messages,
                    services,
                    roots,
                    spans,
                    outcome,
                    dead_lettered: None,
                })
                .await;
        });
    }

    /// Stops fetching from every assigned partition until a bulk slot frees
    /// up (after a full batch waited --kafka-pause-after for one).
    fn pause(&mut self) {
        if self.paused {
            return;
        }
        let partitions = self.tracker.partitions();
        tracing::debug!(
            partitions = partitions.len(),
            pending = self.tracker.pending(),
            "every bulk request has been in flight for a while and the next one is full: consumption paused"
        );
        self.set_paused(&partitions, true);
        self.paused = true;
    }

    fn resume(&mut self) {
        if !self.paused {
            return;
        }
        let mut partitions = self.tracker.partitions();
        partitions.retain(|&p| !self.encoding_check.is_paused(p));
        tracing::debug!(partitions = partitions.len(), "consumption resumed");
        self.set_paused(&partitions, false);
        self.paused = false;
    }

    fn set_paused(&self, partitions: &[i32], pause: bool) {
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition(&self.topic, p);
        }
        let result = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(error) = result {
            tracing::warn!(%error, pause, "pausing or resuming partitions failed");
        }
        let paused = if pause {
            self.tracker.partitions().len()
        } else {
            0
        };
        metrics::gauge!(m::PAUSED_PARTITIONS).set(paused as f64);
    }

    /// Sends what is batched, waits for in-flight bulks (until `give_up`), commits.
    async fn drain(mut self) {
        tracing::info!(
            pending = self.tracker.pending(),
            "draining in-flight bulk requests"
        );
        self.flush().await;
        self.done_tx = None;
        loop {
            tokio::select! {
                done = self.done_rx.recv() => match done {
                    Some(done) => self.completed(done),
                    None => break,
                },
                _ = self.give_up.cancelled() => {
                    tracing::warn!(pending = self.tracker.pending(), "shutdown timeout: in-flight bulks abandoned, their offsets are not committed");
                    break;
                }
            }
        }
        self.tasks.abort_all();
        commit_stored(&self.consumer, &self.topic, &self.stored);
        self.consumer.context().disown_all();
        metrics::gauge!(m::PAUSED_PARTITIONS).set(0.0);
    }
}

/// Commits the stored offsets synchronously (shutdown).
fn commit_stored(consumer: &IngestConsumer, topic: &str, stored: &StoredOffsets) {
    let mut list = TopicPartitionList::new();
    if let Ok(stored) = stored.lock() {
        for (&partition, &next) in stored.iter() {
            let _ = list.add_partition_offset(topic, partition, Offset::Offset(next));
        }
    }
    if list.count() == 0 {
        return;
    }
    match consumer.commit(&list, CommitMode::Sync) {
        Ok(()) => tracing::info!(partitions = list.count(), "offsets committed at shutdown"),
        Err(error) => {
            tracing::warn!(%error, "final offset commit failed; some messages will be read again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(tracker: &mut OffsetTracker, partition: i32, offsets: &[i64]) -> Vec<MessageRef> {
        offsets
            .iter()
            .map(|&o| tracker.read(partition, o).unwrap())
            .collect()
    }

    #[test]
    fn commits_only_contiguous_offsets() {
        let mut tracker = OffsetTracker::default();
        tracker.assign(0);
        let r = refs(&mut tracker, 0, &[10, 11, 12, 13]);
        // Later messages finish first: nothing may be committed yet.
        assert_eq!(tracker.complete(&[r[1], r[3]]), vec![]);
        assert_eq!(tracker.complete(&[r[0]]), vec![(0, 12)]);
        assert_eq!(tracker.complete(&[r[2]]), vec![(0, 14)]);
        assert_eq!(tracker.pending(), 0);
    }

    #[test]
    fn partitions_advance_independently() {
        let mut tracker = OffsetTracker::default();
        tracker.assign(0);
        tracker.assign(1);
        let a = refs(&mut tracker, 0, &[5, 6]);
        let b = refs(&mut tracker, 1, &[100]);
        assert_eq!(tracker.complete(&[a[1], b[0]]), vec![(1, 101)]);
        assert_eq!(tracker.complete(&[a[0]]), vec![(0, 7)]);
    }

    #[test]
    fn lag_counts_from_the_first_offset_not_stored() {
        // (high watermark, stored, committed, log start)
        assert_eq!(unstored_messages(100, 60, 40, 0), Some(40), "stored wins");
        assert_eq!(
            unstored_messages(100, -1001, 40, 0),
            Some(60),
            "just taken over: committed"
        );
        assert_eq!(
            unstored_messages(100, -1001, -1001, 10),
            Some(90),
            "nothing committed: from the log start"
        );
        assert_eq!(
            unstored_messages(-1001, 60, 40, 0),
            None,
            "watermark unknown"
        );
        assert_eq!(unstored_messages(100, -1001, -1001, -1), None);
        assert_eq!(unstored_messages(8, 12, 12, 0), Some(0), "never negative");
    }

    #[test]
    fn completions_from_before_a_revocation_are_ignored() {
        let mut tracker = OffsetTracker::default();
        tracker.assign(3);
        let old = refs(&mut tracker, 3, &[40]);
        tracker.revoke(3);
        assert!(
            tracker.read(3, 41).is_none(),
            "a revoked partition is not tracked"
        );
        tracker.assign(3);
        let new = refs(&mut tracker, 3, &[40]);
        assert_ne!(old[0].epoch, new[0].epoch);
        assert_eq!(
            tracker.complete(&old),
            vec![],
            "a stale completion must not commit"
        );
        assert_eq!(tracker.complete(&new), vec![(3, 41)]);
    }
}
