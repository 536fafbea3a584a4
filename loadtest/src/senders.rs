//! Sending the generator's requests to a collector over any protocol it
//! accepts: OTLP/gRPC, OTLP/HTTP (protobuf or JSON), the Jaeger agent's UDP
//! ports (Thrift compact or binary), Jaeger Thrift over HTTP, Jaeger gRPC
//! `PostSpans`, and Zipkin v2 (JSON or protobuf).
//!
//! A request becomes one or more [`Payload`]s, each sent and answered on its
//! own (a Jaeger batch has one process, so a request of six services is six
//! batches), so a retried payload never re-sends another. Answers are
//! classified the way an OpenTelemetry SDK does: accepted (possibly with
//! rejected spans), refused-retryable, refused-final. UDP has no answer and
//! no back-pressure: packets are paced to a span rate and counted as sent.

use std::net::SocketAddr;
use std::time::Duration;

use ferrotrace_common::jaeger::{proto as jproto, thrift as jthrift};
use ferrotrace_common::thrift::ThriftProtocol;
use ferrotrace_common::zipkin;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::legacy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (:4317).
    Grpc,
    /// OTLP/HTTP protobuf (:4318).
    HttpProtobuf,
    /// OTLP/HTTP JSON (:4318).
    HttpJson,
    /// Jaeger agent UDP, Thrift compact `emitBatch` (:6831).
    JaegerCompact,
    /// Jaeger agent UDP, Thrift binary `emitBatch` (:6832).
    JaegerBinary,
    /// Jaeger Thrift binary over HTTP, `POST /api/traces` (:14268).
    JaegerHttp,
    /// Jaeger gRPC `CollectorService/PostSpans` (:14250).
    JaegerGrpc,
    /// Zipkin v2 JSON, `POST /api/v2/spans` (:9411).
    ZipkinJson,
    /// Zipkin v2 protobuf, `POST /api/v2/spans` (:9411).
    ZipkinProto,
}

/// Settings only some protocols use.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Largest UDP packet sent; bigger batches are split.
    pub udp_max_packet_bytes: usize,
    /// Spans per second this sender's UDP packets are paced to; 0 is unpaced.
    pub udp_spans_per_second: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            udp_max_packet_bytes: legacy::UDP_MAX_PACKET_BYTES,
            udp_spans_per_second: 0.0,
        }
    }
}

/// What the collector answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted {
        rejected_spans: u64,
    },
    /// The SDK would retry (gRPC UNAVAILABLE / RESOURCE_EXHAUSTED with RetryInfo, HTTP 429/502/503/504).
    Retryable(String),
    /// The SDK would drop the data.
    Final(String),
}

/// One unit sent and answered on its own: an OTLP request, a Jaeger batch,
/// a Zipkin span list or a UDP packet.
pub struct Payload {
    pub spans: u64,
    body: Body,
}

enum Body {
    /// An OTLP request, encoded once: retries and gRPC send these bytes.
    OtlpBytes(bytes::Bytes),
    Otlp(ExportTraceServiceRequest),
    JaegerProto(jproto::PostSpansRequest),
    Bytes(Vec<u8>),
}

#[derive(Clone)]
pub enum Sender {
    /// OTLP/gRPC, sending requests encoded in advance (see [`RawRequestCodec`]).
    Grpc(tonic::client::Grpc<Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        format: HttpFormat,
    },
    JaegerGrpc(tonic::client::Grpc<Channel>),
    Udp(UdpSender),
}

/// The body an HTTP sender posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFormat {
    OtlpProtobuf,
    OtlpJson,
    JaegerThrift,
    ZipkinJson,
    ZipkinProto,
}

impl HttpFormat {
    fn content_type(self) -> &'static str {
        match self {
            HttpFormat::OtlpProtobuf | HttpFormat::ZipkinProto => "application/x-protobuf",
            HttpFormat::OtlpJson | HttpFormat::ZipkinJson => "application/json",
            HttpFormat::JaegerThrift => "application/x-thrift",
        }
    }

    fn path(self) -> &'static str {
        match self {
            HttpFormat::OtlpProtobuf | HttpFormat::OtlpJson => "/v1/traces",
            HttpFormat::JaegerThrift => "/api/traces",
            HttpFormat::ZipkinJson | HttpFormat::ZipkinProto => "/api/v2/spans",
        }
    }
}

/// A Jaeger agent UDP client, paced because UDP cannot push back.
#[derive(Clone)]
pub struct UdpSender {
    socket: std::sync::Arc<UdpSocket>,
    protocol: ThriftProtocol,
    max_packet_bytes: usize,
    /// Time one span is worth at the paced rate; zero when unpaced.
    per_span: Duration,
    next: Option<Instant>,
}

