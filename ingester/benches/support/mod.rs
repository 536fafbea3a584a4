//! What the ingester's benches share: the ingester's defaults for the
//! metrics generator and the batch builder, the recorder it installs, and
//! a batch taken and its body given back as the ingester's send does.

#![allow(dead_code)] // each bench uses a different part

use std::sync::OnceLock;
use std::time::Duration;

use ferrotrace_common::telemetry;
use ferrotrace_ingester::es::bulk::{BatchBuilder, IndexOptions, MessageRef};
use ferrotrace_ingester::metrics as m;
use ferrotrace_ingester::metrics_gen::service_graph::ServiceGraphOptions;
use ferrotrace_ingester::metrics_gen::span_metrics::{SpanMetricsNames, SpanMetricsOptions};
use ferrotrace_ingester::metrics_gen::{self, MetricsGenerator};
use metrics_exporter_prometheus::PrometheusHandle;

/// The ingester's default metrics generator: both processors, the default
/// limits; every span counts however old (the generated ones are dated).
pub fn default_metrics_generator() -> MetricsGenerator {
    MetricsGenerator::new(&metrics_gen::Options {
        service_graph: Some(ServiceGraphOptions {
            max_items: 10_000,
            wait: Duration::from_secs(10),
            max_label_sets: 10_000,
        }),
        span_metrics: Some(SpanMetricsOptions {
            max_label_sets: 10_000,
            names: SpanMetricsNames::Tempo,
        }),
        max_span_age: None,
    })
}

/// The recorder the ingester installs (its own histograms and counters for
/// the generator's series), with its upkeep handle.
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            telemetry::init_metrics("ingester", &m::LAYOUT).expect("recorder installed")
        })
        .clone()
}

/// A batch builder whose bodies are reused as the ingester reuses them (its
/// pool's sizes at the default flags).
pub fn batch_builder() -> BatchBuilder {
    BatchBuilder::new(IndexOptions {
        date_separator: "-".into(),
        ..IndexOptions::default()
    })
    .with_body_pool(4, 12 << 20)
}

/// Takes the batch written, as the ingester does to send it, and gives its
/// body back to the pool, as the ingester's send does once it is stored;
/// returns the body's length.
pub fn take_and_recycle(builder: &mut BatchBuilder) -> usize {
    let Some(batch) = builder.take() else {
        return 0;
    };
    let len = batch.body_len();
    builder.body_pool().recycle(batch);
    len
}

pub fn message_ref(offset: usize) -> MessageRef {
    MessageRef {
        partition: 0,
        offset: offset as i64,
        epoch: 0,
    }
}

/// This thread's CPU time so far, user and system apart
/// (`getrusage(RUSAGE_THREAD)`: their sum is the scheduler's exact run
/// time, in microseconds; the split between them is sampled at clock ticks).
#[derive(Clone, Copy)]
pub struct ThreadCpu {
    pub user: Duration,
    pub system: Duration,
}

impl ThreadCpu {
    pub fn now() -> Self {
        // SAFETY: an all-zero rusage is valid, and getrusage writes only it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage for the call's duration.
        let result = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        assert_eq!(result, 0, "getrusage(RUSAGE_THREAD)");
        let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Self {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
        }
    }

    /// User and system together.
    pub fn total(self) -> Duration {
        self.user + self.system
    }

    pub fn since(self, start: Self) -> Self {
        Self {
            user: self.user.saturating_sub(start.user),
            system: self.system.saturating_sub(start.system),
        }
    }
}
