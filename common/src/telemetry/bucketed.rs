//! Histograms whose buckets are given at start, counted straight into their
//! buckets. The exporter's histogram keeps every sample with a clock reading
//! until its upkeep folds them into buckets, which costs the ingester's
//! metrics-generator more than the rest of its per-span work; here a sample
//! is one relaxed add to its bucket and one to the sum: no clock, no
//! allocation, no upkeep. The rendered text is the exporter's:
//! `le` follows Prometheus (a value counts in the first bucket whose bound
//! is >= it; NaN and values above every bound only in `+Inf`), `_sum` adds
//! every value, NaN and infinities included.
//!
//! Series are never removed: the metrics kept here have label sets bounded
//! by their producer (the metrics-generator's series limits).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use metrics::HistogramFn;

use super::owned::{write_sample, NamedSeries};

/// One series: a count per bucket, the last for values above every bound
/// (and NaN), and the sum of the values as `f64` bits.
#[derive(Debug)]
pub(super) struct BucketedHistogram {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl BucketedHistogram {
    pub(super) fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            bounds,
            sum: AtomicU64::new(0.0_f64.to_bits()),
        }
    }
}

impl BucketedHistogram {
    /// Adds `count` values of `value`: to its bucket, and `value × count` to the sum.
    fn add(&self, value: f64, count: u64) {
        // A handful of bounds: a scan is as fast as a search and, like the
        // exporter's, needs no order.
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(count, Ordering::Relaxed);
        let added = value * count as f64;
        let mut current = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + added).to_bits();
            match self.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
    }
}

impl HistogramFn for BucketedHistogram {
    fn record(&self, value: f64) {
        self.add(value, 1);
    }

    /// One add for all of them (the default records `count` times).
    fn record_many(&self, value: f64, count: usize) {
        self.add(value, count as u64);
    }
}

/// Appends the histograms of `series` in the exporter's format: cumulative
/// `_bucket` counts per bound and `+Inf`, then `_sum` and `_count`.
pub(super) fn render(
    series: &NamedSeries<BucketedHistogram, Arc<[f64]>>,
    help: &HashMap<String, String>,
    out: &mut String,
) {
    series.render(out, help, "histogram", |out, name, key, histogram| {
        // `_count` is the `+Inf` bucket, even while values are being recorded.
        let mut cumulative = 0u64;
        for (bound, count) in histogram.bounds.iter().zip(histogram.counts.iter()) {
            cumulative += count.load(Ordering::Relaxed);
            write_sample(
                out,
                name,
                Some("bucket"),
                key,
                Some(("le", bound)),
                cumulative,
            );
        }
        if let Some(above) = histogram.counts.last() {
            cumulative += above.load(Ordering::Relaxed);
        }
        write_sample(
            out,
            name,
            Some("bucket"),
            key,
            Some(("le", &"+Inf")),
            cumulative,
        );
        let sum = f64::from_bits(histogram.sum.load(Ordering::Relaxed));
        write_sample(out, name, Some("sum"), key, None, sum);
        write_sample(out, name, Some("count"), key, None, cumulative);
    });
}
