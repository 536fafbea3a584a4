//! Zipkin v1 spans (JSON and Thrift) and their translation to OTLP, rule for
//! rule as the OpenTelemetry Collector's `zipkinv1` translator
//! (`pkg/translator/zipkin/zipkinv1/json.go`, `thrift.go`, `status_code.go`,
//! contrib v0.150.0).
//!
//! The Collector does not split a v1 span that carries both the client and
//! the server side (cs/sr/ss/cr) into two spans, nor turn `ca`/`sa` address
//! annotations into a remote endpoint: each v1 span becomes one OTLP span
//! whose kind comes from the first core annotation, whose resource is the
//! first core annotation's endpoint, whose start and end are the earliest and
//! latest annotation unless the span has its own timestamp, and whose binary
//! annotations are attributes (`lc` renamed `component`). Resources are one
//! per distinct endpoint (name, addresses and port), in order of first use,
//! with `service.name` plus `ipv4`/`ipv6`/`port` (the port as a string).

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

use super::to_otlp::describe;
use crate::otlp::attributes::{kv_bool, kv_double, kv_int, kv_str, upsert};
use crate::translate::{check_ids, micros_to_nanos, Refusal, Refusals, Translated};

/// One Zipkin v1 span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct V1Span {
    pub trace_id: [u8; 16],
    pub id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub name: String,
    /// µs since the Unix epoch; `None` when absent (JSON: also when 0).
    pub timestamp: Option<i64>,
    /// µs.
    pub duration: Option<i64>,
    pub annotations: Vec<V1Annotation>,
    pub binary_annotations: Vec<V1BinaryAnnotation>,
    pub debug: bool,
}

/// A timestamped event; `cs`, `cr`, `sr`, `ss`, `ms` and `mr` are core
/// annotations that set the kind and endpoint instead of becoming events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Annotation {
    /// µs since the Unix epoch.
    pub timestamp: i64,
    pub value: String,
    pub endpoint: Option<V1Endpoint>,
}

/// A tag. `value` is already decoded the way the Collector decodes it
/// (JSON: always a string; Thrift: by `annotation_type`).
#[derive(Debug, Clone, PartialEq)]
pub struct V1BinaryAnnotation {
    pub key: String,
    pub value: V1Value,
    /// Only used as a fallback service name.
    pub endpoint: Option<V1Endpoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum V1Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

/// A v1 endpoint, addresses as text: the Collector copies them into
/// resource attributes as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct V1Endpoint {
    pub service_name: String,
    pub ipv4: String,
    pub ipv6: String,
    pub port: i32,
}

/// Service name of a span without a named core-annotation endpoint, binary
/// annotation endpoint or `lc` tag.
const UNKNOWN_SERVICE: &str = "unknown-service";
const LOCAL_COMPONENT: &str = "lc";

/// Translates v1 spans to one OTLP request, refusing (and counting) spans
/// with a zero trace or span ID or without a usable start time.
pub fn v1_spans_to_otlp(spans: Vec<V1Span>) -> Translated {
    let mut refused = Refusals::default();
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    let mut by_endpoint: HashMap<String, usize> = HashMap::new();
    let mut kept = 0;
    for (index, span) in spans.into_iter().enumerate() {
        let trace_id = span.trace_id;
        let (otlp, endpoint) = match convert(span) {
            Ok(converted) => converted,
            Err((refusal, detail)) => {
                refused.add(refusal, || describe(index, &trace_id, refusal, &detail));
                continue;
            }
        };
        let key = format!(
            "{}-{}-{}-{}",
            endpoint.service_name, endpoint.ipv4, endpoint.ipv6, endpoint.port
        );
        let slot = *by_endpoint.entry(key).or_insert_with(|| {
            resource_spans.push(ResourceSpans {
                resource: Some(resource(&endpoint)),
                scope_spans: vec![ScopeSpans::default()],
                schema_url: String::new(),
            });
            resource_spans.len() - 1
        });
        if let Some(scope) = resource_spans
            .get_mut(slot)
            .and_then(|rs| rs.scope_spans.first_mut())
        {
            scope.spans.push(otlp);
            kept += 1;
        }
    }
    Translated {
        request: ExportTraceServiceRequest { resource_spans },
        spans: kept,
        refused,
    }
}

