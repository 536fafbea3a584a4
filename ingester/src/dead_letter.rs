//! The dead-letter topic: where what can never be stored goes, so that it
//! neither blocks its partition nor disappears: a message that does not
//! decode (its key and value unchanged, reason `undecodable` or the
//! decoder's), a message holding spans the writer cannot store, such as a
//! span ID of 3 bytes (key and value unchanged, reason `invalid_span`; its
//! other spans are stored, and storing them again on a replay is harmless
//! since document IDs are deterministic), and a document Elasticsearch
//! refuses for good, such as a mapping error (the bulk action line and the
//! document as sent, reason `rejected_by_elasticsearch`).
//!
//! Every dead letter carries headers saying
//! why and where from: `ferrotrace.reason`, `ferrotrace.error`,
//! `ferrotrace.source.topic`, `ferrotrace.source.partition`,
//! `ferrotrace.source.offset`. The source offset moves on only after the
//! dead-letter broker acknowledged (`acks=all`): a message is never dropped,
//! only moved. While the topic cannot be written, the send is retried with
//! backoff and the partition waits; the failure is logged once per
//! interval for all sends, naming the topic when it does not exist.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use ferrotrace_common::kafka_client::{side_producer, Problem};
use ferrotrace_common::kafka_producer::KafkaProducer;
use ferrotrace_common::kafka_security::KafkaSecurity;
use ferrotrace_common::log_limit::LogLimiter;
use ferrotrace_format::hex;
use ferrotrace_format::jaeger::writer;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;

/// Where a message came from, and why it is dead.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub source_topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    /// Metric label and header: a short fixed word, e.g. `undecodable`.
    pub reason: &'static str,
    /// The decoder's message.
    pub error: String,
}

/// A producer for the dead-letter topic.
#[derive(Clone)]
pub struct DeadLetters {
    producer: KafkaProducer,
    topic: String,
    /// Failed sends, over every message waiting for the topic.
    retry_log: Arc<LogLimiter>,
}

impl DeadLetters {
    /// Creates the producer: `security` first, then the user's `extra`
    /// properties, which win.
    pub fn new(
        brokers: &str,
        topic: &str,
        security: &KafkaSecurity,
        extra: &[(String, String)],
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: side_producer(
                brokers,
                "ferrotrace-ingester-dlq",
                "dead-letter producer",
                Duration::from_secs(30),
                security,
                extra,
            )?,
            topic: topic.to_string(),
            retry_log: Arc::default(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces the dead letter, retrying until the broker acknowledges it or
    /// `give_up` is cancelled (then false: the offset must not move on).
    pub async fn send(&self, letter: &DeadLetter, give_up: &CancellationToken) -> bool {
        let partition = letter.partition.to_string();
        let offset = letter.offset.to_string();
        let attempt = || async {
            let headers = OwnedHeaders::new()
                .insert(header("ferrotrace.reason", letter.reason))
                .insert(header("ferrotrace.error", &letter.error))
                .insert(header("ferrotrace.source.topic", &letter.source_topic))
                .insert(header("ferrotrace.source.partition", &partition))
                .insert(header("ferrotrace.source.offset", &offset));
            let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .payload(&letter.value)
                .headers(headers);
            if let Some(key) = &letter.key {
                record = record.key(key);
            }
            self.producer
                .send(record, Duration::from_secs(30))
                .await
                .map(|_| ())
        };
        let retry = attempt
            .retry(
                ExponentialBuilder::default()
                    .with_jitter()
                    .with_max_delay(Duration::from_secs(10))
                    .without_max_times(),
            )
            .notify(|error, delay| self.log_retry(error, delay));
        tokio::select! {
            result = retry => {
                if result.is_ok() {
                    metrics::counter!(m::DEAD_LETTERS, "reason" => letter.reason).increment(1);
                }
                result.is_ok()
            }
            _ = give_up.cancelled() => false,
        }
    }
}

impl DeadLetters {
    fn log_retry(&self, error: &KafkaError, delay: Duration) {
        let Some(suppressed) = self.retry_log.allow() else {
            return;
        };
        let topic = &self.topic;
        if Problem::of(error.rdkafka_error_code()) == Problem::TopicMissing {
            tracing::error!(%error, topic, suppressed, "the dead-letter topic does not exist: create it, or set --kafka-dlq-topic to one that does; partitions holding messages for it wait until then");
        } else {
            tracing::warn!(%error, ?delay, topic, suppressed, "dead-letter produce failed, retrying");
        }
    }
}

/// The spans of a decoded message the writer skipped, for the dead letter
/// and the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unwritable {
    /// `2 of 5 spans not stored: span 2 (trace …): span_id of 3 bytes, …`,
    /// naming at most [`Unwritable::DESCRIBED`] spans.
    pub error: String,
    /// The trace IDs (32 hex) of the skipped spans, each once.
    pub trace_ids: Vec<String>,
}

impl Unwritable {
    const DESCRIBED: usize = 10;

    /// Describes what [`writer::unwritable_id`] finds in `request`, whose
    /// write skipped `skipped` spans.
    pub fn of(request: &ExportTraceServiceRequest, skipped: usize) -> Self {
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans);
        let total = spans.clone().count();
        let mut out = Unwritable {
            error: format!("{skipped} of {total} spans not stored:"),
            trace_ids: Vec::new(),
        };
        let mut described = 0;
        for (index, span) in spans.enumerate() {
            let Some(problem) = writer::unwritable_id(span) else {
                continue;
            };
            let mut hex = Vec::with_capacity(32);
            hex::push_hex(&mut hex, &span.trace_id);
            let trace = String::from_utf8_lossy(&hex).into_owned();
            if described < Self::DESCRIBED {
                let separator = if described == 0 { " " } else { "; " };
                out.error.push_str(&format!(
                    "{separator}span {index} (trace {trace}): {problem}"
                ));
                described += 1;
            }
            if !out.trace_ids.contains(&trace) {
                out.trace_ids.push(trace);
            }
        }
        out
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn names_each_unwritable_span_with_its_trace() {
        let span = |trace: u8, span_id: Vec<u8>| Span {
            trace_id: vec![trace; 16],
            span_id,
            ..Span::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(1, vec![1; 8]),
                        span(2, vec![1, 2, 3]),
                        span(2, vec![4; 9]),
                    ],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let unwritable = Unwritable::of(&request, 2);
        let trace = "02".repeat(16);
        assert_eq!(
            unwritable.error,
            format!(
                "2 of 3 spans not stored: span 1 (trace {trace}): span_id of 3 bytes, expected 8 or none; \
                 span 2 (trace {trace}): span_id of 9 bytes, expected 8 or none"
            )
        );
        assert_eq!(unwritable.trace_ids, vec![trace]);
    }
}
