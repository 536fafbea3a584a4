//! The generator's OTLP requests converted to the legacy formats the
//! collector also accepts, the way a Jaeger client or a Zipkin reporter
//! would have sent the same spans: Jaeger Thrift batches (UDP packets and
//! `POST /api/traces`), Jaeger protobuf batches (`PostSpans`) and Zipkin v2
//! spans (JSON or protobuf via `ferrotrace_format::zipkin`).
//!
//! What survives the trip through the collector's translators: trace, span
//! and parent IDs, name, kind, start and end (microseconds in Thrift and
//! Zipkin, their resolution; nanoseconds in Jaeger protobuf), attributes as
//! typed tags (Zipkin tags are strings), events as logs or annotations (a
//! Zipkin annotation keeps only the event name), an error status, and the
//! resource as the Jaeger process or the Zipkin local endpoint. Scopes,
//! links and trace state are left out: a load generator does not need them.
//!
//! One Jaeger batch per `ResourceSpans`, because a Jaeger batch has one
//! process: that is what each service's client sends. Zipkin spans carry
//! their service, so one request stays one list.

use ferrotrace_format::jaeger::{proto as jproto, thrift as jthrift};
use ferrotrace_format::otlp::semconv::SERVICE_NAME;
use ferrotrace_format::thrift::ThriftProtocol;
use ferrotrace_format::zipkin;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

/// Largest UDP packet a Jaeger client sends (jaeger-client-go's default), and
/// the collector's default limit.
pub const UDP_MAX_PACKET_BYTES: usize = 65_000;

/// The Jaeger Thrift batches of a request, one per resource.
pub fn to_jaeger_thrift(request: &ExportTraceServiceRequest) -> Vec<jthrift::Batch> {
    request
        .resource_spans
        .iter()
        .map(|rs| {
            let (service, others) = service_and_tags(rs.resource.as_ref());
            jthrift::Batch {
                process: jthrift::Process {
                    service_name: service.to_owned(),
                    tags: others.map(thrift_tag).collect(),
                },
                spans: rs
                    .scope_spans
                    .iter()
                    .flat_map(|ss| &ss.spans)
                    .map(thrift_span)
                    .collect(),
                ..Default::default()
            }
        })
        .filter(|batch| !batch.spans.is_empty())
        .collect()
}

/// The Jaeger protobuf batches of a request, one per resource (one
/// `PostSpansRequest` each, as the Jaeger agent and the OpenTelemetry
/// Collector's Jaeger exporter send them).
pub fn to_jaeger_proto(request: &ExportTraceServiceRequest) -> Vec<jproto::Batch> {
    request
        .resource_spans
        .iter()
        .map(|rs| {
            let (service, others) = service_and_tags(rs.resource.as_ref());
            jproto::Batch {
                process: Some(jproto::Process {
                    service_name: service.to_owned(),
                    tags: others.map(proto_tag).collect(),
                }),
                spans: rs
                    .scope_spans
                    .iter()
                    .flat_map(|ss| &ss.spans)
                    .map(proto_span)
                    .collect(),
            }
        })
        .filter(|batch| !batch.spans.is_empty())
        .collect()
}

/// The Zipkin v2 spans of a request. Resource attributes other than the
/// service name become tags of every span, as the OpenTelemetry Collector's
/// Zipkin exporter writes them (its receiver moves them back to the resource).
pub fn to_zipkin(request: &ExportTraceServiceRequest) -> Vec<zipkin::Span> {
    let mut spans = Vec::new();
    for rs in &request.resource_spans {
        let (service, others) = service_and_tags(rs.resource.as_ref());
        let resource_tags: Vec<(String, String)> = others
            .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
            .collect();
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            spans.push(zipkin_span(span, service, &resource_tags));
        }
    }
    spans
}

/// One Jaeger agent UDP packet (`Agent.emitBatch`) and the spans in it.
pub struct Packet {
    pub bytes: Vec<u8>,
    pub spans: usize,
}

