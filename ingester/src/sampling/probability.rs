//! How a root span says it was sampled, and with which probability.
//!
//! Three sources, the first found wins:
//! - Jaeger clients' span tags `sampler.type` / `sampler.param` (translated
//!   to attributes);
//! - the OpenTelemetry Go `jaegerremote` sampler's attributes
//!   `jaeger.sampler.type` / `jaeger.sampler.param`;
//! - the W3C `tracestate` entry `ot=th:<hex>` of OpenTelemetry's
//!   probability sampling: `th` is the rejection threshold, up to 14 hex
//!   digits of a 56-bit number (missing trailing digits are zeros), and the
//!   probability is `1 - th / 2^56`.
//!
//! As in Jaeger, a span sampled by `const` or `ratelimiting` is recognised
//! (its operation exists, with that parameter) but is not counted: only
//! probabilistically sampled root spans make up the throughput, and
//! `lowerbound` ones make an operation known with a count of 0.

use ferrotrace_format::otlp::{AnyValueView, SpanView};

/// How a root span was sampled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    /// Sampled by a probabilistic sampler: counts towards the throughput.
    pub probabilistic: bool,
    /// The sampler's parameter (for a probabilistic sampler, the probability).
    pub param: f64,
}

/// 2^56: the range of OpenTelemetry's sampling thresholds.
const THRESHOLD_RANGE: f64 = 72_057_594_037_927_936.0;
const THRESHOLD_DIGITS: usize = 14;

/// Whether `span` is a root span: no parent, or Jaeger's parent ID 0.
pub fn is_root(span: &SpanView<'_>) -> bool {
    span.parent_span_id().iter().all(|&b| b == 0)
}

/// How `span` says it was sampled; `None` when it does not, or says
/// something unreadable.
pub fn sampled(span: &SpanView<'_>) -> Option<Sampled> {
    for (type_key, param_key) in [
        ("sampler.type", "sampler.param"),
        ("jaeger.sampler.type", "jaeger.sampler.param"),
    ] {
        if let Some(kind) = attribute(span, type_key) {
            let probabilistic = match kind.as_str()? {
                "probabilistic" => true,
                "lowerbound" | "ratelimiting" | "const" => false,
                _ => return None,
            };
            let param = as_f64(attribute(span, param_key)?)?;
            return Some(Sampled {
                probabilistic,
                param,
            });
        }
    }
    threshold_probability(span.trace_state()).map(|param| Sampled {
        probabilistic: true,
        param,
    })
}

/// The probability of the `ot=th:` entry of a W3C `tracestate`.
pub fn threshold_probability(trace_state: &str) -> Option<f64> {
    let ot = trace_state
        .split(',')
        .filter_map(|member| member.trim().split_once('='))
        .find(|(key, _)| *key == "ot")?
        .1;
    let th = ot
        .split(';')
        .filter_map(|field| field.split_once(':'))
        .find(|(key, _)| *key == "th")?
        .1;
    if th.is_empty() || th.len() > THRESHOLD_DIGITS {
        return None;
    }
    let digits = u64::from_str_radix(th, 16).ok()?;
    let threshold = digits << (4 * (THRESHOLD_DIGITS - th.len()));
    Some(1.0 - threshold as f64 / THRESHOLD_RANGE)
}

/// The value of the span's first attribute named `key`, if it has one.
fn attribute<'a>(span: &SpanView<'a>, key: &str) -> Option<AnyValueView<'a>> {
    span.attribute(key).filter(|v| *v != AnyValueView::Empty)
}

