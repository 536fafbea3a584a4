//! The one path every receiver calls: split a request by trace ID at the
//! protobuf wire level, produce one Kafka message per trace (several when a
//! trace exceeds the message cap), and return only after Kafka acknowledged
//! all of them.
//!
//! [`ExportError`] is the single error kind of the collector; it maps to both
//! a gRPC status and an HTTP status the way OpenTelemetry SDKs expect: they
//! retry `UNAVAILABLE`, `RESOURCE_EXHAUSTED` with a `RetryInfo` detail, and
//! HTTP 429/503, and never retry `INVALID_ARGUMENT`/400.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrotrace_common::otlp::{split_by_trace, Split};
use http::StatusCode;

use crate::metrics as m;
use crate::producer::{ProduceError, Producer};

/// How long a refused client is asked to wait before retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a client is told when its spans were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The payload is not a valid request: retrying the same bytes cannot help.
    #[error("{0}")]
    InvalidArgument(String),
    /// Kafka is down or slow: retry.
    #[error("{0}")]
    Unavailable(String),
    /// The collector's in-flight budget is used up: retry after [`RETRY_AFTER`].
    #[error("{0}")]
    Exhausted(String),
    /// The body exceeds the request size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The content type or encoding is not one the receiver speaks.
    #[error("{0}")]
    Unsupported(String),
}

impl ExportError {
    /// Label for the requests metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid",
            Self::Unavailable(_) => "unavailable",
            Self::Exhausted(_) => "exhausted",
            Self::TooLarge(_) => "too_large",
            Self::Unsupported(_) => "unsupported",
        }
    }

    /// The gRPC status OTLP exporters react to correctly.
    pub fn grpc_status(&self) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        match self {
            Self::InvalidArgument(msg) | Self::Unsupported(msg) => {
                tonic::Status::invalid_argument(msg.clone())
            }
            Self::TooLarge(msg) => tonic::Status::invalid_argument(msg.clone()),
            Self::Unavailable(msg) => tonic::Status::unavailable(msg.clone()),
            // SDKs drop a bare RESOURCE_EXHAUSTED; with RetryInfo they back off and retry.
            Self::Exhausted(msg) => tonic::Status::with_error_details(
                tonic::Code::ResourceExhausted,
                msg.clone(),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
            ),
        }
    }

    /// The HTTP status, and the `Retry-After` seconds when the client should retry.
    pub fn http_status(&self) -> (StatusCode, Option<u64>) {
        match self {
            Self::InvalidArgument(_) => (StatusCode::BAD_REQUEST, None),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            Self::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(RETRY_AFTER.as_secs())),
            Self::Exhausted(_) => (StatusCode::TOO_MANY_REQUESTS, Some(RETRY_AFTER.as_secs())),
        }
    }

    /// Counts a refusal that happened before or inside the pipeline.
    pub fn record(&self, receiver: &'static str, started: Instant) {
        metrics::counter!(m::REQUESTS, "receiver" => receiver, "result" => self.kind())
            .increment(1);
        metrics::histogram!(m::REQUEST_DURATION, "receiver" => receiver)
            .record(started.elapsed().as_secs_f64());
    }
}

/// Spans taken and spans refused inside an accepted request (OTLP `partial_success`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub accepted_spans: u64,
    pub rejected_spans: u64,
    pub rejection: Option<String>,
}

pub struct Pipeline {
    producer: Arc<Producer>,
    max_message_bytes: usize,
    /// `--max-spans-per-request`; 0 is no limit.
    max_spans_per_request: u64,
}

impl Pipeline {
    pub fn new(
        producer: Arc<Producer>,
        max_message_bytes: usize,
        max_spans_per_request: u64,
    ) -> Self {
        Self {
            producer,
            max_message_bytes,
            max_spans_per_request,
        }
    }

    /// Splits an OTLP `ExportTraceServiceRequest` (protobuf bytes) by trace and
    /// returns once Kafka holds every accepted span.
    pub async fn export(
        &self,
        receiver: &'static str,
        request: &[u8],
        started: Instant,
    ) -> Result<Accepted, ExportError> {
        let result = self.export_inner(receiver, request).await;
        match &result {
            Ok(accepted) => {
                metrics::counter!(m::REQUESTS, "receiver" => receiver, "result" => "ok")
                    .increment(1);
                metrics::histogram!(m::REQUEST_DURATION, "receiver" => receiver)
                    .record(started.elapsed().as_secs_f64());
                if accepted.rejected_spans > 0 {
                    metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "rejected")
                        .increment(accepted.rejected_spans);
                }
                metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "accepted")
                    .increment(accepted.accepted_spans);
            }
            Err(error) => error.record(receiver, started),
        }
        result
    }

    async fn export_inner(
        &self,
        receiver: &'static str,
        request: &[u8],
    ) -> Result<Accepted, ExportError> {
        let _request_budget = self
            .producer
            .try_reserve(request.len())
            .map_err(exhausted)?;
        let split: Split = split_by_trace(request, self.max_message_bytes).map_err(|e| {
            ExportError::InvalidArgument(format!("invalid ExportTraceServiceRequest: {e}"))
        })?;
        let spans = split.accepted_spans + split.rejected_spans;
        if self.max_spans_per_request > 0 && spans > self.max_spans_per_request {
            return Err(ExportError::TooLarge(format!(
                "the request holds {spans} spans, more than --max-spans-per-request {}; send smaller batches",
                self.max_spans_per_request
            )));
        }
        let _split_budget = self
            .producer
            .try_reserve(split.buf.len())
            .map_err(exhausted)?;
        if let Err(error) = self.producer.produce_all(&split).await {
            metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "refused")
                .increment(split.accepted_spans);
            return Err(match error {
                ProduceError::Exhausted(_) => exhausted(error),
                ProduceError::Unavailable(_) => {
                    tracing::warn!(%error, receiver, spans = split.accepted_spans, "spans refused: kafka did not acknowledge");
                    ExportError::Unavailable(error.to_string())
                }
            });
        }
        Ok(Accepted {
            accepted_spans: split.accepted_spans,
            rejected_spans: split.rejected_spans,
            rejection: split.rejection,
        })
    }
}

fn exhausted(error: ProduceError) -> ExportError {
    ExportError::Exhausted(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_map_to_statuses_sdks_retry() {
        let status = ExportError::Unavailable("broker down".into()).grpc_status();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            ExportError::Unavailable("x".into()).http_status(),
            (StatusCode::SERVICE_UNAVAILABLE, Some(1))
        );
        assert_eq!(
            ExportError::Exhausted("x".into()).http_status(),
            (StatusCode::TOO_MANY_REQUESTS, Some(1))
        );
    }

    #[test]
    fn resource_exhausted_carries_retry_info() {
        use tonic_types::StatusExt;
        let status = ExportError::Exhausted("busy".into()).grpc_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let retry = status
            .get_details_retry_info()
            .expect("RetryInfo detail attached");
        assert_eq!(retry.retry_delay, Some(RETRY_AFTER));
    }

    #[test]
    fn bad_payloads_are_not_retryable() {
        assert_eq!(
            ExportError::InvalidArgument("bad".into())
                .grpc_status()
                .code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            ExportError::InvalidArgument("bad".into()).http_status(),
            (StatusCode::BAD_REQUEST, None)
        );
        assert_eq!(
            ExportError::Unsupported("text/plain".into())
                .http_status()
                .0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