/// `batch` as `emitBatch` packets of at most `max_bytes` each: a batch that
/// does not fit is halved until every part does, as a Jaeger client flushes
/// before a packet would overflow. A single span too large for a packet is
/// still sent (the collector drops and counts it, as a client would count it).
pub fn udp_packets(
    batch: jthrift::Batch,
    protocol: ThriftProtocol,
    max_bytes: usize,
) -> Vec<Packet> {
    let mut packets = Vec::new();
    split_into_packets(batch, protocol, max_bytes, &mut packets);
    packets
}

fn split_into_packets(
    mut batch: jthrift::Batch,
    protocol: ThriftProtocol,
    max_bytes: usize,
    out: &mut Vec<Packet>,
) {
    let bytes = jthrift::encode_emit_batch(&batch, protocol, 0);
    if bytes.len() <= max_bytes || batch.spans.len() <= 1 {
        out.push(Packet {
            bytes,
            spans: batch.spans.len(),
        });
        return;
    }
    let second = jthrift::Batch {
        process: batch.process.clone(),
        spans: batch.spans.split_off(batch.spans.len() / 2),
        ..Default::default()
    };
    split_into_packets(batch, protocol, max_bytes, out);
    split_into_packets(second, protocol, max_bytes, out);
}

/// The service name of a resource and its other attributes.
fn service_and_tags(resource: Option<&Resource>) -> (&str, impl Iterator<Item = &KeyValue>) {
    let attributes = resource
        .map(|r| r.attributes.as_slice())
        .unwrap_or_default();
    let service = attributes
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    (
        service,
        attributes.iter().filter(|kv| kv.key != SERVICE_NAME),
    )
}

fn id8(bytes: &[u8]) -> Option<[u8; 8]> {
    <[u8; 8]>::try_from(bytes).ok().filter(|id| *id != [0; 8])
}

fn id16(bytes: &[u8]) -> [u8; 16] {
    <[u8; 16]>::try_from(bytes).unwrap_or_default()
}

/// Jaeger's `span.kind` tag value; `None` for an unspecified kind.
fn kind_tag(kind: i32) -> Option<&'static str> {
    match SpanKind::try_from(kind).ok()? {
        SpanKind::Unspecified => None,
        SpanKind::Internal => Some("internal"),
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
    }
}

/// (is error, message) of a span's status, `None` when unset.
fn status(span: &Span) -> Option<(bool, &str)> {
    let status = span.status.as_ref()?;
    match StatusCode::try_from(status.code).ok()? {
        StatusCode::Unset => None,
        StatusCode::Ok => Some((false, status.message.as_str())),
        StatusCode::Error => Some((true, status.message.as_str())),
    }
}

/// An attribute value as text: Zipkin tags, and Jaeger tags of types it lacks.
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => b.iter().map(|byte| format!("{byte:02x}")).collect(),
        Some(other) => serde_json::to_string(other).unwrap_or_default(),
    }
}

// --- Jaeger Thrift ---

fn thrift_tag(kv: &KeyValue) -> jthrift::Tag {
    let key = kv.key.clone();
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => jthrift::Tag::string(key, s.clone()),
        Some(Value::BoolValue(b)) => jthrift::Tag::bool(key, *b),
        Some(Value::IntValue(i)) => jthrift::Tag::long(key, *i),
        Some(Value::DoubleValue(d)) => jthrift::Tag::double(key, *d),
        Some(Value::BytesValue(b)) => jthrift::Tag::binary(key, b.clone()),
        _ => jthrift::Tag::string(key, text(kv.value.as_ref())),
    }
}

fn micros(nanos: u64) -> i64 {
    (nanos / 1_000) as i64
}

