//! The log of refused client requests, so an operator can tell which
//! application sends what the collector refuses: one warning per refusal
//! with the peer address, the receiver, the reason (the `result` label of
//! the requests metric, or the span refusal reason) and the service name
//! when the request says it (`service.name` of its first resource).
//!
//! Refusals can come at the rate requests do, so the log is rate-limited
//! (one line a second, with the count of those suppressed since). Kafka
//! being unavailable is not logged here: that is the collector's trouble,
//! not the client's, and the pipeline logs it where it happens.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

use ferrotrace_common::log_limit::LogLimiter;
use ferrotrace_format::otlp::semconv::SERVICE_NAME;

/// Where a request came from.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// The `receiver` label of the metrics: `otlp_grpc`, `zipkin`, ...
    pub receiver: &'static str,
    /// The client's address; `None` where the transport does not say (tests
    /// driving a router without a socket).
    pub peer: Option<SocketAddr>,
}

impl Origin {
    pub fn new(receiver: &'static str, peer: Option<SocketAddr>) -> Self {
        Self { receiver, peer }
    }
}

/// The peer address of an HTTP request, put in its extensions by the server
/// loop (see [`serve_http`](crate::receivers::serve_http)).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Refusal lines let through: one a second, shared by every receiver.
static LIMITER: LazyLock<LogLimiter> = LazyLock::new(|| LogLimiter::new(Duration::from_secs(1)));

/// Logs a refused request (rate-limited). `reason` is the requests metric's
/// `result` label; `unavailable` is not logged here (see the module docs).
pub fn request_refused(
    origin: Origin,
    reason: &str,
    error: &dyn std::fmt::Display,
    service: impl FnOnce() -> Option<String>,
) {
    if reason == "unavailable" {
        return;
    }
    let Some(suppressed) = LIMITER.allow() else {
        return;
    };
    tracing::warn!(
        peer = %Display(origin.peer),
        receiver = origin.receiver,
        reason,
        service = service().unwrap_or_default(),
        %error,
        suppressed,
        "request refused"
    );
}

/// Logs spans refused inside an accepted request (OTLP `partial_success`,
/// or Jaeger and Zipkin spans refused by the translation), rate-limited.
pub fn spans_refused(
    origin: Origin,
    spans: u64,
    message: &str,
    service: impl FnOnce() -> Option<String>,
) {
    let Some(suppressed) = LIMITER.allow() else {
        return;
    };
    tracing::warn!(
        peer = %Display(origin.peer),
        receiver = origin.receiver,
        reason = "invalid_spans",
        service = service().unwrap_or_default(),
        spans,
        error = message,
        suppressed,
        "spans refused"
    );
}

/// `service.name` of a request's first resource, from its protobuf bytes.
/// Decodes the resources only, skipping every span. Only called for a
/// refused request.
pub fn service_of_bytes(request: &[u8]) -> Option<String> {
    let resources = Resources::decode(request).ok()?;
    let attributes = resources
        .resource_spans
        .into_iter()
        .next()?
        .resource?
        .attributes;
    attributes
        .into_iter()
        .find(|attribute| attribute.key == SERVICE_NAME)
        .and_then(|attribute| match attribute.value?.value? {
            Value::StringValue(name) => Some(name),
            _ => None,
        })
}

/// `service.name` of a decoded request's first resource.
pub fn service_of(request: &ExportTraceServiceRequest) -> Option<&str> {
    let resource = request.resource_spans.first()?.resource.as_ref()?;
    resource
        .attributes
        .iter()
        .find(|attribute| attribute.key == SERVICE_NAME)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                Value::StringValue(name) => Some(name.as_str()),
                _ => None,
            },
        )
}

/// `ExportTraceServiceRequest` read for its resources only.
#[derive(Clone, PartialEq, Message)]
struct Resources {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceOnly>,
}

/// `ResourceSpans` without its scopes.
#[derive(Clone, PartialEq, Message)]
struct ResourceOnly {
    #[prost(message, optional, tag = "1")]
    resource: Option<opentelemetry_proto::tonic::resource::v1::Resource>,
}

/// An optional address as a log field: the address, or `unknown`.
struct Display(Option<SocketAddr>);

impl std::fmt::Display for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(peer) => peer.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

    fn resource_spans(service: &str) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn service_name_comes_from_the_first_resource() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![resource_spans("checkout"), resource_spans("cart")],
        };
        assert_eq!(service_of(&request), Some("checkout"));
        assert_eq!(
            service_of_bytes(&request.encode_to_vec()).as_deref(),
            Some("checkout")
        );
        assert_eq!(service_of_bytes(b"\x0a\xff"), None);
        assert_eq!(service_of(&ExportTraceServiceRequest::default()), None);
    }
}
