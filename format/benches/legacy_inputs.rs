//! The collector's CPU per span before Kafka for each Jaeger and Zipkin
//! input: decode the payload, translate it to an OTLP request, encode that
//! with prost and split the encoding by trace, exactly the calls the
//! receivers and the pipeline make. OTLP protobuf (split only) is the
//! baseline.
//!
//! Spans are HotROD-like, as the load generator makes them: traces of 10
//! spans (frontend → customer → mysql, frontend → driver → redis, route ×5),
//! 10 attributes of mixed types per span (string, int, bool, double), a log
//! or annotation on each root, 1 % errors. A Jaeger UDP packet holds 40 spans
//! (clients send 20–60 per packet); HTTP and gRPC batches 100. Throughput is
//! counted in spans.
//!
//! Groups: `full` (decode + translate + encode + split, and dropping what
//! each step made), then each step alone: `decode`, `translate` (on a fresh
//! copy of the decoded payload each time, the copy not timed) and
//! `encode_split` (prost encode + split of the translated request).
//!
//! Run: `cargo bench -p ferrotrace-format --bench legacy_inputs`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrotrace_format::jaeger::agent::{read_agent_message, AgentMessage};
use ferrotrace_format::jaeger::to_otlp::{proto_batches_to_otlp, thrift_batch_to_otlp};
use ferrotrace_format::jaeger::{proto as jproto, thrift as jthrift};
use ferrotrace_format::otlp::attributes::kv;
use ferrotrace_format::otlp::{split_by_trace, Split, SplitError};
use ferrotrace_format::thrift::{SliceInput, ThriftProtocol};
use ferrotrace_format::translate::Translated;
use ferrotrace_format::zipkin;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Status};
use prost::Message;
use serde_json::json;

const UDP_SPANS: usize = 40;
const BATCH_SPANS: usize = 100;
const SPANS_PER_TRACE: usize = 10;
const ATTRIBUTES: usize = 10;
/// The collector's default `--kafka-max-message-bytes`.
const MAX_MESSAGE_BYTES: usize = 1_000_000;
const SERVICES: [&str; 6] = ["frontend", "customer", "mysql", "driver", "redis", "route"];
const OPERATIONS: [&str; 6] = [
    "HTTP GET /dispatch",
    "HTTP GET /customer",
    "SQL SELECT",
    "/driver.DriverService/FindNearest",
    "FindDriverIDs",
    "HTTP GET /route",
];

/// xorshift64*: deterministic spans without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone)]
enum Attr {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

impl Attr {
    fn text(&self) -> String {
        match self {
            Attr::Str(s) => s.clone(),
            Attr::Int(i) => i.to_string(),
            Attr::Bool(b) => b.to_string(),
            Attr::Double(d) => d.to_string(),
        }
    }
}

/// One span in neutral form, rendered below into each format.
struct SpanSpec {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    service: usize,
    client: bool,
    start_us: u64,
    duration_us: u64,
    attributes: Vec<(String, Attr)>,
    /// (µs, name, customer_id) of the root's log.
    event: Option<(u64, &'static str, &'static str)>,
    error: bool,
}

/// `traces` HotROD-like traces of [`SPANS_PER_TRACE`] spans, like loadtest/src/generator.rs.
fn spans(traces: usize) -> Vec<SpanSpec> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for _ in 0..traces {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&(rng.next() | 1).to_be_bytes());
        trace_id[8..].copy_from_slice(&rng.next().to_be_bytes());
        let root_start = 1_764_000_000_000_000 + rng.below(1_000_000);
        let mut ids: Vec<[u8; 8]> = Vec::new();
        for i in 0..SPANS_PER_TRACE {
            let span_id = (rng.next() | 1).to_be_bytes();
            ids.push(span_id);
            let parent = match i {
                0 => None,
                2 => Some(ids[1]),
                4 => Some(ids[3]),
                _ => Some(ids[0]),
            };
            let attributes = (0..ATTRIBUTES)
                .map(|a| {
                    let value = match a % 4 {
                        0 => Attr::Str(format!("value-{}", rng.below(1_000_000))),
                        1 => Attr::Int(rng.below(1_000_000) as i64),
                        2 => Attr::Bool(rng.below(2) == 1),
                        _ => Attr::Double(rng.below(1_000_000) as f64 / 1000.0),
                    };
                    (format!("attr.{a:02}"), value)
                })
                .collect();
            out.push(SpanSpec {
                trace_id,
                span_id,
                parent,
                service: i.min(SERVICES.len() - 1),
                client: i % 2 == 1,
                start_us: root_start + i as u64 * 1_000,
                duration_us: 100 + rng.below(4_900),
                attributes,
                event: (i == 0).then_some((root_start + 1, "dispatch started", "123")),
                error: rng.below(100) == 0,
            });
        }
    }
    out
}

