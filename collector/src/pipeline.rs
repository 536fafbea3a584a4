//! The one path every receiver calls: split a request by trace ID at the
//! protobuf wire level, refusing every span the ingester could not store
//! (bad IDs, a start outside `--max-span-age`/`--max-span-future`; see
//! `ferrotrace_format::otlp`), produce one Kafka message per trace (several
//! when a trace exceeds the message cap), and return only after Kafka
//! acknowledged all of them.
//!
//! [`ExportError`] is the single error kind of the collector; it maps to both
//! a gRPC status and an HTTP status the way OpenTelemetry SDKs expect: they
//! retry `UNAVAILABLE`, `RESOURCE_EXHAUSTED` with a `RetryInfo` detail, and
//! HTTP 429/503, and never retry `INVALID_ARGUMENT`/400.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrotrace_common::log_limit::LogLimiter;
use ferrotrace_format::otlp::{split_by_trace_within, Split};
use ferrotrace_format::translate::{Refusals, TimeWindow};
use http::StatusCode;

use crate::metrics as m;
use crate::producer::{Budget, ProduceError, Producer, Reservation};
use crate::refusals::{self, Origin};

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
    /// The client did not send its request within `--read-timeout`.
    #[error("{0}")]
    Timeout(String),
}

impl ExportError {
    /// Every [`kind`](Self::kind), for the series created at start.
    pub const KINDS: [&'static str; 6] = [
        "invalid",
        "unavailable",
        "exhausted",
        "too_large",
        "unsupported",
        "timeout",
    ];

    /// Label for the requests metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid",
            Self::Unavailable(_) => "unavailable",
            Self::Exhausted(_) => "exhausted",
            Self::TooLarge(_) => "too_large",
            Self::Unsupported(_) => "unsupported",
            Self::Timeout(_) => "timeout",
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
            Self::Timeout(msg) => tonic::Status::deadline_exceeded(msg.clone()),
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
            Self::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, None),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(RETRY_AFTER.as_secs())),
            Self::Exhausted(_) => (StatusCode::TOO_MANY_REQUESTS, Some(RETRY_AFTER.as_secs())),
        }
    }

    /// Counts and logs a refusal that happened before or inside the pipeline.
    pub fn record(&self, origin: Origin, started: Instant) {
        self.record_from(origin, || None, started);
    }

    /// [`record`](Self::record) for a request whose service name `service`
    /// can tell (asked only when the line is logged).
    pub fn record_from(
        &self,
        origin: Origin,
        service: impl FnOnce() -> Option<String>,
        started: Instant,
    ) {
        let receiver = origin.receiver;
        metrics::counter!(m::REQUESTS, "receiver" => receiver, "result" => self.kind())
            .increment(1);
        metrics::histogram!(m::REQUEST_DURATION, "receiver" => receiver)
            .record(started.elapsed().as_secs_f64());
        refusals::request_refused(origin, self.kind(), self, service);
    }
}

/// Spans taken and spans refused inside an accepted request (OTLP `partial_success`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub accepted_spans: u64,
    /// Refused by the split, by reason (counted in the refused-spans metric).
    pub refused: Refusals,
}

/// The in-flight budget a request holds for its buffers, taken as they fill
/// (the body as it is read, its inflated copy) so that bytes a client sends
/// are counted before they sit in memory, not after. [`Pipeline::export`]
/// tops it up to the request's size; it is returned when the request is
/// answered.
pub struct Held {
    budget: Budget,
    reservation: Option<Reservation>,
    /// A take was refused: the request is refused as `exhausted`.
    pub exhausted: bool,
}

impl Held {
    /// Takes `bytes` more of the budget, or refuses the request (retryable).
    pub fn take(&mut self, bytes: usize) -> Result<(), ExportError> {
        if bytes == 0 {
            return Ok(());
        }
        let more = self.budget.try_reserve(bytes).map_err(|error| {
            self.exhausted = true;
            exhausted(error)
        })?;
        match &mut self.reservation {
            Some(reservation) => reservation.merge(more),
            None => self.reservation = Some(more),
        }
        Ok(())
    }

    /// Nothing held yet, of `budget`.
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            reservation: None,
            exhausted: false,
        }
    }

    /// Returns what is held beyond `bytes` (an allowance taken before the
    /// size was known, once it is).
    pub fn shrink_to(&mut self, bytes: usize) {
        if let Some(reservation) = &mut self.reservation {
            reservation.shrink_to(bytes);
        }
    }

    /// Bytes held so far.
    pub fn bytes(&self) -> usize {
        self.reservation.as_ref().map_or(0, Reservation::bytes)
    }
}

