//! Names and descriptions of the ingester's metrics, in one place, and the
//! series that exist from start-up ([`register`]).

use ferrotrace_common::telemetry::MetricsLayout;
use ferrotrace_format::kafka_codec::{CodecError, Encoding};
use metrics::{describe_counter, describe_histogram, Unit};

use crate::es::bulk::DocKind;

/// Kafka messages consumed, by result (`ok`, `undecodable`).
pub const MESSAGES: &str = "ferrotrace_ingester_messages_total";
/// Spans stored in Elasticsearch.
pub const SPANS_INDEXED: &str = "ferrotrace_ingester_spans_indexed_total";
/// Spans not indexed because their trace, span, parent or link ID was
/// malformed; their message goes to the dead-letter topic (`invalid_span`).
pub const SPANS_SKIPPED: &str = "ferrotrace_ingester_spans_skipped_total";
/// Documents Elasticsearch rejected permanently, by index kind.
pub const DOCS_REJECTED: &str = "ferrotrace_ingester_documents_rejected_total";
/// Bulk items Elasticsearch did not store, by HTTP status (retried or rejected).
pub const BULK_ITEM_FAILURES: &str = "ferrotrace_ingester_bulk_item_failures_total";
/// Bulk requests, by result (`ok`, `retry`, `partial`).
pub const BULK_REQUESTS: &str = "ferrotrace_ingester_bulk_requests_total";
/// Duration of one bulk HTTP request.
pub const BULK_DURATION: &str = "ferrotrace_ingester_bulk_duration_seconds";
/// Messages whose spans are all stored (their offsets may then be committed).
pub const MESSAGES_STORED: &str = "ferrotrace_ingester_messages_stored_total";

/// Traces decided by tail sampling, by the deciding policy (`none`: no
/// policy sampled it) and decision (`kept`, `dropped`).
pub const TAIL_SAMPLING_TRACES: &str = "ferrotrace_ingester_tail_sampling_traces_total";
/// Spans kept or dropped by tail sampling, late spans following a cached
/// decision included, by policy and decision.
pub const TAIL_SAMPLING_SPANS: &str = "ferrotrace_ingester_tail_sampling_spans_total";
/// From a trace's first message to its tail-sampling decision.
pub const TAIL_SAMPLING_DECISION_LATENCY: &str =
    "ferrotrace_ingester_tail_sampling_decision_latency_seconds";
/// Bytes of messages held for tail sampling (their bytes plus bookkeeping).
pub const TAIL_SAMPLING_BUFFER_BYTES: &str = "ferrotrace_ingester_tail_sampling_buffer_bytes";
/// Undecided traces held for tail sampling.
pub const TAIL_SAMPLING_BUFFER_TRACES: &str = "ferrotrace_ingester_tail_sampling_buffer_traces";
/// Traces decided before `decision_wait`, by reason (`max_bytes`, `num_traces`).
pub const TAIL_SAMPLING_EARLY_DECISIONS: &str =
    "ferrotrace_ingester_tail_sampling_early_decisions_total";

/// Partitions paused because every bulk request slot is busy.
pub const PAUSED_PARTITIONS: &str = "ferrotrace_ingester_paused_partitions";
/// Rebalance events, by event (`assigned`, `revoked`).
pub const REBALANCES: &str = "ferrotrace_ingester_rebalances_total";

/// Dead letters the dead-letter topic acknowledged, by reason.
pub const DEAD_LETTERS: &str = "ferrotrace_ingester_dead_letters_total";
/// Kafka messages moved whole to the dead-letter topic instead of being
/// stored (not counted in [`MESSAGES_STORED`]), by reason.
pub const MESSAGES_DEAD_LETTERED: &str = "ferrotrace_ingester_messages_dead_lettered_total";
/// Partitions paused because their first `--kafka-encoding-check` messages
/// all failed to decode (`--kafka-encoding` is probably wrong).
pub const UNDECODABLE_PAUSED_PARTITIONS: &str = "ferrotrace_ingester_undecodable_paused_partitions";

