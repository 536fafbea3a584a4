//! Sending export requests to a collector over OTLP/gRPC or OTLP/HTTP
//! (protobuf or JSON), classifying answers the way an OpenTelemetry SDK does:
//! accepted (possibly with rejected spans), refused-retryable, refused-final.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
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

#[derive(Clone)]
pub enum Sender {
    Grpc(TraceServiceClient<Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        json: bool,
    },
}

impl Sender {
    /// `endpoint` is `http://host:port` (4317 for gRPC, 4318 for HTTP).
    pub async fn connect(endpoint: &str, protocol: Protocol) -> anyhow::Result<Self> {
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = Channel::from_shared(endpoint.to_string())?
                    .timeout(Duration::from_secs(30))
                    .connect()
                    .await?;
                Sender::Grpc(TraceServiceClient::new(channel).max_decoding_message_size(64 << 20))
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => Sender::Http {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
                json: protocol == Protocol::HttpJson,
            },
        })
    }

    pub async fn send(&mut self, request: &ExportTraceServiceRequest) -> Answer {
        match self {
            Sender::Grpc(client) => match client.export(request.clone()).await {
                Ok(response) => accepted(&response.into_inner()),
                Err(status) => {
                    let retryable = status.code() == tonic::Code::Unavailable
                        || (status.code() == tonic::Code::ResourceExhausted
                            && !status.details().is_empty());
                    let text = format!("{:?}: {}", status.code(), status.message());
                    if retryable {
                        Answer::Retryable(text)
                    } else {
                        Answer::Final(text)
                    }
                }
            },
            Sender::Http { client, url, json } => {
                let (content_type, body) = if *json {
                    (
                        "application/json",
                        serde_json::to_vec(request).unwrap_or_default(),
                    )
                } else {
                    ("application/x-protobuf", request.encode_to_vec())
                };
                let response = match client
                    .post(url.as_str())
                    .header("content-type", content_type)
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
                    let decoded = if *json {
                        serde_json::from_slice::<ExportTraceServiceResponse>(&bytes).ok()
                    } else {
                        ExportTraceServiceResponse::decode(&bytes[..]).ok()
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
        }
    }
}

fn accepted(response: &ExportTraceServiceResponse) -> Answer {
    let rejected_spans = response
        .partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64);
    Answer::Accepted { rejected_spans }
}
