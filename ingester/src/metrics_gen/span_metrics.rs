//! Span metrics: calls and a latency histogram per service, span name, span
//! kind and status code, under the names of `--span-metrics-names`:
//! - `tempo`: Tempo's `traces_spanmetrics_calls_total` and
//!   `traces_spanmetrics_latency` (seconds, Tempo's default buckets), label
//!   `service`;
//! - `otel-connector`: the OpenTelemetry spanmetrics connector's, as its
//!   Prometheus exporter writes them and Jaeger's Monitor tab reads them:
//!   `traces_span_metrics_calls_total` and
//!   `traces_span_metrics_duration_milliseconds` (milliseconds, the
//!   connector's default buckets), label `service_name`;
//! - `both`: each label set under both names.
//!
//! The other labels are shared: `span_name`, `span_kind="SPAN_KIND_SERVER"`,
//! `status_code="STATUS_CODE_ERROR"`; an empty service or span name drops the
//! label. Kind and status values outside the OTLP enums count as
//! `SPAN_KIND_UNSPECIFIED` / `STATUS_CODE_UNSET` (Tempo prints their number).
//!
//! At most `max_label_sets` label sets are ever created (a label set under
//! both names counts once); a span of a new label set beyond that is counted
//! under `{metric_overflow="true"}` (Tempo's overflow series) and in
//! `ferrotrace_ingester_metrics_generator_overflow_total`. Label sets already
//! seen keep counting.

use ferrotrace_common::telemetry::LocalHistogram;
use ferrotrace_format::otlp::{ResourceId, SpanView};
use foldhash::HashMap;
use metrics::{Counter, Gauge, Histogram};

use super::{duration_nanos, label_value, labels, overflow_labels, MAX_LABEL_VALUE_BYTES};
use crate::metrics as m;

const KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUSES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// The names span metrics are exported under (`--span-metrics-names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpanMetricsNames {
    /// Grafana Tempo's metrics-generator names.
    Tempo,
    /// The OpenTelemetry spanmetrics connector's names, which Jaeger's Monitor tab reads.
    OtelConnector,
    /// Both at once.
    Both,
}

impl SpanMetricsNames {
    fn tempo(self) -> bool {
        matches!(self, Self::Tempo | Self::Both)
    }

    fn connector(self) -> bool {
        matches!(self, Self::OtelConnector | Self::Both)
    }
}

/// Limits and names of the span metrics.
#[derive(Debug, Clone, Copy)]
pub struct SpanMetricsOptions {
    /// Distinct (service, span name, kind, status) label sets.
    pub max_label_sets: usize,
    pub names: SpanMetricsNames,
}

/// Per service, per span name (its bytes, cut to the label length): the
/// series of each (kind, status) seen, by [`slot`].
type Operations = HashMap<Box<[u8]>, Vec<(u8, Series)>>;

/// One label set under each name in use: counted here, added to the
/// exported series at each [`SpanMetrics::flush`].
struct Series {
    /// Seconds.
    tempo: Option<Named>,
    /// Milliseconds.
    connector: Option<Named>,
}

/// A label set under one name: its calls counter and latency histogram, and
/// the latencies counted since the last flush (whose count is the calls').
struct Named {
    calls: Counter,
    latency: Histogram,
    pending: LocalHistogram,
    /// Nanoseconds per unit of the histogram.
    nanos_per_unit: f64,
}

impl Named {
    fn record(&mut self, nanos: u64) {
        self.pending.record(nanos as f64 / self.nanos_per_unit);
    }

    fn flush(&mut self) {
        let calls = self.pending.flush(&self.latency);
        if calls > 0 {
            self.calls.increment(calls);
        }
    }
}