/// Messages of a partition not yet stored in Elasticsearch (high watermark minus stored offset), by topic and partition;
/// only while the partition is assigned here (see `consumer`).
pub const CONSUMER_LAG: &str = "ferrotrace_ingester_consumer_lag_messages";

/// Bytes of bulk request bodies sent (retries included).
pub const BULK_BYTES: &str = "ferrotrace_ingester_bulk_bytes_total";
/// Bytes of batches handed to bulk tasks and not yet finished.
pub const INFLIGHT_BYTES: &str = "ferrotrace_ingester_inflight_bytes";

/// Spans counted under the overflow series `{metric_overflow="true"}` because
/// their processor reached `--span-metrics-max-series`, by processor.
pub const METRICS_GEN_OVERFLOW: &str = "ferrotrace_ingester_metrics_generator_overflow_total";
/// Label sets a metrics-generator processor has created, by processor.
pub const METRICS_GEN_LABEL_SETS: &str = "ferrotrace_ingester_metrics_generator_label_sets";
/// Spans left out of the span metrics and the service graph, by reason
/// (`too_old`: ended longer than `--metrics-max-span-age` before it was read).
pub const METRICS_GEN_SPANS_SKIPPED: &str =
    "ferrotrace_ingester_metrics_generator_spans_skipped_total";
/// Client or server spans waiting for their other half in the service graph.
pub const SG_WAITING: &str = "ferrotrace_ingester_service_graph_waiting_spans";
/// `--service-graph-max-items`, so that a rule can tell a full store.
pub const SG_MAX_WAITING: &str = "ferrotrace_ingester_service_graph_max_waiting_spans";

/// Adaptive sampling calculations run (on the leader, the owner of partition 0).
pub const SAMPLING_CALCULATIONS: &str = "ferrotrace_ingester_sampling_calculations_total";
/// Adaptive sampling store failures, by operation (`write_throughput`,
/// `read_throughput`, `write_probabilities`, `read_probabilities`, `publish`).
pub const SAMPLING_STORE_ERRORS: &str = "ferrotrace_ingester_sampling_store_errors_total";
/// 1 while this ingester computes the adaptive sampling probabilities.
pub const SAMPLING_LEADER: &str = "ferrotrace_ingester_sampling_leader";
/// Operations in the last adaptive sampling calculation.
pub const SAMPLING_OPERATIONS: &str = "ferrotrace_ingester_sampling_operations";
/// Sampled root spans not counted because an interval reached the operation limit.
pub const SAMPLING_ROOT_SPANS_OVERFLOW: &str =
    "ferrotrace_ingester_sampling_root_spans_overflow_total";
/// Every operation label of [`SAMPLING_STORE_ERRORS`].
pub const SAMPLING_STORE_OPERATIONS: &[&str] = &[
    "write_throughput",
    "read_throughput",
    "write_probabilities",
    "read_probabilities",
    "publish",
];

/// Live dependency links written: (parent, child) rows of the documents
/// rewritten (`--dependencies-live`).
pub const DEPENDENCIES_LINKS_WRITTEN: &str = "ferrotrace_ingester_dependencies_links_written_total";
/// Live dependency document writes, by result (`ok`, `conflict`, `error`).
pub const DEPENDENCIES_WRITES: &str = "ferrotrace_ingester_dependencies_writes_total";
/// Traces finished before `--dependencies-trace-wait` because the pairing
/// window held `--dependencies-max-spans` spans (their links are counted
/// from the spans they had).
pub const DEPENDENCIES_WINDOW_OVERFLOWS: &str =
    "ferrotrace_ingester_dependencies_window_overflows_total";
/// Spans waiting in the live dependencies' pairing window.
pub const DEPENDENCIES_WAITING_SPANS: &str = "ferrotrace_ingester_dependencies_waiting_spans";

