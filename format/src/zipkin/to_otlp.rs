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
use crate::translate::{check_ids, micros_to_nanos, Refusal, Refusals, Translated};
use crate::otlp::attributes::{kv_bool, kv_double, kv_int, kv_str, upsert};
use crate::otlp::semconv::{LIBRARY_NAME, LIBRARY_VERSION, NO_SERVICE_NAME, SERVICE_NAME};

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
#[path = "to_otlp_tests.rs"]
mod tests;
