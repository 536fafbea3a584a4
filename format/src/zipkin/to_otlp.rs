//! Zipkin v2 spans → one OTLP request, rule for rule as the OpenTelemetry
//! Collector's `pkg/translator/zipkin/zipkinv2/to_translator.go` (contrib
//! v0.150.0, default feature gates, `ParseStringTags` off).
//!
//! The rules, in the order the Collector applies them:
//! - Spans are sorted by local service name, then `otel.library.name` tag;
//!   each run of one service is one `ResourceSpans`, each run of one library
//!   inside it one `ScopeSpans`. A span without a local service name goes to
//!   a resource with no attributes at all (the Jaeger translator later names
//!   it `OTLPResourceNoServiceName`).
//! - The *first* span of a resource gives it `service.name` (or, if that
//!   span has an `otlp.service.name.source` tag, an attribute of that name)
//!   and moves its resource-type tags (semantic-convention resource keys,
//!   `opencensus.*`) to the resource; the first span of a scope moves
//!   `otel.library.name`/`version` into the scope. On every other span those
//!   tags are dropped, as in the Collector.
//! - `w3c.tracestate` → trace state; a parent ID equal to the span's own ID
//!   is dropped; kind from `kind`, or with no kind `span.kind=internal` →
//!   INTERNAL (the `span.kind` tag is consumed whatever its value).
//! - `otel.status_code` (`STATUS_CODE_*` or `Unset`/`Ok`/`Error`) and, only
//!   with it, `otel.status_description` → status; any `error` tag → ERROR
//!   (the tag is removed only when it is `"true"`).
//! - `otlp.link.N` tags → links (`trace|span|state|json attributes|dropped`).
//! - Every other tag → a string attribute; then the local endpoint →
//!   `net.host.ip` (IPv6 wins over IPv4) and `net.host.port`, the remote
//!   endpoint → `peer.service`, `net.peer.ip`, `net.peer.port`, replacing
//!   tags of the same name.
//! - Annotations → events named by the value (or `name|json|dropped`).
//!
//! What the Collector changed after v0.150.0: from the release that
//! promoted the `pkg.translator.zipkin.EmitV1NetworkConventions` and
//! `DontEmitV0NetworkConventions` gates to beta (after v0.150.0), the
//! endpoint attributes are `network.local.address`, `network.peer.address`
//! and `service.peer.name` instead; [`NetworkConventions`] selects either.
//! Later gates (`EmitV1ScopeConventions`, `…HttpConventions`, added in
//! v0.154.0, and `…CloudResourceConventions`, v0.155.0) are not modelled.
//!
//! Where we differ on purpose: a span with a zero trace or span ID, or with
//! no start time or one that does not fit `u64` nanoseconds, is refused and
//! counted (the Collector keeps it; without a start time it starts at 1970
//! with an `otel.zipkin.absentField.startTime` attribute); an annotation or link tag
//! whose encoded attributes do not parse keeps its full text as the event
//! name, or drops the link, where the Collector rejects the whole request;
//! the sort is stable (Go's is not, so its order within a service varies).

use std::collections::BTreeMap;
use std::ops::Bound;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

use super::model::{go_ip_string, Endpoint, Kind, Span};
use crate::otlp::attributes::{kv_bool, kv_double, kv_int, kv_str, upsert};
use crate::otlp::semconv::{LIBRARY_NAME, LIBRARY_VERSION, NO_SERVICE_NAME, SERVICE_NAME};
use crate::translate::{check_ids, micros_to_nanos, Refusal, Refusals, Translated};

/// Which attribute names the endpoints become (the Collector's network
/// convention feature gates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkConventions {
    /// `net.host.ip`, `net.peer.ip`, `peer.service` (semconv 1.12): the
    /// Collector's default up to v0.150.0, and what Jaeger tooling reads.
    #[default]
    V0,
    /// Both names (`EmitV1NetworkConventions` alone).
    Both,
    /// `network.local.address`, `network.peer.address`, `service.peer.name`
    /// (both gates, the default after their promotion to beta).
    V1,
}

/// Translation settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToOtlpOptions {
    pub network: NetworkConventions,
}

const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";
const LINK_PREFIX: &str = "otlp.link.";
/// The Collector reads `otlp.link.0` up to `otlp.link.127`.
const MAX_LINKS: usize = 128;

/// Tags that never become span attributes: resource semantic-convention
/// keys (the Collector's list, from semconv 1.6.1), the service-name source,
/// the library tags and OpenCensus resource fields. Sorted for search.
const NON_SPAN_ATTRIBUTES: &[&str] = &[
    "aws.ecs.cluster.arn",
    "aws.ecs.container.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.arns",
    "aws.log.group.names",
    "aws.log.stream.arns",
    "aws.log.stream.names",
    "cloud.account.id",
    "cloud.availability_zone",
    "cloud.platform",
    "cloud.provider",
    "cloud.region",
    "container.id",
    "container.image.name",
    "container.image.tag",
    "container.name",
    "container.runtime",
    "deployment.environment",
    "device.id",
    "device.manufacturer",
    "device.model.identifier",
    "device.model.name",
    "faas.id",
    "faas.instance",
    "faas.max_memory",
    "faas.name",
    "faas.version",
    "host.arch",
    "host.id",
    "host.image.id",
    "host.image.name",
    "host.image.version",
    "host.name",
    "host.type",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.container.restart_count",
    "k8s.cronjob.name",
    "k8s.cronjob.uid",
    "k8s.daemonset.name",
    "k8s.daemonset.uid",
    "k8s.deployment.name",
    "k8s.deployment.uid",
    "k8s.job.name",
    "k8s.job.uid",
    "k8s.namespace.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.replicaset.name",
    "k8s.replicaset.uid",
    "k8s.statefulset.name",
    "k8s.statefulset.uid",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
    "opencensus.starttime",
    "os.description",
    "os.name",
    "os.type",
    "os.version",
    "otel.library.name",
    "otel.library.version",
    "otlp.service.name.source",
    "process.command",
    "process.command_args",
    "process.command_line",
    "process.executable.name",
    "process.executable.path",
    "process.owner",
    "process.pid",
    "process.runtime.description",
    "process.runtime.name",
    "process.runtime.version",
    "service.instance.id",
    "service.name",
    "service.namespace",
    "service.version",
    "telemetry.auto.version",
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "webengine.description",
    "webengine.name",
    "webengine.version",
];

