//! Names and descriptions of the collector's metrics, in one place, and the
//! series that exist from start-up ([`register`]).

use ferrotrace_format::translate::Refusal;
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

use crate::pipeline::ExportError;

/// The highest adaptive sampling probability served to an operation of a
/// service, by service (up to `--sampling-metrics-max-services`).
pub const SAMPLING_PROBABILITY: &str = "ferrotrace_collector_sampling_probability";
/// Services with adaptive probabilities beyond `--sampling-metrics-max-services`.
pub const SAMPLING_SERVICES_UNEXPORTED: &str = "ferrotrace_collector_sampling_services_unexported";
/// Adaptive sampling calculations read from the sampling topic and served.
pub const SAMPLING_UPDATES: &str = "ferrotrace_collector_sampling_updates_total";
/// Sampling topic failures, by reason (`kafka`, `undecodable`).
pub const SAMPLING_ERRORS: &str = "ferrotrace_collector_sampling_errors_total";
/// Gauges whose series are removed when what they describe is gone.
pub const REMOVABLE_GAUGES: &[&str] = &[SAMPLING_PROBABILITY];

/// Spans received, by receiver and outcome (`accepted`, `rejected`, `refused`).
pub const SPANS: &str = "ferrotrace_collector_spans_total";
/// Spans refused as invalid, by receiver and reason (`zero_trace_id`, `zero_span_id`, `invalid_id`, `invalid_timestamp`, `timestamp_out_of_window`, `too_large`).
pub const SPANS_REFUSED: &str = "ferrotrace_collector_spans_refused_total";
/// Bytes received on the wire (before decompression), by receiver.
pub const RECEIVED_BYTES: &str = "ferrotrace_collector_received_bytes_total";
/// UDP packets not exported, by receiver and reason (`queue_full`, `too_large`, `malformed`, `unknown_method`).
pub const UDP_PACKETS_DROPPED: &str = "ferrotrace_collector_udp_packets_dropped_total";
/// Requests answered, by receiver and result (`ok`, `invalid`, `unavailable`, `exhausted`, ...).
pub const REQUESTS: &str = "ferrotrace_collector_requests_total";
/// Time from request receipt to the answer, by receiver.
pub const REQUEST_DURATION: &str = "ferrotrace_collector_request_duration_seconds";
/// Kafka messages produced, by result.
pub const KAFKA_MESSAGES: &str = "ferrotrace_collector_kafka_messages_total";
/// Bytes of Kafka message values acknowledged by the broker.
pub const KAFKA_BYTES: &str = "ferrotrace_collector_kafka_bytes_total";
/// Bytes of requests currently being produced (the in-flight budget in use).
pub const INFLIGHT_BYTES: &str = "ferrotrace_collector_inflight_bytes";
/// TLS handshakes that failed (plaintext client, untrusted client certificate, timeout), by receiver.
pub const TLS_HANDSHAKE_FAILURES: &str = "ferrotrace_collector_tls_handshake_failures_total";
/// TCP connections open on a receiver (TLS handshakes in progress included).
pub const CONNECTIONS: &str = "ferrotrace_collector_connections";
/// Connections refused because the receiver was at `--max-connections`, by receiver.
pub const CONNECTIONS_REFUSED: &str = "ferrotrace_collector_connections_refused_total";
/// Connections closed because nothing moved on them for `--idle-timeout`, by receiver.
pub const CONNECTIONS_IDLE_CLOSED: &str = "ferrotrace_collector_connections_idle_closed_total";
/// Connections that reached --grpc-max-connection-age (sent GOAWAY) or --http-max-connection-age (told Connection: close), by receiver.
pub const CONNECTIONS_AGED: &str = "ferrotrace_collector_connections_aged_total";
/// Reloads of changed TLS certificate files, by result (`ok`, `failed`).
pub const TLS_RELOADS: &str = "ferrotrace_collector_tls_reloads_total";
/// Requests refused for a missing or unknown bearer token, by receiver and reason (`missing`, `invalid`).
pub const REQUESTS_UNAUTHENTICATED: &str = "ferrotrace_collector_requests_unauthenticated_total";
/// Reloads of a changed bearer tokens file, by result (`ok`, `failed`).
pub const AUTH_TOKENS_RELOADS: &str = "ferrotrace_collector_auth_tokens_reloads_total";
/// Sampling strategy requests answered, by receiver (`sampling_http`, `jaeger_http`, `jaeger_grpc`) and result (`ok`, `bad_request`, `encode_error`).
pub const SAMPLING_REQUESTS: &str = "ferrotrace_collector_sampling_requests_total";
/// Results of [`SAMPLING_REQUESTS`].
pub const SAMPLING_RESULTS: [&str; 3] = ["ok", "bad_request", "encode_error"];
/// Reloads of a changed sampling strategies file, by result (`ok`, `failed`).
pub const SAMPLING_STRATEGIES_RELOADS: &str =
    "ferrotrace_collector_sampling_strategies_reloads_total";

