//! CPU per span of the ingester's consume path without the network: Kafka
//! message values (as the collector's split writes them: one trace per
//! message) decoded and written into an Elasticsearch `_bulk` body, ten
//! messages per batch. Requests are `ferrotrace-loadtest`'s HotROD-like
//! traces, 10 spans of 20 attributes each.
//!
//! Three paths: prost decode + the reference writer (`decode_and_write`,
//! kept as the reference), documents written straight from the wire
//! (`wire_write`, the ingester with `--service-graph=false
//! --span-metrics=false`), and the ingester's default: documents from the
//! wire and the metrics generator (service graph + span metrics, Tempo's
//! names, the default limits) fed each span's view from the same walk
//! (`wire_write_and_metrics`), with the recorder installed as in
//! the ingester.
//!
//! Times are the CPU time of the benchmark thread (`CLOCK_THREAD_CPUTIME_ID`), so
//! they compare with the floor instruments' CPU figures on a busy machine.
//!
//! `bulk_body_distinct_traces` runs the last two paths the way the ingester
//! meets spans: 5,000 distinct traces, one per message, 25 messages (250
//! documents, `--es-bulk-actions`' default) per body, so the input, the body
//! and the generator's state are as large as in production and each span's
//! generator work comes between documents that push it out of the nearest
//! caches. About four halves per trace never pair (the load tester's `route`
//! spans), so the service graph's store stays full, as at any high rate with
//! some unpaired spans. The generator's share is the difference of the two.
//!
//! Run: `cargo bench -p ferrotrace-ingester --bench bulk_body`
//! The batch builder is reused across iterations and each body given back
//! to its pool once taken, as in the ingester, and the allocator is the
//! ingester's (mimalloc).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotrace_format::otlp::split_by_trace;
use ferrotrace_ingester::dependencies::live::{link_span, BatchSpans, LiveLinks, LiveOptions};
use ferrotrace_ingester::dependencies::store::Target;
use ferrotrace_ingester::dependencies::window::WindowOptions;
use ferrotrace_ingester::es::bulk::{BatchBuilder, IndexOptions};
use ferrotrace_ingester::metrics_gen::{MetricsGenerator, ObservedAt};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rand::SeedableRng;

mod support;

use support::{
    batch_builder, default_metrics_generator, install_recorder, message_ref, take_and_recycle,
    ThreadCpu,
};

const TRACES: usize = 10;

/// The allocator the ingester binary runs on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bulk_body(c: &mut Criterion) {
    let prometheus = install_recorder();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let shape = Shape::default();
    let request = generator::request(&mut rng, TRACES, shape, 1_795_651_200_000_000_000);
    let bytes = request.encode_to_vec();
    let split = split_by_trace(&bytes, 1_000_000).expect("generated request splits");
    let messages: Vec<Vec<u8>> = split.iter().map(|(_, value)| value.to_vec()).collect();
    let spans = split.accepted_spans;
    let message_bytes: usize = messages.iter().map(Vec::len).sum();

    let mut builder = batch_builder();
    // Both paths write the same body, byte for byte.
    let bodies: Vec<Vec<u8>> = (0..2)
        .map(|path| {
            let mut builder = BatchBuilder::new(IndexOptions {
                date_separator: "-".into(),
                ..IndexOptions::default()
            });
            for (offset, value) in messages.iter().enumerate() {
                let message = message_ref(offset);
                if path == 0 {
                    let request = ExportTraceServiceRequest::decode(value.as_slice())
                        .expect("generated messages decode");
                    builder.add(message, &request);
                } else {
                    builder
                        .add_encoded(message, value)
                        .expect("generated messages decode");
                }
            }
            builder.take().expect("a batch").body().to_vec()
        })
        .collect();
    assert_eq!(bodies[0], bodies[1], "the wire writer's body differs");

    println!(
        "bulk_body input: {spans} spans in {} messages, {} bytes/span; _bulk body {} bytes/span",
        messages.len(),
        message_bytes / spans as usize,
        bodies[1].len() / spans as usize
    );

    let mut group = c.benchmark_group("bulk_body");
    group.throughput(Throughput::ElementsAndBytes {
        elements: spans,
        bytes: message_bytes as u64,
    });
    let decode_and_write = |builder: &mut BatchBuilder| {
        for (offset, value) in messages.iter().enumerate() {
            let Ok(request) = ExportTraceServiceRequest::decode(black_box(value.as_slice())) else {
                continue;
            };
            builder.add(message_ref(offset), &request);
        }
        take_and_recycle(builder)
    };
    let wire_write = |builder: &mut BatchBuilder| {
        for (offset, value) in messages.iter().enumerate() {
            let _ = builder.add_encoded(message_ref(offset), black_box(value.as_slice()));
        }
        take_and_recycle(builder)
    };
    let mut generator = default_metrics_generator();
    let mut batches = 0u32;
    let mut wire_write_and_metrics = |builder: &mut BatchBuilder| {
        let at = ObservedAt::now();
        for (offset, value) in messages.iter().enumerate() {
            let _ = builder.add_encoded_visiting(
                message_ref(offset),
                black_box(value.as_slice()),
                |span| generator.observe(&span, at),
            );
        }
        // The ingester folds histogram samples every 5 s; here every 100
        // batches, so memory stays flat and the cost is counted.
        batches = batches.wrapping_add(1);
        if batches % 100 == 0 {
            prometheus.run_upkeep();
        }
        take_and_recycle(builder)
    };
    let name = |path: &str| format!("{path}_{}_messages_{spans}_spans", messages.len());
    group.bench_function(name("decode_and_write"), |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || decode_and_write(&mut builder)))
    });
    group.bench_function(name("wire_write"), |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || wire_write(&mut builder)))
    });
    group.bench_function(name("wire_write_and_metrics"), |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || wire_write_and_metrics(&mut builder)))
    });
    // The live dependencies' share on top of wire_write: each message's
    // spans reduced in the walk that writes them, fed to the window once
    // "stored", and every trace counted.
    let live = LiveLinks::new(LiveOptions {
        window: WindowOptions {
            max_spans: 100_000,
            trace_wait: Duration::from_secs(10),
        },
        flush_interval: Duration::from_secs(300),
        topic: "spans".into(),
        target: Target {
            prefix: String::new(),
            date_separator: "-".into(),
            use_aliases: false,
        },
    });
    live.assign(0, 0);
    let mut spans_of_batch = BatchSpans::default();
    let mut wire_write_and_link = |builder: &mut BatchBuilder| {
        for (offset, value) in messages.iter().enumerate() {
            let mut spans = Vec::new();
            let written = builder.add_encoded_visiting(
                message_ref(offset),
                black_box(value.as_slice()),
                |span| spans.extend(link_span(&span)),
            );
            if written.is_ok() {
                spans_of_batch.push(message_ref(offset), spans);
            }
        }
        live.stored(spans_of_batch.take(), &[(0, messages.len() as i64)]);
        live.finish_idle(Instant::now() + Duration::from_secs(3600));
        take_and_recycle(builder)
    };
    group.bench_function(name("wire_write_and_live_links"), |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || wire_write_and_link(&mut builder)))
    });
    group.finish();
}

