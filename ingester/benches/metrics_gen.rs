//! CPU per span of the metrics-generator on the consumer's hot path: span
//! metrics, service graph, and both, over 100-span requests of 10 traces
//! (each a frontend → backend → db call chain with a message queue hop and
//! 20 attributes per span), with the recorder the ingester installs and the
//! exporter's upkeep (folding its histogram samples into buckets) counted in. The
//! generator reads the spans' views from a walk of the encoded request;
//! `walk_only` is that walk alone (in the ingester it is the walk that
//! writes the documents), to subtract.
//!
//! `service_graph_store_full` feeds the service graph the load tester's
//! traces instead, one per message as the collector writes them, each with
//! its own trace ID: about four of every ten halves never pair (its `route`
//! spans), so the store of waiting halves stays full and every new half
//! evicts the oldest, as in `scripts/bench-ingester-floor.sh`.
//!
//! Run: `cargo bench -p ferrotrace-ingester --bench metrics_gen`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotrace_common::telemetry;
use ferrotrace_format::otlp::SpanWalker;
use ferrotrace_ingester::metrics as m;
use ferrotrace_ingester::metrics_gen::service_graph::ServiceGraphOptions;
use ferrotrace_ingester::metrics_gen::span_metrics::{SpanMetricsNames, SpanMetricsOptions};
use ferrotrace_ingester::metrics_gen::{MetricsGenerator, ObservedAt, Options};
use ferrotrace_loadtest::generator::{self, Shape as TraceShape};
use metrics_exporter_prometheus::PrometheusHandle;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use rand::SeedableRng;

const TRACES: u8 = 10;
const SPANS: u64 = 100;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn span(trace: u8, id: u8, parent: Option<u8>, kind: i32, name: &str) -> Span {
    let start = 1_795_651_200_000_000_000 + u64::from(id) * 1_000_000;
    Span {
        trace_id: [trace; 16].to_vec(),
        span_id: [trace, id, 1, 1, 1, 1, 1, 1].to_vec(),
        parent_span_id: parent
            .map(|p| [trace, p, 1, 1, 1, 1, 1, 1].to_vec())
            .unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 3_000_000 * u64::from(id),
        attributes: (0..20)
            .map(|i| kv(&format!("app.attr.{i:02}"), &format!("value-{i}")))
            .collect(),
        ..Default::default()
    }
}

/// (span ID, parent ID, kind, name) of one service's spans in every trace.
type Shape = Vec<(u8, Option<u8>, i32, &'static str)>;

/// Ten spans per trace over four services: server, client, producer and consumer kinds.
fn request() -> ExportTraceServiceRequest {
    let (server, client, producer, consumer, internal) = (2, 3, 4, 5, 1);
    let services: [(&str, Shape); 4] = [
        (
            "frontend",
            vec![
                (1, None, server, "GET /"),
                (2, Some(1), client, "GET /api"),
                (3, Some(1), internal, "render"),
            ],
        ),
        (
            "backend",
            vec![
                (4, Some(2), server, "GET /api"),
                (5, Some(4), client, "SELECT"),
                (6, Some(4), producer, "publish"),
                (7, Some(4), internal, "validate"),
            ],
        ),
        ("db", vec![(8, Some(5), server, "query")]),
        (
            "worker",
            vec![
                (9, Some(6), consumer, "process"),
                (10, Some(9), internal, "work"),
            ],
        ),
    ];
    let resource_spans = services
        .iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..TRACES)
                    .flat_map(|t| {
                        spans
                            .iter()
                            .map(move |&(id, parent, kind, name)| span(t, id, parent, kind, name))
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// The recorder the ingester installs, with its upkeep thread.
fn install_recorder() -> PrometheusHandle {
    telemetry::init_metrics("ingester", &m::LAYOUT).expect("recorder installed")
}

fn metrics_gen(c: &mut Criterion) {
    let handle = install_recorder();
    let request = request();
    let spans: u64 = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum();
    assert_eq!(spans, SPANS);
    let graph = ServiceGraphOptions {
        max_items: 10_000,
        wait: Duration::from_secs(10),
        max_label_sets: 10_000,
    };
    let span_metrics = SpanMetricsOptions {
        max_label_sets: 10_000,
        names: SpanMetricsNames::Tempo,
    };
    let cases = [
        ("span_metrics", None, Some(span_metrics)),
        ("service_graph", Some(graph.clone()), None),
        ("both", Some(graph), Some(span_metrics)),
    ];
    let message = prost::Message::encode_to_vec(&request);
    let mut walker = SpanWalker::new();
    let mut group = c.benchmark_group("metrics_gen");
    group.throughput(Throughput::Elements(SPANS));
    group.bench_function("walk_only", |b| {
        b.iter(|| {
            let mut spans = 0u32;
            walker
                .for_each_span(black_box(&message), |span| {
                    spans += black_box(span.kind()) as u32
                })
                .expect("walks");
            spans
        })
    });
    for (name, service_graph, span_metrics) in cases {
        let mut generator = MetricsGenerator::new(&Options {
            service_graph,
            span_metrics,
            // The spans are dated 2026-11-26: count them however old.
            max_span_age: None,
        });
        let mut requests = 0u32;
        group.bench_function(name, |b| {
            b.iter(|| {
                let at = ObservedAt::now();
                walker
                    .for_each_span(black_box(&message), |span| generator.observe(&span, at))
                    .expect("walks");
                requests = requests.wrapping_add(1);
                // The ingester folds histogram samples every 5 s; here every
                // 100 requests, so memory stays flat and the cost is counted.
                if requests % 100 == 0 {
                    handle.run_upkeep();
                }
            })
        });
    }
    group.finish();
}

/// Distinct traces cycled through: their unpaired halves (about four per
/// trace) are twice what the store holds, so a trace's halves are evicted
/// before it comes round again.
const STORE_FULL_TRACES: usize = 5_000;

fn service_graph_store_full(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let messages: Vec<Vec<u8>> = (0..STORE_FULL_TRACES)
        .map(|_| {
            let trace = generator::request(
                &mut rng,
                1,
                TraceShape::default(),
                1_795_651_200_000_000_000,
            );
            prost::Message::encode_to_vec(&trace)
        })
        .collect();
    let mut generator = MetricsGenerator::new(&Options {
        service_graph: Some(ServiceGraphOptions {
            max_items: 10_000,
            wait: Duration::from_secs(10),
            max_label_sets: 10_000,
        }),
        span_metrics: None,
        max_span_age: None,
    });
    let mut walker = SpanWalker::new();
    let spans_per_message = TraceShape::default().spans_per_trace as u64;
    let mut group = c.benchmark_group("metrics_gen");
    group.throughput(Throughput::Elements(spans_per_message));
    let mut next = 0;
    group.bench_function("service_graph_store_full", |b| {
        b.iter(|| {
            let at = ObservedAt::now();
            walker
                .for_each_span(black_box(&messages[next]), |span| {
                    generator.observe(&span, at)
                })
                .expect("walks");
            next = (next + 1) % messages.len();
        })
    });
    group.finish();
}

criterion_group!(benches, metrics_gen, service_graph_store_full);
criterion_main!(benches);
