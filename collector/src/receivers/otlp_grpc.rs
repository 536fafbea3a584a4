//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! The request body is never decoded into prost structs: a pass-through codec
//! hands the raw protobuf bytes to the pipeline, which splits them at the wire
//! level. That is the difference between ~100k and ~500k spans per CPU-second.
//! gzip request compression is accepted.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::export_response;
use crate::pipeline::Pipeline;

const RECEIVER: &str = "otlp_grpc";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The TraceService as a tower service, for `tonic::transport::Server`.
#[derive(Clone)]
pub struct TraceService {
    pipeline: Arc<Pipeline>,
    max_request_bytes: usize,
}

impl TraceService {
    pub fn new(pipeline: Arc<Pipeline>, max_request_bytes: usize) -> Self {
        Self {
            pipeline,
            max_request_bytes,
        }
    }
}

impl NamedService for TraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tower::Service<http::Request<B>> for TraceService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            let status =
                tonic::Status::unimplemented(format!("unknown method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let export = Export {
            pipeline: self.pipeline.clone(),
        };
        let max = self.max_request_bytes;
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(
                    tonic::codec::EnabledCompressionEncodings::default(),
                    tonic::codec::EnabledCompressionEncodings::default(),
                )
                .accept_compressed(CompressionEncoding::Gzip)
                .apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(export, request).await)
        })
    }
}

struct Export {
    pipeline: Arc<Pipeline>,
}

impl UnaryService<Bytes> for Export {
    type Response = Bytes;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let pipeline = self.pipeline.clone();
        Box::pin(async move {
            let started = Instant::now();
            let body = request.into_inner();
            match pipeline.export(RECEIVER, &body, started).await {
                Ok(accepted) => Ok(tonic::Response::new(Bytes::from(
                    export_response(&accepted).encode_to_vec(),
                ))),
                Err(error) => Err(error.grpc_status()),
            }
        })
    }
}

/// A codec that leaves message bodies as bytes in both directions.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Serves the receiver on `listener` until `shutdown`; in-flight calls finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: TraceService,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        // Large frames and windows cut per-request overhead for big batches (measured, design §9).
        .max_frame_size(Some(1 << 20))
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(8 << 20))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
}
