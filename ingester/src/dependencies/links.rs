//! The link rules, in one home for the daily job and the live path: a
//! trace's spans reduced to [`LinkSpan`]s, and [`trace_links`] giving its
//! parent service → child service calls (spark-dependencies'
//! `SpansToDependencyLinks`), per trace, after dropping duplicate spans:
//! - Zipkin shared spans (a client and a server span with the same span ID)
//!   give client service → server service;
//! - every span with references gives, per referenced span found in the
//!   trace, parent service → span service (same-service links included); a
//!   shared span is linked only through its client half, and a reference to
//!   a shared span counts from its server half;
//! - a span with references and no children that carries `peer.service`
//!   gives service → peer.service (an uninstrumented callee).

use std::collections::{BTreeMap, HashMap, HashSet};

use ferrotrace_format::jaeger::writer::{process_service_name, service_name_of, span_kind_tag};
use ferrotrace_format::otlp::semconv::SPAN_KIND;
use ferrotrace_format::otlp::span_view::{AnyValueView, SpanView};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

/// `peer.service`: the callee of a client span, when it is not instrumented.
pub const PEER_SERVICE: &str = "peer.service";

/// Call counts per (parent service, child service).
pub type Links = BTreeMap<(String, String), u64>;

/// A span reduced to what the link rules look at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkSpan {
    pub span_id: String,
    pub service: String,
    pub kind: Option<String>,
    /// Referenced span IDs: `references`, then a legacy `parentSpanID` not
    /// already among them.
    pub refs: Vec<String>,
    pub peer_service: Option<String>,
    /// µs since the epoch: the span's day is its index's day.
    pub start_time: u64,
}

impl LinkSpan {
    /// The span as its Jaeger document reads (see the span writer): the
    /// service by the translator's rules, the parent then each link as a
    /// reference, `span.kind` from an attribute of that name else the OTLP
    /// kind, and `peer.service` from the attributes.
    pub fn from_otlp(resource: Option<&Resource>, span: &Span) -> LinkSpan {
        let text = |key: &str| {
            let kv = span.attributes.iter().find(|kv| kv.key == key)?;
            Some(match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                _ => String::new(),
            })
        };
        LinkSpan::new(
            process_service_name(resource),
            Ids {
                trace: &span.trace_id,
                span: &span.span_id,
                parent: &span.parent_span_id,
            },
            span.links
                .iter()
                .map(|l| (l.trace_id.as_slice(), l.span_id.as_slice())),
            text(SPAN_KIND),
            span.kind,
            text(PEER_SERVICE),
            span.start_time_unix_nano,
        )
    }

    /// [`LinkSpan::from_otlp`] from a span read off the wire.
    pub fn from_view(view: &SpanView<'_>) -> LinkSpan {
        let text = |key: &str| {
            Some(match view.attribute(key)? {
                AnyValueView::Str(s) => s.to_owned(),
                AnyValueView::Bool(b) => b.to_string(),
                AnyValueView::Int(i) => i.to_string(),
                AnyValueView::Double(d) => d.to_string(),
                _ => String::new(),
            })
        };
        let has_attributes = view.resource_attributes().next().is_some();
        let service = service_name_of(has_attributes, view.service_name());
        LinkSpan::new(
            service,
            Ids {
                trace: view.trace_id(),
                span: view.span_id(),
                parent: view.parent_span_id(),
            },
            view.links(),
            text(SPAN_KIND),
            view.kind(),
            text(PEER_SERVICE),
            view.start_time_unix_nano(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new<'a>(
        service: &str,
        ids: Ids<'_>,
        links: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        kind_attribute: Option<String>,
        kind: i32,
        peer_service: Option<String>,
        start_time_unix_nano: u64,
    ) -> LinkSpan {
        let parent = nonzero_hex(ids.parent);
        let mut refs: Vec<String> = parent.iter().cloned().collect();
        for (trace_id, span_id) in links {
            if let Some(id) = nonzero_hex(span_id) {
                // The writer does not repeat a link to the parent.
                if parent.as_ref() != Some(&id) || trace_id != ids.trace {
                    refs.push(id);
                }
            }
        }
        let kind = kind_attribute.or_else(|| span_kind_tag(kind).map(str::to_owned));
        LinkSpan {
            span_id: ferrotrace_format::hex::to_hex_string(ids.span),
            service: service.to_owned(),
            kind,
            refs,
            peer_service: peer_service.filter(|p| !p.is_empty()),
            start_time: start_time_unix_nano / 1_000,
        }
    }

    fn is_client(&self) -> bool {
        self.kind.as_deref() == Some("client")
    }

    fn is_server(&self) -> bool {
        self.kind.as_deref() == Some("server")
    }
}

/// A span's own IDs as sent.
struct Ids<'a> {
    trace: &'a [u8],
    span: &'a [u8],
    parent: &'a [u8],
}

/// Lower-case hex of an ID, `None` when absent or all zero.
fn nonzero_hex(id: &[u8]) -> Option<String> {
    id.iter()
        .any(|&b| b != 0)
        .then(|| ferrotrace_format::hex::to_hex_string(id))
}

