//! Writes the seed corpus, `fuzz/corpus/<target>/`, with our own encoders
//! (and prost's), so every seed is a payload a real client could send and
//! the fuzzer starts past the decoders' first checks.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make-seeds
//!
//! Each target's directory is emptied and rewritten; the seeds are
//! deterministic, so running this twice changes nothing in git.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ferrotrace_format::jaeger::agent::read_agent_message;
use ferrotrace_format::jaeger::thrift::{
    encode_batch, encode_emit_batch, read_batch, Batch, ClientStats, Log, Process, Span, SpanRef,
    SpanRefType, Tag,
};
use ferrotrace_format::thrift::{SliceInput, ThriftProtocol};
use ferrotrace_format::zipkin;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
use prost::Message;
use serde_json::json;

/// Named seeds of one target.
type Seeds = Vec<(&'static str, Vec<u8>)>;

/// 2023-11-14T22:13:20Z in µs: a start time every translator accepts.
const START_MICROS: i64 = 1_700_000_000_000_000;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let targets: [(&str, Seeds); 7] = [
        (
            "jaeger_thrift_compact",
            jaeger_seeds(ThriftProtocol::Compact),
        ),
        ("jaeger_thrift_binary", jaeger_seeds(ThriftProtocol::Binary)),
        ("zipkin_json", zipkin_json_seeds()),
        ("zipkin_binary", zipkin_binary_seeds()),
        ("jaeger_proto", jaeger_proto_seeds()),
        ("kafka_codec", kafka_codec_seeds()),
        ("otlp_split", otlp_split_seeds()),
    ];
    for (target, seeds) in targets {
        for (name, bytes) in &seeds {
            check_decodes(target, name, bytes);
        }
        let dir = corpus.join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            fs::write(dir.join(name), &bytes)?;
            println!("{target}/{name}: {} bytes", bytes.len());
        }
    }
    Ok(())
}

/// A seed the decoder refuses would only test its first check: fail loudly.
fn check_decodes(target: &str, name: &str, bytes: &[u8]) {
    let ok = match target {
        "jaeger_thrift_compact" => read_agent_message(bytes, ThriftProtocol::Compact).is_ok(),
        "jaeger_thrift_binary" if name.starts_with("http_") => {
            read_batch(&mut SliceInput::new(bytes, ThriftProtocol::Binary)).is_ok()
        }
        "jaeger_thrift_binary" => read_agent_message(bytes, ThriftProtocol::Binary).is_ok(),
        "zipkin_json" if name.starts_with("v1_") => zipkin::parse_v1_json(bytes).is_ok(),
        "zipkin_json" => zipkin::parse_v2_json(bytes).is_ok(),
        "zipkin_binary" if name.starts_with("v1_") => zipkin::parse_v1_thrift(bytes).is_ok(),
        "zipkin_binary" => zipkin::parse_v2_proto(bytes).is_ok(),
        "jaeger_proto" => ferrotrace_format::jaeger::proto::PostSpansRequest::decode(bytes)
            .is_ok_and(|r| {
                ferrotrace_format::jaeger::to_otlp::proto_batches_to_otlp(
                    r.batch.into_iter().collect(),
                )
                .spans
                    > 0
            }),
        "kafka_codec" => {
            use ferrotrace_format::kafka_codec::{decode, Encoding};
            [Encoding::OtlpJson, Encoding::JaegerProto]
                .iter()
                .any(|&e| decode(e, bytes).is_ok())
        }
        "otlp_split" => ferrotrace_format::otlp::split_by_trace(&bytes[2..], 1 << 20).is_ok(),
        _ => false,
    };
    assert!(ok, "seed {target}/{name} does not decode");
}

// ---------------------------------------------------------------------------
// Jaeger Thrift