impl Sender {
    /// `endpoint` is `http://host:port` for TCP protocols and `host:port`
    /// (optionally `udp://host:port`) for the Jaeger UDP ones.
    pub async fn connect(
        endpoint: &str,
        protocol: Protocol,
        options: Options,
    ) -> anyhow::Result<Self> {
        let http = |format| -> anyhow::Result<Sender> {
            Ok(Sender::Http {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                url: format!(
                    "{}{}",
                    endpoint.trim_end_matches('/'),
                    HttpFormat::path(format)
                ),
                format,
            })
        };
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = channel(endpoint).await?;
                Sender::Grpc(tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20))
            }
            Protocol::JaegerGrpc => {
                Sender::JaegerGrpc(tonic::client::Grpc::new(channel(endpoint).await?))
            }
            Protocol::HttpProtobuf => http(HttpFormat::OtlpProtobuf)?,
            Protocol::HttpJson => http(HttpFormat::OtlpJson)?,
            Protocol::JaegerHttp => http(HttpFormat::JaegerThrift)?,
            Protocol::ZipkinJson => http(HttpFormat::ZipkinJson)?,
            Protocol::ZipkinProto => http(HttpFormat::ZipkinProto)?,
            Protocol::JaegerCompact | Protocol::JaegerBinary => {
                let target = endpoint
                    .trim_start_matches("udp://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                let target: SocketAddr = tokio::net::lookup_host(target)
                    .await?
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{endpoint} does not resolve"))?;
                let local: SocketAddr = if target.is_ipv4() {
                    "0.0.0.0:0".parse()?
                } else {
                    "[::]:0".parse()?
                };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(target).await?;
                let per_span = if options.udp_spans_per_second > 0.0 {
                    Duration::from_secs_f64(1.0 / options.udp_spans_per_second)
                } else {
                    Duration::ZERO
                };
                Sender::Udp(UdpSender {
                    socket: std::sync::Arc::new(socket),
                    protocol: if protocol == Protocol::JaegerCompact {
                        ThriftProtocol::Compact
                    } else {
                        ThriftProtocol::Binary
                    },
                    max_packet_bytes: options.udp_max_packet_bytes,
                    per_span,
                    next: None,
                })
            }
        })
    }

    /// The payloads `request` is sent as.
    pub fn payloads(&self, request: ExportTraceServiceRequest) -> Vec<Payload> {
        let bytes = |spans: usize, bytes: Vec<u8>| Payload {
            spans: spans as u64,
            body: Body::Bytes(bytes),
        };
        match self {
            Sender::Grpc(_) => vec![Payload {
                spans: span_count(&request),
                body: Body::OtlpBytes(request.encode_to_vec().into()),
            }],
            Sender::Http {
                format: HttpFormat::OtlpProtobuf | HttpFormat::OtlpJson,
                ..
            } => vec![Payload {
                spans: span_count(&request),
                body: Body::Otlp(request),
            }],
            Sender::Http {
                format: HttpFormat::JaegerThrift,
                ..
            } => legacy::to_jaeger_thrift(&request)
                .iter()
                .map(|batch| {
                    bytes(
                        batch.spans.len(),
                        jthrift::encode_batch(batch, ThriftProtocol::Binary),
                    )
                })
                .collect(),
            Sender::Http {
                format: HttpFormat::ZipkinJson,
                ..
            } => {
                let spans = legacy::to_zipkin(&request);
                vec![bytes(spans.len(), zipkin::to_v2_json(&spans))]
            }
            Sender::Http {
                format: HttpFormat::ZipkinProto,
                ..
            } => {
                let spans = legacy::to_zipkin(&request);
                vec![bytes(spans.len(), zipkin::to_v2_proto(&spans))]
            }
            Sender::JaegerGrpc(_) => legacy::to_jaeger_proto(&request)
                .into_iter()
                .map(|batch| Payload {
                    spans: batch.spans.len() as u64,
                    body: Body::JaegerProto(jproto::PostSpansRequest { batch: Some(batch) }),
                })
                .collect(),
            Sender::Udp(udp) => legacy::to_jaeger_thrift(&request)
                .into_iter()
                .flat_map(|batch| legacy::udp_packets(batch, udp.protocol, udp.max_packet_bytes))
                .map(|packet| bytes(packet.spans, packet.bytes))
                .collect(),
        }
    }

    pub async fn send(&mut self, payload: &Payload) -> Answer {
        match (self, &payload.body) {
            (Sender::Grpc(grpc), Body::OtlpBytes(request)) => {
                if let Err(error) = grpc.ready().await {
                    return Answer::Retryable(format!("transport: {error}"));
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(OTLP_EXPORT_PATH);
                let answer = grpc
                    .unary(tonic::Request::new(request.clone()), path, RawRequestCodec)
                    .await;
                match answer {
                    Ok(response) => accepted(&response.into_inner()),
                    Err(status) => grpc_error(&status),
                }
            }
            (Sender::JaegerGrpc(grpc), Body::JaegerProto(request)) => {
                if let Err(error) = grpc.ready().await {
                    return Answer::Retryable(format!("transport: {error}"));
                }
                let path =
                    tonic::codegen::http::uri::PathAndQuery::from_static(jproto::POST_SPANS_PATH);
                let answer: Result<tonic::Response<jproto::PostSpansResponse>, _> = grpc
                    .unary(
                        tonic::Request::new(request.clone()),
                        path,
                        tonic_prost::ProstCodec::default(),
                    )
                    .await;
                match answer {
                    Ok(_) => Answer::Accepted { rejected_spans: 0 },
                    Err(status) => grpc_error(&status),
                }
            }
            (
                Sender::Http {
                    client,
                    url,
                    format,
                },
                body,
            ) => {
                let body = match body {
                    Body::Otlp(request) if *format == HttpFormat::OtlpJson => {
                        serde_json::to_vec(request).unwrap_or_default()
                    }
                    Body::Otlp(request) => request.encode_to_vec(),
                    Body::OtlpBytes(bytes) => bytes.to_vec(),
                    Body::Bytes(bytes) => bytes.clone(),
                    Body::JaegerProto(request) => request.encode_to_vec(),
                };
                post(client, url, *format, body).await
            }
            (Sender::Udp(udp), Body::Bytes(packet)) => udp.send(packet, payload.spans).await,
            _ => Answer::Final("payload built for another sender".into()),
        }
    }
}

