//! Metrics generated from the spans being indexed, under the names Grafana
//! Tempo's metrics-generator uses, so Grafana's service graph and span
//! metrics panels work from Prometheus unchanged: the service graph
//! ([`service_graph`], `traces_service_graph_*`) and span metrics
//! ([`span_metrics`], `traces_spanmetrics_*`, or the OpenTelemetry
//! spanmetrics connector's `traces_span_metrics_*` that Jaeger's Monitor tab
//! reads).
//!
//! As Tempo (`metrics_ingestion_time_range_slack`), a span that ended longer
//! than `--metrics-max-span-age` before it is read counts in neither, only in
//! `ferrotrace_ingester_metrics_generator_spans_skipped_total{reason="too_old"}`:
//! a backlog drained after an outage would otherwise show as a burst of
//! traffic at the time it was drained.
//!
//! The collector keys Kafka messages by trace ID, so every span of a trace
//! reaches the same ingester and a client span always meets its server span
//! here. Delivery is at-least-once: a message read again after a crash or a
//! rebalance is counted again.
//!
//! Guarantees: memory is bounded whatever clients send. Label values are cut
//! at [`MAX_LABEL_VALUE_BYTES`]; each processor creates at most
//! `--span-metrics-max-series` label sets (counted per processor, since start)
//! and counts everything beyond under Tempo's overflow series
//! `{metric_overflow="true"}`; the service graph holds at most
//! `--service-graph-max-items` spans waiting for their other half. Series
//! handles are registered once per label set, so a span of a label set
//! already seen costs a map lookup and a few adds, no allocation. Span
//! metrics and the service graph count in buckets of their own, with no
//! atomics, and add them to their series at each sweep (every
//! [`SWEEP_INTERVAL`]); the recorder keeps those series as plain atomics
//! ([`crate::metrics::LAYOUT`]).

pub mod service_graph;
pub mod span_metrics;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrotrace_format::otlp::SpanView;
use metrics::{Counter, Label};

use crate::metrics as m;
use service_graph::{ServiceGraph, ServiceGraphOptions};
use span_metrics::{SpanMetrics, SpanMetricsOptions};

/// Tempo's default `max_label_value_length`; longer values are cut (at a
/// character boundary, where Tempo cuts at a byte).
pub const MAX_LABEL_VALUE_BYTES: usize = 2048;

/// The label Tempo gives the one series that stands for every label set
/// beyond its series limit.
const OVERFLOW_LABEL: (&str, &str) = ("metric_overflow", "true");

/// Which processors run, and their limits.
#[derive(Debug, Clone)]
pub struct Options {
    pub service_graph: Option<ServiceGraphOptions>,
    pub span_metrics: Option<SpanMetricsOptions>,
    /// Spans that ended longer ago than this are skipped; `None` counts every span.
    pub max_span_age: Option<Duration>,
}

/// The metrics-generator of one ingester: fed every span's view, swept
/// every [`SWEEP_INTERVAL`] ([`sweep`](Self::sweep)).
pub struct MetricsGenerator {
    service_graph: Option<ServiceGraph>,
    span_metrics: Option<SpanMetrics>,
    /// `--metrics-max-span-age` in nanoseconds, 0 when off.
    max_span_age_ns: u64,
    /// Registered only when a processor is on.
    too_old: Option<Counter>,
}

/// The clocks the spans of one message are observed at: the monotonic one
/// for the service graph's waits, the wall clock (Unix nanoseconds) for
/// span ages. Read once per message.
#[derive(Debug, Clone, Copy)]
pub struct ObservedAt {
    pub now: Instant,
    pub unix_now_ns: u64,
}

