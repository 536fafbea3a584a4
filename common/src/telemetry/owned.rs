//! Series this process keeps itself instead of handing them to the
//! Prometheus exporter: the metrics named at start ([`super::MetricsLayout`]),
//! one storage per kind, and their rendering in the Prometheus text format,
//! written as the exporter writes it (same HELP and TYPE lines, label
//! escaping and number formatting) so a scrape cannot tell the two apart.
//! A family (one metric name) is always entirely here or entirely in the
//! exporter, never split.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::Key;
use metrics_exporter_prometheus::formatting::{
    sanitize_label_key, sanitize_label_value, sanitize_metric_name, write_help_line,
    write_type_line,
};

/// The series of the metrics named at start, keyed by metric name and
/// labels. `S` is what every series of one name shares (its buckets).
#[derive(Debug)]
pub(super) struct NamedSeries<T, S = ()> {
    names: Vec<(String, S)>,
    series: Mutex<BTreeMap<Key, Arc<T>>>,
}

impl<T, S> NamedSeries<T, S> {
    pub(super) fn new(names: Vec<(String, S)>) -> Self {
        Self {
            names,
            series: Mutex::default(),
        }
    }

    /// What the series of `name` share, when `name` is kept here.
    pub(super) fn shared(&self, name: &str) -> Option<&S> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    pub(super) fn holds(&self, name: &str) -> bool {
        self.shared(name).is_some()
    }

    /// The series of `key`, created by `make` the first time.
    pub(super) fn get_or_insert_with(&self, key: &Key, make: impl FnOnce() -> T) -> Arc<T> {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up first: a macro call registers on every call, and the
        // key is cloned only for a new series.
        if let Some(existing) = series.get(key) {
            return existing.clone();
        }
        let created = Arc::new(make());
        series.insert(key.clone(), created.clone());
        created
    }

    /// Keeps only the series for which `keep` is true.
    pub(super) fn retain(&self, mut keep: impl FnMut(&Key) -> bool) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.retain(|key, _| keep(key));
    }

    /// Appends one family per metric name that has series: its HELP line
    /// (when described), its TYPE line, then `write` appends each series'
    /// samples, given the sanitized name; a blank line ends the family.
    pub(super) fn render(
        &self,
        out: &mut String,
        help: &HashMap<String, String>,
        metric_type: &str,
        mut write: impl FnMut(&mut String, &str, &Key, &T),
    ) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_name: BTreeMap<String, Vec<(&Key, &T)>> = BTreeMap::new();
        for (key, value) in series.iter() {
            by_name
                .entry(sanitize_metric_name(key.name()))
                .or_default()
                .push((key, value));
        }
        for (name, samples) in by_name {
            if let Some(text) = help.get(&name) {
                write_help_line(out, &name, None, None, text);
            }
            write_type_line(out, &name, None, None, metric_type);
            for (key, value) in samples {
                write(out, &name, key, value);
            }
            out.push('\n');
        }
    }
}

/// Appends one sample line, `name[_suffix]{labels[,extra]} value`, as the
/// exporter's `write_metric_line` does: the suffix is left out when the name
/// already ends with it, label keys and values are sanitized.
pub(super) fn write_sample(
    out: &mut String,
    name: &str,
    suffix: Option<&str>,
    key: &Key,
    extra: Option<(&str, &dyn Display)>,
    value: impl Display,
) {
    out.push_str(name);
    if let Some(suffix) = suffix.filter(|s| !name.ends_with(s)) {
        out.push('_');
        out.push_str(suffix);
    }
    let mut labels = key.labels().peekable();
    if labels.peek().is_some() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for label in labels {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(
                out,
                "{}=\"{}\"",
                sanitize_label_key(label.key()),
                sanitize_label_value(label.value())
            );
        }
        if let Some((extra_key, extra_value)) = extra {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "{extra_key}=\"{extra_value}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}
