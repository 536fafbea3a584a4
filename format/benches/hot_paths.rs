//! Benchmarks of the per-span hot paths in `ferrotrace-format`, one criterion group per
//! path. Loads follow docs/design.md §6: 100-span requests, 20 attributes per span
//! (about 600 bytes of OTLP per span), throughput counted in spans.
//!
//! Run: `cargo bench -p ferrotrace-format --bench hot_paths`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotrace_format::otlp::attributes::kv_str;
use ferrotrace_format::otlp::split_by_trace;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const SPANS: usize = 100;
const TRACES: usize = 10;
const ATTRIBUTES: usize = 20;

/// A request like an SDK's batch exporter sends: one resource, one scope, and
/// the spans of several concurrent traces interleaved.
fn request(spans: usize, traces: usize, attributes: usize) -> Vec<u8> {
    let trace_id = |t: usize| {
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = (t as u8).wrapping_mul(37).wrapping_add(i as u8 * 11) | 1;
        }
        id.to_vec()
    };
    let spans = (0..spans)
        .map(|n| Span {
            trace_id: trace_id(n % traces),
            span_id: (n as u64 + 1).to_be_bytes().to_vec(),
            parent_span_id: (n as u64).to_be_bytes().to_vec(),
            name: format!("GET /api/v1/items/{n}"),
            kind: 2,
            start_time_unix_nano: 1_764_000_000_000_000_000 + n as u64 * 1_000,
            end_time_unix_nano: 1_764_000_000_000_500_000 + n as u64 * 1_000,
            attributes: (0..attributes)
                .map(|i| kv_str(format!("app.attr.{i:02}"), format!("v-{n:03}-{i:02}")))
                .collect(),
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv_str("service.name", "checkout"),
                    kv_str("host.name", "node-17.example"),
                    kv_str("telemetry.sdk.language", "rust"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tower-http".into(),
                    version: "0.6.2".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn split(c: &mut Criterion) {
    let request = request(SPANS, TRACES, ATTRIBUTES);
    let mut group = c.benchmark_group("split_by_trace");
    group.throughput(Throughput::ElementsAndBytes {
        elements: SPANS as u64,
        bytes: request.len() as u64,
    });
    group.bench_function(
        format!(
            "{SPANS}_spans_{TRACES}_traces_{}_bytes_per_span",
            request.len() / SPANS
        ),
        |b| b.iter(|| split_by_trace(black_box(&request), 1_000_000)),
    );
    group.finish();
}

criterion_group!(splitting, split);

/// The ingester's per-span work in `jaeger::writer`: a decoded request to
/// Jaeger span documents and ids, alone and with the prost decode before it.
fn jaeger_writer(c: &mut Criterion) {
    use ferrotrace_format::jaeger::SpanDocWriter;

    let bytes = request(SPANS, TRACES, ATTRIBUTES);
    let decoded = match ExportTraceServiceRequest::decode(bytes.as_slice()) {
        Ok(decoded) => decoded,
        Err(error) => panic!("benchmark request does not decode: {error}"),
    };
    let mut writer = SpanDocWriter::new();
    let mut group = c.benchmark_group("jaeger_writer");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function(
        format!("write_{SPANS}_spans_{ATTRIBUTES}_attributes"),
        |b| {
            b.iter(|| {
                let mut json_bytes = 0usize;
                writer.write_request(black_box(&decoded), |doc| {
                    json_bytes += doc.json.len() + doc.doc_id.len();
                });
                json_bytes
            })
        },
    );
    // Jaeger's `es.tags-as-fields.all`: every tag also sorted into the `tag` object.
    let mut fields_writer =
        SpanDocWriter::with_tags_as_fields(ferrotrace_format::jaeger::TagsAsFields {
            all: true,
            ..Default::default()
        });
    group.bench_function(
        format!("write_{SPANS}_spans_{ATTRIBUTES}_attributes_tags_as_fields"),
        |b| {
            b.iter(|| {
                let mut json_bytes = 0usize;
                fields_writer.write_request(black_box(&decoded), |doc| {
                    json_bytes += doc.json.len() + doc.doc_id.len();
                });
                json_bytes
            })
        },
    );
    group.throughput(Throughput::ElementsAndBytes {
        elements: SPANS as u64,
        bytes: bytes.len() as u64,
    });
    group.bench_function(
        format!("decode_and_write_{SPANS}_spans_{ATTRIBUTES}_attributes"),
        |b| {
            b.iter(|| {
                let Ok(request) = ExportTraceServiceRequest::decode(black_box(bytes.as_slice()))
                else {
                    return 0;
                };
                let mut json_bytes = 0usize;
                writer.write_request(&request, |doc| json_bytes += doc.json.len());
                json_bytes
            })
        },
    );
    group.finish();
}

criterion_group!(jaeger, jaeger_writer);
criterion_main!(splitting, jaeger);