/// Histograms exported with buckets rather than as summaries.
pub const HISTOGRAMS: &[&str] = &[REQUEST_DURATION];

/// Results of [`REQUESTS`] besides the errors' kinds.
const REQUEST_OK: &str = "ok";
/// Reasons of [`SPANS_REFUSED`] besides the translators' [`Refusal`]s.
const REFUSED_TOO_LARGE: &str = "too_large";
/// Reasons of [`UDP_PACKETS_DROPPED`].
const UDP_DROP_REASONS: &[&str] = &["queue_full", "too_large", "malformed", "unknown_method"];
/// The UDP receivers.
const UDP_RECEIVERS: &[&str] = &["jaeger_compact", "jaeger_binary"];

/// Creates, at 0, every series the shipped dashboards and alerts query whose
/// labels are known at start, for each enabled receiver (by its metric
/// label), so a panel shows 0 rather than "No data" and `rate()` sees the
/// first event. `connections` and `connections_refused_total` are created by
/// each TCP receiver's listener. `sampling_receivers` are those answering
/// sampling strategy requests.
pub fn register(receivers: &[&'static str], sampling_receivers: &[&'static str]) {
    for &receiver in receivers {
        for outcome in ["accepted", "rejected", "refused"] {
            metrics::counter!(SPANS, "receiver" => receiver, "outcome" => outcome).increment(0);
        }
        let reasons = Refusal::ALL.into_iter().map(Refusal::label);
        for reason in reasons.chain([REFUSED_TOO_LARGE]) {
            metrics::counter!(SPANS_REFUSED, "receiver" => receiver, "reason" => reason)
                .increment(0);
        }
        for result in std::iter::once(REQUEST_OK).chain(ExportError::KINDS.iter().copied()) {
            metrics::counter!(REQUESTS, "receiver" => receiver, "result" => result).increment(0);
        }
        metrics::counter!(RECEIVED_BYTES, "receiver" => receiver).increment(0);
        if !UDP_RECEIVERS.contains(&receiver) {
            metrics::counter!(CONNECTIONS_AGED, "receiver" => receiver).increment(0);
        }
        let _ = metrics::histogram!(REQUEST_DURATION, "receiver" => receiver);
        if UDP_RECEIVERS.contains(&receiver) {
            for &reason in UDP_DROP_REASONS {
                metrics::counter!(UDP_PACKETS_DROPPED, "receiver" => receiver, "reason" => reason)
                    .increment(0);
            }
        }
    }
    for result in ["acked", "failed"] {
        metrics::counter!(KAFKA_MESSAGES, "result" => result).increment(0);
    }
    metrics::counter!(KAFKA_BYTES).increment(0);
    metrics::gauge!(INFLIGHT_BYTES).increment(0.0);
    metrics::counter!(SAMPLING_UPDATES).increment(0);
    for reason in ["kafka", "undecodable"] {
        metrics::counter!(SAMPLING_ERRORS, "reason" => reason).increment(0);
    }
    metrics::gauge!(SAMPLING_SERVICES_UNEXPORTED).set(0.0);
    for &receiver in sampling_receivers {
        for result in SAMPLING_RESULTS {
            metrics::counter!(SAMPLING_REQUESTS, "receiver" => receiver, "result" => result)
                .increment(0);
        }
    }
    for result in ["ok", "failed"] {
        metrics::counter!(SAMPLING_STRATEGIES_RELOADS, "result" => result).increment(0);
    }
}