/// A number, as a double, an integer or a string (Jaeger accepts all three).
fn as_f64(value: AnyValueView<'_>) -> Option<f64> {
    let number = match value {
        AnyValueView::Double(d) => d,
        AnyValueView::Int(i) => i as f64,
        AnyValueView::Str(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    number.is_finite().then_some(number)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ferrotrace_format::otlp::for_each_span_of;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    /// `f` of the view of `span`, read from the wire.
    fn with_view<R>(span: &Span, f: impl Fn(&SpanView<'_>) -> R) -> R {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let mut out = None;
        for_each_span_of(&request, |view| out = Some(f(&view)));
        out.expect("one span")
    }

    pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn text(s: &str) -> any_value::Value {
        any_value::Value::StringValue(s.into())
    }

    fn span(attributes: Vec<KeyValue>, trace_state: &str) -> Span {
        Span {
            attributes,
            trace_state: trace_state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn reads_jaeger_client_tags() {
        let s = span(
            vec![
                kv("sampler.type", text("probabilistic")),
                kv("sampler.param", any_value::Value::DoubleValue(0.25)),
            ],
            "",
        );
        assert_eq!(
            with_view(&s, sampled),
            Some(Sampled {
                probabilistic: true,
                param: 0.25
            })
        );
        // The param as a string or an integer, as Jaeger accepts it.
        let s = span(
            vec![
                kv("sampler.type", text("lowerbound")),
                kv("sampler.param", text("0.001")),
            ],
            "",
        );
        assert_eq!(
            with_view(&s, sampled),
            Some(Sampled {
                probabilistic: false,
                param: 0.001
            })
        );
        let s = span(
            vec![
                kv("sampler.type", text("const")),
                kv("sampler.param", any_value::Value::IntValue(1)),
            ],
            "",
        );
        assert_eq!(
            with_view(&s, sampled),
            Some(Sampled {
                probabilistic: false,
                param: 1.0
            })
        );
    }

    #[test]
    fn reads_opentelemetry_go_jaegerremote_attributes() {
        let s = span(
            vec![
                kv("jaeger.sampler.type", text("probabilistic")),
                kv("jaeger.sampler.param", any_value::Value::DoubleValue(0.5)),
            ],
            "",
        );
        assert_eq!(
            with_view(&s, sampled),
            Some(Sampled {
                probabilistic: true,
                param: 0.5
            })
        );
    }

    #[test]
    fn reads_the_tracestate_threshold() {
        // The OpenTelemetry specification's examples.
        assert_eq!(threshold_probability("ot=th:0"), Some(1.0));
        assert_eq!(threshold_probability("ot=th:8"), Some(0.5));
        assert_eq!(threshold_probability("ot=th:c"), Some(0.25));
        assert_eq!(
            threshold_probability("vendor=x,ot=rv:abcdef01234567;th:fd70a4"),
            Some(1.0 - 0xfd70a4 as f64 / 16f64.powi(6))
        );
        let p = threshold_probability("ot=th:fff972474538ee").unwrap();
        assert!((p - 0.0001).abs() < 1e-12, "{p}");
        for bad in [
            "",
            "ot=rv:00",
            "ot=th:",
            "ot=th:xyz",
            "ot=th:000000000000000",
            "other=th:8",
        ] {
            assert_eq!(threshold_probability(bad), None, "{bad}");
        }
        let s = span(vec![], "ot=th:e");
        assert_eq!(
            with_view(&s, sampled),
            Some(Sampled {
                probabilistic: true,
                param: 0.125
            })
        );
    }

    #[test]
    fn tags_win_over_the_threshold_and_bad_tags_say_nothing() {
        let s = span(
            vec![
                kv("sampler.type", text("probabilistic")),
                kv("sampler.param", any_value::Value::DoubleValue(0.1)),
            ],
            "ot=th:8",
        );
        assert_eq!(with_view(&s, sampled).map(|s| s.param), Some(0.1));
        let s = span(
            vec![
                kv("sampler.type", text("probabilistic")),
                kv("sampler.param", text("lots")),
            ],
            "",
        );
        assert_eq!(with_view(&s, sampled), None);
        let s = span(
            vec![
                kv("sampler.type", text("remote")),
                kv("sampler.param", text("1")),
            ],
            "",
        );
        assert_eq!(with_view(&s, sampled), None);
        assert_eq!(with_view(&span(vec![], ""), sampled), None);
    }

    #[test]
    fn roots_have_no_parent() {
        let mut s = span(vec![], "");
        assert!(with_view(&s, is_root));
        s.parent_span_id = vec![0; 8];
        assert!(with_view(&s, is_root));
        s.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, 1];
        assert!(!with_view(&s, is_root));
    }
}
