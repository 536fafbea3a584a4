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
//!
//! TCP senders speak TLS to `https://` endpoints and send a bearer token on
//! every request when [`Security`] says so; the header value is built once
//! per sender. A refused token (gRPC UNAUTHENTICATED, HTTP 401) is a final
//! answer, never retried.

use std::net::SocketAddr;
use std::time::Duration;

use ferrotrace_format::jaeger::{proto as jproto, thrift as jthrift};
use ferrotrace_format::thrift::ThriftProtocol;
use ferrotrace_format::zipkin;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::legacy;
use crate::security::{is_https, Security};

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

impl Protocol {
    /// False for the Jaeger agent UDP protocols, which have no TLS or headers.
    pub fn is_tcp(self) -> bool {
        !matches!(self, Protocol::JaegerCompact | Protocol::JaegerBinary)
    }
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
    Grpc(GrpcSender),
    Http {
        client: reqwest::Client,
        url: String,
        format: HttpFormat,
    },
    JaegerGrpc(GrpcSender),
    Udp(UdpSender),
}

/// A gRPC client and the `authorization` metadata every call carries.
#[derive(Clone)]
pub struct GrpcSender {
    grpc: tonic::client::Grpc<Channel>,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl GrpcSender {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.authorization {
            // A clone shares the value's bytes: no per-call formatting.
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }
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
    /// `endpoint` is `http://host:port` or `https://host:port` for TCP
    /// protocols and `host:port` (optionally `udp://host:port`) for the
    /// Jaeger UDP ones. `security` applies to the TCP protocols.
    pub async fn connect(
        endpoint: &str,
        protocol: Protocol,
        options: Options,
        security: &Security,
    ) -> anyhow::Result<Self> {
        let http = |format| -> anyhow::Result<Sender> {
            let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
            Ok(Sender::Http {
                client: security.http_client(builder)?.build()?,
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
                let channel = channel(endpoint, security).await?;
                Sender::Grpc(GrpcSender {
                    grpc: tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20),
                    authorization: security.grpc_authorization()?,
                })
            }
            Protocol::JaegerGrpc => Sender::JaegerGrpc(GrpcSender {
                grpc: tonic::client::Grpc::new(channel(endpoint, security).await?),
                authorization: security.grpc_authorization()?,
            }),
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
            (Sender::Grpc(sender), Body::OtlpBytes(request)) => {
                let request = sender.request(request.clone());
                let grpc = &mut sender.grpc;
                if let Err(error) = grpc.ready().await {
                    return transport_error(&error);
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(OTLP_EXPORT_PATH);
                let answer = grpc.unary(request, path, RawRequestCodec).await;
                match answer {
                    Ok(response) => accepted(&response.into_inner()),
                    Err(status) => grpc_error(&status),
                }
            }
            (Sender::JaegerGrpc(sender), Body::JaegerProto(request)) => {
                let request = sender.request(request.clone());
                let grpc = &mut sender.grpc;
                if let Err(error) = grpc.ready().await {
                    return transport_error(&error);
                }
                let path =
                    tonic::codegen::http::uri::PathAndQuery::from_static(jproto::POST_SPANS_PATH);
                let answer: Result<tonic::Response<jproto::PostSpansResponse>, _> = grpc
                    .unary(request, path, tonic_prost::ProstCodec::default())
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

async fn channel(endpoint: &str, security: &Security) -> anyhow::Result<Channel> {
    let mut channel = Channel::from_shared(endpoint.to_string())?.timeout(Duration::from_secs(30));
    if is_https(endpoint) {
        channel = channel.tls_config(security.grpc_tls())?;
    }
    channel
        .connect()
        .await
        .map_err(|error| anyhow::anyhow!("connecting to {endpoint}: {}", error_chain(&error)))
}

/// An error with its sources, so a TLS failure says why (tonic's own
/// message is only "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn span_count(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

/// A gRPC answer other than OK. A call that never reached the collector
/// (tonic reports it as `Unknown` or `Unavailable` with the transport error
/// as its source) is a transport error, retried as an SDK does.
fn grpc_error(status: &tonic::Status) -> Answer {
    use std::error::Error as _;
    if let Some(source) = status.source() {
        if matches!(
            status.code(),
            tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::Cancelled
        ) {
            return transport_error(source);
        }
    }
    let retryable = status.code() == tonic::Code::Unavailable
        || (status.code() == tonic::Code::ResourceExhausted && !status.details().is_empty());
    let code = format!("{:?}", status.code());
    let kind = match message_category(status.message()) {
        Some(category) => format!("{code} ({category})"),
        None => code,
    };
    let text = format!("{kind}: {}", status.message());
    if retryable {
        Answer::Retryable(text)
    } else {
        Answer::Final(text)
    }
}

/// The collector's message up to its first `:`, `;` or `,`, with numbers
/// as `N`, when that is short: `kafka unavailable`, `collector at
/// capacity`, `the request holds N spans`. Enough to tell refusals of one
/// code apart without a kind per request.
fn message_category(message: &str) -> Option<String> {
    let head = message.split([':', ';', ',']).next().unwrap_or("").trim();
    if head.is_empty() || head.chars().count() > 40 {
        return None;
    }
    let mut category = String::with_capacity(head.len());
    for c in head.chars() {
        if c.is_ascii_digit() {
            if !category.ends_with('N') {
                category.push('N');
            }
        } else {
            category.push(c);
        }
    }
    Some(category)
}

/// A request that did not reach the collector, or got no answer: retryable,
/// its kind one of `connect refused`, `connection reset`, `timed out`, `dns
/// error` or `transport error`.
fn transport_error(error: &(dyn std::error::Error + 'static)) -> Answer {
    Answer::Retryable(format!("{}: {}", transport_kind(error), error_chain(error)))
}

fn transport_kind(error: &(dyn std::error::Error + 'static)) -> &'static str {
    use std::io::ErrorKind;
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return "connect refused",
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe => return "connection reset",
                ErrorKind::TimedOut => return "timed out",
                _ => {}
            }
        }
        if let Some(http) = error.downcast_ref::<reqwest::Error>() {
            if http.is_timeout() {
                return "timed out";
            }
        }
        text.push_str(&error.to_string().to_ascii_lowercase());
        text.push(' ');
        next = error.source();
    }
    if text.contains("connection refused") {
        "connect refused"
    } else if text.contains("dns") || text.contains("lookup") {
        "dns error"
    } else if text.contains("timed out") || text.contains("deadline") {
        "timed out"
    } else if text.contains("reset") || text.contains("broken pipe") {
        "connection reset"
    } else {
        "transport error"
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
        Err(error) => return transport_error(&error),
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
    // `HTTP 503 Service Unavailable: <body>`: the status text is the kind.
    let text = format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    if http_retryable(status.as_u16()) {
        Answer::Retryable(text)
    } else {
        Answer::Final(text)
    }
}

/// The statuses an OpenTelemetry SDK retries; anything else (401 for a
/// refused token among them) is final.
fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

fn accepted(response: &ExportTraceServiceResponse) -> Answer {
    let rejected_spans = response
        .partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64);
    Answer::Accepted { rejected_spans }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_is_final_and_keeps_its_code() {
        let answer = grpc_error(&tonic::Status::unauthenticated("invalid bearer token"));
        assert_eq!(
            answer,
            Answer::Final("Unauthenticated (invalid bearer token): invalid bearer token".into())
        );
        let Answer::Final(reason) = answer else {
            unreachable!()
        };
        assert_eq!(
            crate::run::error_kind(&reason),
            "Unauthenticated (invalid bearer token)"
        );
        let Answer::Retryable(reason) = grpc_error(&tonic::Status::unavailable(
            "kafka unavailable: Local: Message timed out",
        )) else {
            panic!("UNAVAILABLE is retried")
        };
        assert_eq!(
            crate::run::error_kind(&reason),
            "Unavailable (kafka unavailable)"
        );
        let Answer::Final(reason) = grpc_error(&tonic::Status::invalid_argument(
            "the request holds 120000 spans, more than --max-spans-per-request 100000",
        )) else {
            panic!("INVALID_ARGUMENT is final")
        };
        assert_eq!(
            crate::run::error_kind(&reason),
            "InvalidArgument (the request holds N spans)"
        );
        assert!(matches!(
            grpc_error(&tonic::Status::unavailable("broker down")),
            Answer::Retryable(_)
        ));
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_a_readable_transport_error() {
        let port = ferrotrace_testkit::free_port();
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/v1/traces");
        let Answer::Retryable(reason) = post(&client, &url, HttpFormat::OtlpProtobuf, vec![]).await
        else {
            panic!("a refused connection is retried")
        };
        assert_eq!(
            crate::run::error_kind(&reason),
            "connect refused",
            "{reason}"
        );
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy();
        let mut grpc = tonic::client::Grpc::new(channel);
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(OTLP_EXPORT_PATH);
        let answer = match grpc.ready().await {
            Err(error) => transport_error(&error),
            Ok(()) => match grpc
                .unary(
                    tonic::Request::new(bytes::Bytes::new()),
                    path,
                    RawRequestCodec,
                )
                .await
            {
                Ok(_) => panic!("nothing listens on {port}"),
                Err(status) => grpc_error(&status),
            },
        };
        let Answer::Retryable(reason) = answer else {
            panic!("a refused connection is retried: {answer:?}")
        };
        assert_eq!(
            crate::run::error_kind(&reason),
            "connect refused",
            "{reason}"
        );
    }

    #[test]
    fn http_401_is_not_retried() {
        assert!(!http_retryable(401));
        assert!(!http_retryable(403));
        assert!(http_retryable(503));
        assert!(http_retryable(429));
    }

    #[tokio::test]
    async fn bearer_token_goes_into_every_grpc_call() {
        let security = Security {
            bearer_token: Some(crate::security::BearerToken::new("abc")),
            ..Default::default()
        };
        let sender = Sender::connect(
            "http://127.0.0.1:1",
            Protocol::Grpc,
            Options::default(),
            &security,
        )
        .await;
        // Nothing listens on port 1: connecting fails, naming the endpoint.
        let error = sender.err().expect("nothing listens on port 1").to_string();
        assert!(error.contains("127.0.0.1:1"), "{error}");
        let grpc = GrpcSender {
            grpc: tonic::client::Grpc::new(
                Channel::from_static("http://127.0.0.1:1").connect_lazy(),
            ),
            authorization: security.grpc_authorization().unwrap(),
        };
        for _ in 0..2 {
            let request = grpc.request(());
            assert_eq!(
                request.metadata().get("authorization").unwrap(),
                "Bearer abc"
            );
        }
    }
}