fn thrift_span(span: &Span) -> jthrift::Span {
    let trace_id = id16(&span.trace_id);
    let (high, low) = (
        i64::from_be_bytes(trace_id[..8].try_into().unwrap_or_default()),
        i64::from_be_bytes(trace_id[8..].try_into().unwrap_or_default()),
    );
    let parent = id8(&span.parent_span_id).map(i64::from_be_bytes);
    let mut tags = Vec::with_capacity(span.attributes.len() + 3);
    tags.extend(kind_tag(span.kind).map(|kind| jthrift::Tag::string("span.kind", kind)));
    tags.extend(span.attributes.iter().map(thrift_tag));
    match status(span) {
        Some((true, message)) => {
            tags.push(jthrift::Tag::bool("error", true));
            if !message.is_empty() {
                tags.push(jthrift::Tag::string("otel.status_description", message));
            }
        }
        Some((false, _)) => tags.push(jthrift::Tag::string("otel.status_code", "OK")),
        None => {}
    }
    let start = micros(span.start_time_unix_nano);
    jthrift::Span {
        trace_id_low: low,
        trace_id_high: high,
        span_id: id8(&span.span_id).map(i64::from_be_bytes).unwrap_or(0),
        parent_span_id: parent.unwrap_or(0),
        operation_name: span.name.clone(),
        // Jaeger clients list the parent as a CHILD_OF reference as well.
        references: parent
            .map(|span_id| jthrift::SpanRef {
                ref_type: jthrift::SpanRefType::CHILD_OF,
                trace_id_low: low,
                trace_id_high: high,
                span_id,
            })
            .into_iter()
            .collect(),
        flags: 1,
        start_time: start,
        duration: micros(span.end_time_unix_nano).saturating_sub(start).max(0),
        tags,
        logs: span
            .events
            .iter()
            .map(|event| jthrift::Log {
                timestamp: micros(event.time_unix_nano),
                fields: std::iter::once(jthrift::Tag::string("event", event.name.clone()))
                    .chain(event.attributes.iter().map(thrift_tag))
                    .collect(),
            })
            .collect(),
    }
}

// --- Jaeger protobuf ---

fn proto_tag(kv: &KeyValue) -> jproto::KeyValue {
    let key = kv.key.clone();
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => jproto::KeyValue::string(key, s.clone()),
        Some(Value::BoolValue(b)) => jproto::KeyValue::bool(key, *b),
        Some(Value::IntValue(i)) => jproto::KeyValue::int64(key, *i),
        Some(Value::DoubleValue(d)) => jproto::KeyValue::float64(key, *d),
        Some(Value::BytesValue(b)) => jproto::KeyValue::binary(key, b.clone()),
        _ => jproto::KeyValue::string(key, text(kv.value.as_ref())),
    }
}