/// One span with every field set and every tag type, a reference and a log.
fn rich_span(trace_high: i64, trace_low: i64, span_id: i64, parent: i64) -> Span {
    Span {
        trace_id_low: trace_low,
        trace_id_high: trace_high,
        span_id,
        parent_span_id: parent,
        operation_name: "GET /api/orders/{id}".into(),
        references: vec![SpanRef {
            ref_type: SpanRefType::FOLLOWS_FROM,
            trace_id_low: trace_low,
            trace_id_high: trace_high,
            span_id: 0x0bad_cafe,
        }],
        flags: 1,
        start_time: START_MICROS,
        duration: 1_500,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::string("http.method", "GET"),
            Tag::long("http.status_code", 503),
            Tag::bool("error", true),
            Tag::double("sampler.param", 0.25),
            Tag::binary("payload", vec![0, 1, 2, 0xff]),
            Tag::string("otel.status_description", "upstream unavailable"),
        ],
        logs: vec![Log {
            timestamp: START_MICROS + 700,
            fields: vec![
                Tag::string("event", "exception"),
                Tag::string("message", "connection reset"),
                Tag::long("retry", 2),
            ],
        }],
    }
}

fn small_batch() -> Batch {
    Batch {
        process: Process {
            service_name: "frontend".into(),
            tags: vec![Tag::string("hostname", "web-1")],
        },
        spans: vec![Span {
            trace_id_low: 0x1234_5678_9abc_def0,
            span_id: 0x42,
            operation_name: "checkout".into(),
            flags: 1,
            start_time: START_MICROS,
            duration: 250,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn rich_batch() -> Batch {
    Batch {
        process: Process {
            service_name: "orders".into(),
            tags: vec![
                Tag::string("jaeger.version", "Go-2.30.0"),
                Tag::string("ip", "10.0.0.7"),
                Tag::long("pid", 4711),
            ],
        },
        spans: vec![
            rich_span(0x0af7_6519_16cd_43dd, -0x7766_5544_3322_1100, 0x11, 0),
            rich_span(0x0af7_6519_16cd_43dd, -0x7766_5544_3322_1100, 0x12, 0x11),
            Span {
                operation_name: "SELECT orders".into(),
                tags: vec![
                    Tag::string("span.kind", "client"),
                    Tag::string("peer.service", "postgres"),
                ],
                ..rich_span(0, 0x7fff_0000_0000_0001, -2, 0x12)
            },
        ],
        seq_no: Some(17),
        stats: Some(ClientStats {
            full_queue_dropped_spans: 1,
            too_large_dropped_spans: 2,
            failed_to_emit_spans: 3,
        }),
    }
}

/// Spans every translator refuses (zero IDs, no start time) next to a good one.
fn refused_batch() -> Batch {
    let good = small_batch().spans.remove(0);
    Batch {
        process: Process {
            service_name: String::new(),
            tags: Vec::new(),
        },
        spans: vec![
            Span {
                trace_id_low: 0,
                ..good.clone()
            },
            Span {
                span_id: 0,
                ..good.clone()
            },
            Span {
                start_time: 0,
                ..good.clone()
            },
            Span {
                duration: -1,
                ..good.clone()
            },
            good,
        ],
        ..Default::default()
    }
}

fn jaeger_seeds(protocol: ThriftProtocol) -> Seeds {
    let mut seeds = vec![
        (
            "emit_batch_small",
            encode_emit_batch(&small_batch(), protocol, 1),
        ),
        (
            "emit_batch_rich",
            encode_emit_batch(&rich_batch(), protocol, 2),
        ),
        (
            "emit_batch_refused",
            encode_emit_batch(&refused_batch(), protocol, 3),
        ),
        (
            "emit_zipkin_batch",
            zipkin::encode_emit_zipkin_batch(&zipkin_v1_thrift_spans(), protocol),
        ),
    ];
    if protocol == ThriftProtocol::Binary {
        // The body of POST /api/traces: a bare Batch.
        seeds.push(("http_batch_small", encode_batch(&small_batch(), protocol)));
        seeds.push(("http_batch_rich", encode_batch(&rich_batch(), protocol)));
    }
    seeds
}

// ---------------------------------------------------------------------------
// Zipkin

fn endpoint(service: &str, ip: &str, port: u16) -> zipkin::Endpoint {
    zipkin::Endpoint {
        service_name: service.into(),
        ipv4: ip.parse().ok().filter(|ip: &std::net::IpAddr| ip.is_ipv4()),
        ipv6: ip.parse().ok().filter(|ip: &std::net::IpAddr| ip.is_ipv6()),
        port,
    }
}

fn zipkin_v2_spans() -> Vec<zipkin::Span> {
    let trace_id = *b"\x5a\xf7\x18\x3f\xb1\xd4\xcf\x5f\x0a\xf7\x65\x19\x16\xcd\x43\xdd";
    let server = zipkin::Span {
        trace_id,
        id: *b"\x35\x2b\xff\x9a\x74\xca\x9a\xd2",
        parent_id: Some(*b"\x63\x81\xf4\xd1\x7a\x49\x31\x46"),
        kind: Some(zipkin::Kind::Server),
        name: "post /api/orders".into(),
        timestamp: Some(START_MICROS as u64),
        duration: Some(2_750),
        local_endpoint: Some(endpoint("orders", "10.0.0.7", 8080)),
        remote_endpoint: Some(endpoint("frontend", "2001:db8::1", 51234)),
        annotations: vec![
            zipkin::Annotation {
                timestamp: START_MICROS as u64 + 10,
                value: "wr".into(),
            },
            zipkin::Annotation {
                timestamp: START_MICROS as u64 + 20,
                value: r#"retry|{"attempt":"2"}|0"#.into(),
            },
        ],
        tags: BTreeMap::from([
            ("http.method".into(), "POST".into()),
            ("http.status_code".into(), "500".into()),
            ("error".into(), "true".into()),
            ("otel.library.name".into(), "io.opentelemetry.servlet".into()),
            ("otel.library.version".into(), "1.2.0".into()),
            ("telemetry.sdk.language".into(), "java".into()),
            ("w3c.tracestate".into(), "congo=t61rcWkgMzE".into()),
            (
                "otlp.link.0".into(),
                "5af7183fb1d4cf5f0af7651916cd43dd|6381f4d17a493146|rojo=00f067aa0ba902b7|{\"kind\":\"batch\"}|0".into(),
            ),
        ]),
        debug: false,
        shared: true,
    };
    let client = zipkin::Span {
        id: *b"\x00\x00\x00\x00\x00\x00\x01\x01",
        parent_id: Some(server.id),
        kind: Some(zipkin::Kind::Client),
        name: "select".into(),
        local_endpoint: Some(endpoint("orders", "10.0.0.7", 0)),
        remote_endpoint: Some(endpoint("postgres", "10.0.0.9", 5432)),
        annotations: Vec::new(),
        tags: BTreeMap::from([
            ("otel.status_code".into(), "STATUS_CODE_ERROR".into()),
            ("otel.status_description".into(), "deadlock".into()),
        ]),
        shared: false,
        ..server.clone()
    };
    let producer = zipkin::Span {
        // A 64-bit trace ID, written as 16 hex digits.
        trace_id: *b"\0\0\0\0\0\0\0\0\x46\x3a\xc3\x5c\x9f\x64\x13\xad",
        id: *b"\x00\x00\x00\x00\x00\x00\x02\x02",
        parent_id: None,
        kind: Some(zipkin::Kind::Producer),
        name: "send orders".into(),
        local_endpoint: Some(endpoint("billing", "", 0)),
        remote_endpoint: None,
        annotations: Vec::new(),
        tags: BTreeMap::from([("messaging.system".into(), "kafka".into())]),
        debug: true,
        shared: false,
        ..server.clone()
    };
    vec![server, client, producer]
}

/// Zipkin v1 spans as JSON, in the shape zipkin-api.yaml gives them: a
/// client/server span with core annotations and one local span.
fn zipkin_v1_json() -> Vec<u8> {
    let web = json!({"serviceName": "web", "ipv4": "10.0.0.1", "port": 8080});
    let db = json!({"serviceName": "db", "ipv6": "2001:db8::2", "port": 5432});
    let spans = json!([
        {
            "traceId": "5af7183fb1d4cf5f0af7651916cd43dd",
            "id": "352bff9a74ca9ad2",
            "name": "query",
            "timestamp": START_MICROS,
            "duration": 900,
            "annotations": [
                {"timestamp": START_MICROS, "value": "cs", "endpoint": web},
                {"timestamp": START_MICROS + 100, "value": "sr", "endpoint": db},
                {"timestamp": START_MICROS + 800, "value": "ss", "endpoint": db},
                {"timestamp": START_MICROS + 900, "value": "cr", "endpoint": web},
                {"timestamp": START_MICROS + 400, "value": "cache miss", "endpoint": db}
            ],
            "binaryAnnotations": [
                {"key": "sql.query", "value": "SELECT 1", "endpoint": db},
                {"key": "error", "value": "timeout", "endpoint": db},
                {"key": "ca", "value": "1", "endpoint": web}
            ]
        },
        {
            "traceId": "463ac35c9f6413ad",
            "id": "0000000000000202",
            "parentId": "352bff9a74ca9ad2",
            "name": "compute",
            "timestamp": START_MICROS + 1000,
            "duration": 50,
            "debug": true,
            "binaryAnnotations": [
                {"key": "lc", "value": "worker", "endpoint": {"serviceName": "batch"}}
            ]
        }
    ]);
    serde_json::to_vec(&spans).expect("a json! value serializes")
}

fn zipkin_json_seeds() -> Seeds {
    let spans = zipkin_v2_spans();
    vec![
        ("v2_one_span", zipkin::to_v2_json(&spans[..1])),
        ("v2_three_spans", zipkin::to_v2_json(&spans)),
        ("v1_client_server_local", zipkin_v1_json()),
    ]
}

fn zipkin_binary_seeds() -> Seeds {
    let spans = zipkin_v2_spans();
    vec![
        ("v2_one_span", zipkin::to_v2_proto(&spans[..1])),
        ("v2_three_spans", zipkin::to_v2_proto(&spans)),
        (
            "v1_thrift_list",
            zipkin::encode_span_list(&zipkin_v1_thrift_spans()),
        ),
    ]
}

/// The Jaeger Thrift seed batch in Jaeger's protobuf model, as `PostSpans` carries it.
fn jaeger_proto_seeds() -> Seeds {
    use ferrotrace_format::jaeger::proto;
    let span = |id: u64, parent: Option<u64>| proto::Span {
        trace_id: proto::trace_id_bytes(0x0102_0304, 0x0506_0708),
        span_id: proto::span_id_bytes(id),
        operation_name: format!("op-{id}"),
        references: parent
            .map(|p| proto::SpanRef {
                trace_id: proto::trace_id_bytes(0x0102_0304, 0x0506_0708),
                span_id: proto::span_id_bytes(p),
                ref_type: proto::SpanRefType::ChildOf as i32,
            })
            .into_iter()
            .collect(),
        flags: 1,
        start_time: Some(prost_types_timestamp(START_MICROS + id as i64)),
        duration: Some(prost_types_duration(1_500)),
        tags: vec![
            proto::KeyValue::string("span.kind", "server"),
            proto::KeyValue::int64("http.status_code", 200),
            proto::KeyValue::bool("error", false),
            proto::KeyValue::float64("ratio", 0.5),
            proto::KeyValue::binary("blob", vec![1, 2, 3]),
        ],
        logs: vec![proto::Log {
            timestamp: Some(prost_types_timestamp(START_MICROS + 10)),
            fields: vec![proto::KeyValue::string("event", "retry")],
        }],
        ..Default::default()
    };
    let process = proto::Process {
        service_name: "frontend".into(),
        tags: vec![proto::KeyValue::string("hostname", "node-1")],
    };
    let one = proto::PostSpansRequest {
        batch: Some(proto::Batch {
            spans: vec![span(1, None)],
            process: Some(process.clone()),
        }),
    };
    let tree = proto::PostSpansRequest {
        batch: Some(proto::Batch {
            spans: vec![span(1, None), span(2, Some(1)), span(3, Some(2))],
            process: Some(process),
        }),
    };
    vec![
        ("one_span", one.encode_to_vec()),
        ("three_spans", tree.encode_to_vec()),
    ]
}

/// A Jaeger v1 collector's Kafka message (one span, its process inside) and
/// an OTel Collector `otlp_json` message.
fn kafka_codec_seeds() -> Seeds {
    use ferrotrace_format::jaeger::proto;
    let request = proto::PostSpansRequest::decode(&jaeger_proto_seeds()[1].1[..]).expect("seed");
    let batch = request.batch.expect("batch");
    let mut span = batch.spans[1].clone();
    span.process = batch.process;
    let otlp = ExportTraceServiceRequest::decode(&otlp_split_seeds()[0].1[2..]).expect("seed");
    vec![
        ("jaeger_proto_span", span.encode_to_vec()),
        ("otlp_json", serde_json::to_vec(&otlp).expect("serializes")),
    ]
}

fn prost_types_timestamp(micros: i64) -> ferrotrace_format::jaeger::proto::Timestamp {
    ferrotrace_format::jaeger::proto::Timestamp {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000) as i32 * 1_000,
    }
}

fn prost_types_duration(micros: i64) -> ferrotrace_format::jaeger::proto::Duration {
    ferrotrace_format::jaeger::proto::Duration {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000) as i32 * 1_000,
    }
}

// ---------------------------------------------------------------------------
// OTLP

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn otlp_span(
    trace: u8,
    span: u8,
    name: &str,
    padding: usize,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: [trace; 16].to_vec(),
        span_id: [span; 8].to_vec(),
        parent_span_id: if span > 1 {
            vec![span - 1; 8]
        } else {
            Vec::new()
        },
        name: name.into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: START_MICROS as u64 * 1_000,
        end_time_unix_nano: START_MICROS as u64 * 1_000 + 1_000_000,
        attributes: vec![
            string_kv("http.route", "/api/orders"),
            string_kv("padding", &"x".repeat(padding)),
        ],
        events: vec![Event {
            time_unix_nano: START_MICROS as u64 * 1_000 + 500,
            name: "retry".into(),
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: [trace ^ 0xff; 16].to_vec(),
            span_id: [7; 8].to_vec(),
            ..Default::default()
        }],
        status: Some(Status {
            code: 2,
            message: "boom".into(),
        }),
        flags: 0x101,
        ..Default::default()
    }
}

fn resource_spans(service: &str, scopes: Vec<ScopeSpans>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string_kv("service.name", service)],
            ..Default::default()
        }),
        scope_spans: scopes,
        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
    }
}