fn i64_of(bytes: &[u8]) -> i64 {
    i64::from_be_bytes(bytes.try_into().unwrap_or_default())
}

// --- Jaeger Thrift (UDP compact/binary, HTTP binary) ---

fn thrift_tag(key: &str, value: &Attr) -> jthrift::Tag {
    match value {
        Attr::Str(s) => jthrift::Tag::string(key, s.clone()),
        Attr::Int(i) => jthrift::Tag::long(key, *i),
        Attr::Bool(b) => jthrift::Tag::bool(key, *b),
        Attr::Double(d) => jthrift::Tag::double(key, *d),
    }
}

/// One client's batch: a Jaeger process with the tags jaeger-client-go sends.
fn thrift_batch(spans: &[SpanSpec]) -> jthrift::Batch {
    let spans = spans
        .iter()
        .map(|s| {
            let (high, low) = (i64_of(&s.trace_id[..8]), i64_of(&s.trace_id[8..]));
            let parent = s.parent.map(i64::from_be_bytes);
            let mut tags = vec![jthrift::Tag::string(
                "span.kind",
                if s.client { "client" } else { "server" },
            )];
            tags.extend(s.attributes.iter().map(|(k, v)| thrift_tag(k, v)));
            if s.error {
                tags.push(jthrift::Tag::bool("error", true));
            }
            jthrift::Span {
                trace_id_low: low,
                trace_id_high: high,
                span_id: i64::from_be_bytes(s.span_id),
                parent_span_id: parent.unwrap_or(0),
                operation_name: OPERATIONS[s.service].into(),
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
                start_time: s.start_us as i64,
                duration: s.duration_us as i64,
                tags,
                logs: s
                    .event
                    .iter()
                    .map(|(t, name, customer)| jthrift::Log {
                        timestamp: *t as i64,
                        fields: vec![
                            jthrift::Tag::string("event", *name),
                            jthrift::Tag::string("customer_id", *customer),
                        ],
                    })
                    .collect(),
            }
        })
        .collect();
    jthrift::Batch {
        process: jthrift::Process {
            service_name: "frontend".into(),
            tags: vec![
                jthrift::Tag::string("jaeger.version", "Go-2.30.0"),
                jthrift::Tag::string("hostname", "frontend-7f9c"),
                jthrift::Tag::string("ip", "10.0.0.7"),
                jthrift::Tag::string("client-uuid", "4c2ad1b0d2e3f4a5"),
            ],
        },
        spans,
        seq_no: Some(1),
        stats: None,
    }
}

// --- Jaeger protobuf (gRPC PostSpans) ---

fn proto_tag(key: &str, value: &Attr) -> jproto::KeyValue {
    match value {
        Attr::Str(s) => jproto::KeyValue::string(key, s.clone()),
        Attr::Int(i) => jproto::KeyValue::int64(key, *i),
        Attr::Bool(b) => jproto::KeyValue::bool(key, *b),
        Attr::Double(d) => jproto::KeyValue::float64(key, *d),
    }
}

fn timestamp(us: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (us / 1_000_000) as i64,
        nanos: (us % 1_000_000) as i32 * 1_000,
    }
}

