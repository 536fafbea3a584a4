//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! The request body is never decoded into prost structs: the raw bytes go to
//! the pipeline, which splits them at the wire level. That is the difference
//! between ~100k and ~500k spans per CPU-second. gzip request compression is
//! accepted (see [`grpc_raw`](super::grpc_raw)).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use prost::Message;

use super::grpc_raw::{RawRpc, RawService};
use super::{export_response, RequestLimits};
use crate::pipeline::{Held, Pipeline};
use crate::refusals::Origin;

const RECEIVER: &str = "otlp_grpc";

/// `TraceService/Export` on raw bytes.
#[derive(Clone)]
pub struct Export {
    pipeline: Arc<Pipeline>,
}

impl RawRpc for Export {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
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
            metrics::counter!(crate::metrics::RECEIVED_BYTES, "receiver" => RECEIVER)
                .increment(body.len() as u64);
            match pipeline.export(origin, &body, started, held).await {
                Ok(accepted) => Ok(Bytes::from(export_response(&accepted).encode_to_vec())),
                Err(error) => Err(error.grpc_status()),
            }
        }
    }
}

/// The receiver as a tower service, for [`grpc_raw::serve`](super::grpc_raw::serve).
pub fn service(pipeline: Arc<Pipeline>, limits: RequestLimits) -> RawService<Export> {
    RawService::new(Export { pipeline }, limits)
}
