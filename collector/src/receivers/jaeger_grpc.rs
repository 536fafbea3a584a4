//! Jaeger gRPC receiver: `jaeger.api_v2.CollectorService/PostSpans` on
//! :14250, as Jaeger agents and the OpenTelemetry Collector's Jaeger
//! exporter send it.
//!
//! The `PostSpansRequest` is decoded with prost, translated to OTLP
//! ([`ferrotrace_format::jaeger::to_otlp`]) and exported like any OTLP
//! request. A body that does not parse, or spans that fail the translation's
//! checks, get `INVALID_ARGUMENT`; Kafka trouble gets the same retryable
//! statuses as OTLP.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrotrace_format::jaeger::proto::{PostSpansRequest, PostSpansResponse};
use ferrotrace_format::jaeger::to_otlp::proto_batches_to_otlp;
use prost::Message;

use super::grpc_raw::{RawRpc, RawService};
use super::{export_translated, RequestLimits};
use crate::pipeline::{ExportError, Held, Pipeline};
use crate::refusals::Origin;

const RECEIVER: &str = "jaeger_grpc";

/// `CollectorService/PostSpans` on raw bytes.
#[derive(Clone)]
pub struct PostSpans {
    pipeline: Arc<Pipeline>,
}

impl RawRpc for PostSpans {
    const SERVICE: &'static str = "jaeger.api_v2.CollectorService";
    const PATH: &'static str = ferrotrace_format::jaeger::proto::POST_SPANS_PATH;
    const RECEIVER: &'static str = RECEIVER;

    fn hold(&self) -> Held {
        self.pipeline.hold()
    }

    fn call(
        &self,
        body: Bytes,
        held: Held,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<Bytes, tonic::Status>> + Send + 'static {
        let pipeline = self.pipeline.clone();
        async move {
            let started = Instant::now();
            let origin = Origin::new(RECEIVER, peer);
            let result = post_spans(&pipeline, origin, &body, started, held).await;
            result
                .map(|_| Bytes::from(PostSpansResponse::default().encode_to_vec()))
                .map_err(|error| error.grpc_status())
        }
    }
}

async fn post_spans(
    pipeline: &Pipeline,
    origin: Origin,
    body: &[u8],
    started: Instant,
    held: Held,
) -> Result<u64, ExportError> {
    metrics::counter!(crate::metrics::RECEIVED_BYTES, "receiver" => RECEIVER)
        .increment(body.len() as u64);
    let request = PostSpansRequest::decode(body)
        .map_err(|e| ExportError::InvalidArgument(format!("invalid PostSpansRequest: {e}")))
        .inspect_err(|e| e.record(origin, started))?;
    let batches = request.batch.into_iter().collect();
    export_translated(
        pipeline,
        origin,
        proto_batches_to_otlp(batches),
        started,
        held,
    )
    .await
}

/// The receiver as a tower service, for [`grpc_raw::serve`](super::grpc_raw::serve).
pub fn service(pipeline: Arc<Pipeline>, limits: RequestLimits) -> RawService<PostSpans> {
    RawService::new(PostSpans { pipeline }, limits)
}