/// Distinct traces cycled through by `bulk_body_distinct_traces`.
const DISTINCT_TRACES: usize = 5_000;
/// Messages (one trace each) per `_bulk` body: 250 documents.
const MESSAGES_PER_BODY: usize = 25;

fn bulk_body_distinct_traces(c: &mut Criterion) {
    let prometheus = install_recorder();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let shape = Shape::default();
    let messages: Vec<Vec<u8>> = (0..DISTINCT_TRACES)
        .map(|_| generator::request(&mut rng, 1, shape, 1_795_651_200_000_000_000).encode_to_vec())
        .collect();
    let mut builder = batch_builder();
    let mut generator = default_metrics_generator();
    let mut next = 0;
    // One body's messages, the next ones in turn; the generator sees every
    // span when `generator` is given.
    let mut body = |builder: &mut BatchBuilder, generator: Option<&mut MetricsGenerator>| {
        let at = ObservedAt::now();
        let mut generator = generator;
        for _ in 0..MESSAGES_PER_BODY {
            let value = black_box(messages[next].as_slice());
            let message = message_ref(next);
            let _ = match generator.as_deref_mut() {
                Some(generator) => builder
                    .add_encoded_visiting(message, value, |span| generator.observe(&span, at)),
                None => builder.add_encoded(message, value),
            };
            next = (next + 1) % messages.len();
        }
        take_and_recycle(builder)
    };
    let spans = (MESSAGES_PER_BODY * shape.spans_per_trace) as u64;
    let mut group = c.benchmark_group("bulk_body_distinct_traces");
    group.throughput(Throughput::Elements(spans));
    group.bench_function("wire_write", |b| {
        b.iter_custom(|iterations| cpu_time(iterations, || body(&mut builder, None)))
    });
    let mut bodies = 0u32;
    group.bench_function("wire_write_and_metrics", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                let written = body(&mut builder, Some(&mut generator));
                // The ingester runs the sweep every second and folds
                // histogram samples every 5 s; here every 100 bodies.
                bodies = bodies.wrapping_add(1);
                if bodies % 100 == 0 {
                    generator.sweep(std::time::Instant::now());
                    prometheus.run_upkeep();
                }
                written
            })
        })
    });
    group.finish();
}

/// CPU time of this thread running `routine` `iterations` times: what
/// criterion reports here, so the figures compare with the CPU-time figures
/// of other measuring programs on a machine busy with other work (wall time
/// would count the time other processes had the core).
fn cpu_time(iterations: u64, mut routine: impl FnMut() -> usize) -> Duration {
    let start = ThreadCpu::now();
    for _ in 0..iterations {
        black_box(routine());
    }
    ThreadCpu::now().since(start).total()
}

criterion_group!(benches, bulk_body, bulk_body_distinct_traces);
criterion_main!(benches);
