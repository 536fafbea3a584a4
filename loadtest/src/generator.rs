//! Realistic trace generator: a HotROD-like call tree (frontend → customer →
//! mysql, frontend → driver → redis, frontend → route ×N) with mixed-type
//! attributes, events and errors, and globally unique trace and span IDs.
//!
//! Requests mix the spans of several traces across per-service resources,
//! the way an OpenTelemetry Collector's batch processor forwards them.

use ferrotrace_format::otlp::attributes::kv_str;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use rand::Rng;

/// Services of the call tree, in the order spans are assigned to them.
pub const SERVICES: &[&str] = &["frontend", "customer", "mysql", "driver", "redis", "route"];

/// The shape of generated traces.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub spans_per_trace: usize,
    pub attributes_per_span: usize,
    /// Fraction of spans with an error status, 0.0..=1.0.
    pub error_rate: f64,
    /// Events (span logs) on every span, each with two attributes; the root
    /// span always has one more ("dispatch started").
    pub events_per_span: usize,
    /// Length of every string attribute value; 0 keeps the natural short
    /// values (`value-123456`). The knob for payload size.
    pub string_value_bytes: usize,
    /// Attribute types cycle string, int, bool, double; without doubles,
    /// string, int, bool (the shape of `../shared/limits`' reference load).
    pub double_attributes: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            spans_per_trace: 10,
            attributes_per_span: 20,
            error_rate: 0.01,
            events_per_span: 0,
            string_value_bytes: 0,
            double_attributes: true,
        }
    }
}

/// Builds one export request holding `traces` whole traces.
pub fn request(
    rng: &mut impl Rng,
    traces: usize,
    shape: Shape,
    now_unix_nanos: u64,
) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for _ in 0..traces {
        for (service, span) in trace(rng, shape, now_unix_nanos) {
            by_service[service].push(span);
        }
    }
    let resource_spans = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv_str("service.name", SERVICES[service]),
                    kv_str("host.name", format!("{}-7f9c", SERVICES[service])),
                    kv_str("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "ferrotrace-loadtest".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// One trace: (service index, span) pairs, root first.
pub fn trace(rng: &mut impl Rng, shape: Shape, now_unix_nanos: u64) -> Vec<(usize, Span)> {
    let trace_id: [u8; 16] = loop {
        let id: [u8; 16] = rng.random();
        if id != [0; 16] {
            break id;
        }
    };
    let mut spans: Vec<(usize, Span)> = Vec::with_capacity(shape.spans_per_trace);
    let root_start = now_unix_nanos - 50_000_000;
    for i in 0..shape.spans_per_trace.max(1) {
        let service = if i < SERVICES.len() {
            i
        } else {
            SERVICES.len() - 1
        };
        let span_id: [u8; 8] = loop {
            let id: [u8; 8] = rng.random();
            if id != [0; 8] {
                break id;
            }
        };
        // frontend is the root; customer and driver hang under it; mysql and redis
        // under them; every extra route call hangs under frontend.
        let parent = match i {
            0 => None,
            2 => Some(1),
            4 => Some(3),
            _ => Some(0),
        };
        let start = root_start + i as u64 * 1_000_000;
        let duration = rng.random_range(100_000..5_000_000u64);
        let error = rng.random_bool(shape.error_rate.clamp(0.0, 1.0));
        let kind = if i == 0 {
            span::SpanKind::Server
        } else if i % 2 == 1 {
            span::SpanKind::Client
        } else {
            span::SpanKind::Server
        };
        let operation = match service {
            0 => "HTTP GET /dispatch",
            1 => "HTTP GET /customer",
            2 => "SQL SELECT",
            3 => "/driver.DriverService/FindNearest",
            4 => "FindDriverIDs",
            _ => "HTTP GET /route",
        };
        let span = Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: parent
                .map(|p: usize| spans[p].1.span_id.clone())
                .unwrap_or_default(),
            name: operation.to_string(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration,
            attributes: attributes(rng, shape),
            events: events(i == 0, start, duration, shape.events_per_span),
            status: Some(Status {
                code: if error {
                    status::StatusCode::Error as i32
                } else {
                    status::StatusCode::Unset as i32
                },
                message: if error {
                    "simulated failure".into()
                } else {
                    String::new()
                },
            }),
            ..Default::default()
        };
        spans.push((service, span));
    }
    spans
}

/// The first attribute keys, spelled out so generating them costs no formatting.
const ATTRIBUTE_KEYS: [&str; 32] = [
    "attr.00", "attr.01", "attr.02", "attr.03", "attr.04", "attr.05", "attr.06", "attr.07",
    "attr.08", "attr.09", "attr.10", "attr.11", "attr.12", "attr.13", "attr.14", "attr.15",
    "attr.16", "attr.17", "attr.18", "attr.19", "attr.20", "attr.21", "attr.22", "attr.23",
    "attr.24", "attr.25", "attr.26", "attr.27", "attr.28", "attr.29", "attr.30", "attr.31",
];

/// The root's "dispatch started" event, then `extra` events spread over the span.
fn events(root: bool, start: u64, duration: u64, extra: usize) -> Vec<span::Event> {
    let mut events = Vec::with_capacity(extra + usize::from(root));
    if root {
        events.push(span::Event {
            time_unix_nano: start + 1000,
            name: "dispatch started".into(),
            attributes: vec![kv_str("customer_id", "123")],
            dropped_attributes_count: 0,
        });
    }
    for n in 0..extra {
        events.push(span::Event {
            time_unix_nano: start + duration * n as u64 / extra as u64,
            name: "cache lookup".into(),
            attributes: vec![
                kv_str("cache.key", "customer:123"),
                KeyValue {
                    key: "cache.hit".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::BoolValue(n % 2 == 0)),
                    }),
                    ..Default::default()
                },
            ],
            dropped_attributes_count: 0,
        });
    }
    events
}

