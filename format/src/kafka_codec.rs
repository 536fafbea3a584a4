//! Kafka message encodings the ingester reads, each turned into the bytes
//! of an OTLP `ExportTraceServiceRequest` so one decode path serves them all.
//!
//! The encodings and who writes them:
//!
//! - `otlp_proto`: ferrotrace's collector, and the OpenTelemetry Collector's
//!   Kafka exporter. Passed through borrowed: the ingester decodes it anyway,
//!   so checking it here would double the cost.
//! - `otlp_json`: the OpenTelemetry Collector's Kafka exporter with
//!   `encoding: otlp_json` (OTLP's JSON mapping: camelCase, hex IDs, enums as
//!   integers, 64-bit integers as strings).
//! - `jaeger_proto`: the Jaeger v1 collector's Kafka span writer
//!   (`plugin/storage/kafka/marshaller.go`): one `jaeger.api_v2.Span` per
//!   message carrying its own process; the key (the hex trace ID) is not
//!   needed, the value has the trace ID.
//! - `jaeger_json`: the same writer with its JSON marshaller, read by
//!   [`crate::jaeger::json`].
//!
//! Jaeger spans go through [`crate::jaeger::to_otlp`], the same translation
//! the Jaeger receivers use. A span it refuses (zero or malformed ID,
//! impossible time) is a [`CodecError::Refused`]: a Kafka message holds one
//! span, so the whole message is the poison to set aside.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::jaeger::{json, proto, to_otlp};
use crate::translate::Refusal;

