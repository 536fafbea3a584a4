//! The recorder the binaries install: the Prometheus exporter's, except for
//! three kinds of series named at start ([`MetricsLayout`]), which it keeps
//! itself and renders after the exporter's text:
//! - removable gauges, whose series can be removed again
//!   ([`super::remove_gauges`]): a series that describes something this
//!   process no longer has (a Kafka partition revoked from it) must leave
//!   `/metrics`, and metrics-exporter-prometheus 0.18 forgets a series only
//!   through an idle timeout that applies to every gauge alike;
//! - histograms with buckets of their own ([`super::bucketed`]), recorded
//!   per span by the ingester's metrics-generator, where the exporter's
//!   sample buffering costs more than the counting;
//! - plain counters, a bare atomic each, for the counters incremented per
//!   span (the exporter's handle adds a generation count to every increment).
//!
//! The histograms and counters kept here are never removed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::formatting::sanitize_metric_name;
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::bucketed::{self, BucketedHistogram};
use super::owned::{write_sample, NamedSeries};
use super::{MetricsError, MetricsLayout, LATENCY_BUCKETS_SECONDS};

/// The series kept outside the exporter, and their HELP texts.
#[derive(Debug)]
pub(super) struct OwnedSeries {
    removable_gauges: NamedSeries<AtomicU64>,
    plain_counters: NamedSeries<AtomicU64>,
    bucketed_histograms: NamedSeries<BucketedHistogram, Arc<[f64]>>,
    help: Mutex<HashMap<String, String>>,
}

impl OwnedSeries {
    fn new(layout: &MetricsLayout<'_>) -> Self {
        let unshared = |names: &[&str]| names.iter().map(|n| (n.to_string(), ())).collect();
        Self {
            removable_gauges: NamedSeries::new(unshared(layout.removable_gauges)),
            plain_counters: NamedSeries::new(unshared(layout.plain_counters)),
            bucketed_histograms: NamedSeries::new(
                layout
                    .bucketed_histograms
                    .iter()
                    .map(|(name, bounds)| (name.to_string(), Arc::from(*bounds)))
                    .collect(),
            ),
            help: Mutex::default(),
        }
    }

    fn describe(&self, name: &str, description: SharedString) {
        let mut help = self.help.lock().unwrap_or_else(PoisonError::into_inner);
        // The first description wins, as in the exporter.
        help.entry(sanitize_metric_name(name))
            .or_insert_with(|| description.to_string());
    }

    /// Removes the series of the removable gauge `name` whose labels include
    /// every `(key, value)` of `labels`.
    pub(super) fn remove_gauges(&self, name: &str, labels: &[(&str, &str)]) {
        self.removable_gauges.retain(|key| {
            key.name() != name
                || !labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        });
    }

    /// Appends every series in the Prometheus text format, one family per name.
    pub(super) fn render(&self, out: &mut String) {
        let help = self.help.lock().unwrap_or_else(PoisonError::into_inner);
        self.removable_gauges
            .render(out, &help, "gauge", |out, name, key, value| {
                let value = f64::from_bits(value.load(Ordering::Acquire));
                write_sample(out, name, None, key, None, value);
            });
        self.plain_counters
            .render(out, &help, "counter", |out, name, key, value| {
                write_sample(out, name, None, key, None, value.load(Ordering::Acquire));
            });
        bucketed::render(&self.bucketed_histograms, &help, out);
    }
}

/// The Prometheus exporter's recorder with the series of `OwnedSeries`
/// taken out of it.
#[derive(Debug)]
pub struct LayeredRecorder {
    prometheus: PrometheusRecorder,
    owned: Arc<OwnedSeries>,
}

impl LayeredRecorder {
    /// A recorder for `layout`, not installed: the binaries install theirs
    /// with [`super::init_metrics`]; tests use one locally
    /// (`metrics::with_local_recorder`) and read [`LayeredRecorder::render`].
    pub fn new(layout: &MetricsLayout<'_>) -> Result<Self, MetricsError> {
        let mut builder = PrometheusBuilder::new();
        for name in layout.latency_histograms {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_string()), LATENCY_BUCKETS_SECONDS)?;
        }
        if layout
            .bucketed_histograms
            .iter()
            .any(|(_, bounds)| bounds.is_empty())
        {
            return Err(BuildError::EmptyBucketsOrQuantiles.into());
        }
        Ok(Self {
            prometheus: builder.build_recorder(),
            owned: Arc::new(OwnedSeries::new(layout)),
        })
    }

    /// The exporter's handle: it renders the exporter's part and runs its upkeep.
    pub fn handle(&self) -> PrometheusHandle {
        self.prometheus.handle()
    }

    /// The text `/metrics` serves: the exporter's, then the series kept here.
    pub fn render(&self) -> String {
        let mut text = self.prometheus.handle().render();
        self.owned.render(&mut text);
        text
    }

    pub(super) fn owned(&self) -> Arc<OwnedSeries> {
        self.owned.clone()
    }
}

