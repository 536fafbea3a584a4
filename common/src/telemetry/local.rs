//! Histogram values counted by their one owner, without atomics, and added
//! to the shared histogram in batches: for a hot loop that records a value
//! per item (the ingester's span metrics) and can flush every second.

use metrics::Histogram;

/// A histogram's values since the last [`flush`](Self::flush), per bucket:
/// how many, and their sum. A flush adds each bucket's count to the shared
/// histogram as `record_many` of one value inside the bucket (their mean,
/// kept within the bucket's bounds). With the bounds the recorder holds for
/// that histogram, the rendered buckets and count are those of recording
/// every value, and the sum is theirs up to the rounding of the additions.
#[derive(Debug)]
pub struct LocalHistogram {
    bounds: &'static [f64],
    /// Per bound, then one for values above every bound (and NaN), as the
    /// recorder counts them: (values, their sum).
    pending: Box<[(u64, f64)]>,
}

impl LocalHistogram {
    /// Counts by `bounds`, which are the shared histogram's, in increasing order.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            pending: vec![(0, 0.0); bounds.len() + 1].into_boxed_slice(),
        }
    }

    /// Counts `value` in the first bucket whose bound is at least it.
    #[inline]
    pub fn record(&mut self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        let (count, sum) = &mut self.pending[bucket];
        *count += 1;
        *sum += value;
    }

    /// Adds the values counted since the last flush to `shared`, and
    /// forgets them; returns how many there were.
    pub fn flush(&mut self, shared: &Histogram) -> u64 {
        let mut flushed = 0;
        for (bucket, (count, sum)) in self.pending.iter_mut().enumerate() {
            if *count == 0 {
                continue;
            }
            let value = within(self.bounds, bucket, *sum / *count as f64);
            shared.record_many(value, *count as usize);
            flushed += *count;
            (*count, *sum) = (0, 0.0);
        }
        flushed
    }
}

/// `value` moved into bucket `bucket` of `bounds` (above the bound before
/// it, at most its own): a mean of values of the bucket, which rounding may
/// have put just past one of its bounds.
fn within(bounds: &[f64], bucket: usize, value: f64) -> f64 {
    if let Some(&upper) = bounds.get(bucket) {
        if value > upper {
            return upper;
        }
    }
    match bucket.checked_sub(1).map(|below| bounds[below]) {
        Some(lower) if value <= lower => next_up(lower),
        _ => value,
    }
}

/// The least `f64` above `x` (`f64::next_up`, which needs Rust 1.86).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::telemetry::{LayeredRecorder, MetricsLayout};

    const DIRECT: &str = "test_direct_seconds";
    const BATCHED: &str = "test_batched_seconds";
    const BOUNDS: &[f64] = &[0.002, 0.004, 0.1, 1.0, 16.384];

    fn recorder() -> LayeredRecorder {
        LayeredRecorder::new(&MetricsLayout {
            bucketed_histograms: &[(DIRECT, BOUNDS), (BATCHED, BOUNDS)],
            ..MetricsLayout::default()
        })
        .expect("recorder")
    }

    /// The samples of `name`, keyed by the rest of the series.
    fn series(text: &str, name: &str) -> Vec<(String, f64)> {
        let mut samples: Vec<(String, f64)> = ferrotrace_testkit::parse_metrics(text)
            .into_iter()
            .filter_map(|(series, value)| Some((series.strip_prefix(name)?.to_string(), value)))
            .collect();
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        samples
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            // Many values on one bound: their mean can round past it.
            proptest::sample::select(BOUNDS.to_vec()),
            proptest::sample::select(BOUNDS.to_vec()).prop_map(next_up),
            0.0..20.0f64,
            Just(f64::INFINITY),
            Just(f64::NAN),
        ]
    }

    proptest! {
        /// Values recorded one by one, and the same values batched with
        /// flushes between: the same buckets and count, the same sum but
        /// for rounding.
        #[test]
        fn a_flushed_batch_renders_as_its_values_recorded_one_by_one(
            batches in proptest::collection::vec(proptest::collection::vec(value(), 0..40), 1..4),
        ) {
            let recorder = recorder();
            let mut flushed = 0;
            metrics::with_local_recorder(&recorder, || {
                let direct = metrics::histogram!(DIRECT);
                let batched = metrics::histogram!(BATCHED);
                let mut local = LocalHistogram::new(BOUNDS);
                for batch in &batches {
                    for &value in batch {
                        direct.record(value);
                        local.record(value);
                    }
                    flushed += local.flush(&batched);
                }
            });
            prop_assert_eq!(flushed, batches.iter().map(Vec::len).sum::<usize>() as u64);
            let text = recorder.render();
            let (direct, batched) = (series(&text, DIRECT), series(&text, BATCHED));
            prop_assert_eq!(direct.len(), batched.len(), "{}", text);
            for ((series, want), (_, got)) in direct.iter().zip(&batched) {
                if series == "_sum" {
                    let close = (want.is_nan() && got.is_nan())
                        || want == got
                        || (want - got).abs() <= 1e-12 * want.abs().max(1.0);
                    prop_assert!(close, "sum {} against {}", got, want);
                } else {
                    prop_assert_eq!(want, got, "{}: {}", series, text);
                }
            }
        }
    }

    #[test]
    fn next_up_is_the_next_float() {
        assert_eq!(next_up(1.0), 1.0 + f64::EPSILON);
        assert_eq!(next_up(0.0), f64::from_bits(1));
        assert_eq!(next_up(-f64::from_bits(1)), -0.0);
        assert!(next_up(-1.0) > -1.0 && next_up(-1.0) < -1.0 + f64::EPSILON);
        assert_eq!(next_up(f64::MAX), f64::INFINITY);
    }

    #[test]
    fn a_flush_forgets_what_it_added() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let batched = metrics::histogram!(BATCHED);
            let mut local = LocalHistogram::new(BOUNDS);
            local.record(0.003);
            local.record(0.5);
            assert_eq!(local.flush(&batched), 2);
            assert_eq!(local.flush(&batched), 0);
        });
        let text = recorder.render();
        assert!(text.contains("test_batched_seconds_count 2\n"), "{text}");
        assert!(
            text.contains("test_batched_seconds_bucket{le=\"0.004\"} 1\n"),
            "{text}"
        );
    }
}
