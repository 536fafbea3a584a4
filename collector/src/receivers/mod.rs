//! One module per protocol the collector accepts. Each receiver turns its
//! input into an OTLP `ExportTraceServiceRequest` and hands it to the
//! [`Pipeline`](crate::pipeline::Pipeline); none of them talks to Kafka itself.

pub mod otlp_grpc;
pub mod otlp_http;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};

use crate::pipeline::Accepted;

/// The OTLP response for an accepted request: `partial_success` only when spans were rejected.
pub fn export_response(accepted: &Accepted) -> ExportTraceServiceResponse {
    let partial_success = (accepted.rejected_spans > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: accepted.rejected_spans as i64,
        error_message: accepted.rejection.clone().unwrap_or_default(),
    });
    ExportTraceServiceResponse { partial_success }
}