fn scope(name: &str, spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: "1.0".into(),
            ..Default::default()
        }),
        spans,
        ..Default::default()
    }
}

/// `cap` (little endian, as the target reads it) followed by the request.
fn with_cap(cap: u16, request: ExportTraceServiceRequest) -> Vec<u8> {
    let mut seed = cap.to_le_bytes().to_vec();
    request.encode(&mut seed).expect("a Vec grows as needed");
    seed
}

fn otlp_split_seeds() -> Seeds {
    // Three traces interleaved across two resources and three scopes.
    let interleaved = ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                "frontend",
                vec![
                    scope(
                        "http",
                        vec![otlp_span(1, 1, "a", 0), otlp_span(2, 1, "b", 0)],
                    ),
                    scope("db", vec![otlp_span(1, 2, "c", 0), otlp_span(3, 1, "d", 0)]),
                ],
            ),
            resource_spans("orders", vec![scope("http", vec![otlp_span(2, 2, "e", 0)])]),
        ],
    };
    // One trace too large for a small cap: split across messages, and one
    // span too large to fit even alone.
    let large = ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            "batch",
            vec![scope(
                "jobs",
                (1..=6)
                    .map(|i| otlp_span(9, i, "step", if i == 6 { 900 } else { 60 }))
                    .collect(),
            )],
        )],
    };
    // Spans the splitter refuses: zero and short trace IDs.
    let mut zero = otlp_span(0, 1, "zero", 0);
    zero.trace_id = vec![0; 16];
    let mut short = otlp_span(5, 2, "short", 0);
    short.trace_id = vec![5; 8];
    let refused = ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            "legacy",
            vec![scope("x", vec![zero, short, otlp_span(5, 3, "ok", 0)])],
        )],
    };
    vec![
        (
            "interleaved_cap_64k",
            with_cap(u16::MAX, interleaved.clone()),
        ),
        ("interleaved_cap_300", with_cap(300, interleaved)),
        ("large_trace_cap_400", with_cap(400, large)),
        ("refused_ids_cap_4k", with_cap(4096, refused)),
        (
            "empty_request",
            with_cap(1024, ExportTraceServiceRequest::default()),
        ),
    ]
}