fn is_non_span_attribute(key: &str) -> bool {
    NON_SPAN_ATTRIBUTES.binary_search(&key).is_ok()
}

/// Tags the first span of a resource moves to the resource.
fn is_resource_tag(key: &str) -> bool {
    key != LIBRARY_NAME && key != LIBRARY_VERSION && is_non_span_attribute(key)
}

/// Translates with the default options ([`NetworkConventions::V0`]).
pub fn spans_to_otlp(spans: Vec<Span>) -> Translated {
    spans_to_otlp_with(spans, ToOtlpOptions::default())
}

/// A span that passed the checks, with what grouping needs.
struct Prepared {
    span: Span,
    service: String,
    library: String,
    start: u64,
    end: u64,
    event_times: Vec<u64>,
}

/// Translates Zipkin v2 spans to one OTLP request; see the module docs.
pub fn spans_to_otlp_with(spans: Vec<Span>, options: ToOtlpOptions) -> Translated {
    let mut refused = Refusals::default();
    let mut kept: Vec<Prepared> = Vec::with_capacity(spans.len());
    for (index, span) in spans.into_iter().enumerate() {
        match prepare(span) {
            Ok(prepared) => kept.push(prepared),
            Err((refusal, detail, trace_id)) => {
                refused.add(refusal, || describe(index, &trace_id, refusal, &detail))
            }
        }
    }
    kept.sort_by(|a, b| (&a.service, &a.library).cmp(&(&b.service, &b.library)));

    let count = kept.len() as u64;
    let mut resource_spans = Vec::new();
    for service_run in kept.chunk_by_mut(|a, b| a.service == b.service) {
        let resource = match service_run.first_mut() {
            Some(first) => resource_of(&mut first.span.tags, &first.service),
            None => continue,
        };
        let mut scope_spans = Vec::new();
        for library_run in service_run.chunk_by_mut(|a, b| a.library == b.library) {
            let scope = match library_run.first_mut() {
                Some(first) => scope_of(&mut first.span.tags, &first.library),
                None => continue,
            };
            let spans = library_run
                .iter_mut()
                .map(|prepared| span_of(prepared, options))
                .collect();
            scope_spans.push(ScopeSpans {
                scope,
                spans,
                schema_url: String::new(),
            });
        }
        resource_spans.push(ResourceSpans {
            resource: Some(resource),
            scope_spans,
            schema_url: String::new(),
        });
    }
    Translated {
        request: ExportTraceServiceRequest { resource_spans },
        spans: count,
        refused,
    }
}

type Refused = (Refusal, String, [u8; 16]);

fn prepare(span: Span) -> Result<Prepared, Refused> {
    let refuse = |refusal, detail: String| (refusal, detail, span.trace_id);
    check_ids(&span.trace_id, &span.id).map_err(|r| refuse(r, String::new()))?;
    let Some(timestamp) = span.timestamp else {
        return Err(refuse(
            Refusal::InvalidTimestamp,
            "no start timestamp".into(),
        ));
    };
    let duration = span.duration.unwrap_or(0);
    let (start, end) = i64::try_from(timestamp)
        .ok()
        .zip(i64::try_from(duration).ok())
        .and_then(|(t, d)| micros_to_nanos(t, d).ok())
        .ok_or_else(|| {
            refuse(
                Refusal::InvalidTimestamp,
                format!("timestamp {timestamp} µs + duration {duration} µs is out of range"),
            )
        })?;
    let event_times = span
        .annotations
        .iter()
        .map(|a| a.timestamp.checked_mul(1_000))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            refuse(
                Refusal::InvalidTimestamp,
                "an annotation timestamp is out of range".into(),
            )
        })?;
    let service = match &span.local_endpoint {
        Some(endpoint) if !endpoint.service_name.is_empty() => endpoint.service_name.clone(),
        _ => NO_SERVICE_NAME.to_owned(),
    };
    let library = span.tags.get(LIBRARY_NAME).cloned().unwrap_or_default();
    Ok(Prepared {
        span,
        service,
        library,
        start,
        end,
        event_times,
    })
}

/// `span N (trace …): reason` for a refusal; `detail` explains a timestamp
/// refusal (the ID refusals explain themselves).
pub(crate) fn describe(
    index: usize,
    trace_id: &[u8; 16],
    refusal: Refusal,
    detail: &str,
) -> String {
    let hex: String = trace_id.iter().map(|b| format!("{b:02x}")).collect();
    let reason = match refusal {
        Refusal::ZeroTraceId => "zero trace ID",
        Refusal::ZeroSpanId => "zero span ID",
        Refusal::InvalidId
        | Refusal::InvalidTimestamp
        | Refusal::TimestampOutOfWindow
        | Refusal::TooLarge => detail,
    };
    format!("span {index} (trace {hex}): {reason}")
}