impl Recorder for LayeredRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if self.owned.plain_counters.holds(key.as_str()) {
            self.owned.describe(key.as_str(), description);
        } else {
            self.prometheus.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if self.owned.removable_gauges.holds(key.as_str()) {
            self.owned.describe(key.as_str(), description);
        } else {
            self.prometheus.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if self.owned.bucketed_histograms.holds(key.as_str()) {
            self.owned.describe(key.as_str(), description);
        } else {
            self.prometheus.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.owned.plain_counters.holds(key.name()) {
            Counter::from_arc(
                self.owned
                    .plain_counters
                    .get_or_insert_with(key, AtomicU64::default),
            )
        } else {
            self.prometheus.register_counter(key, metadata)
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.owned.removable_gauges.holds(key.name()) {
            Gauge::from_arc(
                self.owned
                    .removable_gauges
                    .get_or_insert_with(key, AtomicU64::default),
            )
        } else {
            self.prometheus.register_gauge(key, metadata)
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.owned.bucketed_histograms.shared(key.name()) {
            Some(bounds) => Histogram::from_arc(
                self.owned
                    .bucketed_histograms
                    .get_or_insert_with(key, || BucketedHistogram::new(bounds.clone())),
            ),
            None => self.prometheus.register_histogram(key, metadata),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ferrotrace_testkit::parse_metrics;
    use proptest::prelude::*;

    use super::*;

    const LAG: &str = "test_lag_messages";
    const LATENCY: &str = "test_latency_seconds";
    const DURATION: &str = "test_duration_milliseconds";
    const CALLS: &str = "test_calls_total";
    const LATENCY_BOUNDS: &[f64] = &[0.002, 0.004, 0.1, 1.0, 16.384];
    const DURATION_BOUNDS: &[f64] = &[2.0, 10.0, 1000.0, 10_000.0, 15_000.0];
    const BUCKETED: &[(&str, &[f64])] = &[(LATENCY, LATENCY_BOUNDS), (DURATION, DURATION_BOUNDS)];

    fn layered() -> LayeredRecorder {
        LayeredRecorder::new(&MetricsLayout {
            bucketed_histograms: BUCKETED,
            removable_gauges: &[LAG],
            plain_counters: &[CALLS],
            ..MetricsLayout::default()
        })
        .expect("recorder")
    }

    /// The exporter alone, with the same buckets: what `/metrics` showed
    /// before these series were kept outside it.
    fn exporter() -> PrometheusRecorder {
        let mut builder = PrometheusBuilder::new();
        for (name, bounds) in BUCKETED {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_string()), bounds)
                .expect("buckets");
        }
        builder.build_recorder()
    }

    /// The HELP and TYPE lines of `text`, each of which must be there once.
    fn header_lines(text: &str) -> HashSet<&str> {
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        let unique: HashSet<&str> = lines.iter().copied().collect();
        assert_eq!(unique.len(), lines.len(), "a header line twice: {text}");
        unique
    }

    /// Sample values by series, NaN equal to NaN.
    fn samples(text: &str) -> HashMap<String, u64> {
        parse_metrics(text)
            .into_iter()
            .map(|(series, value)| {
                let value = if value.is_nan() { f64::NAN } else { value };
                (series, value.to_bits())
            })
            .collect()
    }

    /// One operation on every recorder: a histogram value or a counter step.
    #[derive(Debug, Clone)]
    enum Op {
        Record(&'static str, usize, f64),
        Increment(usize, u64),
        Absolute(usize, u64),
    }

    const SERVICES: &[&str] = &["frontend", "back\"end\\", "db"];

    fn apply(ops: &[Op]) {
        for op in ops {
            match *op {
                Op::Record(name, service, value) => {
                    metrics::histogram!(name, "service" => SERVICES[service], "span.kind" => "server")
                        .record(value)
                }
                Op::Increment(service, by) => {
                    metrics::counter!(CALLS, "service" => SERVICES[service]).increment(by)
                }
                Op::Absolute(service, to) => {
                    metrics::counter!(CALLS, "service" => SERVICES[service]).absolute(to)
                }
            }
        }
    }

    fn value() -> impl Strategy<Value = f64> {
        let bounds: Vec<f64> = BUCKETED
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            proptest::sample::select(bounds),
            -20_000.0..20_000.0f64,
            0.0..0.01f64,
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let service = 0..SERVICES.len();
        prop_oneof![
            4 => (prop_oneof![Just(LATENCY), Just(DURATION)], service.clone(), value())
                .prop_map(|(name, service, value)| Op::Record(name, service, value)),
            1 => (service.clone(), 0..1000u64).prop_map(|(s, by)| Op::Increment(s, by)),
            1 => (service, 0..5000u64).prop_map(|(s, to)| Op::Absolute(s, to)),
        ]
    }

    proptest! {
        // The exporter folds a series' buffered values in blocks of 32 or
        // 64, newest block first: 32 operations keep a series within one
        // block, so both sums add the same values in the same order.
        #[test]
        fn renders_what_the_exporter_renders(ops in proptest::collection::vec(op(), 0..32), described in any::<bool>()) {
            let ours = layered();
            let theirs = exporter();
            for recorder in [&ours as &dyn Recorder, &theirs] {
                metrics::with_local_recorder(recorder, || {
                    if described {
                        metrics::describe_histogram!(LATENCY, Unit::Seconds, "Latency \"of\" spans.\nIn s.");
                        metrics::describe_histogram!(DURATION, "Durations.");
                        metrics::describe_counter!(CALLS, "Calls \\ spans.");
                    }
                    apply(&ops);
                });
            }
            let ours = ours.render();
            let theirs = theirs.handle().render();
            prop_assert_eq!(samples(&ours), samples(&theirs), "ours:\n{}\ntheirs:\n{}", ours, theirs);
            prop_assert_eq!(header_lines(&ours), header_lines(&theirs));
            // Every sample line parses, or the comparison above missed it.
            let lines = ours.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
            prop_assert_eq!(lines, parse_metrics(&ours).len());
        }
    }

    #[test]
    fn a_value_counts_in_the_first_bucket_whose_bound_is_at_least_it() {
        let recorder = layered();
        metrics::with_local_recorder(&recorder, || {
            for value in [0.002, 0.0021, -1.0, 16.384, 17.0, f64::NAN] {
                metrics::histogram!(LATENCY).record(value);
            }
        });
        let text = recorder.render();
        let expected = "# TYPE test_latency_seconds histogram\n\
            test_latency_seconds_bucket{le=\"0.002\"} 2\n\
            test_latency_seconds_bucket{le=\"0.004\"} 3\n\
            test_latency_seconds_bucket{le=\"0.1\"} 3\n\
            test_latency_seconds_bucket{le=\"1\"} 3\n\
            test_latency_seconds_bucket{le=\"16.384\"} 4\n\
            test_latency_seconds_bucket{le=\"+Inf\"} 6\n\
            test_latency_seconds_sum NaN\n\
            test_latency_seconds_count 6\n\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn bucketed_histograms_and_plain_counters_are_not_the_exporters() {
        let recorder = layered();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(LATENCY).record(0.5);
            metrics::counter!(CALLS).increment(2);
            metrics::histogram!("test_other_seconds").record(0.5);
            metrics::counter!("test_other_total").increment(2);
        });
        let exporter = recorder.handle().render();
        assert!(!exporter.contains(LATENCY), "{exporter}");
        assert!(!exporter.contains(CALLS), "{exporter}");
        assert!(exporter.contains("test_other_seconds"), "{exporter}");
        assert!(exporter.contains("test_other_total 2\n"), "{exporter}");
        let all = recorder.render();
        assert!(all.contains("test_calls_total 2\n"), "{all}");
        assert!(all.contains("test_latency_seconds_count 1\n"), "{all}");
    }

    #[test]
    fn empty_buckets_are_refused() {
        let refused = LayeredRecorder::new(&MetricsLayout {
            bucketed_histograms: &[(LATENCY, &[])],
            ..MetricsLayout::default()
        });
        assert!(matches!(
            refused,
            Err(MetricsError::Build(BuildError::EmptyBucketsOrQuantiles))
        ));
    }

    #[test]
    fn a_removed_series_leaves_the_scrape_and_others_stay() {
        let recorder = layered();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_gauge!(LAG, "Lag \"now\".");
            for partition in ["0", "1"] {
                metrics::gauge!(LAG, "topic" => "t", "partition" => partition).set(7.0);
            }
            metrics::gauge!("test_other", "partition" => "0").set(3.0);
        });
        let before = recorder.render();
        assert!(
            before.contains(
                "# HELP test_lag_messages Lag \"now\".\n# TYPE test_lag_messages gauge\n"
            ),
            "{before}"
        );
        assert!(
            before.contains("test_lag_messages{topic=\"t\",partition=\"0\"} 7\n"),
            "{before}"
        );
        assert!(
            before.contains("test_lag_messages{topic=\"t\",partition=\"1\"} 7\n"),
            "{before}"
        );

        recorder
            .owned
            .remove_gauges(LAG, &[("topic", "t"), ("partition", "0")]);
        let after = recorder.render();
        assert!(!after.contains("partition=\"0\"} 7"), "{after}");
        assert!(
            after.contains("test_lag_messages{topic=\"t\",partition=\"1\"} 7\n"),
            "{after}"
        );
        assert!(
            after.contains("test_other{partition=\"0\"} 3\n"),
            "not removable: {after}"
        );

        // Removing every series removes the family, HELP included.
        recorder.owned.remove_gauges(LAG, &[]);
        let empty = recorder.render();
        assert!(!empty.contains(LAG), "{empty}");

        // A series set again after its removal is back.
        metrics::with_local_recorder(&recorder, || {
            metrics::gauge!(LAG, "topic" => "t", "partition" => "0").set(2.0);
        });
        let again = recorder.render();
        assert!(
            again.contains("test_lag_messages{topic=\"t\",partition=\"0\"} 2\n"),
            "{again}"
        );
    }
}