// Grafana Tempo's metrics-generator names, so Grafana's service graph and
// span metrics panels work unchanged (see `metrics_gen`).
pub const SG_REQUESTS: &str = "traces_service_graph_request_total";
pub const SG_REQUESTS_FAILED: &str = "traces_service_graph_request_failed_total";
pub const SG_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
pub const SG_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
pub const SG_UNPAIRED_SPANS: &str = "traces_service_graph_unpaired_spans_total";
pub const SG_DROPPED_SPANS: &str = "traces_service_graph_dropped_spans_total";
pub const SPANMETRICS_CALLS: &str = "traces_spanmetrics_calls_total";
pub const SPANMETRICS_LATENCY: &str = "traces_spanmetrics_latency";

// The OpenTelemetry spanmetrics connector's names as its Prometheus exporter
// writes them (namespace `traces.span.metrics`, unit ms), which Jaeger's
// Monitor tab queries (`--span-metrics-names`).
pub const CONNECTOR_CALLS: &str = "traces_span_metrics_calls_total";
pub const CONNECTOR_DURATION: &str = "traces_span_metrics_duration_milliseconds";

/// Tempo's default service-graph buckets: 0.1 s doubling eight times.
pub const SERVICE_GRAPH_BUCKETS: &[f64] = &[0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
/// Tempo's default span-metrics buckets: 2 ms doubling fourteen times.
pub const SPAN_METRICS_BUCKETS: &[f64] = &[
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// The spanmetrics connector's default buckets, in milliseconds.
pub const CONNECTOR_BUCKETS_MS: &[f64] = &[
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

/// Gauges whose series are removed when what they describe is gone: a
/// partition's lag when it is revoked and at shutdown.
pub const REMOVABLE_GAUGES: &[&str] = &[CONSUMER_LAG];

/// How the recorder treats the metrics above (see `telemetry::MetricsLayout`):
/// the binary installs it and the metrics-generator's tests and benchmark
/// use it.
pub const LAYOUT: MetricsLayout<'static> = MetricsLayout {
    latency_histograms: HISTOGRAMS,
    bucketed_histograms: HISTOGRAM_BUCKETS,
    removable_gauges: REMOVABLE_GAUGES,
    plain_counters: PER_SPAN_COUNTERS,
};

/// Histograms with the common latency buckets.
pub const HISTOGRAMS: &[&str] = &[BULK_DURATION];
/// Histograms with buckets of their own (Tempo's), counted straight into
/// their buckets: the metrics-generator records them per span.
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (SG_SERVER_SECONDS, SERVICE_GRAPH_BUCKETS),
    (SG_CLIENT_SECONDS, SERVICE_GRAPH_BUCKETS),
    (SPANMETRICS_LATENCY, SPAN_METRICS_BUCKETS),
    (CONNECTOR_DURATION, CONNECTOR_BUCKETS_MS),
    (TAIL_SAMPLING_DECISION_LATENCY, TAIL_SAMPLING_BUCKETS),
];

/// Counters the metrics-generator increments per span (or per pair of
/// spans), kept as bare atomics.
pub const PER_SPAN_COUNTERS: &[&str] = &[
    SG_REQUESTS,
    SG_REQUESTS_FAILED,
    SG_UNPAIRED_SPANS,
    SG_DROPPED_SPANS,
    SPANMETRICS_CALLS,
    CONNECTOR_CALLS,
];

/// Decision latencies sit at `decision_wait` (30 s by default, often 5-60 s)
/// plus up to one tick, or below it when decided early.
const TAIL_SAMPLING_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 10.5, 15.0, 20.0, 30.0, 30.5, 45.0, 60.0, 61.0, 120.0, 300.0,
];