fn resource_of(tags: &mut BTreeMap<String, String>, service: &str) -> Resource {
    let mut attributes = Vec::new();
    if service != NO_SERVICE_NAME {
        let key = match tags.remove(SERVICE_NAME_SOURCE) {
            Some(source) if !source.is_empty() => source,
            _ => SERVICE_NAME.to_owned(),
        };
        attributes.push(kv_str(key, service));
        let moved: Vec<String> = tags
            .keys()
            .filter(|key| is_resource_tag(key))
            .cloned()
            .collect();
        for key in moved {
            if let Some(value) = tags.remove(&key) {
                upsert(&mut attributes, kv_str(key, value));
            }
        }
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn scope_of(tags: &mut BTreeMap<String, String>, library: &str) -> Option<InstrumentationScope> {
    if library.is_empty() {
        return None;
    }
    Some(InstrumentationScope {
        name: tags.remove(LIBRARY_NAME).unwrap_or_default(),
        version: tags.remove(LIBRARY_VERSION).unwrap_or_default(),
        ..InstrumentationScope::default()
    })
}

fn span_of(
    prepared: &mut Prepared,
    options: ToOtlpOptions,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    let span = std::mem::take(&mut prepared.span);
    let mut tags = span.tags;
    let trace_state = tags.remove("w3c.tracestate").unwrap_or_default();
    let parent_span_id = match span.parent_id {
        Some(parent) if parent != span.id && parent != [0; 8] => parent.to_vec(),
        _ => Vec::new(),
    };
    let kind = match span.kind {
        Some(Kind::Client) => SpanKind::Client,
        Some(Kind::Server) => SpanKind::Server,
        Some(Kind::Producer) => SpanKind::Producer,
        Some(Kind::Consumer) => SpanKind::Consumer,
        None => match tags.remove("span.kind") {
            Some(value) if value == "internal" => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        },
    };
    let status = status_of(&mut tags);
    let links = links_of(&mut tags);

    let mut attributes: Vec<KeyValue> = tags
        .into_iter()
        .filter(|(key, _)| !is_non_span_attribute(key))
        .map(|(key, value)| kv_str(key, value))
        .collect();
    if let Some(local) = &span.local_endpoint {
        endpoint_attributes(&mut attributes, local, Side::Local, options.network);
    }
    if let Some(remote) = &span.remote_endpoint {
        endpoint_attributes(&mut attributes, remote, Side::Remote, options.network);
    }

    let events = span
        .annotations
        .into_iter()
        .zip(std::mem::take(&mut prepared.event_times))
        .map(|(annotation, time)| event_of(annotation.value, time))
        .collect();

    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.id.to_vec(),
        trace_state,
        parent_span_id,
        name: span.name,
        kind: kind as i32,
        start_time_unix_nano: prepared.start,
        end_time_unix_nano: prepared.end,
        attributes,
        events,
        links,
        status,
        ..Default::default()
    }
}

fn status_of(tags: &mut BTreeMap<String, String>) -> Option<Status> {
    let mut status = None;
    if let Some(code) = tags.remove("otel.status_code") {
        let code = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => StatusCode::Ok,
            "STATUS_CODE_ERROR" | "Error" => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        status = Some(Status {
            message: tags.remove("otel.status_description").unwrap_or_default(),
            code: code as i32,
        });
    }
    if let Some(error) = tags.get("error") {
        let remove = error == "true";
        status.get_or_insert_with(Status::default).code = StatusCode::Error as i32;
        if remove {
            tags.remove("error");
        }
    }
    status
}

fn links_of(tags: &mut BTreeMap<String, String>) -> Vec<Link> {
    let mut links = Vec::new();
    let any = tags
        .range::<str, _>((Bound::Included(LINK_PREFIX), Bound::Unbounded))
        .next()
        .is_some_and(|(key, _)| key.starts_with(LINK_PREFIX));
    if !any {
        return links;
    }
    for i in 0..MAX_LINKS {
        let Some(value) = tags.remove(&format!("{LINK_PREFIX}{i}")) else {
            break;
        };
        if let Some(link) = parse_link(&value) {
            links.push(link);
        }
    }
    links
}

/// `trace-id|span-id|trace-state|{json attributes}|dropped-count`; the JSON
/// may itself contain `|`. Fewer than five parts: skipped, as the Collector
/// does; a part that does not parse: skipped, where the Collector fails.
fn parse_link(value: &str) -> Option<Link> {
    let parts: Vec<&str> = value.split('|').collect();
    if parts.len() < 5 {
        return None;
    }
    let last = parts.len() - 1;
    let json = parts[3..last].join("|");
    Some(Link {
        trace_id: hex_id::<16>(parts[0])?,
        span_id: hex_id::<8>(parts[1])?,
        trace_state: parts[2].to_owned(),
        attributes: json_attributes(&json)?,
        dropped_attributes_count: decimal_u32(parts[last])?,
        flags: 0,
    })
}

/// An annotation value, plain or `name|{json attributes}|dropped-count`.
fn event_of(value: String, time_unix_nano: u64) -> Event {
    let parts: Vec<&str> = value.split('|').collect();
    let encoded = (parts.len() >= 3)
        .then(|| {
            let last = parts.len() - 1;
            let attributes = json_attributes(&parts[1..last].join("|"))?;
            Some((attributes, decimal_u32(parts[last])?))
        })
        .flatten();
    let (name, attributes, dropped_attributes_count) = match encoded {
        Some((attributes, dropped)) => (parts[0].to_owned(), attributes, dropped),
        // Malformed encoding: keep the whole text rather than lose it.
        None if parts.len() >= 3 => (value.clone(), Vec::new(), 0),
        // `a|b` names the event `a`, as in the Collector.
        None => (parts[0].to_owned(), Vec::new(), 0),
    };
    Event {
        time_unix_nano,
        name,
        attributes,
        dropped_attributes_count,
    }
}

/// The Collector's `unmarshalJSON` for link IDs: optional surrounding
/// quotes, empty means zero, otherwise exactly `2 * N` hex digits.
fn hex_id<const N: usize>(text: &str) -> Option<Vec<u8>> {
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() {
        return Some(vec![0; N]);
    }
    if text.len() != 2 * N {
        return None;
    }
    (0..N)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Go's `strconv.ParseUint(text, 10, 32)`.
fn decimal_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A JSON object → attributes as the Collector's `jsonMapToAttributeMap`:
/// strings, booleans, and numbers (integral → int, else double); other
/// values are skipped. `null` is an empty object.
fn json_attributes(json: &str) -> Option<Vec<KeyValue>> {
    let map = match serde_json::from_str::<serde_json::Value>(json).ok()? {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => return Some(Vec::new()),
        _ => return None,
    };
    Some(
        map.into_iter()
            .filter_map(|(key, value)| match value {
                serde_json::Value::String(s) => Some(kv_str(key, s)),
                serde_json::Value::Bool(b) => Some(kv_bool(key, b)),
                serde_json::Value::Number(n) => {
                    // Go decodes every JSON number as float64 first.
                    let f = n.as_f64()?;
                    Some(if f.fract() == 0.0 {
                        kv_int(key, f as i64)
                    } else {
                        kv_double(key, f)
                    })
                }
                _ => None,
            })
            .collect(),
    )
}

#[derive(Clone, Copy)]
enum Side {
    Local,
    Remote,
}

fn endpoint_attributes(
    attributes: &mut Vec<KeyValue>,
    endpoint: &Endpoint,
    side: Side,
    conventions: NetworkConventions,
) {
    let (old_ip, new_ip, port_key) = match side {
        Side::Local => ("net.host.ip", "network.local.address", "net.host.port"),
        Side::Remote => ("net.peer.ip", "network.peer.address", "net.peer.port"),
    };
    let v0 = conventions != NetworkConventions::V1;
    let v1 = conventions != NetworkConventions::V0;
    let mut put = |old: &str, new: &str, value: &str| {
        if v0 {
            upsert(attributes, kv_str(old, value));
        }
        if v1 {
            upsert(attributes, kv_str(new, value));
        }
    };
    if let Side::Remote = side {
        if !endpoint.service_name.is_empty() {
            put("peer.service", "service.peer.name", &endpoint.service_name);
        }
    }
    if let Some(ip) = &endpoint.ipv4 {
        put(old_ip, new_ip, &go_ip_string(ip));
    }
    if let Some(ip) = &endpoint.ipv6 {
        put(old_ip, new_ip, &go_ip_string(ip));
    }
    if endpoint.port > 0 {
        upsert(attributes, kv_int(port_key, i64::from(endpoint.port)));
    }
}

#[cfg(test)]
mod tests {
    //! Tests of the v2 translator: each rule of the module docs on OTLP output,
    //! refusals, and the Jaeger documents the ingester writes from the result.

    use std::collections::BTreeMap;

    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span as OtlpSpan, Status};

    use super::*;
    use crate::jaeger::model as jaeger;
    use crate::jaeger::SpanDocWriter;
    use crate::zipkin::{parse_v1_json, parse_v2_json, v1_spans_to_otlp, Annotation, Endpoint};

    const START: u64 = 1_700_000_000_000_000;

    fn endpoint(service: &str) -> Endpoint {
        Endpoint {
            service_name: service.into(),
            ..Endpoint::default()
        }
    }

    fn span(id: u8, service: Option<&str>, tags: &[(&str, &str)]) -> Span {
        Span {
            trace_id: [0xaa; 16],
            id: [id; 8],
            name: format!("op-{id}"),
            timestamp: Some(START),
            duration: Some(250),
            local_endpoint: service.map(endpoint),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Span::default()
        }
    }

    fn value(attributes: &[KeyValue], key: &str) -> Option<Value> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
    }

    fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
        match value(attributes, key) {
            Some(Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    fn keys(attributes: &[KeyValue]) -> Vec<&str> {
        attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    fn all_spans(rs: &[ResourceSpans]) -> Vec<&OtlpSpan> {
        rs.iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    fn only_span(translated: &Translated) -> OtlpSpan {
        let spans = all_spans(&translated.request.resource_spans);
        assert_eq!(spans.len(), 1);
        spans[0].clone()
    }

    fn service_names(rs: &[ResourceSpans]) -> Vec<Option<String>> {
        rs.iter()
            .map(|r| string(&r.resource.as_ref().unwrap().attributes, "service.name"))
            .collect()
    }

    #[test]
    fn non_span_attribute_list_is_sorted() {
        assert!(NON_SPAN_ATTRIBUTES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn one_resource_per_local_service_sorted_by_name() {
        let translated = spans_to_otlp(vec![
            span(1, Some("web"), &[]),
            span(2, None, &[]),
            span(3, Some("Alpha"), &[]),
            span(4, Some("web"), &[]),
            span(5, Some(""), &[]),
        ]);
        assert_eq!(translated.spans, 5);
        let rs = &translated.request.resource_spans;
        // Byte order, as Go's strings.Compare: the nameless resource sorts as
        // "OTLPResourceNoServiceName", after "Alpha" and before "web".
        assert_eq!(
            service_names(rs),
            vec![Some("Alpha".into()), None, Some("web".into())]
        );
        let nameless = &rs[1];
        assert!(nameless.resource.as_ref().unwrap().attributes.is_empty());
        assert_eq!(nameless.scope_spans[0].spans.len(), 2);
        let web: Vec<_> = rs[2].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(web, ["op-1", "op-4"], "stable within a service");
        for r in rs {
            assert_eq!(r.scope_spans.len(), 1);
            assert_eq!(r.scope_spans[0].scope, None);
        }
    }

    #[test]
    fn first_span_moves_resource_tags_and_later_spans_drop_them() {
        let translated = spans_to_otlp(vec![
            span(
                1,
                Some("svc"),
                &[("host.name", "h1"), ("process.pid", "42"), ("keep", "a")],
            ),
            span(2, Some("svc"), &[("host.name", "h2"), ("keep", "b")]),
        ]);
        let rs = &translated.request.resource_spans;
        assert_eq!(rs.len(), 1);
        let resource = &rs[0].resource.as_ref().unwrap().attributes;
        assert_eq!(keys(resource), ["service.name", "host.name", "process.pid"]);
        assert_eq!(string(resource, "host.name").as_deref(), Some("h1"));
        let spans = &rs[0].scope_spans[0].spans;
        assert_eq!(keys(&spans[0].attributes), ["keep"]);
        assert_eq!(
            keys(&spans[1].attributes),
            ["keep"],
            "host.name=h2 is dropped"
        );

        // A `service.name` tag overrides the endpoint's; a service-name source
        // renames the attribute that holds the endpoint's name.
        let translated = spans_to_otlp(vec![span(
            1,
            Some("svc"),
            &[
                ("otlp.service.name.source", "peer.name"),
                ("service.name", "tagged"),
            ],
        )]);
        let resource = &translated.request.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert_eq!(string(resource, "peer.name").as_deref(), Some("svc"));
        assert_eq!(string(resource, "service.name").as_deref(), Some("tagged"));
        // Without a local service name nothing moves, and the tags are dropped.
        let translated = spans_to_otlp(vec![span(1, None, &[("host.name", "h")])]);
        let rs = &translated.request.resource_spans[0];
        assert!(rs.resource.as_ref().unwrap().attributes.is_empty());
        assert!(rs.scope_spans[0].spans[0].attributes.is_empty());
    }

    #[test]
    fn library_tags_become_the_instrumentation_scope() {
        fn lib<'a>(name: &'a str, version: &'a str) -> [(&'a str, &'a str); 2] {
            [
                ("otel.library.name", name),
                ("otel.library.version", version),
            ]
        }
        let translated = spans_to_otlp(vec![
            span(1, Some("svc"), &lib("io.b", "2")),
            span(2, Some("svc"), &lib("io.a", "1")),
            span(3, Some("svc"), &lib("io.b", "3")),
            span(4, Some("svc"), &[("otel.library.version", "9")]),
        ]);
        let scopes: Vec<_> = translated.request.resource_spans[0]
            .scope_spans
            .iter()
            .map(|s| {
                let scope = s
                    .scope
                    .as_ref()
                    .map(|sc| (sc.name.clone(), sc.version.clone()));
                (scope, s.spans.len())
            })
            .collect();
        assert_eq!(
            scopes,
            vec![
                (None, 1),
                (Some(("io.a".into(), "1".into())), 1),
                (Some(("io.b".into(), "2".into())), 2),
            ]
        );
        for span in all_spans(&translated.request.resource_spans) {
            assert!(
                span.attributes.is_empty(),
                "library tags never stay: {:?}",
                span.attributes
            );
        }
    }

    #[test]
    fn maps_kind_and_span_kind_internal() {
        let kind_of = |kind: Option<Kind>, tags: &[(&str, &str)]| {
            let mut s = span(1, Some("svc"), tags);
            s.kind = kind;
            let otlp = only_span(&spans_to_otlp(vec![s]));
            (otlp.kind, keys(&otlp.attributes).join(","))
        };
        assert_eq!(kind_of(Some(Kind::Client), &[]).0, SpanKind::Client as i32);
        assert_eq!(kind_of(Some(Kind::Server), &[]).0, SpanKind::Server as i32);
        assert_eq!(
            kind_of(Some(Kind::Producer), &[]).0,
            SpanKind::Producer as i32
        );
        assert_eq!(
            kind_of(Some(Kind::Consumer), &[]).0,
            SpanKind::Consumer as i32
        );
        assert_eq!(kind_of(None, &[]).0, SpanKind::Unspecified as i32);
        assert_eq!(
            kind_of(None, &[("span.kind", "internal")]),
            (SpanKind::Internal as i32, String::new())
        );
        assert_eq!(
            kind_of(None, &[("span.kind", "client")]),
            (SpanKind::Unspecified as i32, String::new())
        );
        assert_eq!(
            kind_of(Some(Kind::Server), &[("span.kind", "internal")]),
            (SpanKind::Server as i32, "span.kind".into())
        );
    }

    #[test]
    fn maps_status_tags_and_the_error_tag() {
        let status_of = |tags: &[(&str, &str)]| {
            let otlp = only_span(&spans_to_otlp(vec![span(1, Some("svc"), tags)]));
            (otlp.status, keys(&otlp.attributes).join(","))
        };
        let status = |code: StatusCode, message: &str| {
            Some(Status {
                code: code as i32,
                message: message.into(),
            })
        };
        assert_eq!(status_of(&[]), (None, String::new()));
        assert_eq!(
            status_of(&[
                ("otel.status_code", "STATUS_CODE_ERROR"),
                ("otel.status_description", "boom")
            ]),
            (status(StatusCode::Error, "boom"), String::new())
        );
        assert_eq!(
            status_of(&[("otel.status_code", "Ok")]).0,
            status(StatusCode::Ok, "")
        );
        assert_eq!(
            status_of(&[("otel.status_code", "weird")]).0,
            status(StatusCode::Unset, "")
        );
        // A description without a code stays a plain attribute.
        assert_eq!(
            status_of(&[("otel.status_description", "d")]),
            (None, "otel.status_description".into())
        );
        assert_eq!(
            status_of(&[("error", "true")]),
            (status(StatusCode::Error, ""), String::new())
        );
        assert_eq!(
            status_of(&[("error", "timeout")]),
            (status(StatusCode::Error, ""), "error".into())
        );
        assert_eq!(
            status_of(&[("otel.status_code", "STATUS_CODE_OK"), ("error", "true")]).0,
            status(StatusCode::Error, "")
        );
    }

    #[test]
    fn maps_trace_state_and_parent() {
        let mut s = span(1, Some("svc"), &[("w3c.tracestate", "vendor=x")]);
        s.parent_id = Some([9; 8]);
        let otlp = only_span(&spans_to_otlp(vec![s.clone()]));
        assert_eq!(otlp.trace_state, "vendor=x");
        assert!(otlp.attributes.is_empty());
        assert_eq!(otlp.parent_span_id, vec![9; 8]);
        assert_eq!(otlp.trace_id, vec![0xaa; 16]);
        assert_eq!(otlp.span_id, vec![1; 8]);
        assert_eq!(
            (otlp.start_time_unix_nano, otlp.end_time_unix_nano),
            (START * 1000, START * 1000 + 250_000)
        );
        s.parent_id = Some(s.id);
        assert!(only_span(&spans_to_otlp(vec![s])).parent_span_id.is_empty());
    }

    #[test]
    fn keeps_other_tags_as_string_attributes() {
        let otlp = only_span(&spans_to_otlp(vec![span(
            1,
            Some("svc"),
            &[
                ("http.status_code", "200"),
                ("flag", "true"),
                ("ratio", "0.5"),
            ],
        )]));
        assert_eq!(
            keys(&otlp.attributes),
            ["flag", "http.status_code", "ratio"]
        );
        assert_eq!(
            value(&otlp.attributes, "http.status_code"),
            Some(Value::StringValue("200".into()))
        );
        assert_eq!(
            value(&otlp.attributes, "flag"),
            Some(Value::StringValue("true".into()))
        );
    }

    fn endpoints_span() -> Span {
        let mut s = span(1, Some("web"), &[("peer.service", "from-tag"), ("zz", "z")]);
        s.local_endpoint = Some(Endpoint {
            service_name: "web".into(),
            ipv4: Some("10.0.0.1".parse().unwrap()),
            ipv6: Some("::1".parse().unwrap()),
            port: 8080,
        });
        s.remote_endpoint = Some(Endpoint {
            service_name: "db".into(),
            ipv4: Some("10.0.0.2".parse().unwrap()),
            ipv6: None,
            port: 5432,
        });
        s
    }

    #[test]
    fn maps_endpoints_to_network_attributes() {
        let otlp = only_span(&spans_to_otlp(vec![endpoints_span()]));
        // Tags first, then the local endpoint, then the remote one; a tag of the
        // same name is replaced in place.
        assert_eq!(
            keys(&otlp.attributes),
            [
                "peer.service",
                "zz",
                "net.host.ip",
                "net.host.port",
                "net.peer.ip",
                "net.peer.port"
            ]
        );
        let s = |k: &str| string(&otlp.attributes, k);
        assert_eq!(s("peer.service").as_deref(), Some("db"));
        assert_eq!(
            s("net.host.ip").as_deref(),
            Some("::1"),
            "IPv6 overrides IPv4"
        );
        assert_eq!(s("net.peer.ip").as_deref(), Some("10.0.0.2"));
        assert_eq!(
            value(&otlp.attributes, "net.host.port"),
            Some(Value::IntValue(8080))
        );
        assert_eq!(
            value(&otlp.attributes, "net.peer.port"),
            Some(Value::IntValue(5432))
        );

        let v1 = ToOtlpOptions {
            network: NetworkConventions::V1,
        };
        let otlp = only_span(&spans_to_otlp_with(vec![endpoints_span()], v1));
        assert_eq!(
            keys(&otlp.attributes),
            [
                "peer.service",
                "zz",
                "network.local.address",
                "net.host.port",
                "service.peer.name",
                "network.peer.address",
                "net.peer.port"
            ]
        );
        assert_eq!(
            string(&otlp.attributes, "peer.service").as_deref(),
            Some("from-tag")
        );
        let both = ToOtlpOptions {
            network: NetworkConventions::Both,
        };
        let otlp = only_span(&spans_to_otlp_with(vec![endpoints_span()], both));
        for key in [
            "net.host.ip",
            "network.local.address",
            "peer.service",
            "service.peer.name",
        ] {
            assert!(value(&otlp.attributes, key).is_some(), "{key}");
        }
    }

    #[test]
    fn maps_annotations_to_events() {
        let mut s = span(1, Some("svc"), &[]);
        let annotation = |offset: u64, value: &str| Annotation {
            timestamp: START + offset,
            value: value.into(),
        };
        s.annotations = vec![
            annotation(1, "cache miss"),
            annotation(2, "a|b"),
            annotation(
                3,
                r#"retry|{"attempt":2,"ratio":0.5,"ok":true,"who":"x","nested":{}}|1"#,
            ),
            annotation(4, r#"odd|{not json}|1"#),
            annotation(5, r#"piped|{"a":"x|y"}|0"#),
        ];
        let otlp = only_span(&spans_to_otlp(vec![s]));
        let events: Vec<_> = otlp
            .events
            .iter()
            .map(|e| {
                (
                    e.time_unix_nano,
                    e.name.as_str(),
                    keys(&e.attributes),
                    e.dropped_attributes_count,
                )
            })
            .collect();
        let ns = |offset: u64| (START + offset) * 1000;
        assert_eq!(
            events,
            vec![
                (ns(1), "cache miss", vec![], 0),
                (ns(2), "a", vec![], 0),
                (ns(3), "retry", vec!["attempt", "ok", "ratio", "who"], 1),
                (ns(4), "odd|{not json}|1", vec![], 0),
                (ns(5), "piped", vec!["a"], 0),
            ]
        );
        let retry = &otlp.events[2].attributes;
        assert_eq!(value(retry, "attempt"), Some(Value::IntValue(2)));
        assert_eq!(value(retry, "ratio"), Some(Value::DoubleValue(0.5)));
        assert_eq!(value(retry, "ok"), Some(Value::BoolValue(true)));
        assert_eq!(
            string(&otlp.events[4].attributes, "a").as_deref(),
            Some("x|y")
        );
    }

    #[test]
    fn maps_link_tags_to_links() {
        let link0 = format!("{}|{}|k=v|{{\"n\":1}}|3", "01".repeat(16), "02".repeat(8));
        let otlp = only_span(&spans_to_otlp(vec![span(
            1,
            Some("svc"),
            &[
                ("otlp.link.0", &link0),
                ("otlp.link.1", "too|few"),
                ("otlp.link.2", "zz|zz|x|{}|0"),
                ("otlp.link.4", &link0),
            ],
        )]));
        assert_eq!(otlp.links.len(), 1);
        let link = &otlp.links[0];
        assert_eq!(link.trace_id, vec![1; 16]);
        assert_eq!(link.span_id, vec![2; 8]);
        assert_eq!(link.trace_state, "k=v");
        assert_eq!(value(&link.attributes, "n"), Some(Value::IntValue(1)));
        assert_eq!(link.dropped_attributes_count, 3);
        // Links stop at the first missing index; later ones stay as attributes.
        assert_eq!(keys(&otlp.attributes), ["otlp.link.4"]);
    }

    #[test]
    fn refuses_zero_ids_and_unusable_times_by_reason() {
        let mut zero_trace = span(1, Some("a"), &[]);
        zero_trace.trace_id = [0; 16];
        let mut zero_span = span(0, Some("a"), &[]);
        zero_span.trace_id = [0xbb; 16];
        let mut no_time = span(2, Some("b"), &[]);
        no_time.timestamp = None;
        let mut too_late = span(3, Some("b"), &[]);
        too_late.timestamp = Some(u64::MAX / 10);
        let mut long = span(4, Some("b"), &[]);
        long.duration = Some(u64::MAX);
        let mut bad_event = span(5, Some("b"), &[]);
        bad_event.annotations = vec![Annotation {
            timestamp: u64::MAX,
            value: "x".into(),
        }];
        let kept = span(6, Some("c"), &[]);
        let translated = spans_to_otlp(vec![
            zero_trace, zero_span, no_time, too_late, long, bad_event, kept,
        ]);
        assert_eq!(translated.spans, 1);
        assert_eq!(
            translated.refused.by_reason().collect::<Vec<_>>(),
            vec![
                ("zero_trace_id", 1),
                ("zero_span_id", 1),
                ("invalid_timestamp", 4)
            ]
        );
        assert_eq!(
            translated.refused.first(),
            Some("span 0 (trace 00000000000000000000000000000000): zero trace ID")
        );
        // Services whose spans were all refused leave no empty resource behind.
        assert_eq!(
            service_names(&translated.request.resource_spans),
            vec![Some("c".into())]
        );

        let mut only = span(1, Some("b"), &[]);
        only.timestamp = None;
        let translated = spans_to_otlp(vec![only]);
        assert!(translated.request.resource_spans.is_empty());
        assert_eq!(
            translated.refused.first(),
            Some(format!("span 0 (trace {}): no start timestamp", "aa".repeat(16)).as_str())
        );
    }

    /// A Zipkin shared RPC span: the client and server report the same span ID.
    fn shared_rpc() -> Vec<Span> {
        let mut client = span(7, Some("frontend"), &[("http.path", "/api")]);
        client.kind = Some(Kind::Client);
        client.parent_id = Some([3; 8]);
        client.remote_endpoint = Some(endpoint("backend"));
        client.annotations = vec![Annotation {
            timestamp: START + 10,
            value: "ws".into(),
        }];
        let mut server = span(7, Some("backend"), &[("http.path", "/api")]);
        server.kind = Some(Kind::Server);
        server.parent_id = Some([3; 8]);
        server.shared = true;
        server.timestamp = Some(START + 20);
        server.duration = Some(100);
        vec![client, server]
    }

    #[test]
    fn keeps_both_sides_of_a_shared_span() {
        let translated = spans_to_otlp(shared_rpc());
        assert_eq!(translated.spans, 2);
        let rs = &translated.request.resource_spans;
        assert_eq!(
            service_names(rs),
            vec![Some("backend".into()), Some("frontend".into())]
        );
        let server = &rs[0].scope_spans[0].spans[0];
        let client = &rs[1].scope_spans[0].spans[0];
        assert_eq!(server.span_id, client.span_id);
        assert_eq!(server.kind, SpanKind::Server as i32);
        assert_eq!(client.kind, SpanKind::Client as i32);
        assert_eq!(server.parent_span_id, vec![3; 8]);
    }

    fn jaeger_docs(request: &crate::translate::Translated) -> Vec<(String, jaeger::Span)> {
        let mut writer = SpanDocWriter::new();
        let mut docs = Vec::new();
        let stats = writer.write_request(&request.request, |doc| {
            let parsed: jaeger::Span = serde_json::from_slice(doc.json).unwrap();
            docs.push((
                crate::jaeger::doc_id::doc_id_text(doc.doc_id).to_owned(),
                parsed,
            ));
        });
        assert_eq!(stats.spans as u64, request.spans);
        docs
    }

    #[test]
    fn writes_jaeger_documents_from_zipkin_v2_json() {
        let body = crate::zipkin::to_v2_json(&shared_rpc());
        let translated = spans_to_otlp(parse_v2_json(&body).unwrap());
        let docs = jaeger_docs(&translated);
        assert_eq!(docs.len(), 2);
        assert_ne!(
            docs[0].0, docs[1].0,
            "shared spans get distinct document ids"
        );
        let by_service: BTreeMap<_, _> = docs
            .iter()
            .map(|(_, d)| (d.process.service_name.as_str(), d))
            .collect();
        let client = by_service["frontend"];
        let server = by_service["backend"];
        for doc in [client, server] {
            assert_eq!(doc.operation_name, "op-7");
            assert_eq!(doc.span_id, "0707070707070707");
            assert_eq!(doc.parent_span_id(), Some("0303030303030303"));
            assert_eq!(doc.references[0].ref_type, jaeger::RefType::ChildOf);
            assert_eq!(
                doc.tag_value("http.path").map(|t| t.value.as_str()),
                Some("/api")
            );
        }
        assert_eq!(
            client.tag_value("span.kind").map(|t| t.value.as_str()),
            Some("client")
        );
        assert_eq!(
            server.tag_value("span.kind").map(|t| t.value.as_str()),
            Some("server")
        );
        assert_eq!(
            client.tag_value("peer.service").map(|t| t.value.as_str()),
            Some("backend")
        );
        assert_eq!(client.start_time, START);
        assert_eq!(client.duration, 250);
        assert_eq!(server.start_time, START + 20);
        assert_eq!(client.logs.len(), 1);
        assert_eq!(client.logs[0].timestamp, START + 10);
        assert_eq!(
            client.logs[0].fields,
            vec![jaeger::KeyValue::string("event", "ws")]
        );
    }

    #[test]
    fn writes_jaeger_documents_from_zipkin_v1_json() {
        let body = br#"[{
        "traceId": "0000000000000001", "id": "0000000000000002", "parentId": "0000000000000003",
        "name": "get", "timestamp": 1700000000000000, "duration": 5,
        "annotations": [
            {"timestamp": 1700000000000000, "value": "sr", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.1", "port": 80}},
            {"timestamp": 1700000000000002, "value": "checked"},
            {"timestamp": 1700000000000005, "value": "ss", "endpoint": {"serviceName": "api"}}
        ],
        "binaryAnnotations": [{"key": "error", "value": "oops"}, {"key": "http.url", "value": "/x"}]
    }]"#;
        let translated = v1_spans_to_otlp(parse_v1_json(body).unwrap());
        let docs = jaeger_docs(&translated);
        let doc = &docs[0].1;
        assert_eq!(doc.process.service_name, "api");
        let process_tags: Vec<_> = doc
            .process
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(process_tags, [("ipv4", "10.0.0.1"), ("port", "80")]);
        assert_eq!(doc.parent_span_id(), Some("0000000000000003"));
        assert_eq!(
            doc.tag_value("span.kind").map(|t| t.value.as_str()),
            Some("server")
        );
        assert_eq!(
            doc.tag_value("error").map(|t| t.value.as_str()),
            Some("true")
        );
        assert_eq!(
            doc.tag_value("http.url").map(|t| t.value.as_str()),
            Some("/x")
        );
        assert_eq!(
            doc.logs[0].fields,
            vec![jaeger::KeyValue::string("event", "checked")]
        );
    }
}