/// How the values of a topic are encoded; the names are those of the
/// OpenTelemetry Collector's Kafka receiver and of Jaeger's ingester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
    JaegerProto,
    JaegerJson,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::OtlpProto,
        Encoding::OtlpJson,
        Encoding::JaegerProto,
        Encoding::JaegerJson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
            Encoding::JaegerProto => "jaeger_proto",
            Encoding::JaegerJson => "jaeger_json",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An encoding name that is none of [`Encoding::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding {0:?} (expected otlp_proto, otlp_json, jaeger_proto or jaeger_json)")]
pub struct UnknownEncoding(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEncoding(s.to_owned()))
    }
}

/// Why a message could not be turned into an OTLP request. Every variant is
/// permanent: the same bytes fail the same way on every attempt.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("invalid OTLP JSON: {0}")]
    OtlpJson(#[source] serde_json::Error),
    #[error("invalid Jaeger protobuf span: {0}")]
    JaegerProto(#[source] prost::DecodeError),
    #[error("invalid Jaeger JSON span: {0}")]
    JaegerJson(#[source] serde_json::Error),
    /// The span decoded but the Jaeger translator refused it.
    #[error("span refused ({reason}): {detail}")]
    Refused {
        /// The refusal's metric label, e.g. `zero_trace_id`.
        reason: &'static str,
        detail: String,
    },
}

impl CodecError {
    /// A short fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            CodecError::OtlpJson(_) => "invalid_otlp_json",
            CodecError::JaegerProto(_) => "invalid_jaeger_proto",
            CodecError::JaegerJson(_) => "invalid_jaeger_json",
            CodecError::Refused { reason, .. } => reason,
        }
    }

    /// Every [`label`](Self::label) a value in `encoding` can fail with
    /// (`otlp_proto` values are handed on unchecked: none).
    pub fn labels(encoding: Encoding) -> Vec<&'static str> {
        let refusals = Refusal::ALL.into_iter().map(Refusal::label);
        match encoding {
            Encoding::OtlpProto => Vec::new(),
            Encoding::OtlpJson => vec!["invalid_otlp_json"],
            Encoding::JaegerProto => std::iter::once("invalid_jaeger_proto")
                .chain(refusals)
                .collect(),
            Encoding::JaegerJson => std::iter::once("invalid_jaeger_json")
                .chain(refusals)
                .collect(),
        }
    }
}

/// A message value in `encoding` → protobuf `ExportTraceServiceRequest`
/// bytes; `otlp_proto` comes back borrowed and unchecked.
pub fn decode(encoding: Encoding, value: &[u8]) -> Result<Cow<'_, [u8]>, CodecError> {
    match encoding {
        Encoding::OtlpProto => Ok(Cow::Borrowed(value)),
        Encoding::OtlpJson => {
            let request: ExportTraceServiceRequest =
                serde_json::from_slice(value).map_err(CodecError::OtlpJson)?;
            Ok(Cow::Owned(request.encode_to_vec()))
        }
        Encoding::JaegerProto => {
            let span = proto::Span::decode(value).map_err(CodecError::JaegerProto)?;
            jaeger_span_to_otlp(span)
        }
        Encoding::JaegerJson => jaeger_span_to_otlp(jaeger_json_to_proto(value)?),
    }
}

/// A `jaeger_json` message value as the `jaeger.api_v2.Span` a
/// `jaeger_proto` message carries, before translation.
pub fn jaeger_json_to_proto(value: &[u8]) -> Result<proto::Span, CodecError> {
    json::parse_span(value).map_err(CodecError::JaegerJson)
}

fn jaeger_span_to_otlp(span: proto::Span) -> Result<Cow<'static, [u8]>, CodecError> {
    let translated = to_otlp::proto_batches_to_otlp(vec![proto::Batch {
        spans: vec![span],
        process: None,
    }]);
    if let Some((reason, _)) = translated.refused.by_reason().next() {
        return Err(CodecError::Refused {
            reason,
            detail: translated.refused.first().unwrap_or(reason).to_owned(),
        });
    }
    Ok(Cow::Owned(translated.request.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::attributes::{kv, kv_str};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;
    use proto::KeyValue as JKv;

    const HIGH: u64 = 0x5b8e_fff7_9803_8103;
    const LOW: u64 = 0xd269_b633_813f_c60c;
    const SPAN: u64 = 0x0515_81bf_3cb5_5c13;
    const PARENT: u64 = 0xeee1_9b7e_c3c1_b174;
    /// 2023-11-14T22:13:20.123456789Z
    const START_SECONDS: i64 = 1_700_000_000;
    const START_NANOS: u64 = 1_700_000_000_123_456_789;

    fn trace_id() -> Vec<u8> {
        proto::trace_id_bytes(HIGH, LOW)
    }

    /// A span as a Jaeger 1.x collector hands it to its Kafka writer.
    fn jaeger_span() -> proto::Span {
        proto::Span {
            trace_id: trace_id(),
            span_id: proto::span_id_bytes(SPAN),
            operation_name: "GET /dispatch".into(),
            references: vec![
                proto::SpanRef {
                    trace_id: trace_id(),
                    span_id: proto::span_id_bytes(PARENT),
                    ref_type: proto::SpanRefType::ChildOf as i32,
                },
                proto::SpanRef {
                    trace_id: proto::trace_id_bytes(0, 7),
                    span_id: proto::span_id_bytes(8),
                    ref_type: proto::SpanRefType::FollowsFrom as i32,
                },
            ],
            flags: 1,
            start_time: Some(proto::Timestamp {
                seconds: START_SECONDS,
                nanos: 123_456_789,
            }),
            duration: Some(proto::Duration {
                seconds: 0,
                nanos: 5_432_000,
            }),
            tags: vec![
                JKv::string("span.kind", "client"),
                JKv::bool("error", true),
                JKv::int64("http.status_code", 504),
                JKv::float64("ratio", 72.5),
                JKv::binary("payload", vec![0, 1, 255]),
                JKv::string("otel.scope.name", "dispatcher"),
                JKv::string("otel.scope.version", "1.2"),
            ],
            logs: vec![proto::Log {
                timestamp: Some(proto::Timestamp {
                    seconds: START_SECONDS,
                    nanos: 124_456_789,
                }),
                fields: vec![JKv::string("event", "retry"), JKv::int64("attempt", 2)],
            }],
            process: Some(proto::Process {
                service_name: "frontend".into(),
                tags: vec![
                    JKv::string("hostname", "node-1"),
                    JKv::string("ip", "10.0.0.7"),
                ],
            }),
            process_id: String::new(),
            warnings: vec![],
        }
    }

    /// `jaeger_span()` as gogo's `jsonpb.Marshaler{}` writes it: fields in
    /// struct order, defaults (STRING vType, CHILD_OF refType) left out,
    /// IDs base64, vInt64 quoted, time in UTC, duration in seconds.
    const JAEGER_JSON: &str = r#"{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"BRWBvzy1XBM=","operationName":"GET /dispatch","references":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="},{"traceId":"AAAAAAAAAAAAAAAAAAAABw==","spanId":"AAAAAAAAAAg=","refType":"FOLLOWS_FROM"}],"flags":1,"startTime":"2023-11-14T22:13:20.123456789Z","duration":"0.005432s","tags":[{"key":"span.kind","vStr":"client"},{"key":"error","vType":"BOOL","vBool":true},{"key":"http.status_code","vType":"INT64","vInt64":"504"},{"key":"ratio","vType":"FLOAT64","vFloat64":72.5},{"key":"payload","vType":"BINARY","vBinary":"AAH/"},{"key":"otel.scope.name","vStr":"dispatcher"},{"key":"otel.scope.version","vStr":"1.2"}],"logs":[{"timestamp":"2023-11-14T22:13:20.124456789Z","fields":[{"key":"event","vStr":"retry"},{"key":"attempt","vType":"INT64","vInt64":"2"}]}],"process":{"serviceName":"frontend","tags":[{"key":"hostname","vStr":"node-1"},{"key":"ip","vStr":"10.0.0.7"}]}}"#;

    /// The same span in forms jsonpb also reads: proto names, enums and
    /// 64-bit integers as numbers, another offset, a Go duration, unknown
    /// fields and nulls.
    const JAEGER_JSON_LENIENT: &str = r#"{
        "trace_id": "W47_95gDgQPSabYzgT_GDA", "span_id": "BRWBvzy1XBM=",
        "operation_name": "GET /dispatch",
        "references": [
            {"trace_id": "W47/95gDgQPSabYzgT/GDA==", "span_id": "7uGbfsPBsXQ=", "ref_type": 0},
            {"traceId": "AAAAAAAAAAAAAAAAAAAABw==", "spanId": "AAAAAAAAAAg=", "refType": 1}
        ],
        "flags": "1",
        "start_time": "2023-11-14T17:13:20.1234567891-05:00",
        "duration": "5ms432us",
        "tags": [
            {"key": "span.kind", "v_type": "STRING", "v_str": "client"},
            {"key": "error", "v_type": 1, "v_bool": true},
            {"key": "http.status_code", "vType": 2, "vInt64": 504},
            {"key": "ratio", "vType": "FLOAT64", "vFloat64": "72.5"},
            {"key": "payload", "vType": "BINARY", "v_binary": "AAH/"},
            {"key": "otel.scope.name", "vStr": "dispatcher", "vBool": null},
            {"key": "otel.scope.version", "vStr": "1.2"}
        ],
        "logs": [{"timestamp": "2023-11-14T22:13:20.124456789Z",
                  "fields": [{"key": "event", "vStr": "retry"},
                             {"key": "attempt", "vType": "INT64", "vInt64": "2"}]}],
        "process": {"service_name": "frontend",
                    "tags": [{"key": "hostname", "vStr": "node-1"}, {"key": "ip", "vStr": "10.0.0.7"}]},
        "processId": null,
        "somethingNew": {"ignored": [1, 2]}
    }"#;

    /// What the Jaeger translator makes of `jaeger_span()`.
    fn expected_from_jaeger() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv_str("service.name", "frontend"),
                        kv_str("host.name", "node-1"),
                        kv_str("ip", "10.0.0.7"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "dispatcher".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    }),
                    spans: vec![Span {
                        trace_id: trace_id(),
                        span_id: proto::span_id_bytes(SPAN),
                        parent_span_id: proto::span_id_bytes(PARENT),
                        flags: 1,
                        name: "GET /dispatch".into(),
                        kind: SpanKind::Client as i32,
                        start_time_unix_nano: START_NANOS,
                        end_time_unix_nano: START_NANOS + 5_432_000,
                        // span.kind and error removed as pdata's Map.Remove
                        // does it: the last attribute moves into the gap.
                        attributes: vec![
                            kv("payload", Value::BytesValue(vec![0, 1, 255])),
                            kv("ratio", Value::DoubleValue(72.5)),
                            kv("http.status_code", Value::IntValue(504)),
                        ],
                        events: vec![Event {
                            time_unix_nano: START_NANOS + 1_000_000,
                            name: "retry".into(),
                            attributes: vec![kv("attempt", Value::IntValue(2))],
                            ..Default::default()
                        }],
                        links: vec![Link {
                            trace_id: proto::trace_id_bytes(0, 7),
                            span_id: proto::span_id_bytes(8),
                            attributes: vec![kv_str("opentracing.ref_type", "follows_from")],
                            ..Default::default()
                        }],
                        status: Some(Status {
                            code: StatusCode::Error as i32,
                            message: String::new(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn request(bytes: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(bytes).expect("decodes as OTLP")
    }

    #[test]
    fn parses_and_prints_encoding_names() {
        for encoding in Encoding::ALL {
            assert_eq!(encoding.to_string().parse::<Encoding>(), Ok(encoding));
        }
        assert_eq!("jaeger_json".parse(), Ok(Encoding::JaegerJson));
        assert_eq!(Encoding::default(), Encoding::OtlpProto);
        let error = "protobuf".parse::<Encoding>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown encoding \"protobuf\" (expected otlp_proto, otlp_json, jaeger_proto or jaeger_json)"
        );
    }

    #[test]
    fn otlp_proto_is_borrowed_unchecked() {
        let bytes = expected_from_jaeger().encode_to_vec();
        let decoded = decode(Encoding::OtlpProto, &bytes).expect("passes");
        assert!(matches!(decoded, Cow::Borrowed(b) if b.as_ptr() == bytes.as_ptr()));
        // Not validated here: the ingester's decode will reject it.
        assert!(matches!(
            decode(Encoding::OtlpProto, b"\xff garbage"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn otlp_json_as_the_collector_writes_it_becomes_the_same_request() {
        // pdata's JSON marshaller: hex IDs, camelCase, enums as integers,
        // 64-bit integers as strings.
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"frontend"}},
            {"key":"host.name","value":{"stringValue":"node-1"}},
            {"key":"ip","value":{"stringValue":"10.0.0.7"}}]},
          "scopeSpans":[{"scope":{"name":"dispatcher","version":"1.2"},"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"051581bf3cb55c13",
            "parentSpanId":"eee19b7ec3c1b174","flags":1,"name":"GET /dispatch","kind":3,
            "startTimeUnixNano":"1700000000123456789","endTimeUnixNano":"1700000000128888789",
            "attributes":[{"key":"payload","value":{"bytesValue":"AAH/"}},
              {"key":"ratio","value":{"doubleValue":72.5}},
              {"key":"http.status_code","value":{"intValue":"504"}}],
            "events":[{"timeUnixNano":"1700000000124456789","name":"retry",
              "attributes":[{"key":"attempt","value":{"intValue":"2"}}]}],
            "links":[{"traceId":"00000000000000000000000000000007","spanId":"0000000000000008",
              "attributes":[{"key":"opentracing.ref_type","value":{"stringValue":"follows_from"}}]}],
            "status":{"code":2}}]}]}]}"#;
        let decoded = decode(Encoding::OtlpJson, json.as_bytes()).expect("decodes");
        assert!(matches!(decoded, Cow::Owned(_)));
        assert_eq!(request(&decoded), expected_from_jaeger());
        // Byte for byte what a protobuf producer would have written.
        assert_eq!(&*decoded, expected_from_jaeger().encode_to_vec().as_slice());
    }

    #[test]
    fn jaeger_proto_span_becomes_an_otlp_request() {
        let bytes = jaeger_span().encode_to_vec();
        let decoded = decode(Encoding::JaegerProto, &bytes).expect("decodes");
        assert_eq!(request(&decoded), expected_from_jaeger());
    }

    #[test]
    fn jaeger_json_span_becomes_the_same_request_as_its_protobuf() {
        let from_proto = decode(Encoding::JaegerProto, &jaeger_span().encode_to_vec())
            .expect("proto decodes")
            .into_owned();
        for json in [JAEGER_JSON, JAEGER_JSON_LENIENT] {
            let decoded = decode(Encoding::JaegerJson, json.as_bytes()).expect("json decodes");
            assert_eq!(request(&decoded), expected_from_jaeger());
            assert_eq!(&*decoded, from_proto.as_slice());
        }
        // And the parsed span itself equals the protobuf one, field for field.
        let span: json::JsonSpan = serde_json::from_str(JAEGER_JSON).expect("parses");
        assert_eq!(span.into_proto(), jaeger_span());
    }

    #[test]
    fn jaeger_json_defaults_are_the_omitted_values() {
        // jsonpb leaves out zero duration, flags, STRING and CHILD_OF; a
        // 64-bit trace ID is still 16 bytes.
        let json = r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=",
            "references":[{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAM="}],
            "startTime":"2017-01-26T16:46:31.639875139-05:00",
            "tags":[{"key":"k","vStr":"v"}],"process":{"serviceName":"svc"}}"#;
        let request = request(&decode(Encoding::JaegerJson, json.as_bytes()).expect("decodes"));
        let resource = &request.resource_spans[0];
        assert_eq!(
            resource.resource.as_ref().expect("resource").attributes,
            [kv_str("service.name", "svc")]
        );
        let span = &resource.scope_spans[0].spans[0];
        assert_eq!(span.trace_id, proto::trace_id_bytes(0, 1));
        assert_eq!(span.span_id, proto::span_id_bytes(2));
        assert_eq!(span.parent_span_id, proto::span_id_bytes(3));
        assert!(span.links.is_empty());
        assert_eq!(span.flags, 0);
        assert_eq!(span.start_time_unix_nano, 1_485_467_191_639_875_139);
        assert_eq!(span.end_time_unix_nano, span.start_time_unix_nano);
        assert_eq!(span.attributes, [kv_str("k", "v")]);
    }

    #[test]
    fn refused_spans_are_errors_with_the_reason() {
        let cases: [(&str, proto::Span); 3] = [
            (
                "zero_trace_id",
                proto::Span {
                    trace_id: vec![0; 16],
                    ..jaeger_span()
                },
            ),
            (
                "invalid_id",
                proto::Span {
                    span_id: vec![1; 5],
                    ..jaeger_span()
                },
            ),
            (
                "invalid_timestamp",
                proto::Span {
                    start_time: None,
                    ..jaeger_span()
                },
            ),
        ];
        for (reason, span) in cases {
            let error = decode(Encoding::JaegerProto, &span.encode_to_vec()).unwrap_err();
            assert_eq!(error.label(), reason);
            assert!(error
                .to_string()
                .starts_with(&format!("span refused ({reason}): span 0 (trace ")));
        }

        for (json, reason) in [
            ("{}", "zero_trace_id"),
            (r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ=="}"#, "zero_span_id"),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI="}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=","startTime":"1969-12-31T23:59:59Z"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=","startTime":"2023-11-14T22:13:20Z","duration":"-1s"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAECAw==","spanId":"AAAAAAAAAAI=","startTime":"2023-11-14T22:13:20Z"}"#,
                "invalid_id",
            ),
        ] {
            let error = decode(Encoding::JaegerJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), reason, "{json}: {error}");
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        let proto_bytes = jaeger_span().encode_to_vec();
        // Cut inside the operation name (a length-delimited field).
        let truncated = &proto_bytes[..2 + 16 + 2 + 8 + 5];
        for value in [
            truncated,
            b"not a span at all".as_slice(),
            b"\x0a\xff\xff\xff\xff\x0f",
        ] {
            let error = decode(Encoding::JaegerProto, value).unwrap_err();
            assert_eq!(error.label(), "invalid_jaeger_proto");
            assert!(error
                .to_string()
                .starts_with("invalid Jaeger protobuf span: "));
        }

        for json in [
            "",
            "garbage",
            "null",
            "[1, 2]",
            r#"{"traceId": 5}"#,
            r#"{"traceId": "not base64!"}"#,
            r#"{"operationName": 7}"#,
            r#"{"flags": -1}"#,
            r#"{"flags": 1.5}"#,
            r#"{"startTime": "yesterday"}"#,
            r#"{"startTime": "2023-02-29T00:00:00Z"}"#,
            r#"{"startTime": 1700000000}"#,
            r#"{"duration": 5}"#,
            r#"{"duration": "5"}"#,
            r#"{"tags": {"key": "k"}}"#,
            r#"{"tags": [{"key": "k", "vType": "NUMBER"}]}"#,
            r#"{"tags": [{"key": "k", "vInt64": "12x"}]}"#,
            r#"{"tags": [{"key": "k", "vInt64": 1.5}]}"#,
            r#"{"tags": [{"key": "k", "vBool": "true"}]}"#,
            r#"{"tags": [{"key": "k", "vFloat64": "inf"}]}"#,
            r#"{"references": [{"refType": "PARENT"}]}"#,
            r#"{"logs": [{"timestamp": "2023-11-14 22:13:20Z"}]}"#,
            &JAEGER_JSON[..JAEGER_JSON.len() - 1],
        ] {
            let error = decode(Encoding::JaegerJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), "invalid_jaeger_json", "{json}: {error}");
            assert!(error.to_string().starts_with("invalid Jaeger JSON span: "));
        }

        for json in [
            "",
            "{",
            r#"{"resourceSpans": 5}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
        ] {
            let error = decode(Encoding::OtlpJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), "invalid_otlp_json", "{json}");
            assert!(error.to_string().starts_with("invalid OTLP JSON: "));
        }
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_handled() {
        let proto_bytes = jaeger_span().encode_to_vec();
        let otlp_json = serde_json::to_vec(&expected_from_jaeger()).expect("serialises");
        for (encoding, value) in [
            (Encoding::JaegerProto, proto_bytes.as_slice()),
            (Encoding::JaegerJson, JAEGER_JSON.as_bytes()),
            (Encoding::OtlpJson, otlp_json.as_slice()),
        ] {
            for end in 0..value.len() {
                // Ok or Err, never a panic.
                let _ = decode(encoding, &value[..end]);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for encoding in Encoding::ALL {
                let _ = decode(encoding, &bytes);
            }
        }

        #[test]
        fn corrupted_jaeger_json_never_panics(index in 0..JAEGER_JSON.len(), byte in any::<u8>()) {
            let mut bytes = JAEGER_JSON.as_bytes().to_vec();
            bytes[index] = byte;
            let _ = decode(Encoding::JaegerJson, &bytes);
        }
    }
}