/// Registers HELP text for every metric above.
pub fn describe() {
    describe_gauge!(SAMPLING_PROBABILITY, Unit::Count, "Adaptive sampling: the highest probability served to an operation of the service, by service (up to --sampling-metrics-max-services services).");
    describe_gauge!(SAMPLING_SERVICES_UNEXPORTED, Unit::Count, "Adaptive sampling: services served whose probability is not exported (beyond --sampling-metrics-max-services).");
    describe_counter!(
        SAMPLING_UPDATES,
        Unit::Count,
        "Adaptive sampling calculations read from the sampling topic and served."
    );
    describe_counter!(
        SAMPLING_ERRORS,
        Unit::Count,
        "Adaptive sampling topic failures, by reason (kafka, undecodable)."
    );
    describe_counter!(SPANS, Unit::Count, "Spans received, by receiver and outcome (accepted, rejected in partial_success, refused with a retryable error).");
    describe_counter!(
        SPANS_REFUSED,
        Unit::Count,
        "Spans refused as invalid, by receiver and reason (zero_trace_id, zero_span_id, invalid_id, invalid_timestamp, timestamp_out_of_window, too_large)."
    );
    describe_counter!(
        RECEIVED_BYTES,
        Unit::Bytes,
        "Bytes received on the wire, before decompression, by receiver."
    );
    describe_counter!(
        UDP_PACKETS_DROPPED,
        Unit::Count,
        "UDP packets not exported, by receiver and reason (queue_full, too_large, malformed, unknown_method)."
    );
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "Export requests answered, by receiver and result."
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from receiving an export request to answering it, Kafka acknowledgements included."
    );
    describe_counter!(
        KAFKA_MESSAGES,
        Unit::Count,
        "Kafka messages produced, by result (acked, failed)."
    );
    describe_counter!(
        KAFKA_BYTES,
        Unit::Bytes,
        "Bytes of Kafka message values acknowledged by the broker."
    );
    describe_gauge!(
        INFLIGHT_BYTES,
        Unit::Bytes,
        "Bytes of export requests currently waiting for Kafka acknowledgements."
    );
    describe_counter!(
        TLS_HANDSHAKE_FAILURES,
        Unit::Count,
        "TLS handshakes that failed (plaintext client, untrusted or missing client certificate, timeout), by receiver."
    );
    describe_gauge!(
        CONNECTIONS,
        Unit::Count,
        "TCP connections open on a receiver, TLS handshakes in progress included, by receiver."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections refused (answered HTTP 503 / gRPC UNAVAILABLE, or closed) because the receiver was at --max-connections, by receiver."
    );
    describe_counter!(
        CONNECTIONS_IDLE_CLOSED,
        Unit::Count,
        "Connections closed because no byte moved on them either way for --idle-timeout, by receiver."
    );
    describe_counter!(
        CONNECTIONS_AGED,
        Unit::Count,
        "Connections that reached --grpc-max-connection-age (sent GOAWAY) or --http-max-connection-age (told Connection: close), by receiver."
    );
    describe_counter!(
        TLS_RELOADS,
        Unit::Count,
        "Reloads of changed TLS certificate files, by result (ok; failed keeps the previous certificate)."
    );
    describe_counter!(
        REQUESTS_UNAUTHENTICATED,
        Unit::Count,
        "Requests refused for a missing or unknown bearer token, by receiver and reason (missing, invalid)."
    );
    describe_counter!(
        AUTH_TOKENS_RELOADS,
        Unit::Count,
        "Reloads of a changed bearer tokens file, by result (ok; failed keeps the previous tokens)."
    );
    describe_counter!(
        SAMPLING_REQUESTS,
        Unit::Count,
        "Sampling strategy requests answered, by receiver (sampling_http, jaeger_http, jaeger_grpc) and result (ok, bad_request, encode_error)."
    );
    describe_counter!(
        SAMPLING_STRATEGIES_RELOADS,
        Unit::Count,
        "Reloads of a changed sampling strategies file, by result (ok; failed keeps the previous strategies)."
    );
}
