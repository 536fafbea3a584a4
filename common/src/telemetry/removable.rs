//! Gauges whose series can be removed. A series that describes something
//! this process no longer has (a Kafka partition revoked from it) must leave
//! `/metrics`, or every dashboard and alert that sums it keeps counting it.
//! metrics-exporter-prometheus 0.18 forgets a series only through its idle
//! timeout, which applies to every gauge alike, so the gauges named at start
//! are kept here instead, behind the same `metrics::gauge!` macro, and
//! rendered after the exporter's text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::formatting::{
    sanitize_label_key, sanitize_label_value, sanitize_metric_name, write_help_line,
    write_type_line,
};
use metrics_exporter_prometheus::PrometheusRecorder;

/// The removable gauges' series and HELP texts.
#[derive(Debug, Default)]
pub(super) struct RemovableGauges {
    names: Vec<String>,
    series: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    help: Mutex<HashMap<String, String>>,
}

impl RemovableGauges {
    pub(super) fn new(names: &[&str]) -> Self {
        Self {
            names: names.iter().map(|n| n.to_string()).collect(),
            ..Self::default()
        }
    }

    fn holds(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn gauge(&self, key: &Key) -> Gauge {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let value = series.entry(key.clone()).or_default();
        Gauge::from_arc(value.clone())
    }

    /// Removes the series of `name` whose labels include every `(key, value)` of `labels`.
    pub(super) fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.retain(|key, _| {
            key.name() != name
                || !labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        });
    }

    /// Appends the series in the Prometheus text format, one family per name.
    pub(super) fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let help = self.help.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_name: BTreeMap<&str, Vec<(&Key, f64)>> = BTreeMap::new();
        for (key, value) in series.iter() {
            let value = f64::from_bits(value.load(Ordering::Acquire));
            by_name.entry(key.name()).or_default().push((key, value));
        }
        for (name, samples) in by_name {
            let name = sanitize_metric_name(name);
            if let Some(text) = help.get(&name) {
                write_help_line(out, &name, None, None, text);
            }
            write_type_line(out, &name, None, None, "gauge");
            for (key, value) in samples {
                out.push_str(&name);
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| {
                        format!(
                            "{}=\"{}\"",
                            sanitize_label_key(l.key()),
                            sanitize_label_value(l.value())
                        )
                    })
                    .collect();
                if !labels.is_empty() {
                    let _ = write!(out, "{{{}}}", labels.join(","));
                }
                let _ = writeln!(out, " {value}");
            }
            out.push('\n');
        }
    }
}

/// The recorder the binaries install: the Prometheus exporter's, except for
/// the removable gauges.
#[derive(Debug)]
pub(super) struct WithRemovableGauges {
    pub(super) prometheus: PrometheusRecorder,
    pub(super) removable: Arc<RemovableGauges>,
}

impl Recorder for WithRemovableGauges {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if self.removable.holds(key.as_str()) {
            let mut help = self
                .removable
                .help
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            help.entry(sanitize_metric_name(key.as_str()))
                .or_insert_with(|| description.to_string());
        } else {
            self.prometheus.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.prometheus.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if self.removable.holds(key.name()) {
            self.removable.gauge(key)
        } else {
            self.prometheus.register_gauge(key, metadata)
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.prometheus.register_histogram(key, metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> (
        WithRemovableGauges,
        metrics_exporter_prometheus::PrometheusHandle,
    ) {
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = prometheus.handle();
        let recorder = WithRemovableGauges {
            prometheus,
            removable: Arc::new(RemovableGauges::new(&["test_lag_messages"])),
        };
        (recorder, handle)
    }

    fn render(
        recorder: &WithRemovableGauges,
        handle: &metrics_exporter_prometheus::PrometheusHandle,
    ) -> String {
        let mut text = handle.render();
        recorder.removable.render(&mut text);
        text
    }

    #[test]
    fn a_removed_series_leaves_the_scrape_and_others_stay() {
        let (recorder, handle) = recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_gauge!("test_lag_messages", "Lag \"now\".");
            for partition in ["0", "1"] {
                metrics::gauge!("test_lag_messages", "topic" => "t", "partition" => partition)
                    .set(7.0);
            }
            metrics::gauge!("test_other", "partition" => "0").set(3.0);
        });
        let before = render(&recorder, &handle);
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
            .removable
            .remove("test_lag_messages", &[("topic", "t"), ("partition", "0")]);
        let after = render(&recorder, &handle);
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
        recorder.removable.remove("test_lag_messages", &[]);
        let empty = render(&recorder, &handle);
        assert!(!empty.contains("test_lag_messages"), "{empty}");

        // A series set again after its removal is back.
        metrics::with_local_recorder(&recorder, || {
            metrics::gauge!("test_lag_messages", "topic" => "t", "partition" => "0").set(2.0);
        });
        let again = render(&recorder, &handle);
        assert!(
            again.contains("test_lag_messages{topic=\"t\",partition=\"0\"} 2\n"),
            "{again}"
        );
    }
}