impl Series {
    /// Registers the series of `(service, span name, kind, status)`; `None`
    /// registers the overflow series.
    fn register(names: SpanMetricsNames, label_set: Option<[&str; 4]>) -> Self {
        let register = |calls: &'static str,
                        latency: &'static str,
                        service_label: &'static str,
                        bounds: &'static [f64],
                        nanos_per_unit: f64| {
            let labels = match label_set {
                Some([service, name, kind, status]) => labels(&[
                    (service_label, service),
                    ("span_name", name),
                    ("span_kind", kind),
                    ("status_code", status),
                ]),
                None => overflow_labels(),
            };
            Named {
                calls: metrics::counter!(calls, labels.clone()),
                latency: metrics::histogram!(latency, labels),
                pending: LocalHistogram::new(bounds),
                nanos_per_unit,
            }
        };
        Self {
            tempo: names.tempo().then(|| {
                register(
                    m::SPANMETRICS_CALLS,
                    m::SPANMETRICS_LATENCY,
                    "service",
                    m::SPAN_METRICS_BUCKETS,
                    1e9,
                )
            }),
            connector: names.connector().then(|| {
                register(
                    m::CONNECTOR_CALLS,
                    m::CONNECTOR_DURATION,
                    "service_name",
                    m::CONNECTOR_BUCKETS_MS,
                    1e6,
                )
            }),
        }
    }

    fn record(&mut self, nanos: u64) {
        if let Some(tempo) = &mut self.tempo {
            tempo.record(nanos);
        }
        if let Some(connector) = &mut self.connector {
            connector.record(nanos);
        }
    }

    fn flush(&mut self) {
        self.tempo.iter_mut().for_each(Named::flush);
        self.connector.iter_mut().for_each(Named::flush);
    }
}

pub struct SpanMetrics {
    /// Each service's place in `operations`.
    services: HashMap<Box<str>, usize>,
    operations: Vec<Operations>,
    /// The last resource's service, by its place: the spans of a resource
    /// come together, and need not look their service up again.
    last_resource: Option<(ResourceId, usize)>,
    label_sets: usize,
    max_label_sets: usize,
    names: SpanMetricsNames,
    overflow: Option<Series>,
    overflowed: Counter,
    label_sets_gauge: Gauge,
}

impl SpanMetrics {
    pub fn new(options: SpanMetricsOptions) -> Self {
        Self {
            services: HashMap::default(),
            operations: Vec::new(),
            last_resource: None,
            label_sets: 0,
            max_label_sets: options.max_label_sets,
            names: options.names,
            overflow: None,
            overflowed: metrics::counter!(m::METRICS_GEN_OVERFLOW, "processor" => "span_metrics"),
            label_sets_gauge: metrics::gauge!(m::METRICS_GEN_LABEL_SETS, "processor" => "span_metrics"),
        }
    }

    /// Counts one span, whose resource's `service.name` is `service`
    /// (already cut to the label length; empty when absent).
    pub fn observe(&mut self, service: &str, span: &SpanView<'_>) {
        let slot = slot(span);
        // Looked up by its bytes, checked as UTF-8 by the walk already; a
        // name longer than a label value (rare) by its cut text's.
        let name = match span.name_bytes() {
            name if name.len() <= MAX_LABEL_VALUE_BYTES => name,
            _ => label_value(span.name()).as_bytes(),
        };
        let nanos = duration_nanos(span);
        let resource = span.resource_id();
        let known = match self.last_resource {
            Some((last, index)) if last == resource => Some(index),
            _ => {
                let index = self.services.get(service).copied();
                self.last_resource = index.map(|index| (resource, index));
                index
            }
        };
        // The common case, a label set already seen.
        let seen = known
            .and_then(|index| self.operations[index].get_mut(name))
            .and_then(|series| series.iter_mut().find(|(s, _)| *s == slot));
        if let Some((_, series)) = seen {
            series.record(nanos);
            return;
        }
        if self.label_sets >= self.max_label_sets {
            self.overflowed.increment(1);
            let names = self.names;
            self.overflow
                .get_or_insert_with(|| Series::register(names, None))
                .record(nanos);
            return;
        }
        // A service gets its map only together with its first label set, so
        // there are no more maps than label sets.
        let index = known.unwrap_or_else(|| {
            let index = self.operations.len();
            self.operations.push(Operations::default());
            self.services.insert(service.into(), index);
            self.last_resource = Some((resource, index));
            index
        });
        self.label_sets += 1;
        self.label_sets_gauge.set(self.label_sets as f64);
        let (kind, status) = (
            slot as usize / STATUSES.len(),
            slot as usize % STATUSES.len(),
        );
        let label = label_value(span.name());
        let mut series = Series::register(
            self.names,
            Some([service, label, KINDS[kind], STATUSES[status]]),
        );
        series.record(nanos);
        let ops = &mut self.operations[index];
        match ops.get_mut(name) {
            Some(slots) => slots.push((slot, series)),
            None => {
                ops.insert(name.into(), vec![(slot, series)]);
            }
        }
    }

