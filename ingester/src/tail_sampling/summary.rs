//! What the policies know of a trace: a few numbers per trace, gathered
//! from each message as it arrives, so that the buffer holds the raw
//! message bytes and nothing decoded.
//!
//! A message is attributed to the trace of its first span. The collector
//! writes one trace per message (keyed by trace ID), and so does Jaeger's
//! own Kafka writer; a message mixing traces from another producer is held,
//! decided and stored with its first span's trace.

use ferrotrace_format::otlp::span_view::{AnyValueView, Attributes, SpanWalker};

use super::policies::Policies;

/// An attribute value as the attribute policies read it.
#[derive(Debug, Clone, Copy)]
pub enum AttributeValue<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    /// Doubles, arrays, maps, bytes: no policy here matches them.
    Other,
}

/// A trace (or one message of it) as far as the policies are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSummary {
    pub spans: u32,
    /// Earliest span start and latest span end, Unix nanoseconds.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Status codes seen: bit 0 UNSET, 1 OK, 2 ERROR.
    pub statuses: u8,
    /// Predicates (see [`Policies::matching`]) some resource or span passed.
    pub matched: u64,
}

impl Default for TraceSummary {
    fn default() -> Self {
        Self {
            spans: 0,
            start_ns: u64::MAX,
            end_ns: 0,
            statuses: 0,
            matched: 0,
        }
    }
}

impl TraceSummary {
    /// Adds a span's own fields.
    pub fn span(&mut self, start_ns: u64, end_ns: u64, status_code: i32) {
        self.spans = self.spans.saturating_add(1);
        self.start_ns = self.start_ns.min(start_ns);
        self.end_ns = self.end_ns.max(end_ns);
        // Codes past ERROR are not OTLP's; the processor reads them as none of its three.
        if (0..=2).contains(&status_code) {
            self.statuses |= 1 << status_code;
        }
    }

    /// Adds what another message of the same trace held.
    pub fn merge(&mut self, other: &TraceSummary) {
        self.spans = self.spans.saturating_add(other.spans);
        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = self.end_ns.max(other.end_ns);
        self.statuses |= other.statuses;
        self.matched |= other.matched;
    }

    /// Earliest start to latest end, in whole milliseconds (Go's
    /// `Duration.Milliseconds`, which truncates).
    pub fn duration_ms(&self) -> i64 {
        if self.spans == 0 {
            return 0;
        }
        let nanos = i128::from(self.end_ns) - i128::from(self.start_ns);
        (nanos / 1_000_000) as i64
    }
}

/// The trace ID of the first span and the summary of an encoded
/// `ExportTraceServiceRequest`, read from the wire through span views;
/// `Ok(None)` when it holds no span with a 16-byte trace ID, prost's error
/// when it does not decode.
pub fn of_message(
    walker: &mut SpanWalker,
    message: &[u8],
    policies: &Policies,
) -> Result<Option<([u8; 16], TraceSummary)>, prost::DecodeError> {
    let mut trace_id = None;
    let mut summary = TraceSummary::default();
    walker.for_each_span(message, |span| {
        if trace_id.is_none() {
            trace_id = <[u8; 16]>::try_from(span.trace_id()).ok();
        }
        summary.span(
            span.start_time_unix_nano(),
            span.end_time_unix_nano(),
            span.status_code(),
        );
        // The resource's attributes are read with each of its spans: one
        // bit per predicate, so repeating them changes nothing.
        summary.matched |= attributes(span.resource_attributes(), policies);
        summary.matched |= attributes(span.attributes(), policies);
    })?;
    Ok(trace_id.map(|id| (id, summary)))
}

fn attributes(attributes: Attributes<'_>, policies: &Policies) -> u64 {
    let mut bits = 0;
    for kv in attributes {
        if !policies.reads_key(kv.key) {
            continue;
        }
        let value = match kv.value {
            AnyValueView::Str(s) => AttributeValue::Str(s),
            AnyValueView::Int(i) => AttributeValue::Int(i),
            AnyValueView::Bool(b) => AttributeValue::Bool(b),
            _ => AttributeValue::Other,
        };
        bits |= policies.matching(kv.key, value);
    }
    bits
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
    use prost::Message as _;

    use super::*;
    use crate::tail_sampling::config::TailSamplingConfig;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn summarises_spans_and_resource_and_span_attributes() {
        let policies = TailSamplingConfig::parse(
            r#"
policies:
  - {name: env, type: string_attribute, string_attribute: {key: env, values: [prod]}}
  - {name: code, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}
"#,
        )
        .unwrap()
        .policies;
        let span = |start: u64, end: u64, code: status::StatusCode, attrs: Vec<KeyValue>| Span {
            trace_id: vec![7; 16],
            span_id: vec![1; 8],
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            status: Some(Status {
                code: code as i32,
                ..Default::default()
            }),
            attributes: attrs,
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("env", any_value::Value::StringValue("prod".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(2_000_000, 5_000_000, status::StatusCode::Unset, vec![]),
                        span(
                            1_000_000,
                            3_000_000,
                            status::StatusCode::Error,
                            vec![kv("code", any_value::Value::IntValue(503))],
                        ),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let mut walker = SpanWalker::new();
        let message = request.encode_to_vec();
        let (id, summary) = of_message(&mut walker, &message, &policies)
            .unwrap()
            .unwrap();
        assert_eq!(id, [7; 16]);
        assert_eq!(
            summary,
            TraceSummary {
                spans: 2,
                start_ns: 1_000_000,
                end_ns: 5_000_000,
                statuses: 0b101,
                matched: 0b11,
            }
        );
        assert_eq!(summary.duration_ms(), 4);
        let empty = ExportTraceServiceRequest::default().encode_to_vec();
        assert_eq!(of_message(&mut walker, &empty, &policies).unwrap(), None);
        assert!(of_message(&mut walker, b"\xff\xff", &policies).is_err());
    }

    #[test]
    fn merging_messages_is_the_summary_of_their_spans() {
        let mut a = TraceSummary::default();
        a.span(10_000_000, 20_000_000, 2);
        a.matched = 0b01;
        let mut b = TraceSummary::default();
        b.span(5_000_000, 12_000_000, 1);
        b.matched = 0b10;
        a.merge(&b);
        assert_eq!(
            a,
            TraceSummary {
                spans: 2,
                start_ns: 5_000_000,
                end_ns: 20_000_000,
                statuses: 0b110,
                matched: 0b11,
            }
        );
        assert_eq!(a.duration_ms(), 15);
    }
}