/// The Zipkin v1 Thrift spans a Jaeger client's `emitZipkinBatch` carries:
/// a client/server span with core annotations and typed binary annotations.
fn zipkin_v1_thrift_spans() -> Vec<zipkin::ThriftSpan> {
    use zipkin::{ThriftAnnotation, ThriftAnnotationType, ThriftBinaryAnnotation, ThriftEndpoint};
    let web = ThriftEndpoint {
        ipv4: 0x0a00_0001,
        port: 8080,
        service_name: "web".into(),
        ipv6: None,
    };
    let db = ThriftEndpoint {
        ipv4: 0,
        port: -5536, // 60000 as an i16
        service_name: "db".into(),
        ipv6: Some(vec![
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
        ]),
    };
    let annotation = |offset: i64, value: &str, host: &ThriftEndpoint| ThriftAnnotation {
        timestamp: START_MICROS + offset,
        value: value.into(),
        host: Some(host.clone()),
    };
    let binary = |key: &str, value: Vec<u8>, annotation_type| ThriftBinaryAnnotation {
        key: key.into(),
        value,
        annotation_type,
        host: Some(db.clone()),
    };
    vec![
        zipkin::ThriftSpan {
            trace_id: 0x0af7_6519_16cd_43dd,
            trace_id_high: Some(0x5af7_183f_b1d4_cf5f),
            name: "query".into(),
            id: 0x352b_ff9a_74ca_9ad2,
            parent_id: Some(0x6381_f4d1_7a49_3146),
            annotations: vec![
                annotation(0, "cs", &web),
                annotation(100, "sr", &db),
                annotation(800, "ss", &db),
                annotation(900, "cr", &web),
            ],
            binary_annotations: vec![
                binary(
                    "sql.query",
                    b"SELECT 1".to_vec(),
                    ThriftAnnotationType::String,
                ),
                binary("cache.hit", vec![1], ThriftAnnotationType::Bool),
                binary(
                    "rows",
                    42i64.to_be_bytes().to_vec(),
                    ThriftAnnotationType::I64,
                ),
                binary(
                    "port",
                    5432i16.to_be_bytes().to_vec(),
                    ThriftAnnotationType::I16,
                ),
                binary(
                    "ratio",
                    0.5f64.to_be_bytes().to_vec(),
                    ThriftAnnotationType::Double,
                ),
                binary("blob", vec![0xde, 0xad], ThriftAnnotationType::Bytes),
            ],
            debug: Some(false),
            timestamp: Some(START_MICROS),
            duration: Some(900),
        },
        zipkin::ThriftSpan {
            trace_id: 0x463a_c35c_9f64_13ad,
            trace_id_high: None,
            name: "compute".into(),
            id: 0x0202,
            parent_id: None,
            annotations: Vec::new(),
            binary_annotations: vec![ThriftBinaryAnnotation {
                key: "lc".into(),
                value: b"worker".to_vec(),
                annotation_type: ThriftAnnotationType::String,
                host: Some(web.clone()),
            }],
            debug: Some(true),
            timestamp: Some(START_MICROS + 1_000),
            duration: Some(50),
        },
    ]
}