impl UdpSender {
    async fn send(&mut self, packet: &[u8], spans: u64) -> Answer {
        if !self.per_span.is_zero() {
            let now = Instant::now();
            // Sleep only when ahead by a few ms: timers are coarser than one packet's share.
            let floor = now.checked_sub(Duration::from_millis(20)).unwrap_or(now);
            let next = self.next.unwrap_or(now).max(floor);
            if next > now + Duration::from_millis(2) {
                tokio::time::sleep_until(next).await;
            }
            self.next = Some(next + self.per_span * spans as u32);
        }
        match self.socket.send(packet).await {
            Ok(_) => Answer::Accepted { rejected_spans: 0 },
            // ECONNREFUSED from an earlier packet's ICMP error, or a full buffer: the packet is lost.
            Err(error) => Answer::Final(format!("udp send: {error}")),
        }
    }
}

const OTLP_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A gRPC codec sending an already encoded `ExportTraceServiceRequest` and
/// decoding the response: a load generator should spend its CPU on load,
/// not on cloning and re-encoding the same request for every send or retry.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawRequestCodec;

impl tonic::codec::Codec for RawRequestCodec {
    type Encode = bytes::Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawRequestCodec;
    type Decoder = tonic_prost::ProstDecoder<ExportTraceServiceResponse>;

    fn encoder(&mut self) -> Self::Encoder {
        RawRequestCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

impl tonic::codec::Encoder for RawRequestCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Self::Item,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

async fn channel(endpoint: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(endpoint.to_string())?
        .timeout(Duration::from_secs(30))
        .connect()
        .await?)
}

fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

fn grpc_error(status: &tonic::Status) -> Answer {
    let retryable = status.code() == tonic::Code::Unavailable
        || (status.code() == tonic::Code::ResourceExhausted && !status.details().is_empty());
    let text = format!("{:?}: {}", status.code(), status.message());
    if retryable {
        Answer::Retryable(text)
    } else {
        Answer::Final(text)
    }
}

async fn post(client: &reqwest::Client, url: &str, format: HttpFormat, body: Vec<u8>) -> Answer {
    let response = match client
        .post(url)
        .header("content-type", format.content_type())
        .body(body)
        .send()
        .await
    {
        Ok(response) => response,
        Err(error) => return Answer::Retryable(format!("transport: {error}")),
    };
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    if status.is_success() {
        // Jaeger and Zipkin answer 202 with an empty body; OTLP carries partial success.
        let decoded = match format {
            HttpFormat::OtlpJson => {
                serde_json::from_slice::<ExportTraceServiceResponse>(&bytes).ok()
            }
            HttpFormat::OtlpProtobuf => ExportTraceServiceResponse::decode(&bytes[..]).ok(),
            _ => None,
        };
        return accepted(&decoded.unwrap_or_default());
    }
    let text = format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
        Answer::Retryable(text)
    } else {
        Answer::Final(text)
    }
}

fn accepted(response: &ExportTraceServiceResponse) -> Answer {
    let rejected_spans = response
        .partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64);
    Answer::Accepted { rejected_spans }
}
