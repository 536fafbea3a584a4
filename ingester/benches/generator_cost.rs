//! The metrics generator's cost on the ingest path, counted rather than
//! timed, for changes smaller than this machine's noise (criterion's figures
//! move by 10-20 % between runs of the same code here).
//!
//! It runs a fixed amount of the ingester's work, the number of `_bulk`
//! bodies given (250 documents each, written from the wire), over 5,000
//! distinct traces of the load tester, one per message, as
//! `bulk_body_distinct_traces` does. With `metrics`, the default metrics
//! generator (service graph and span metrics) is fed every span, and the
//! sweep and the recorder's upkeep run every 100 bodies; with `plain`, it
//! is not. A third argument, `floor-mix`, takes the attribute mix of
//! `../shared/limits`' own load (no doubles, no errors), to compare with
//! `split_bench --mode json-wire` counted the same way. Run under
//! cachegrind with a 1 MiB last-level cache (this machine's L2, the cache
//! the documents stream through); a run with 0 bodies counts the setup
//! (generating and encoding the traces) alone, to subtract:
//!
//! ```text
//! cargo bench -p ferrotrace-ingester --bench generator_cost --no-run
//! for run in "plain 0" "plain 400" "metrics 400"; do
//!   valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
//!     target/release/deps/generator_cost-<hash> $run
//! done
//! ```
//!
//! Per span: (`plain 400` − `plain 0`) / 100,000 is the writer path, and
//! (`metrics 400` − `plain 400`) / 100,000 the generator's share.

mod support;

use std::time::Instant;

use ferrotrace_ingester::metrics_gen::ObservedAt;
use ferrotrace_loadtest::generator::{self, Shape};
use prost::Message;
use rand::SeedableRng;
use support::{
    batch_builder, default_metrics_generator, install_recorder, message_ref, take_and_recycle,
};

/// The allocator the ingester binary runs on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TRACES: usize = 5_000;
const MESSAGES_PER_BODY: usize = 25;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = args.next().unwrap_or_default();
    let bodies: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    // `floor-mix`: the attribute mix of `../shared/limits`' own load (no
    // doubles, no errors), to compare with `split_bench --mode json-wire`.
    let floor_mix = args.next().as_deref() == Some("floor-mix");
    let with_metrics = match mode.as_str() {
        "metrics" => true,
        "plain" => false,
        // `cargo bench` runs every bench target with no arguments: nothing to do.
        _ => return eprintln!("generator_cost: give plain|metrics and a number of bodies"),
    };
    let prometheus = install_recorder();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let shape = if floor_mix {
        Shape {
            double_attributes: false,
            error_rate: 0.0,
            ..Shape::default()
        }
    } else {
        Shape::default()
    };
    let messages: Vec<Vec<u8>> = (0..TRACES)
        .map(|_| generator::request(&mut rng, 1, shape, 1_795_651_200_000_000_000).encode_to_vec())
        .collect();
    let mut builder = batch_builder();
    let mut generator = default_metrics_generator();
    let (mut next, mut spans, mut bytes) = (0, 0, 0);
    for body in 1..=bodies {
        let at = ObservedAt::now();
        for _ in 0..MESSAGES_PER_BODY {
            let message = message_ref(next);
            let value = messages[next].as_slice();
            let written = if with_metrics {
                builder.add_encoded_visiting(message, value, |span| generator.observe(&span, at))
            } else {
                builder.add_encoded(message, value)
            };
            spans += written.map_or(0, |_| shape.spans_per_trace);
            next = (next + 1) % messages.len();
        }
        if with_metrics && body % 100 == 0 {
            generator.sweep(Instant::now());
            prometheus.run_upkeep();
        }
        // The body given back, as the ingester's send does once stored.
        bytes += take_and_recycle(&mut builder);
    }
    println!("generator_cost: {mode}, {spans} spans, {bytes} body bytes");
}
