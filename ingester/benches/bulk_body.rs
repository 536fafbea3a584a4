//! CPU per span of the ingester's consume path without the network: Kafka
//! message values (as the collector's split writes them: one trace per
//! message) decoded and written into an Elasticsearch `_bulk` body, ten
//! messages per batch. Requests are `ferrotrace-loadtest`'s HotROD-like
//! traces, 10 spans of 20 attributes each.
//!
//! Two paths: prost decode + the reference writer (`decode_and_write`, what
//! other encodings and the metrics generator still need), and documents
//! written straight from the wire (`wire_write`, the `otlp_proto` path).
//!
//! Run: `cargo bench -p ferrotrace-ingester --bench bulk_body`
//! The batch builder is reused across iterations, as in the ingester, and
//! the allocator is the ingester's (mimalloc).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotrace_common::otlp::split_by_trace;
use ferrotrace_ingester::es::bulk::{BatchBuilder, IndexOptions, MessageRef};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rand::SeedableRng;

const TRACES: usize = 10;

/// The allocator the ingester binary runs on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bulk_body(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let shape = Shape::default();
    let request = generator::request(&mut rng, TRACES, shape, 1_795_651_200_000_000_000);
    let bytes = request.encode_to_vec();
    let split = split_by_trace(&bytes, 1_000_000).expect("generated request splits");
    let messages: Vec<Vec<u8>> = split.iter().map(|(_, value)| value.to_vec()).collect();
    let spans = split.accepted_spans;
    let message_bytes: usize = messages.iter().map(Vec::len).sum();

    let mut builder = BatchBuilder::new(IndexOptions {
        date_separator: "-".into(),
        ..IndexOptions::default()
    });
    // Both paths write the same body, byte for byte.
    let bodies: Vec<Vec<u8>> = (0..2)
        .map(|path| {
            let mut builder = BatchBuilder::new(IndexOptions {
                date_separator: "-".into(),
                ..IndexOptions::default()
            });
            for (offset, value) in messages.iter().enumerate() {
                let message = MessageRef {
                    partition: 0,
                    offset: offset as i64,
                    epoch: 0,
                };
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

    let mut group = c.benchmark_group("bulk_body");
    group.throughput(Throughput::ElementsAndBytes {
        elements: spans,
        bytes: message_bytes as u64,
    });
    group.bench_function(
        format!("decode_and_write_{}_messages_{spans}_spans", messages.len()),
        |b| {
            b.iter(|| {
                for (offset, value) in messages.iter().enumerate() {
                    let Ok(request) =
                        ExportTraceServiceRequest::decode(black_box(value.as_slice()))
                    else {
                        continue;
                    };
                    let message = MessageRef {
                        partition: 0,
                        offset: offset as i64,
                        epoch: 0,
                    };
                    builder.add(message, &request);
                }
                builder.take().map_or(0, |batch| batch.body_len())
            })
        },
    );
    group.bench_function(
        format!("wire_write_{}_messages_{spans}_spans", messages.len()),
        |b| {
            b.iter(|| {
                for (offset, value) in messages.iter().enumerate() {
                    let message = MessageRef {
                        partition: 0,
                        offset: offset as i64,
                        epoch: 0,
                    };
                    let _ = builder.add_encoded(message, black_box(value.as_slice()));
                }
                builder.take().map_or(0, |batch| batch.body_len())
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bulk_body);
criterion_main!(benches);