/// Creates, at 0, every series the shipped dashboards and alerts query whose
/// labels are known at start, so a panel shows 0 rather than "No data" and
/// `rate()` sees the first event. The lag of a partition appears when it is
/// assigned (`consumer`); the service graph's and span metrics' series depend
/// on the spans seen.
pub fn register(encoding: Encoding) {
    for result in ["ok", "undecodable"] {
        metrics::counter!(MESSAGES, "result" => result).increment(0);
    }
    for result in ["ok", "retry", "partial"] {
        metrics::counter!(BULK_REQUESTS, "result" => result).increment(0);
    }
    // Elasticsearch's statuses are not known in advance; 429 (too many
    // requests) is the one it answers when it pushes back.
    metrics::counter!(BULK_ITEM_FAILURES, "status" => "429").increment(0);
    for kind in [DocKind::Span, DocKind::Service] {
        metrics::counter!(DOCS_REJECTED, "kind" => kind.label()).increment(0);
    }
    let undecodable = (encoding == Encoding::OtlpProto).then_some("undecodable");
    let moved_whole: Vec<&'static str> = CodecError::labels(encoding)
        .into_iter()
        .chain(undecodable)
        .collect();
    for &reason in &moved_whole {
        metrics::counter!(MESSAGES_DEAD_LETTERED, "reason" => reason).increment(0);
    }
    for reason in moved_whole
        .into_iter()
        .chain(["invalid_span", "rejected_by_elasticsearch"])
    {
        metrics::counter!(DEAD_LETTERS, "reason" => reason).increment(0);
    }
    for event in ["assigned", "revoked"] {
        metrics::counter!(REBALANCES, "event" => event).increment(0);
    }
    for counter in [SPANS_INDEXED, SPANS_SKIPPED, MESSAGES_STORED, BULK_BYTES] {
        metrics::counter!(counter).increment(0);
    }
    for gauge in [
        PAUSED_PARTITIONS,
        UNDECODABLE_PAUSED_PARTITIONS,
        INFLIGHT_BYTES,
    ] {
        metrics::gauge!(gauge).increment(0.0);
    }
    let _ = metrics::histogram!(BULK_DURATION);
    for counter in [SAMPLING_CALCULATIONS, SAMPLING_ROOT_SPANS_OVERFLOW] {
        metrics::counter!(counter).increment(0);
    }
    for &operation in SAMPLING_STORE_OPERATIONS {
        metrics::counter!(SAMPLING_STORE_ERRORS, "operation" => operation).increment(0);
    }
    for gauge in [SAMPLING_LEADER, SAMPLING_OPERATIONS] {
        metrics::gauge!(gauge).set(0.0);
    }
    for counter in [DEPENDENCIES_LINKS_WRITTEN, DEPENDENCIES_WINDOW_OVERFLOWS] {
        metrics::counter!(counter).increment(0);
    }
    for result in ["ok", "conflict", "error"] {
        metrics::counter!(DEPENDENCIES_WRITES, "result" => result).increment(0);
    }
    metrics::gauge!(DEPENDENCIES_WAITING_SPANS).set(0.0);
}