fn post_spans(spans: &[SpanSpec]) -> Vec<u8> {
    let spans = spans
        .iter()
        .map(|s| {
            let mut tags = vec![jproto::KeyValue::string(
                "span.kind",
                if s.client { "client" } else { "server" },
            )];
            tags.extend(s.attributes.iter().map(|(k, v)| proto_tag(k, v)));
            if s.error {
                tags.push(jproto::KeyValue::bool("error", true));
            }
            jproto::Span {
                trace_id: s.trace_id.to_vec(),
                span_id: s.span_id.to_vec(),
                operation_name: OPERATIONS[s.service].into(),
                references: s
                    .parent
                    .map(|p| jproto::SpanRef {
                        trace_id: s.trace_id.to_vec(),
                        span_id: p.to_vec(),
                        ref_type: jproto::SpanRefType::ChildOf as i32,
                    })
                    .into_iter()
                    .collect(),
                flags: 1,
                start_time: Some(timestamp(s.start_us)),
                duration: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: s.duration_us as i32 * 1_000,
                }),
                tags,
                logs: s
                    .event
                    .iter()
                    .map(|(t, name, customer)| jproto::Log {
                        timestamp: Some(timestamp(*t)),
                        fields: vec![
                            jproto::KeyValue::string("event", *name),
                            jproto::KeyValue::string("customer_id", *customer),
                        ],
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    jproto::PostSpansRequest {
        batch: Some(jproto::Batch {
            spans,
            process: Some(jproto::Process {
                service_name: "frontend".into(),
                tags: vec![
                    jproto::KeyValue::string("jaeger.version", "Go-2.30.0"),
                    jproto::KeyValue::string("hostname", "frontend-7f9c"),
                    jproto::KeyValue::string("ip", "10.0.0.7"),
                ],
            }),
        }),
    }
    .encode_to_vec()
}

// --- Zipkin v2 (JSON, protobuf) and v1 (JSON) ---

fn zipkin_v2(spans: &[SpanSpec]) -> Vec<zipkin::Span> {
    spans
        .iter()
        .map(|s| zipkin::Span {
            trace_id: s.trace_id,
            id: s.span_id,
            parent_id: s.parent,
            kind: Some(if s.client {
                zipkin::Kind::Client
            } else {
                zipkin::Kind::Server
            }),
            name: OPERATIONS[s.service].into(),
            timestamp: Some(s.start_us),
            duration: Some(s.duration_us),
            local_endpoint: Some(zipkin::Endpoint {
                service_name: SERVICES[s.service].into(),
                ipv4: Some([10, 0, 0, 7].into()),
                port: 8080,
                ..Default::default()
            }),
            annotations: s
                .event
                .iter()
                .map(|(t, name, _)| zipkin::Annotation {
                    timestamp: *t,
                    value: (*name).into(),
                })
                .collect(),
            tags: s
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.text()))
                .chain(s.error.then(|| ("error".to_string(), "true".to_string())))
                .collect(),
            ..Default::default()
        })
        .collect()
}

/// Zipkin v1 JSON as v1 clients (Brave 4, zipkin-js) write it: core
/// annotations carry the endpoint, tags are string binary annotations.
fn zipkin_v1_json(spans: &[SpanSpec]) -> Vec<u8> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let list: Vec<_> = spans
        .iter()
        .map(|s| {
            let endpoint = json!({"serviceName": SERVICES[s.service], "ipv4": "10.0.0.7", "port": 8080});
            let (first, last) = if s.client { ("cs", "cr") } else { ("sr", "ss") };
            let mut annotations = vec![
                json!({"timestamp": s.start_us, "value": first, "endpoint": endpoint}),
                json!({"timestamp": s.start_us + s.duration_us, "value": last, "endpoint": endpoint}),
            ];
            annotations.extend(
                s.event
                    .iter()
                    .map(|(t, name, _)| json!({"timestamp": t, "value": name, "endpoint": endpoint})),
            );
            let mut binary: Vec<_> = s
                .attributes
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v.text(), "endpoint": endpoint}))
                .collect();
            if s.error {
                binary.push(json!({"key": "error", "value": "true", "endpoint": endpoint}));
            }
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "id": hex(&s.span_id),
                "name": OPERATIONS[s.service],
                "timestamp": s.start_us,
                "duration": s.duration_us,
                "annotations": annotations,
                "binaryAnnotations": binary,
            });
            if let Some(parent) = s.parent {
                span["parentId"] = json!(hex(&parent));
            }
            span
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

// --- OTLP (the baseline) ---

