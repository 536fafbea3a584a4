//! Names and descriptions of the ingester's metrics, in one place.

use metrics::{describe_counter, describe_histogram, Unit};

/// Kafka messages consumed, by result (`ok`, `undecodable`).
pub const MESSAGES: &str = "ferrotrace_ingester_messages_total";
/// Spans stored in Elasticsearch.
pub const SPANS_INDEXED: &str = "ferrotrace_ingester_spans_indexed_total";
/// Spans not indexed because their trace, span, parent or link ID was malformed.
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

/// Partitions paused because every bulk request slot is busy.
pub const PAUSED_PARTITIONS: &str = "ferrotrace_ingester_paused_partitions";
/// Rebalance events, by event (`assigned`, `revoked`).
pub const REBALANCES: &str = "ferrotrace_ingester_rebalances_total";

/// Messages moved to the dead-letter topic, by reason.
pub const DEAD_LETTERS: &str = "ferrotrace_ingester_dead_letters_total";

/// Messages of a partition not yet stored in Elasticsearch (high watermark minus stored offset), by topic and partition.
pub const CONSUMER_LAG: &str = "ferrotrace_ingester_consumer_lag_messages";

/// Bytes of bulk request bodies sent (retries included).
pub const BULK_BYTES: &str = "ferrotrace_ingester_bulk_bytes_total";
/// Bytes of batches handed to bulk tasks and not yet finished.
pub const INFLIGHT_BYTES: &str = "ferrotrace_ingester_inflight_bytes";

pub const HISTOGRAMS: &[&str] = &[BULK_DURATION];

/// Registers HELP text for every metric above.
pub fn describe() {
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
        "Messages of each assigned partition not yet stored in Elasticsearch (high watermark minus the offset stored for commit), from librdkafka statistics."
    );
    describe_counter!(
        DEAD_LETTERS,
        Unit::Count,
        "Messages that can never be stored, moved to the dead-letter topic, by reason."
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
        "Spans not indexed because an ID (trace, span, parent or link) had an invalid length."
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
        "Kafka messages whose spans are all stored; their offsets become committable once every earlier message is stored too."
    );
}