/// What the pipeline checks a request against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--kafka-max-message-bytes`.
    pub max_message_bytes: usize,
    /// `--max-spans-per-request`; 0 is no limit.
    pub max_spans_per_request: u64,
    /// `--max-span-age`: a span starting longer ago than this is refused.
    pub max_span_age: Duration,
    /// `--max-span-future`: a span starting further ahead than this is refused.
    pub max_span_future: Duration,
}

pub struct Pipeline {
    producer: Arc<Producer>,
    limits: Limits,
    /// Requests Kafka did not acknowledge: logged once per interval while it is away.
    unacknowledged: LogLimiter,
}

impl Pipeline {
    pub fn new(producer: Arc<Producer>, limits: Limits) -> Self {
        Self {
            producer,
            limits,
            unacknowledged: LogLimiter::default(),
        }
    }

    /// An empty share of the in-flight budget, for a request about to be read.
    pub fn hold(&self) -> Held {
        Held::new(self.producer.budget().clone())
    }

    /// Splits an OTLP `ExportTraceServiceRequest` (protobuf bytes) by trace and
    /// returns once Kafka holds every accepted span. `held` is what the
    /// request's buffers already took of the in-flight budget; it is topped
    /// up to the request's size.
    pub async fn export(
        &self,
        origin: Origin,
        request: &[u8],
        started: Instant,
        held: Held,
    ) -> Result<Accepted, ExportError> {
        let receiver = origin.receiver;
        let result = self.export_inner(receiver, request, held).await;
        match &result {
            Ok(accepted) => {
                metrics::counter!(m::REQUESTS, "receiver" => receiver, "result" => "ok")
                    .increment(1);
                metrics::histogram!(m::REQUEST_DURATION, "receiver" => receiver)
                    .record(started.elapsed().as_secs_f64());
                if accepted.refused.total() > 0 {
                    metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "rejected")
                        .increment(accepted.refused.total());
                    refusals::spans_refused(
                        origin,
                        accepted.refused.total(),
                        accepted.refused.first().unwrap_or_default(),
                        || refusals::service_of_bytes(request),
                    );
                }
                for (reason, count) in accepted.refused.by_reason() {
                    metrics::counter!(m::SPANS_REFUSED, "receiver" => receiver, "reason" => reason)
                        .increment(count);
                }
                metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "accepted")
                    .increment(accepted.accepted_spans);
            }
            Err(error) => {
                error.record_from(origin, || refusals::service_of_bytes(request), started)
            }
        }
        result
    }

    async fn export_inner(
        &self,
        receiver: &'static str,
        request: &[u8],
        mut held: Held,
    ) -> Result<Accepted, ExportError> {
        held.take(request.len().saturating_sub(held.bytes()))?;
        let limits = &self.limits;
        let window = TimeWindow::around(
            SystemTime::now(),
            limits.max_span_age,
            limits.max_span_future,
        );
        let split: Split = split_by_trace_within(request, limits.max_message_bytes, window)
            .map_err(|e| {
                ExportError::InvalidArgument(format!("invalid ExportTraceServiceRequest: {e}"))
            })?;
        let spans = split.accepted_spans + split.refused.total();
        if limits.max_spans_per_request > 0 && spans > limits.max_spans_per_request {
            return Err(ExportError::TooLarge(format!(
                "the request holds {spans} spans, more than --max-spans-per-request {}; send smaller batches",
                limits.max_spans_per_request
            )));
        }
        held.take(split.buf.len())?;
        if let Err(error) = self.producer.produce_all(&split).await {
            metrics::counter!(m::SPANS, "receiver" => receiver, "outcome" => "refused")
                .increment(split.accepted_spans);
            return Err(match error {
                ProduceError::Exhausted(_) => exhausted(error),
                ProduceError::Unavailable(_) => {
                    if let Some(suppressed) = self.unacknowledged.allow() {
                        tracing::warn!(%error, receiver, spans = split.accepted_spans, suppressed, "spans refused: kafka did not acknowledge");
                    }
                    ExportError::Unavailable(error.to_string())
                }
            });
        }
        Ok(Accepted {
            accepted_spans: split.accepted_spans,
            refused: split.refused,
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
    fn every_error_kind_is_created_at_start() {
        let errors = [
            ExportError::InvalidArgument(String::new()),
            ExportError::Unavailable(String::new()),
            ExportError::Exhausted(String::new()),
            ExportError::TooLarge(String::new()),
            ExportError::Unsupported(String::new()),
            ExportError::Timeout(String::new()),
        ];
        let kinds: Vec<&str> = errors.iter().map(ExportError::kind).collect();
        assert_eq!(kinds, ExportError::KINDS);
    }

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