fn otlp(spans: &[SpanSpec]) -> Vec<u8> {
    let resource_spans = SERVICES
        .iter()
        .enumerate()
        .map(|(service, name)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv(
                        "service.name",
                        any_value::Value::StringValue((*name).into()),
                    ),
                    kv(
                        "host.name",
                        any_value::Value::StringValue(format!("{name}-7f9c")),
                    ),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "hotrod".into(),
                    ..Default::default()
                }),
                spans: spans
                    .iter()
                    .filter(|s| s.service == service)
                    .map(|s| opentelemetry_proto::tonic::trace::v1::Span {
                        trace_id: s.trace_id.to_vec(),
                        span_id: s.span_id.to_vec(),
                        parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
                        name: OPERATIONS[s.service].into(),
                        kind: if s.client {
                            span::SpanKind::Client
                        } else {
                            span::SpanKind::Server
                        } as i32,
                        start_time_unix_nano: s.start_us * 1_000,
                        end_time_unix_nano: (s.start_us + s.duration_us) * 1_000,
                        attributes: s
                            .attributes
                            .iter()
                            .map(|(k, v)| {
                                kv(
                                    k,
                                    match v {
                                        Attr::Str(s) => any_value::Value::StringValue(s.clone()),
                                        Attr::Int(i) => any_value::Value::IntValue(*i),
                                        Attr::Bool(b) => any_value::Value::BoolValue(*b),
                                        Attr::Double(d) => any_value::Value::DoubleValue(*d),
                                    },
                                )
                            })
                            .collect(),
                        events: s
                            .event
                            .iter()
                            .map(|(t, name, customer)| span::Event {
                                time_unix_nano: t * 1_000,
                                name: (*name).into(),
                                attributes: vec![kv(
                                    "customer_id",
                                    any_value::Value::StringValue((*customer).into()),
                                )],
                                dropped_attributes_count: 0,
                            })
                            .collect(),
                        status: s.error.then(|| Status {
                            code: status::StatusCode::Error as i32,
                            message: String::new(),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .filter(|rs| !rs.scope_spans[0].spans.is_empty())
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

// --- The receivers' paths ---

/// A payload as the receiver's decoder leaves it, before translation.
#[derive(Clone)]
enum Decoded {
    /// OTLP: nothing is decoded, the bytes go to the split.
    Otlp,
    Thrift(jthrift::Batch),
    Proto(Vec<jproto::Batch>),
    V2(Vec<zipkin::Span>),
    V1(Vec<zipkin::V1Span>),
    Invalid,
}

impl Decoded {
    fn spans(&self) -> usize {
        match self {
            Decoded::Otlp | Decoded::Invalid => 0,
            Decoded::Thrift(batch) => batch.spans.len(),
            Decoded::Proto(batches) => batches.iter().map(|b| b.spans.len()).sum(),
            Decoded::V2(spans) => spans.len(),
            Decoded::V1(spans) => spans.len(),
        }
    }
}

/// The translation each receiver calls.
fn translate(decoded: Decoded) -> Translated {
    match decoded {
        Decoded::Thrift(batch) => thrift_batch_to_otlp(batch),
        Decoded::Proto(batches) => proto_batches_to_otlp(batches),
        Decoded::V2(spans) => zipkin::spans_to_otlp(spans),
        Decoded::V1(spans) => zipkin::v1_spans_to_otlp(spans),
        Decoded::Otlp | Decoded::Invalid => Translated::default(),
    }
}

fn agent(packet: &[u8], protocol: ThriftProtocol) -> Decoded {
    match read_agent_message(packet, protocol) {
        Ok(AgentMessage::Batch(batch)) => Decoded::Thrift(batch),
        Ok(AgentMessage::ZipkinBatch(spans)) => Decoded::V1(spans),
        Err(_) => Decoded::Invalid,
    }
}

/// One payload and the decoder its receiver uses.
struct Input {
    name: &'static str,
    spans: usize,
    payload: Vec<u8>,
    decode: fn(&[u8]) -> Decoded,
}

fn inputs() -> Vec<Input> {
    let udp = spans(UDP_SPANS / SPANS_PER_TRACE);
    let batch = spans(BATCH_SPANS / SPANS_PER_TRACE);
    let v2 = zipkin_v2(&batch);
    vec![
        Input {
            name: "otlp_proto",
            spans: BATCH_SPANS,
            payload: otlp(&batch),
            decode: |_| Decoded::Otlp,
        },
        Input {
            name: "jaeger_compact_udp",
            spans: UDP_SPANS,
            payload: jthrift::encode_emit_batch(&thrift_batch(&udp), ThriftProtocol::Compact, 1),
            decode: |p| agent(p, ThriftProtocol::Compact),
        },
        Input {
            name: "jaeger_binary_udp",
            spans: UDP_SPANS,
            payload: jthrift::encode_emit_batch(&thrift_batch(&udp), ThriftProtocol::Binary, 1),
            decode: |p| agent(p, ThriftProtocol::Binary),
        },
        Input {
            name: "jaeger_thrift_http",
            spans: BATCH_SPANS,
            payload: jthrift::encode_batch(&thrift_batch(&batch), ThriftProtocol::Binary),
            decode: |p| {
                jthrift::read_batch(&mut SliceInput::new(p, ThriftProtocol::Binary))
                    .map_or(Decoded::Invalid, Decoded::Thrift)
            },
        },
        Input {
            name: "jaeger_proto_grpc",
            spans: BATCH_SPANS,
            payload: post_spans(&batch),
            decode: |p| {
                jproto::PostSpansRequest::decode(p).map_or(Decoded::Invalid, |request| {
                    Decoded::Proto(request.batch.into_iter().collect())
                })
            },
        },
        Input {
            name: "zipkin_v2_json",
            spans: BATCH_SPANS,
            payload: zipkin::to_v2_json(&v2),
            decode: |p| zipkin::parse_v2_json(p).map_or(Decoded::Invalid, Decoded::V2),
        },
        Input {
            name: "zipkin_v2_proto",
            spans: BATCH_SPANS,
            payload: zipkin::to_v2_proto(&v2),
            decode: |p| zipkin::parse_v2_proto(p).map_or(Decoded::Invalid, Decoded::V2),
        },
        Input {
            name: "zipkin_v1_json",
            spans: BATCH_SPANS,
            payload: zipkin_v1_json(&batch),
            decode: |p| zipkin::parse_v1_json(p).map_or(Decoded::Invalid, Decoded::V1),
        },
    ]
}

/// The whole path: what a receiver and the pipeline do before producing.
fn receive(input: &Input, payload: &[u8]) -> Result<Split, SplitError> {
    match (input.decode)(payload) {
        Decoded::Otlp => split_by_trace(payload, MAX_MESSAGE_BYTES),
        decoded => {
            let request = translate(decoded).request.encode_to_vec();
            split_by_trace(&request, MAX_MESSAGE_BYTES)
        }
    }
}

/// Every payload decodes and translates, without refusals, to all its spans.
fn check(input: &Input) {
    let decoded = (input.decode)(&input.payload);
    if !matches!(decoded, Decoded::Otlp) {
        assert_eq!(decoded.spans(), input.spans, "{}", input.name);
        let translated = translate(decoded);
        assert_eq!(
            (translated.spans, translated.refused.total()),
            (input.spans as u64, 0),
            "{}: {:?}",
            input.name,
            translated.refused.first()
        );
    }
    let split = receive(input, &input.payload);
    assert_eq!(
        split.map(|s| s.accepted_spans).ok(),
        Some(input.spans as u64),
        "{}",
        input.name
    );
}

fn id(input: &Input) -> String {
    format!(
        "{}/{}_spans_{}_bytes_per_span",
        input.name,
        input.spans,
        input.payload.len() / input.spans
    )
}

fn legacy_only() -> impl Iterator<Item = Input> {
    inputs().into_iter().filter(|i| i.name != "otlp_proto")
}

fn full(c: &mut Criterion) {
    let mut group = c.benchmark_group("full");
    for input in inputs() {
        check(&input);
        group.throughput(Throughput::Elements(input.spans as u64));
        group.bench_function(id(&input), |b| {
            b.iter(|| receive(&input, black_box(&input.payload)).map_or(0, |s| s.messages.len()))
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for input in legacy_only() {
        group.throughput(Throughput::Elements(input.spans as u64));
        let decode = input.decode;
        group.bench_function(id(&input), |b| {
            b.iter(|| decode(black_box(&input.payload)).spans())
        });
    }
    group.finish();
}

/// Translation alone: each iteration gets its own copy of the decoded payload.
fn translation(c: &mut Criterion) {
    let mut group = c.benchmark_group("translate");
    for input in legacy_only() {
        group.throughput(Throughput::Elements(input.spans as u64));
        let decoded = (input.decode)(&input.payload);
        group.bench_function(id(&input), |b| {
            b.iter_batched(
                || decoded.clone(),
                |decoded| translate(black_box(decoded)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn encode_split(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_split");
    for input in legacy_only() {
        group.throughput(Throughput::Elements(input.spans as u64));
        let translated = translate((input.decode)(&input.payload)).request;
        group.bench_function(id(&input), |b| {
            b.iter(|| {
                let request = black_box(&translated).encode_to_vec();
                split_by_trace(&request, MAX_MESSAGE_BYTES).map_or(0, |s| s.messages.len())
            })
        });
    }
    group.finish();
}

criterion_group!(legacy_inputs, full, decode, translation, encode_split);
criterion_main!(legacy_inputs);