    /// Adds the spans counted since the last flush to the exported series.
    pub fn flush(&mut self) {
        let series = self.operations.iter_mut().flat_map(|ops| ops.values_mut());
        for (_, series) in series.flatten() {
            series.flush();
        }
        if let Some(overflow) = &mut self.overflow {
            overflow.flush();
        }
    }

    /// Label sets created so far.
    pub fn label_sets(&self) -> usize {
        self.label_sets
    }
}

/// (kind, status) as one small index.
fn slot(span: &SpanView<'_>) -> u8 {
    let kind = usize::try_from(span.kind())
        .ok()
        .filter(|k| *k < KINDS.len())
        .unwrap_or(0);
    let status = usize::try_from(span.status_code())
        .ok()
        .filter(|s| *s < STATUSES.len())
        .unwrap_or(0);
    (kind * STATUSES.len() + status) as u8
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;

    fn options(max_label_sets: usize, names: SpanMetricsNames) -> SpanMetricsOptions {
        SpanMetricsOptions {
            max_label_sets,
            names,
        }
    }

    fn calls(service: &str, name: &str, kind: &str, status: &str) -> String {
        format!(
            r#"traces_spanmetrics_calls_total{{service="{service}",span_name="{name}",span_kind="{kind}",status_code="{status}"}}"#
        )
    }

    #[test]
    fn counts_calls_and_latency_per_service_name_kind_and_status() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(100, SpanMetricsNames::Tempo));
            let req = request(
                "backend",
                vec![
                    span(1, 1, None, SERVER, "GET /api", 30),
                    span(1, 2, Some(1), CLIENT, "SELECT", 3),
                    error(span(2, 3, None, SERVER, "GET /api", 300)),
                    span(2, 4, None, SERVER, "GET /api", 5),
                ],
            );
            views(&req, |view| sm.observe("backend", &view));
            assert_eq!(sm.label_sets(), 3);
            sm.flush();
        });
        let out = render(&recorder);
        let ok = calls(
            "backend",
            "GET /api",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_UNSET",
        );
        assert_eq!(sample(&out, &ok), 2.0, "{out:#?}");
        let err = calls(
            "backend",
            "GET /api",
            "SPAN_KIND_SERVER",
            "STATUS_CODE_ERROR",
        );
        assert_eq!(sample(&out, &err), 1.0);
        let client = calls("backend", "SELECT", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET");
        assert_eq!(sample(&out, &client), 1.0);
        // Tempo's buckets: 2 ms doubling up to 16.384 s; 5 ms and 30 ms here.
        let bucket = |le: &str| {
            format!(
                r#"traces_spanmetrics_latency_bucket{{service="backend",span_name="GET /api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="{le}"}}"#
            )
        };
        assert_eq!(sample(&out, &bucket("0.004")), 0.0, "{out:#?}");
        assert_eq!(sample(&out, &bucket("0.008")), 1.0);
        assert_eq!(sample(&out, &bucket("0.032")), 2.0);
        assert_eq!(sample(&out, &bucket("16.384")), 2.0);
        assert_eq!(sample(&out, &bucket("+Inf")), 2.0);
        let count = r#"traces_spanmetrics_latency_count{service="backend",span_name="GET /api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#;
        assert_eq!(sample(&out, count), 2.0);
        let sum = r#"traces_spanmetrics_latency_sum{service="backend",span_name="GET /api",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#;
        assert!((sample(&out, sum) - 0.035).abs() < 1e-9, "{out:#?}");
    }

    /// Feeds `spans` of `service` to fresh span metrics under `names`.
    fn observed(names: SpanMetricsNames, max: usize, service: &str, spans: &[Span]) -> Map {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(max, names));
            feed(&mut sm, service, spans);
            sm.flush();
        });
        render(&recorder)
    }

    type Map = std::collections::HashMap<String, f64>;

    /// `spans` (of a resource named `service`) through `sm`, as views.
    fn feed(sm: &mut SpanMetrics, service: &str, spans: &[Span]) {
        views(&request(service, spans.to_vec()), |view| {
            sm.observe(service, &view)
        });
    }

    #[test]
    fn otel_connector_names_count_by_service_name_in_milliseconds() {
        let spans = [
            span(1, 1, None, SERVER, "GET /api", 5),
            error(span(2, 2, None, SERVER, "GET /api", 300)),
            span(3, 3, None, SERVER, "GET /api", 45),
        ];
        let out = observed(SpanMetricsNames::OtelConnector, 100, "backend", &spans);
        let series = |name: &str, status: &str, le: Option<&str>| {
            let le = le.map(|le| format!(r#",le="{le}""#)).unwrap_or_default();
            format!(
                r#"{name}{{service_name="backend",span_name="GET /api",span_kind="SPAN_KIND_SERVER",status_code="{status}"{le}}}"#
            )
        };
        let (unset, failed) = ("STATUS_CODE_UNSET", "STATUS_CODE_ERROR");
        let calls = "traces_span_metrics_calls_total";
        assert_eq!(sample(&out, &series(calls, unset, None)), 2.0, "{out:#?}");
        assert_eq!(sample(&out, &series(calls, failed, None)), 1.0);
        // The connector's buckets, in ms: 5 ms and 45 ms fall in le=6 and le=50.
        let bucket = "traces_span_metrics_duration_milliseconds_bucket";
        assert_eq!(sample(&out, &series(bucket, unset, Some("4"))), 0.0);
        assert_eq!(sample(&out, &series(bucket, unset, Some("6"))), 1.0);
        assert_eq!(sample(&out, &series(bucket, unset, Some("10"))), 1.0);
        assert_eq!(sample(&out, &series(bucket, unset, Some("50"))), 2.0);
        assert_eq!(sample(&out, &series(bucket, unset, Some("15000"))), 2.0);
        assert_eq!(sample(&out, &series(bucket, unset, Some("+Inf"))), 2.0);
        assert_eq!(sample(&out, &series(bucket, failed, Some("200"))), 0.0);
        assert_eq!(sample(&out, &series(bucket, failed, Some("400"))), 1.0);
        let sum = series("traces_span_metrics_duration_milliseconds_sum", unset, None);
        assert!((sample(&out, &sum) - 50.0).abs() < 1e-9, "{out:#?}");
        let count = series(
            "traces_span_metrics_duration_milliseconds_count",
            unset,
            None,
        );
        assert_eq!(sample(&out, &count), 2.0);
        assert!(
            !out.keys().any(|k| k.starts_with("traces_spanmetrics_")),
            "no Tempo names: {out:#?}"
        );
    }

    #[test]
    fn both_names_count_every_span_under_each() {
        let spans: Vec<Span> = (0..3)
            .map(|i| span(1, i, None, CLIENT, &format!("op-{i}"), 1))
            .collect();
        let out = observed(SpanMetricsNames::Both, 2, "svc", &spans);
        let labels = |service: &str, i: u8| {
            format!(
                r#"{service}="svc",span_name="op-{i}",span_kind="SPAN_KIND_CLIENT",status_code="STATUS_CODE_UNSET""#
            )
        };
        for i in 0..2 {
            let tempo = format!("traces_spanmetrics_calls_total{{{}}}", labels("service", i));
            let connector = format!(
                "traces_span_metrics_calls_total{{{}}}",
                labels("service_name", i)
            );
            assert_eq!(sample(&out, &tempo), 1.0, "{out:#?}");
            assert_eq!(sample(&out, &connector), 1.0, "{out:#?}");
        }
        // A label set under both names counts once against the cap.
        for overflow in [
            r#"traces_spanmetrics_calls_total{metric_overflow="true"}"#,
            r#"traces_span_metrics_calls_total{metric_overflow="true"}"#,
            r#"traces_span_metrics_duration_milliseconds_count{metric_overflow="true"}"#,
        ] {
            assert_eq!(sample(&out, overflow), 1.0, "{overflow}: {out:#?}");
        }
        assert_eq!(
            sample(
                &out,
                r#"ferrotrace_ingester_metrics_generator_label_sets{processor="span_metrics"}"#
            ),
            2.0
        );
    }

    #[test]
    fn empty_values_drop_their_label_and_unknown_enums_fall_back() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(100, SpanMetricsNames::Tempo));
            let mut odd = span(1, 1, None, 42, "", 1);
            odd.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
                code: 9,
                ..Default::default()
            });
            feed(&mut sm, "", &[odd]);
            sm.flush();
        });
        let out = render(&recorder);
        assert_eq!(
            sample(
                &out,
                r#"traces_spanmetrics_calls_total{span_kind="SPAN_KIND_UNSPECIFIED",status_code="STATUS_CODE_UNSET"}"#
            ),
            1.0,
            "{out:#?}"
        );
    }

    #[test]
    fn label_sets_beyond_the_cap_count_under_the_overflow_series() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(2, SpanMetricsNames::Tempo));
            let spans: Vec<Span> = (0..5)
                .map(|i| span(1, i, None, SERVER, &format!("op-{i}"), 1))
                .collect();
            feed(&mut sm, "svc", &spans);
            // A label set created before the cap keeps counting on its own.
            feed(&mut sm, "svc", &spans[..1]);
            // A new service beyond the cap gets no map at all.
            feed(&mut sm, "other", &spans[..1]);
            assert_eq!(sm.label_sets(), 2);
            assert_eq!(
                sm.services.len(),
                1,
                "no map for a service without label sets"
            );
            sm.flush();
        });
        let out = render(&recorder);
        assert_eq!(
            sample(
                &out,
                &calls("svc", "op-0", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET")
            ),
            2.0,
            "{out:#?}"
        );
        assert_eq!(
            sample(
                &out,
                &calls("svc", "op-1", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET")
            ),
            1.0
        );
        assert_eq!(
            sample(
                &out,
                &calls("svc", "op-2", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET")
            ),
            0.0
        );
        assert_eq!(
            sample(
                &out,
                r#"traces_spanmetrics_calls_total{metric_overflow="true"}"#
            ),
            4.0
        );
        assert_eq!(
            sample(
                &out,
                r#"traces_spanmetrics_latency_count{metric_overflow="true"}"#
            ),
            4.0
        );
        assert_eq!(
            sample(
                &out,
                r#"ferrotrace_ingester_metrics_generator_overflow_total{processor="span_metrics"}"#
            ),
            4.0
        );
        let series = out
            .keys()
            .filter(|k| k.starts_with("traces_spanmetrics_calls_total{"))
            .count();
        assert_eq!(series, 3, "two label sets and the overflow: {out:#?}");
    }

    #[test]
    fn spans_reach_their_series_at_the_flush() {
        let recorder = recorder();
        let series = calls("svc", "op", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET");
        let count = r#"traces_spanmetrics_latency_count{service="svc",span_name="op",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#;
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(10, SpanMetricsNames::Tempo));
            let spans = [
                span(1, 1, None, SERVER, "op", 1),
                span(1, 2, None, SERVER, "op", 3),
            ];
            feed(&mut sm, "svc", &spans);
            let out = render(&recorder);
            assert_eq!(
                out.get(&series),
                Some(&0.0),
                "registered, not yet added: {out:#?}"
            );
            sm.flush();
            let out = render(&recorder);
            assert_eq!(sample(&out, &series), 2.0, "{out:#?}");
            assert_eq!(sample(&out, count), 2.0);
            // A flush adds only what came since the last one.
            feed(&mut sm, "svc", &spans[..1]);
            sm.flush();
            sm.flush();
        });
        let out = render(&recorder);
        assert_eq!(sample(&out, &series), 3.0, "{out:#?}");
        assert_eq!(sample(&out, count), 3.0);
    }

    #[test]
    fn long_names_share_the_series_of_their_cut_value() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut sm = SpanMetrics::new(options(10, SpanMetricsNames::Tempo));
            let base = "x".repeat(super::super::MAX_LABEL_VALUE_BYTES);
            let spans = [
                span(1, 1, None, SERVER, &format!("{base}a"), 1),
                span(1, 2, None, SERVER, &format!("{base}b"), 1),
            ];
            feed(&mut sm, "svc", &spans);
            assert_eq!(sm.label_sets(), 1);
        });
    }
}