/// Registers HELP text for every metric above.
pub fn describe() {
    describe_counter!(
        TAIL_SAMPLING_TRACES,
        Unit::Count,
        "Traces decided by tail sampling, by the deciding policy (none: no policy sampled it) and decision (kept, dropped)."
    );
    describe_counter!(
        TAIL_SAMPLING_SPANS,
        Unit::Count,
        "Spans kept or dropped by tail sampling, late spans that followed a cached decision included, by policy and decision."
    );
    describe_histogram!(
        TAIL_SAMPLING_DECISION_LATENCY,
        Unit::Seconds,
        "Time from a trace's first message to its tail-sampling decision (decision_wait, or less when decided early)."
    );
    metrics::describe_gauge!(
        TAIL_SAMPLING_BUFFER_BYTES,
        Unit::Bytes,
        "Bytes of Kafka messages held for tail sampling, bookkeeping included (at most --tail-sampling-max-bytes, give or take one message)."
    );
    metrics::describe_gauge!(
        TAIL_SAMPLING_BUFFER_TRACES,
        Unit::Count,
        "Undecided traces held for tail sampling."
    );
    describe_counter!(
        TAIL_SAMPLING_EARLY_DECISIONS,
        Unit::Count,
        "Traces decided by tail sampling before decision_wait, oldest first, by reason (max_bytes: --tail-sampling-max-bytes reached; num_traces: num_traces reached)."
    );
    describe_counter!(
        DEPENDENCIES_LINKS_WRITTEN,
        Unit::Count,
        "Live dependency links ((parent, child) rows) in the documents this ingester wrote to the dependencies index."
    );
    describe_counter!(
        DEPENDENCIES_WRITES,
        Unit::Count,
        "Live dependency documents written, by result: ok, conflict (changed by another owner or the daily job: read again), error (retried at the next flush)."
    );
    describe_counter!(
        DEPENDENCIES_WINDOW_OVERFLOWS,
        Unit::Count,
        "Traces whose live dependency links were counted before --dependencies-trace-wait because the pairing window was full (--dependencies-max-spans)."
    );
    metrics::describe_gauge!(
        DEPENDENCIES_WAITING_SPANS,
        Unit::Count,
        "Spans waiting in the live dependencies' pairing window for the rest of their trace."
    );
    describe_counter!(
        SAMPLING_CALCULATIONS,
        Unit::Count,
        "Adaptive sampling calculations run by this ingester (the owner of partition 0 of the spans topic)."
    );
    describe_counter!(
        SAMPLING_STORE_ERRORS,
        Unit::Count,
        "Adaptive sampling reads and writes of Elasticsearch, and publications to the sampling topic, that failed, by operation."
    );
    metrics::describe_gauge!(
        SAMPLING_LEADER,
        Unit::Count,
        "1 while this ingester computes the adaptive sampling probabilities (it owns partition 0), else 0."
    );
    metrics::describe_gauge!(
        SAMPLING_OPERATIONS,
        Unit::Count,
        "Operations whose probability the last adaptive sampling calculation computed."
    );
    describe_counter!(
        SAMPLING_ROOT_SPANS_OVERFLOW,
        Unit::Count,
        "Sampled root spans left out of the adaptive sampling throughput because an interval had reached its operation limit."
    );
    describe_counter!(
        BULK_BYTES,
        Unit::Bytes,
        "Bytes of bulk request bodies sent to Elasticsearch, retries included."
    );
    metrics::describe_gauge!(
        INFLIGHT_BYTES,
        Unit::Bytes,
        "Bytes of batches being sent to Elasticsearch (bounded by --es-bulk-workers batches)."
    );
    metrics::describe_gauge!(
        CONSUMER_LAG,
        Unit::Count,
        "Messages of each partition assigned to this ingester not yet stored in Elasticsearch: high watermark minus the offset stored for commit (the group's committed offset on a partition just taken over), from librdkafka statistics; removed when the partition is revoked."
    );
    describe_counter!(
        DEAD_LETTERS,
        Unit::Count,
        "Dead letters the dead-letter topic acknowledged, by reason: undecodable (or the decoder's reason) and invalid_span are Kafka messages, rejected_by_elasticsearch documents."
    );
    describe_counter!(
        MESSAGES_DEAD_LETTERED,
        Unit::Count,
        "Kafka messages moved whole to the dead-letter topic because they do not decode, by reason; not counted as stored."
    );
    metrics::describe_gauge!(
        UNDECODABLE_PAUSED_PARTITIONS,
        Unit::Count,
        "Partitions paused because their first --kafka-encoding-check messages all failed to decode: --kafka-encoding is probably wrong."
    );
    metrics::describe_gauge!(
        PAUSED_PARTITIONS,
        Unit::Count,
        "Partitions paused because every bulk request is in flight and the next batch is full."
    );
    describe_counter!(
        REBALANCES,
        Unit::Count,
        "Consumer group rebalance events, by event (assigned, revoked)."
    );
    describe_counter!(
        MESSAGES,
        Unit::Count,
        "Kafka messages consumed, by result (ok, undecodable)."
    );
    describe_counter!(
        SPANS_INDEXED,
        Unit::Count,
        "Span documents stored in Elasticsearch."
    );
    describe_counter!(
        SPANS_SKIPPED,
        Unit::Count,
        "Spans not indexed because an ID (trace, span, parent or link) had an invalid length; their message goes to the dead-letter topic with reason invalid_span."
    );
    describe_counter!(
        DOCS_REJECTED,
        Unit::Count,
        "Documents Elasticsearch rejected permanently (not retried), by kind."
    );
    describe_counter!(
        BULK_ITEM_FAILURES,
        Unit::Count,
        "Bulk items Elasticsearch did not store, by HTTP status: 429 and 5xx are retried, others go to the dead-letter topic."
    );
    describe_counter!(
        BULK_REQUESTS,
        Unit::Count,
        "Bulk requests sent, by result (ok, retry, partial)."
    );
    describe_histogram!(
        BULK_DURATION,
        Unit::Seconds,
        "Duration of one bulk HTTP request to Elasticsearch."
    );
    describe_counter!(
        MESSAGES_STORED,
        Unit::Count,
        "Kafka messages whose spans are stored (those the writer can store); their offsets become committable once every earlier message is done too. Messages moved to the dead-letter topic are counted in ferrotrace_ingester_messages_dead_lettered_total instead."
    );
    describe_counter!(
        METRICS_GEN_OVERFLOW,
        Unit::Count,
        "Spans (span_metrics) or service-graph events (service_graph) counted under the series {metric_overflow=\"true\"} because --span-metrics-max-series label sets exist."
    );
    metrics::describe_gauge!(
        METRICS_GEN_LABEL_SETS,
        Unit::Count,
        "Label sets a metrics-generator processor has created (at most --span-metrics-max-series each)."
    );
    describe_counter!(
        METRICS_GEN_SPANS_SKIPPED,
        Unit::Count,
        "Spans left out of the span metrics and the service graph, by reason (too_old: ended longer than --metrics-max-span-age before they were read)."
    );
    metrics::describe_gauge!(
        SG_WAITING,
        Unit::Count,
        "Client or server spans waiting for their other half (at most --service-graph-max-items)."
    );
    metrics::describe_gauge!(
        SG_MAX_WAITING,
        Unit::Count,
        "--service-graph-max-items: when this many spans wait, the one that waited longest is dropped for each new one."
    );
    describe_counter!(
        SG_REQUESTS,
        Unit::Count,
        "Total count of requests between two nodes (Tempo service graph)."
    );
    describe_counter!(
        SG_REQUESTS_FAILED,
        Unit::Count,
        "Total count of failed requests between two nodes: either span has status ERROR (Tempo service graph)."
    );
    describe_histogram!(
        SG_SERVER_SECONDS,
        Unit::Seconds,
        "Time for a request between two nodes as seen from the server (Tempo service graph)."
    );
    describe_histogram!(
        SG_CLIENT_SECONDS,
        Unit::Seconds,
        "Time for a request between two nodes as seen from the client (Tempo service graph)."
    );
    describe_counter!(
        SG_UNPAIRED_SPANS,
        Unit::Count,
        "Client or server spans that found no other half within --service-graph-wait (Tempo service graph)."
    );
    describe_counter!(
        SG_DROPPED_SPANS,
        Unit::Count,
        "Client or server spans dropped unpaired from a full store of --service-graph-max-items (Tempo service graph)."
    );
    describe_counter!(
        SPANMETRICS_CALLS,
        Unit::Count,
        "Spans, by service, span name, span kind and status code (Tempo span metrics)."
    );
    describe_histogram!(
        SPANMETRICS_LATENCY,
        Unit::Seconds,
        "Span durations, by service, span name, span kind and status code (Tempo span metrics)."
    );
    describe_counter!(
        CONNECTOR_CALLS,
        Unit::Count,
        "Spans, by service_name, span_name, span_kind and status_code (OpenTelemetry spanmetrics connector names, as Jaeger's Monitor tab reads them)."
    );
    describe_histogram!(
        CONNECTOR_DURATION,
        Unit::Milliseconds,
        "Span durations in milliseconds, by service_name, span_name, span_kind and status_code (OpenTelemetry spanmetrics connector names, as Jaeger's Monitor tab reads them)."
    );
}