fn resource(endpoint: &V1Endpoint) -> Resource {
    let mut attributes = vec![kv_str("service.name", endpoint.service_name.as_str())];
    if !endpoint.ipv4.is_empty() {
        attributes.push(kv_str("ipv4", endpoint.ipv4.as_str()));
    }
    if !endpoint.ipv6.is_empty() {
        attributes.push(kv_str("ipv6", endpoint.ipv6.as_str()));
    }
    if endpoint.port != 0 {
        attributes.push(kv_str("port", endpoint.port.to_string()));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn is_core(value: &str) -> bool {
    matches!(value, "cs" | "cr" | "ms" | "mr" | "ss" | "sr")
}

/// µs → ns as the Collector's `epochMicrosecondsToTimestamp` (0 for a value
/// ≤ 0), refusing what does not fit instead of wrapping.
fn epoch_micros(micros: i64) -> Result<u64, (Refusal, String)> {
    if micros <= 0 {
        return Ok(0);
    }
    (micros as u64).checked_mul(1_000).ok_or_else(|| {
        (
            Refusal::InvalidTimestamp,
            format!("timestamp {micros} µs is out of range"),
        )
    })
}

fn convert(
    span: V1Span,
) -> Result<(opentelemetry_proto::tonic::trace::v1::Span, V1Endpoint), (Refusal, String)> {
    check_ids(&span.trace_id, &span.id).map_err(|r| (r, String::new()))?;

    // Kind, endpoint, times and events from the annotations.
    let mut kind = SpanKind::Unspecified;
    let mut kind_set = false;
    let mut endpoint: Option<V1Endpoint> = None;
    let mut earliest: Option<i64> = None;
    let mut latest: Option<i64> = None;
    let mut events = Vec::new();
    for annotation in span.annotations {
        if annotation.value.is_empty() {
            continue;
        }
        let core = is_core(&annotation.value);
        let named = annotation
            .endpoint
            .as_ref()
            .is_some_and(|e| !e.service_name.is_empty() && e.service_name != UNKNOWN_SERVICE);
        if core && endpoint.is_none() && named {
            endpoint = annotation.endpoint.clone();
        }
        if core && !kind_set {
            kind = match annotation.value.as_str() {
                "cs" | "cr" => SpanKind::Client,
                "ms" => SpanKind::Producer,
                "mr" => SpanKind::Consumer,
                _ => SpanKind::Server,
            };
            kind_set = true;
        }
        let time = epoch_micros(annotation.timestamp)?;
        earliest = Some(earliest.map_or(annotation.timestamp, |t| t.min(annotation.timestamp)));
        latest = Some(latest.map_or(annotation.timestamp, |t| t.max(annotation.timestamp)));
        if !core {
            events.push(Event {
                time_unix_nano: time,
                name: annotation.value,
                ..Event::default()
            });
        }
    }

    let (attributes, status, fallback_service) = binary_annotations(span.binary_annotations);
    let mut endpoint = endpoint.unwrap_or_else(|| V1Endpoint {
        service_name: UNKNOWN_SERVICE.into(),
        ..V1Endpoint::default()
    });
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback_service.is_empty() {
        endpoint.service_name = fallback_service;
    }

    let (start, end) = match span.timestamp {
        Some(timestamp) => micros_to_nanos(timestamp, span.duration.unwrap_or(0)).map_err(|r| {
            (
                r,
                format!("timestamp {timestamp} µs, duration {:?} µs", span.duration),
            )
        })?,
        None => {
            let start = epoch_micros(earliest.unwrap_or(0))?;
            if start == 0 {
                // The Collector uses the time of receipt (JSON) or 0 (Thrift).
                return Err((Refusal::InvalidTimestamp, "no start timestamp".into()));
            }
            (start, epoch_micros(latest.unwrap_or(0))?)
        }
    };

    let parent_span_id = match span.parent_id {
        Some(parent) if parent != [0; 8] => parent.to_vec(),
        _ => Vec::new(),
    };
    let otlp = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.id.to_vec(),
        parent_span_id,
        name: span.name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        events,
        status,
        ..Default::default()
    };
    Ok((otlp, endpoint))
}

/// Binary annotations → attributes, the status the Collector derives from
/// them, and the fallback service name (the last named binary annotation
/// endpoint, else the `lc` value).
fn binary_annotations(binary: Vec<V1BinaryAnnotation>) -> (Vec<KeyValue>, Option<Status>, String) {
    let mut attributes = Vec::with_capacity(binary.len());
    if binary.is_empty() {
        return (attributes, None, String::new());
    }
    let mut mapper = StatusMapper::default();
    let mut fallback = String::new();
    let mut local_component = String::new();
    for annotation in binary {
        if let Some(endpoint) = &annotation.endpoint {
            fallback.clone_from(&endpoint.service_name);
        }
        let mut key = annotation.key;
        if key == LOCAL_COMPONENT {
            key = "component".into();
            if let V1Value::String(text) = &annotation.value {
                local_component.clone_from(text);
            }
        }
        if mapper.consume(&key, &annotation.value) {
            continue;
        }
        upsert(
            &mut attributes,
            match annotation.value {
                V1Value::String(v) => kv_str(key, v),
                V1Value::Bool(v) => kv_bool(key, v),
                V1Value::Int(v) => kv_int(key, v),
                V1Value::Double(v) => kv_double(key, v),
            },
        );
    }
    if fallback.is_empty() {
        fallback = local_component;
    }
    (attributes, mapper.status(), fallback)
}

/// `zipkinv1/status_code.go`: the span status from the first source that
/// set a code, in the order OpenCensus `census.status_code`, `otel.status_code`,
/// `error`, `http.status_code`.
#[derive(Default)]
struct StatusMapper {
    census: (Option<i32>, String),
    otel: (Option<i32>, String),
    error: Option<i32>,
    http: (Option<i32>, String),
}

impl StatusMapper {
    /// Records what `key` says about the status; true if the attribute is
    /// dropped.
    fn consume(&mut self, key: &str, value: &V1Value) -> bool {
        match key {
            "census.status_code" => {
                if let Some(code) = status_code_number(value) {
                    // OpenCensus OK is 0; anything else is an error.
                    let code = if code == 0 {
                        StatusCode::Ok
                    } else {
                        StatusCode::Error
                    };
                    self.census.0 = Some(code as i32);
                }
                true
            }
            "census.status_description" | "opencensus.status_description" => {
                self.census.1 = string_of(value);
                true
            }
            "otel.status_code" => {
                // Kept as is, even outside the enum.
                if let Some(code) = status_code_number(value) {
                    self.otel.0 = Some(code);
                }
                true
            }
            "otel.status_description" => {
                self.otel.1 = string_of(value);
                true
            }
            "http.status_code" => {
                if let Some(code) = status_code_number(value) {
                    let code = if (100..400).contains(&code) {
                        StatusCode::Unset
                    } else {
                        StatusCode::Error
                    };
                    self.http.0 = Some(code as i32);
                }
                false
            }
            "http.status_message" => {
                self.http.1 = string_of(value);
                false
            }
            "error" => {
                self.error = Some(StatusCode::Error as i32);
                true
            }
            _ => false,
        }
    }

    fn status(self) -> Option<Status> {
        let (code, message) = if let Some(code) = self.census.0 {
            (code, self.census.1)
        } else if let Some(code) = self.otel.0 {
            (code, self.otel.1)
        } else if let Some(code) = self.error {
            let message = if !self.census.1.is_empty() {
                self.census.1
            } else {
                self.otel.1
            };
            (code, message)
        } else if let Some(code) = self.http.0 {
            (code, self.http.1)
        } else {
            return None;
        };
        Some(Status { message, code })
    }
}

/// An int attribute, or a string holding a decimal integer, within `i32`.
fn status_code_number(value: &V1Value) -> Option<i32> {
    let number = match value {
        V1Value::Int(n) => *n,
        V1Value::String(text) => text.parse::<i64>().ok()?,
        _ => return None,
    };
    i32::try_from(number).ok()
}

/// pdata's `Value.Str()`: the string, or empty for any other type.
fn string_of(value: &V1Value) -> String {
    match value {
        V1Value::String(text) => text.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin::parse_v1_json;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
        attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    /// A classic shared RPC span: the client's cs/cr and the server's sr/ss
    /// in one v1 span, with an `sa` address annotation.
    const SHARED_RPC: &str = r#"[{
        "traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "parentId": "6b221d5bc9e6496c",
        "name": "get /api", "timestamp": 1500000000000000, "duration": 10000,
        "annotations": [
            {"timestamp": 1500000000000000, "value": "cs", "endpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"}},
            {"timestamp": 1500000000001000, "value": "sr", "endpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}},
            {"timestamp": 1500000000005000, "value": "cache miss", "endpoint": {"serviceName": "backend"}},
            {"timestamp": 1500000000009000, "value": "ss", "endpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}},
            {"timestamp": 1500000000010000, "value": "cr", "endpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"}}
        ],
        "binaryAnnotations": [
            {"key": "http.path", "value": "/api", "endpoint": {"serviceName": "backend"}},
            {"key": "sa", "value": "true", "endpoint": {"serviceName": "backend", "ipv4": "10.0.0.2", "port": 9000}}
        ]
    }]"#;

    #[test]
    fn keeps_a_shared_v1_span_as_one_client_span_like_the_collector() {
        let translated = v1_spans_to_otlp(parse_v1_json(SHARED_RPC.as_bytes()).unwrap());
        assert_eq!(translated.spans, 1);
        let rs = &translated.request.resource_spans;
        assert_eq!(rs.len(), 1);
        let resource = &rs[0].resource.as_ref().unwrap().attributes;
        assert_eq!(str_attr(resource, "service.name"), Some("frontend"));
        assert_eq!(str_attr(resource, "ipv4"), Some("10.0.0.1"));
        assert_eq!(str_attr(resource, "port"), None);
        let span = &rs[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_500_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_500_000_000_010_000_000);
        assert_eq!(
            span.parent_span_id,
            vec![0x6b, 0x22, 0x1d, 0x5b, 0xc9, 0xe6, 0x49, 0x6c]
        );
        assert_eq!(span.events.len(), 1, "core annotations are not events");
        assert_eq!(span.events[0].name, "cache miss");
        assert_eq!(span.events[0].time_unix_nano, 1_500_000_000_005_000_000);
        // Binary annotations are attributes; `sa` is not a remote endpoint.
        assert_eq!(str_attr(&span.attributes, "http.path"), Some("/api"));
        assert_eq!(str_attr(&span.attributes, "sa"), Some("true"));
        assert_eq!(str_attr(&span.attributes, "peer.service"), None);
    }

    #[test]
    fn takes_times_kind_and_service_from_annotations_when_the_span_has_none() {
        let body = r#"[{
            "traceId": "00000000000000010000000000000002", "id": "0000000000000003", "name": "op",
            "annotations": [
                {"timestamp": 1500000000002000, "value": "sr", "endpoint": {"serviceName": "", "ipv4": "10.0.0.9"}},
                {"timestamp": 1500000000001000, "value": "custom"},
                {"timestamp": 1500000000003000, "value": "ss", "endpoint": {"serviceName": "db", "ipv6": "::1", "port": 5432}}
            ]
        }]"#;
        let translated = v1_spans_to_otlp(parse_v1_json(body.as_bytes()).unwrap());
        let rs = &translated.request.resource_spans[0];
        let resource = &rs.resource.as_ref().unwrap().attributes;
        assert_eq!(str_attr(resource, "service.name"), Some("db"));
        assert_eq!(str_attr(resource, "ipv6"), Some("::1"));
        assert_eq!(str_attr(resource, "port"), Some("5432"));
        let span = &rs.scope_spans[0].spans[0];
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.start_time_unix_nano, 1_500_000_000_001_000_000);
        assert_eq!(span.end_time_unix_nano, 1_500_000_000_003_000_000);
        assert!(span.parent_span_id.is_empty());
    }

    #[test]
    fn falls_back_to_binary_annotation_endpoint_then_local_component() {
        let span = |binary: &str| {
            format!(
                r#"[{{"traceId": "0000000000000001", "id": "0000000000000002", "timestamp": 1,
                "binaryAnnotations": [{binary}]}}]"#
            )
        };
        let service_of = |body: String| {
            let translated = v1_spans_to_otlp(parse_v1_json(body.as_bytes()).unwrap());
            let resource = translated.request.resource_spans[0]
                .resource
                .clone()
                .unwrap();
            str_attr(&resource.attributes, "service.name").map(str::to_owned)
        };
        assert_eq!(
            service_of(span(r#"{"key": "lc", "value": "worker"}"#)).as_deref(),
            Some("worker")
        );
        assert_eq!(
            service_of(span(
                r#"{"key": "lc", "value": "worker"}, {"key": "x", "value": "1", "endpoint": {"serviceName": "svc"}}"#
            ))
            .as_deref(),
            Some("svc")
        );
        assert_eq!(
            service_of(span(r#"{"key": "x", "value": "1"}"#)).as_deref(),
            Some("unknown-service")
        );
        let body = span(r#"{"key": "lc", "value": "worker"}"#);
        let translated = v1_spans_to_otlp(parse_v1_json(body.as_bytes()).unwrap());
        let attributes = &translated.request.resource_spans[0].scope_spans[0].spans[0].attributes;
        assert_eq!(str_attr(attributes, "component"), Some("worker"));
    }

    #[test]
    fn derives_status_in_the_collectors_order() {
        let status_of = |binary: &[(&str, V1Value)]| {
            let span = V1Span {
                trace_id: [1; 16],
                id: [2; 8],
                timestamp: Some(1),
                binary_annotations: binary
                    .iter()
                    .map(|(key, value)| V1BinaryAnnotation {
                        key: (*key).into(),
                        value: value.clone(),
                        endpoint: None,
                    })
                    .collect(),
                ..V1Span::default()
            };
            let translated = v1_spans_to_otlp(vec![span]);
            let span = translated.request.resource_spans[0].scope_spans[0].spans[0].clone();
            (
                span.status,
                span.attributes
                    .iter()
                    .map(|kv| kv.key.clone())
                    .collect::<Vec<_>>(),
            )
        };
        let s = |text: &str| V1Value::String(text.into());
        let status = |code: StatusCode, message: &str| {
            Some(Status {
                code: code as i32,
                message: message.into(),
            })
        };
        assert_eq!(status_of(&[]), (None, vec![]));
        assert_eq!(
            status_of(&[
                ("http.status_code", s("503")),
                ("http.status_message", s("down"))
            ]),
            (
                status(StatusCode::Error, "down"),
                vec!["http.status_code".into(), "http.status_message".into()]
            )
        );
        assert_eq!(
            status_of(&[("http.status_code", V1Value::Int(204))]).0,
            status(StatusCode::Unset, "")
        );
        assert_eq!(
            status_of(&[
                ("error", s("boom")),
                ("otel.status_description", s("why")),
                ("http.status_code", s("200"))
            ]),
            (
                status(StatusCode::Error, "why"),
                vec!["http.status_code".into()]
            )
        );
        assert_eq!(
            status_of(&[("otel.status_code", s("1")), ("error", s("x"))]).0,
            status(StatusCode::Ok, "")
        );
        assert_eq!(
            status_of(&[("otel.status_code", s("OK"))]),
            (None, vec![]),
            "a non-numeric code is dropped and sets nothing"
        );
        assert_eq!(
            status_of(&[
                ("census.status_code", V1Value::Int(5)),
                ("census.status_description", s("nf")),
                ("otel.status_code", s("1"))
            ])
            .0,
            status(StatusCode::Error, "nf")
        );
    }

    #[test]
    fn groups_spans_by_endpoint_in_first_seen_order_and_refuses_bad_ones() {
        let span = |trace: u8, id: u8, service: &str, timestamp: Option<i64>| V1Span {
            trace_id: [trace; 16],
            id: [id; 8],
            timestamp,
            annotations: vec![V1Annotation {
                timestamp: 1_500_000_000_000_000,
                value: "sr".into(),
                endpoint: Some(V1Endpoint {
                    service_name: service.into(),
                    ..V1Endpoint::default()
                }),
            }],
            ..V1Span::default()
        };
        let spans = vec![
            span(1, 1, "b", None),
            span(0, 2, "a", None),
            span(1, 3, "a", Some(-5)),
            span(1, 4, "a", Some(i64::MAX)),
            span(1, 5, "a", None),
            span(1, 6, "b", None),
            span(1, 0, "c", None),
        ];
        let translated = v1_spans_to_otlp(spans);
        assert_eq!(translated.spans, 3);
        let services: Vec<_> = translated
            .request
            .resource_spans
            .iter()
            .map(|rs| {
                let name = str_attr(&rs.resource.as_ref().unwrap().attributes, "service.name");
                (name.unwrap().to_owned(), rs.scope_spans[0].spans.len())
            })
            .collect();
        assert_eq!(services, vec![("b".into(), 2), ("a".into(), 1)]);
        assert_eq!(
            translated.refused.by_reason().collect::<Vec<_>>(),
            vec![
                ("zero_trace_id", 1),
                ("zero_span_id", 1),
                ("invalid_timestamp", 2)
            ]
        );
        assert!(translated
            .refused
            .first()
            .unwrap()
            .starts_with("span 1 (trace 0000"));
    }
}