fn timestamp(nanos: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn proto_span(span: &Span) -> jproto::Span {
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    let mut tags = Vec::with_capacity(span.attributes.len() + 3);
    tags.extend(kind_tag(span.kind).map(|kind| jproto::KeyValue::string("span.kind", kind)));
    tags.extend(span.attributes.iter().map(proto_tag));
    match status(span) {
        Some((true, message)) => {
            tags.push(jproto::KeyValue::bool("error", true));
            if !message.is_empty() {
                tags.push(jproto::KeyValue::string("otel.status_description", message));
            }
        }
        Some((false, _)) => tags.push(jproto::KeyValue::string("otel.status_code", "OK")),
        None => {}
    }
    jproto::Span {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        operation_name: span.name.clone(),
        // Jaeger's protobuf model has no parent field: the parent is a CHILD_OF reference.
        references: id8(&span.parent_span_id)
            .map(|parent| jproto::SpanRef {
                trace_id: span.trace_id.clone(),
                span_id: parent.to_vec(),
                ref_type: jproto::SpanRefType::ChildOf as i32,
            })
            .into_iter()
            .collect(),
        flags: 1,
        start_time: Some(timestamp(span.start_time_unix_nano)),
        duration: Some(prost_types::Duration {
            seconds: (duration / 1_000_000_000) as i64,
            nanos: (duration % 1_000_000_000) as i32,
        }),
        tags,
        logs: span
            .events
            .iter()
            .map(|event| jproto::Log {
                timestamp: Some(timestamp(event.time_unix_nano)),
                fields: std::iter::once(jproto::KeyValue::string("event", event.name.clone()))
                    .chain(event.attributes.iter().map(proto_tag))
                    .collect(),
            })
            .collect(),
        ..Default::default()
    }
}

// --- Zipkin v2 ---

fn zipkin_span(span: &Span, service: &str, resource_tags: &[(String, String)]) -> zipkin::Span {
    let start = span.start_time_unix_nano / 1_000;
    let duration = (span.end_time_unix_nano / 1_000).saturating_sub(start);
    let mut tags: std::collections::BTreeMap<String, String> = resource_tags
        .iter()
        .cloned()
        .chain(
            span.attributes
                .iter()
                .map(|kv| (kv.key.clone(), text(kv.value.as_ref()))),
        )
        .collect();
    let kind = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Server) => Some(zipkin::Kind::Server),
        Ok(SpanKind::Client) => Some(zipkin::Kind::Client),
        Ok(SpanKind::Producer) => Some(zipkin::Kind::Producer),
        Ok(SpanKind::Consumer) => Some(zipkin::Kind::Consumer),
        Ok(SpanKind::Internal) => {
            tags.insert("span.kind".into(), "internal".into());
            None
        }
        _ => None,
    };
    // As the OpenTelemetry Collector's Zipkin exporter writes a status.
    if let Some((error, message)) = status(span) {
        tags.insert(
            "otel.status_code".into(),
            if error { "ERROR" } else { "OK" }.into(),
        );
        if error {
            tags.insert("error".into(), "true".into());
        }
        if !message.is_empty() {
            tags.insert("otel.status_description".into(), message.into());
        }
    }
    zipkin::Span {
        trace_id: id16(&span.trace_id),
        id: id8(&span.span_id).unwrap_or_default(),
        parent_id: id8(&span.parent_span_id),
        kind,
        name: span.name.clone(),
        timestamp: Some(start).filter(|t| *t > 0),
        duration: Some(duration).filter(|d| *d > 0),
        local_endpoint: Some(zipkin::Endpoint {
            service_name: service.to_owned(),
            ..Default::default()
        }),
        annotations: span
            .events
            .iter()
            .map(|event| zipkin::Annotation {
                timestamp: event.time_unix_nano / 1_000,
                value: event.name.clone(),
            })
            .collect(),
        tags,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{self, Shape};
    use ferrotrace_format::jaeger::agent::{read_agent_message, AgentMessage};
    use ferrotrace_format::jaeger::to_otlp::{proto_batches_to_otlp, thrift_batch_to_otlp};
    use ferrotrace_format::thrift::SliceInput;
    use ferrotrace_format::translate::Translated;
    use prost::Message;
    use std::collections::HashMap;

    const NOW: u64 = 1_764_000_000_123_456_789;

    fn request(traces: usize) -> ExportTraceServiceRequest {
        let shape = Shape {
            spans_per_trace: 10,
            attributes_per_span: 10,
            error_rate: 0.3,
            ..Default::default()
        };
        generator::request(&mut rand::rng(), traces, shape, NOW)
    }

    /// span ID → (service name, span) of every span of a request.
    fn by_span_id(request: &ExportTraceServiceRequest) -> HashMap<Vec<u8>, (String, Span)> {
        let mut spans = HashMap::new();
        for rs in &request.resource_spans {
            let service = service_and_tags(rs.resource.as_ref()).0.to_owned();
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                spans.insert(span.span_id.clone(), (service.clone(), span.clone()));
            }
        }
        spans
    }

    /// Every span translated back has the original's IDs, parent, name,
    /// kind, times (at `resolution` ns), events, status and service.
    fn assert_round_trip(
        original: &ExportTraceServiceRequest,
        back: &[Translated],
        resolution: u64,
        typed: bool,
    ) {
        let expected = by_span_id(original);
        let mut seen = 0;
        for translated in back {
            assert_eq!(
                translated.refused.total(),
                0,
                "{:?}",
                translated.refused.first()
            );
            for (span_id, (service, span)) in by_span_id(&translated.request) {
                let (want_service, want) = &expected[&span_id];
                seen += 1;
                assert_eq!(&service, want_service);
                assert_eq!(span.trace_id, want.trace_id);
                assert_eq!(span.parent_span_id, want.parent_span_id);
                assert_eq!(span.name, want.name);
                assert_eq!(span.kind, want.kind);
                let truncate = |t: u64| t / resolution * resolution;
                assert_eq!(
                    span.start_time_unix_nano,
                    truncate(want.start_time_unix_nano)
                );
                assert_eq!(span.end_time_unix_nano, truncate(want.end_time_unix_nano));
                assert_eq!(
                    span.status.as_ref().map_or(0, |s| s.code),
                    want.status.as_ref().map_or(0, |s| s.code),
                    "status of {}",
                    span.name
                );
                let events: Vec<_> = span
                    .events
                    .iter()
                    .map(|e| (e.name.as_str(), e.time_unix_nano))
                    .collect();
                let want_events: Vec<_> = want
                    .events
                    .iter()
                    .map(|e| (e.name.as_str(), truncate(e.time_unix_nano)))
                    .collect();
                assert_eq!(events, want_events);
                for kv in &want.attributes {
                    let got = span.attributes.iter().find(|a| a.key == kv.key);
                    let got = got.unwrap_or_else(|| panic!("attribute {} lost", kv.key));
                    if typed {
                        assert_eq!(got.value, kv.value);
                    } else {
                        assert_eq!(text(got.value.as_ref()), text(kv.value.as_ref()));
                    }
                }
            }
        }
        assert_eq!(seen, expected.len());
    }

    #[test]
    fn jaeger_udp_packets_translate_back_to_the_same_spans() {
        let original = request(20);
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let back: Vec<Translated> = to_jaeger_thrift(&original)
                .into_iter()
                .flat_map(|batch| udp_packets(batch, protocol, UDP_MAX_PACKET_BYTES))
                .map(|packet| match read_agent_message(&packet.bytes, protocol) {
                    Ok(AgentMessage::Batch(batch)) => {
                        assert_eq!(batch.spans.len(), packet.spans);
                        thrift_batch_to_otlp(batch)
                    }
                    other => panic!("not an emitBatch packet: {other:?}"),
                })
                .collect();
            assert_round_trip(&original, &back, 1_000, true);
        }
    }

    #[test]
    fn large_batches_are_split_into_packets_under_the_limit() {
        let original = request(40);
        let batches = to_jaeger_thrift(&original);
        let spans: usize = batches.iter().map(|b| b.spans.len()).sum();
        let packets: Vec<Packet> = batches
            .into_iter()
            .flat_map(|batch| udp_packets(batch, ThriftProtocol::Compact, 4_000))
            .collect();
        assert!(packets.len() > 6, "{} packets", packets.len());
        assert!(packets.iter().all(|p| p.bytes.len() <= 4_000));
        assert_eq!(packets.iter().map(|p| p.spans).sum::<usize>(), spans);
    }

    #[test]
    fn jaeger_thrift_http_body_translates_back() {
        let original = request(5);
        let back: Vec<Translated> = to_jaeger_thrift(&original)
            .iter()
            .map(|batch| {
                let body = jthrift::encode_batch(batch, ThriftProtocol::Binary);
                let mut input = SliceInput::new(&body, ThriftProtocol::Binary);
                thrift_batch_to_otlp(jthrift::read_batch(&mut input).expect("a jaeger.Batch"))
            })
            .collect();
        assert_round_trip(&original, &back, 1_000, true);
    }

    #[test]
    fn jaeger_post_spans_translate_back_to_the_same_spans() {
        let original = request(5);
        let back: Vec<Translated> = to_jaeger_proto(&original)
            .into_iter()
            .map(|batch| {
                let bytes = jproto::PostSpansRequest { batch: Some(batch) }.encode_to_vec();
                let decoded = jproto::PostSpansRequest::decode(bytes.as_slice()).expect("decodes");
                proto_batches_to_otlp(decoded.batch.into_iter().collect())
            })
            .collect();
        // Jaeger protobuf keeps nanoseconds.
        assert_round_trip(&original, &back, 1, true);
    }

    #[test]
    fn zipkin_json_and_proto_translate_back_to_the_same_spans() {
        let original = request(5);
        let spans = to_zipkin(&original);
        let json = zipkin::parse_v2_json(&zipkin::to_v2_json(&spans)).expect("v2 JSON");
        let proto = zipkin::parse_v2_proto(&zipkin::to_v2_proto(&spans)).expect("v2 proto");
        let back = [zipkin::spans_to_otlp(json), zipkin::spans_to_otlp(proto)];
        for translated in back {
            assert_round_trip(&original, &[translated], 1_000, false);
        }
    }
}