/// The links of one trace, with repeats (each is one call).
pub fn trace_links(spans: &[LinkSpan]) -> Vec<(String, String)> {
    // Identical spans (the same document stored twice) count once.
    let mut seen = HashSet::new();
    let spans: Vec<&LinkSpan> = spans.iter().filter(|s| seen.insert(*s)).collect();
    let mut by_id: HashMap<&str, Vec<&LinkSpan>> = HashMap::new();
    let mut has_children: HashSet<&str> = HashSet::new();
    for span in &spans {
        by_id.entry(span.span_id.as_str()).or_default().push(span);
        for r in &span.refs {
            has_children.insert(r.as_str());
        }
    }
    let mut links = Vec::new();
    // Zipkin shared spans: the client half calls the server half. Spans
    // are visited in document order, so the result does not depend on hashing.
    let mut shared_done = HashSet::new();
    for span in &spans {
        let group = &by_id[span.span_id.as_str()];
        if group.len() > 1 && shared_done.insert(span.span_id.as_str()) {
            let client = group.iter().find(|s| s.is_client());
            let server = group.iter().find(|s| s.is_server());
            if let (Some(client), Some(server)) = (client, server) {
                links.push((client.service.clone(), server.service.clone()));
            }
        }
    }
    for span in &spans {
        if span.refs.is_empty() || span.service.is_empty() {
            continue;
        }
        // The half of a shared span that is not the client is linked above.
        if by_id[span.span_id.as_str()].len() > 1 && !span.is_client() {
            continue;
        }
        for r in &span.refs {
            let Some(parents) = by_id.get(r.as_str()) else {
                continue;
            };
            let parent = if parents.len() > 1 {
                parents.iter().find(|p| p.is_server())
            } else {
                parents.first()
            };
            if let Some(parent) = parent.filter(|p| !p.service.is_empty()) {
                links.push((parent.service.clone(), span.service.clone()));
            }
        }
        if !has_children.contains(span.span_id.as_str()) {
            if let Some(peer) = &span.peer_service {
                links.push((span.service.clone(), peer.clone()));
            }
        }
    }
    links
}

/// Adds one trace's links to `counts`.
pub fn count_trace(counts: &mut Links, spans: &[LinkSpan]) {
    for link in trace_links(spans) {
        *counts.entry(link).or_default() += 1;
    }
}

/// Adds `part` to `total`.
pub fn add_links(total: &mut Links, part: &Links) {
    for (link, count) in part {
        *total.entry(link.clone()).or_default() += count;
    }
}

#[cfg(test)]
mod tests {
    use ferrotrace_format::jaeger::SpanDocWriter;
    use ferrotrace_format::otlp::attributes::kv_str;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    use super::*;
    use crate::jobs::dependencies::SpanDoc;

    fn span(id: u8, parent: u8, kind: i32, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![9; 16],
            span_id: vec![id; 8],
            parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
            kind,
            attributes,
            start_time_unix_nano: 1_765_000_000_000_000_000,
            end_time_unix_nano: 1_765_000_000_100_000_000,
            ..Span::default()
        }
    }

    fn resource_spans(service: Option<&str>, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: service
                    .map(|s| kv_str("service.name", s))
                    .into_iter()
                    .collect(),
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    /// Every span of a request read both ways: as the live path reduces it,
    /// and as the job reduces its stored document.
    #[test]
    fn a_span_reads_the_same_from_otlp_and_from_its_document() {
        let mut linked = span(4, 2, 3, vec![kv_str("peer.service", "redis")]);
        linked.links = vec![
            Link {
                trace_id: vec![9; 16],
                span_id: vec![1; 8],
                ..Link::default()
            },
            // A link to the parent is not a second reference.
            Link {
                trace_id: vec![9; 16],
                span_id: vec![2; 8],
                ..Link::default()
            },
        ];
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                resource_spans(
                    Some("web"),
                    vec![
                        span(1, 0, 2, vec![]),
                        span(2, 1, 4, vec![kv_str("http.method", "GET")]),
                    ],
                ),
                resource_spans(None, vec![linked, span(5, 4, 0, vec![])]),
                resource_spans(Some(""), vec![span(6, 5, 5, vec![])]),
            ],
        };
        let live: Vec<LinkSpan> = request
            .resource_spans
            .iter()
            .flat_map(|rs| {
                rs.scope_spans
                    .iter()
                    .flat_map(|s| &s.spans)
                    .map(|span| LinkSpan::from_otlp(rs.resource.as_ref(), span))
            })
            .collect();
        let encoded = prost::Message::encode_to_vec(&request);
        let mut from_views = Vec::new();
        ferrotrace_format::otlp::span_view::for_each_span(&encoded, |view| {
            from_views.push(LinkSpan::from_view(&view));
        })
        .unwrap();
        assert_eq!(live, from_views, "from the wire");
        for tags_as_fields in [false, true] {
            let mut writer = if tags_as_fields {
                SpanDocWriter::with_tags_as_fields(ferrotrace_format::jaeger::TagsAsFields {
                    all: true,
                    ..Default::default()
                })
            } else {
                SpanDocWriter::new()
            };
            let mut from_docs = Vec::new();
            writer.write_request(&request, |doc| {
                let doc: SpanDoc = serde_json::from_slice(doc.json).unwrap();
                from_docs.push(LinkSpan::from_doc(doc, "@"));
            });
            assert_eq!(live, from_docs, "tags as fields: {tags_as_fields}");
        }
        assert_eq!(live[1].kind.as_deref(), Some("producer"));
        assert_eq!(live[2].service, "OTLPResourceNoServiceName");
        assert_eq!(live[2].refs.len(), 2);
        assert_eq!(live[4].service, "empty-service-name");
    }
}