/// The shape's attributes of mixed types (strings, ints, bools and, unless
/// turned off, doubles); string values padded to `string_value_bytes` when
/// that is not 0.
fn attributes(rng: &mut impl Rng, shape: Shape) -> Vec<KeyValue> {
    let (n, string_bytes) = (shape.attributes_per_span, shape.string_value_bytes);
    let types = if shape.double_attributes { 4 } else { 3 };
    (0..n)
        .map(|i| {
            let key = ATTRIBUTE_KEYS
                .get(i)
                .map_or_else(|| format!("attr.{i:02}"), |k| k.to_string());
            let value = match i % types {
                0 => {
                    let mut value = format!("value-{}", rng.random_range(0..1_000_000u32));
                    if string_bytes > 0 {
                        value.truncate(string_bytes);
                        let pad = string_bytes - value.len();
                        value.extend(std::iter::repeat_n('x', pad));
                    }
                    any_value::Value::StringValue(value)
                }
                1 => any_value::Value::IntValue(rng.random_range(0..1_000_000)),
                2 => any_value::Value::BoolValue(rng.random_bool(0.5)),
                _ => any_value::Value::DoubleValue(rng.random_range(0.0..1000.0)),
            };
            KeyValue {
                key,
                value: Some(AnyValue { value: Some(value) }),
                ..Default::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn traces_have_unique_ids_and_one_root() {
        let mut rng = rand::rng();
        let shape = Shape {
            spans_per_trace: 8,
            ..Default::default()
        };
        let request = request(&mut rng, 50, shape, 1_700_000_000_000_000_000);
        let spans: Vec<&Span> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(spans.len(), 400);
        let span_ids: HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
        assert_eq!(span_ids.len(), 400);
        let traces: HashSet<_> = spans.iter().map(|s| s.trace_id.clone()).collect();
        assert_eq!(traces.len(), 50);
        assert_eq!(
            spans.iter().filter(|s| s.parent_span_id.is_empty()).count(),
            50
        );
        assert!(spans.iter().all(|s| s.attributes.len() == 20));
    }

    #[test]
    fn events_and_string_sizes_follow_the_shape() {
        let mut rng = rand::rng();
        let shape = Shape {
            spans_per_trace: 3,
            attributes_per_span: 8,
            events_per_span: 2,
            string_value_bytes: 100,
            ..Default::default()
        };
        let spans: Vec<(usize, Span)> = trace(&mut rng, shape, 1_700_000_000_000_000_000);
        let events: Vec<usize> = spans.iter().map(|(_, s)| s.events.len()).collect();
        assert_eq!(events, vec![3, 2, 2], "the root has its dispatch event too");
        for (_, span) in &spans {
            let strings: Vec<usize> = span
                .attributes
                .iter()
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(v) => Some(v.len()),
                    _ => None,
                })
                .collect();
            assert_eq!(strings, vec![100, 100], "attributes 0 and 4 are strings");
            assert!(span
                .events
                .iter()
                .all(|e| e.time_unix_nano >= span.start_time_unix_nano
                    && e.time_unix_nano <= span.end_time_unix_nano));
        }
    }

    #[test]
    fn doubles_can_be_left_out_of_the_attribute_mix() {
        let mut rng = rand::rng();
        let mut types = |double_attributes| {
            let shape = Shape {
                spans_per_trace: 2,
                attributes_per_span: 8,
                double_attributes,
                ..Default::default()
            };
            let spans = trace(&mut rng, shape, 1_700_000_000_000_000_000);
            spans[1]
                .1
                .attributes
                .iter()
                .map(
                    |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(_)) => 's',
                        Some(any_value::Value::IntValue(_)) => 'i',
                        Some(any_value::Value::BoolValue(_)) => 'b',
                        Some(any_value::Value::DoubleValue(_)) => 'd',
                        _ => '?',
                    },
                )
                .collect::<String>()
        };
        assert_eq!(types(true), "sibdsibd");
        assert_eq!(types(false), "sibsibsi");
    }

    #[test]
    fn resources_carry_service_names() {
        let mut rng = rand::rng();
        let request = request(&mut rng, 3, Shape::default(), 1_700_000_000_000_000_000);
        let names: Vec<_> = request
            .resource_spans
            .iter()
            .map(|r| {
                r.resource
                    .as_ref()
                    .unwrap()
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
                    .unwrap()
                    .clone()
            })
            .collect();
        assert_eq!(names.len(), SERVICES.len());
    }
}