impl ObservedAt {
    pub fn now() -> Self {
        ObservedAt {
            now: Instant::now(),
            unix_now_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

/// How often the processors' counts are added to their series and waiting
/// service-graph spans are checked for expiry.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl MetricsGenerator {
    /// Registers the processors' own series with the installed recorder.
    pub fn new(options: &Options) -> Self {
        let enabled = options.service_graph.is_some() || options.span_metrics.is_some();
        Self {
            service_graph: options.service_graph.clone().map(ServiceGraph::new),
            span_metrics: options.span_metrics.map(SpanMetrics::new),
            max_span_age_ns: options
                .max_span_age
                .map_or(0, |age| u64::try_from(age.as_nanos()).unwrap_or(u64::MAX)),
            too_old: enabled
                .then(|| metrics::counter!(m::METRICS_GEN_SPANS_SKIPPED, "reason" => "too_old")),
        }
    }

    /// True when at least one processor is on.
    pub fn is_enabled(&self) -> bool {
        self.service_graph.is_some() || self.span_metrics.is_some()
    }

    /// Counts one span, read at `at`.
    pub fn observe(&mut self, span: &SpanView<'_>, at: ObservedAt) {
        if !self.is_enabled() {
            return;
        }
        // A span that ended before this is too old; 0 when the guard is off.
        let oldest_end = match self.max_span_age_ns {
            0 => 0,
            age => at.unix_now_ns.saturating_sub(age),
        };
        if span.end_time_unix_nano() < oldest_end {
            if let Some(counter) = &self.too_old {
                counter.increment(1);
            }
            return;
        }
        let service = span.service_name().map(label_value);
        if let Some(span_metrics) = &mut self.span_metrics {
            span_metrics.observe(service.unwrap_or(""), span);
        }
        // A span without a service cannot be a node of the graph (Tempo skips it too).
        let node = service.filter(|s| !s.is_empty());
        if let (Some(graph), Some(service)) = (&mut self.service_graph, node) {
            graph.observe(service, span, at.now);
        }
    }

    /// The sweep, every [`SWEEP_INTERVAL`]: counts the service-graph spans
    /// that waited longer than `--service-graph-wait`, then adds what both
    /// processors counted since the last sweep to their series. Until a
    /// sweep, `/metrics` does not show the spans observed since the last one.
    pub fn sweep(&mut self, now: Instant) {
        if let Some(graph) = &mut self.service_graph {
            graph.expire(now);
            graph.flush();
        }
        if let Some(span_metrics) = &mut self.span_metrics {
            span_metrics.flush();
        }
    }
}

/// `value` cut to at most [`MAX_LABEL_VALUE_BYTES`] at a character boundary.
fn label_value(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_LABEL_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Labels without the empty ones: Tempo drops a label whose value is empty
/// (Prometheus treats both alike), so `connection_type` is absent for a
/// direct call rather than `""`.
fn labels(pairs: &[(&'static str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|&(key, value)| Label::new(key, value.to_string()))
        .collect()
}

fn overflow_labels() -> Vec<Label> {
    vec![Label::new(OVERFLOW_LABEL.0, OVERFLOW_LABEL.1)]
}

/// A span's duration in nanoseconds; 0 when it ends before it starts (as Tempo).
fn duration_nanos(span: &SpanView<'_>) -> u64 {
    span.end_time_unix_nano()
        .saturating_sub(span.start_time_unix_nano())
}

/// [`duration_nanos`] in seconds.
fn duration_seconds(span: &SpanView<'_>) -> f64 {
    duration_nanos(span) as f64 / 1e9
}

fn failed(span: &SpanView<'_>) -> bool {
    span.status_code() == 2
}

#[cfg(test)]
pub(crate) mod testing {
    //! Requests built by hand and a recorder whose output tests read as
    //! Prometheus text, exactly as `/metrics` renders it.

    use std::collections::HashMap;

    use ferrotrace_common::telemetry::LayeredRecorder;
    use ferrotrace_format::otlp::for_each_span_of;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};

    use super::*;
    use crate::metrics as m;

    /// The recorder the binary installs, not installed.
    pub fn recorder() -> LayeredRecorder {
        LayeredRecorder::new(&m::LAYOUT).expect("the ingester's metrics layout")
    }

    /// Every sample, keyed by the series as printed.
    pub fn render(recorder: &LayeredRecorder) -> HashMap<String, f64> {
        ferrotrace_testkit::parse_metrics(&recorder.render())
    }

    pub use ferrotrace_testkit::sample;

    pub fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    pub const SERVER: i32 = 2;
    pub const CLIENT: i32 = 3;
    pub const PRODUCER: i32 = 4;
    pub const CONSUMER: i32 = 5;

    /// A span of trace `trace`, `millis` long.
    pub fn span(trace: u8, id: u8, parent: Option<u8>, kind: i32, name: &str, millis: u64) -> Span {
        let start = 1_795_651_200_000_000_000;
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + millis * 1_000_000,
            ..Default::default()
        }
    }

    pub fn error(mut span: Span) -> Span {
        span.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: "boom".into(),
        });
        span
    }

    pub fn with_attributes(mut span: Span, attributes: &[(&str, &str)]) -> Span {
        span.attributes = attributes.iter().map(|(k, v)| kv(k, v)).collect();
        span
    }

    /// Calls `each` with the view of every span of `request`, as the
    /// ingester reads them from the wire.
    pub fn views(request: &ExportTraceServiceRequest, each: impl FnMut(SpanView<'_>)) {
        for_each_span_of(request, each);
    }

    /// Every span of `request` through `generator`, at `at`.
    pub fn observe_request(
        generator: &mut MetricsGenerator,
        request: &ExportTraceServiceRequest,
        at: ObservedAt,
    ) {
        views(request, |view| generator.observe(&view, at));
    }

    /// One request with the spans of `service`.
    pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::span_metrics::SpanMetricsNames;
    use super::testing::*;
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Span;

    /// Both processors on, Tempo's names, spans older than `max_span_age` skipped.
    fn generator(max_span_age: Option<Duration>) -> MetricsGenerator {
        MetricsGenerator::new(&Options {
            service_graph: Some(ServiceGraphOptions {
                max_items: 100,
                wait: Duration::from_secs(10),
                max_label_sets: 100,
            }),
            span_metrics: Some(SpanMetricsOptions {
                max_label_sets: 100,
                names: SpanMetricsNames::Tempo,
            }),
            max_span_age,
        })
    }

    const MAX_AGE: Duration = Duration::from_secs(30);

    /// A 5 ms span of `kind`, trace `trace`; `old` ones end 1 ns before the
    /// limit when observed at [`observed_at`], the others exactly at it.
    fn aged(trace: u8, id: u8, parent: Option<u8>, kind: i32, old: bool) -> Span {
        let mut span = span(trace, id, parent, kind, if old { "old" } else { "new" }, 5);
        if old {
            span.start_time_unix_nano -= 1;
            span.end_time_unix_nano -= 1;
        }
        span
    }

    /// The wall clock at which the `aged(.., false)` spans are exactly
    /// `MAX_AGE` old.
    fn observed_at() -> u64 {
        span(0, 0, None, SERVER, "", 5).end_time_unix_nano + MAX_AGE.as_nanos() as u64
    }

    fn feed(generator: &mut MetricsGenerator, unix_now_ns: u64) {
        let now = Instant::now();
        for (trace, old) in [(1, false), (2, true)] {
            let frontend = request(
                "frontend",
                vec![
                    aged(trace, 1, None, SERVER, old),
                    aged(trace, 2, Some(1), CLIENT, old),
                ],
            );
            let backend = request("backend", vec![aged(trace, 3, Some(2), SERVER, old)]);
            let at = ObservedAt { now, unix_now_ns };
            observe_request(generator, &frontend, at);
            observe_request(generator, &backend, at);
        }
        generator.sweep(now + Duration::from_secs(3600));
    }

    #[test]
    fn spans_that_ended_longer_than_the_max_age_ago_are_skipped_and_counted() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut generator = generator(Some(MAX_AGE));
            feed(&mut generator, observed_at());
        });
        let out = render(&recorder);
        let calls = |service: &str, name: &str, kind: &str| {
            format!(
                r#"traces_spanmetrics_calls_total{{service="{service}",span_name="{name}",span_kind="{kind}",status_code="STATUS_CODE_UNSET"}}"#
            )
        };
        assert_eq!(
            sample(&out, &calls("frontend", "new", "SPAN_KIND_SERVER")),
            1.0,
            "{out:#?}"
        );
        assert_eq!(
            sample(&out, &calls("backend", "new", "SPAN_KIND_SERVER")),
            1.0
        );
        assert!(
            !out.keys().any(|k| k.contains(r#"span_name="old""#)),
            "{out:#?}"
        );
        let requests = |client: &str, server: &str, connection: &str| {
            let connection = if connection.is_empty() {
                String::new()
            } else {
                format!(r#",connection_type="{connection}""#)
            };
            format!(
                r#"traces_service_graph_request_total{{client="{client}",server="{server}"{connection}}}"#
            )
        };
        assert_eq!(
            sample(&out, &requests("user", "frontend", "virtual_node")),
            1.0
        );
        assert_eq!(sample(&out, &requests("frontend", "backend", "")), 1.0);
        assert!(
            !out.keys()
                .any(|k| k.starts_with("traces_service_graph_unpaired_spans_total")),
            "old halves never wait: {out:#?}"
        );
        assert_eq!(
            sample(
                &out,
                r#"ferrotrace_ingester_metrics_generator_spans_skipped_total{reason="too_old"}"#
            ),
            3.0
        );
    }

    #[test]
    fn without_a_max_age_every_span_counts() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut generator = generator(None);
            // A year after the spans ended.
            feed(&mut generator, observed_at() + 365 * 86_400 * 1_000_000_000);
        });
        let out = render(&recorder);
        let frontend_calls: f64 = out
            .iter()
            .filter(|(k, _)| k.starts_with(r#"traces_spanmetrics_calls_total{service="frontend""#))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(frontend_calls, 4.0, "{out:#?}");
        assert_eq!(
            sample(
                &out,
                r#"traces_service_graph_request_total{client="frontend",server="backend"}"#
            ),
            2.0
        );
        assert_eq!(
            out.get(
                r#"ferrotrace_ingester_metrics_generator_spans_skipped_total{reason="too_old"}"#
            ),
            Some(&0.0),
            "the series exists from the start: {out:#?}"
        );
    }

    #[test]
    fn label_values_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_LABEL_VALUE_BYTES); // 2 bytes each
        let cut = label_value(&long);
        assert_eq!(cut.len(), MAX_LABEL_VALUE_BYTES);
        let odd = format!("a{long}");
        assert_eq!(label_value(&odd).len(), MAX_LABEL_VALUE_BYTES - 1);
        assert_eq!(label_value("short"), "short");
    }

    #[test]
    fn switched_off_processors_export_nothing() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut generator = MetricsGenerator::new(&Options {
                service_graph: None,
                span_metrics: None,
                max_span_age: Some(Duration::from_secs(30)),
            });
            assert!(!generator.is_enabled());
            observe_request(
                &mut generator,
                &request("frontend", vec![span(1, 1, None, SERVER, "GET /", 5)]),
                ObservedAt::now(),
            );
            generator.sweep(Instant::now() + Duration::from_secs(3600));
        });
        let rendered = render(&recorder);
        assert!(rendered.is_empty(), "{rendered:#?}");
    }

    #[test]
    fn both_processors_see_the_same_request() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut generator = MetricsGenerator::new(&Options {
                service_graph: Some(ServiceGraphOptions {
                    max_items: 100,
                    wait: Duration::from_secs(10),
                    max_label_sets: 100,
                }),
                span_metrics: Some(SpanMetricsOptions {
                    max_label_sets: 100,
                    names: SpanMetricsNames::Tempo,
                }),
                max_span_age: None,
            });
            observe_request(
                &mut generator,
                &request("frontend", vec![span(1, 1, None, SERVER, "GET /", 5)]),
                ObservedAt::now(),
            );
            generator.sweep(Instant::now());
        });
        let rendered = render(&recorder);
        assert_eq!(
            sample(
                &rendered,
                r#"traces_spanmetrics_calls_total{service="frontend",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#
            ),
            1.0,
            "{rendered:#?}"
        );
        assert_eq!(
            sample(
                &rendered,
                r#"traces_service_graph_request_total{client="user",server="frontend",connection_type="virtual_node"}"#
            ),
            1.0,
            "{rendered:#?}"
        );
    }
}
