//! Jaeger's legacy span models (Thrift from the agent UDP ports and
//! `POST /api/traces`, protobuf from gRPC `PostSpans`) translated to OTLP,
//! as the OpenTelemetry Collector's Jaeger receiver does it.
//!
//! The rules are those of opentelemetry-collector-contrib
//! `pkg/translator/jaeger` (`jaegerthrift_to_traces.go`,
//! `jaegerproto_to_traces.go`), read in two versions: the v0.9x-era sources
//! (semconv v1.9.0, importing `jaegertracing/jaeger/model`: what Jaeger 1.53
//! builds with) and main as of v0.157. Where main added to a rule it is
//! followed here and marked "newer" below:
//!
//! - **IDs**: trace ID = high then low 64 bits, big-endian; span ID
//!   big-endian. The parent is Thrift's `parentSpanId` when non-zero,
//!   otherwise (and always for protobuf) the first CHILD_OF reference in the
//!   same trace, else the first FOLLOWS_FROM one (the Thrift fallback is in
//!   main; the v0.9x Thrift file was not available to check). Every
//!   other reference becomes a link carrying `opentracing.ref_type` =
//!   `child_of` / `follows_from`; CHILD_OF references to the parent's span ID
//!   are left out.
//! - **Flags** (newer, contrib PR #49568): Jaeger's sampled flag (1) sets
//!   bit 0 of OTLP's `flags`, the W3C sampled flag, and nothing else is
//!   carried: Jaeger's debug (2) and firehose (8) bits have no place among
//!   W3C trace flags (bit 1 there is Trace Context Level 2's random flag).
//! - **Times**: µs (Thrift) or Timestamp/Duration (protobuf, ns kept) to ns.
//! - **Tags** become attributes by type (string, bool, int64, float64;
//!   binary as bytes, newer: v0.9x wrote base64 strings). An unknown type
//!   becomes the string `<Unknown Jaeger TagType "…">`. Attributes behave
//!   like pdata's map: a repeated key keeps its first position and takes the
//!   last value, and a removed key's place is taken by the last attribute.
//! - **Kind** from the `span.kind` tag (client, server, producer, consumer,
//!   internal; anything else unspecified), tag removed.
//! - **Status**: `error` = bool true gives ERROR (a string "true" does not
//!   count) with `otel.status_description`, else `http.status_message`, as
//!   message; otherwise `otel.status_code` OK/ERROR (any case) with
//!   `otel.status_description`; otherwise `http.status_code` (int or decimal
//!   string): 4xx is ERROR for client spans and unset for server spans,
//!   anything outside 100..399 is ERROR, and `http.status_message` is the
//!   message. `error` (when true), `otel.status_code` and a consumed
//!   `otel.status_description` are removed.
//! - **Logs** become events; an `event` field becomes the event name.
//!   Where we differ: only a non-empty string `event` does; any other
//!   `event` stays an attribute of its type (the Collector reads it as a
//!   string and drops it, so an int64 `event` would be lost).
//! - **Process** becomes the resource: `service.name` (when non-empty) then
//!   the tags; `hostname` is renamed `host.name` and `jaeger.version` becomes
//!   `opencensus.exporterversion` = `Jaeger-<version>`, each unless the
//!   target key is already there.
//! - **Protobuf only**: `w3c.tracestate` becomes the trace state;
//!   `otel.scope.name`/`otel.scope.version` (or, as in v0.9x,
//!   `otel.library.name`/`otel.library.version`) become the instrumentation
//!   scope and spans are grouped by it; spans carrying their own process are
//!   grouped under that process's resource (identical processes share one);
//!   the process `OTLPResourceNoServiceName` gives an empty resource. The
//!   Thrift translator does none of this: those tags stay attributes and all
//!   spans share one resource and one empty scope.
//!
//! Where we differ, on purpose: spans with a zero or malformed ID, or a
//! start time, duration or log timestamp that cannot be expressed in
//! nanoseconds, are refused and counted (see [`crate::translate`]) instead of
//! dropped silently (all-zero "blank" spans), failing the whole request
//! (protobuf IDs of the wrong length) or stored with a wrapped timestamp.
//! Resources are emitted in input order (the Collector's order depends on a
//! Go map), and no empty resource or scope is emitted.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use super::{proto, thrift};
use crate::hex;
use crate::otlp::attributes::{
    find, get_str, into_string, kv, kv_str, remove, str_value, take, value,
};
use crate::otlp::semconv::{
    ERROR, EVENT, LIBRARY_NAME, LIBRARY_VERSION, NO_SERVICE_NAME, REF_TYPE, SCOPE_NAME,
    SCOPE_VERSION, SERVICE_NAME, SPAN_KIND, STATUS_CODE, STATUS_DESCRIPTION, TRACE_STATE,
};
use crate::translate::{check_ids, micros_to_nanos, Refusal, Refusals, Translated};

const HOSTNAME: &str = "hostname";
const HOST_NAME: &str = "host.name";
const JAEGER_VERSION: &str = "jaeger.version";
const EXPORTER_VERSION: &str = "opencensus.exporterversion";
const HTTP_STATUS_CODE: &str = "http.status_code";
const HTTP_STATUS_MESSAGE: &str = "http.status_message";
/// (name, version) tag pairs naming the scope, the current convention first.
const SCOPE_TAGS: [(&str, &str); 2] =
    [(SCOPE_NAME, SCOPE_VERSION), (LIBRARY_NAME, LIBRARY_VERSION)];

/// `SpanRefType` values, the same in both models.
const CHILD_OF: i32 = 0;
const FOLLOWS_FROM: i32 = 1;
/// Jaeger's sampled flag, and OTLP's (the W3C trace-flags bit).
const JAEGER_SAMPLED: u32 = 1;
const OTLP_SAMPLED: u32 = 1;

/// Below this many attributes, looking for repeated keys by scanning is
/// cheaper than hashing.
const LINEAR_SCAN_LIMIT: usize = 16;

/// Translates one Thrift batch (agent `emitBatch` or `POST /api/traces`).
pub fn thrift_batch_to_otlp(batch: thrift::Batch) -> Translated {
    let mut translated = Translated::default();
    let mut spans = Vec::with_capacity(batch.spans.len());
    for (index, span) in batch.spans.into_iter().enumerate() {
        if let Some(span) = thrift_span(span, index, &mut translated.refused) {
            spans.push(span);
        }
    }
    if spans.is_empty() {
        return translated;
    }
    translated.spans = spans.len() as u64;
    let process = batch.process;
    let tags = process.tags.into_iter().map(thrift_attribute);
    translated.request.resource_spans = vec![ResourceSpans {
        resource: Some(resource(process.service_name, tags)),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope::default()),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }];
    translated
}

/// Translates the batches of protobuf requests (one per `PostSpans` call).
pub fn proto_batches_to_otlp(batches: Vec<proto::Batch>) -> Translated {
    let mut translated = Translated::default();
    let mut resources = Resources::default();
    let mut index = 0;
    for batch in batches {
        let batch_resource = resources.index_of(batch.process);
        for mut span in batch.spans {
            let resource = match span.process.take() {
                Some(own) => resources.index_of(Some(own)),
                None => batch_resource,
            };
            if let Some((scope, span)) = proto_span(span, index, &mut translated.refused) {
                resources.groups[resource].push(scope, span);
                translated.spans += 1;
            }
            index += 1;
        }
    }
    translated.request = ExportTraceServiceRequest {
        resource_spans: resources
            .groups
            .into_iter()
            .filter(|group| !group.scopes.is_empty())
            .map(|group| ResourceSpans {
                resource: Some(group.resource),
                scope_spans: group.scopes,
                ..Default::default()
            })
            .collect(),
    };
    translated
}

/// Protobuf spans grouped by process, then by scope, in order of appearance.
#[derive(Default)]
struct Resources {
    groups: Vec<ResourceGroup>,
    /// Encoded process (None for a batch without one) → index in `groups`.
    by_process: HashMap<Option<Vec<u8>>, usize>,
}

struct ResourceGroup {
    resource: Resource,
    scopes: Vec<ScopeSpans>,
    by_scope: HashMap<(String, String), usize>,
}

impl Resources {
    /// The group of `process`: equal processes (field for field, as the
    /// Collector compares their hashes) share one.
    fn index_of(&mut self, process: Option<proto::Process>) -> usize {
        let key = process.as_ref().map(|p| p.encode_to_vec());
        if let Some(&index) = self.by_process.get(&key) {
            return index;
        }
        self.by_process.insert(key, self.groups.len());
        self.groups.push(ResourceGroup {
            resource: proto_resource(process),
            scopes: Vec::new(),
            by_scope: HashMap::new(),
        });
        self.groups.len() - 1
    }
}

impl ResourceGroup {
    fn push(&mut self, scope: (String, String), span: Span) {
        let index = match self.by_scope.get(&scope) {
            Some(&index) => index,
            None => {
                self.scopes.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.0.clone(),
                        version: scope.1.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                self.by_scope.insert(scope, self.scopes.len() - 1);
                self.scopes.len() - 1
            }
        };
        self.scopes[index].spans.push(span);
    }
}

// ---------------------------------------------------------------------------
// Per span

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TraceId {
    high: u64,
    low: u64,
}

impl TraceId {
    fn bytes(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.high.to_be_bytes());
        bytes[8..].copy_from_slice(&self.low.to_be_bytes());
        bytes
    }
}

/// A reference with its IDs as numbers, as both models compare them.
#[derive(Debug, Clone, Copy)]
struct Ref {
    trace: TraceId,
    span: u64,
    ref_type: i32,
}

/// What both models reduce a span to, IDs and times already checked.
struct Parts {
    trace: TraceId,
    span_id: u64,
    parent: u64,
    name: String,
    start: u64,
    end: u64,
    sampled: bool,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    refs: Vec<Ref>,
}

fn thrift_span(span: thrift::Span, index: usize, refused: &mut Refusals) -> Option<Span> {
    let trace = TraceId {
        high: span.trace_id_high as u64,
        low: span.trace_id_low as u64,
    };
    let span_id = span.span_id as u64;
    let refuse_span = |refused: &mut Refusals, refusal, detail| {
        refuse(refused, refusal, index, &trace.bytes(), detail)
    };
    if let Err(refusal) = check_ids(&trace.bytes(), &span_id.to_be_bytes()) {
        refuse_span(refused, refusal, "");
        return None;
    }
    let Ok((start, end)) = micros_to_nanos(span.start_time, span.duration) else {
        refuse_span(refused, Refusal::InvalidTimestamp, "start time or duration");
        return None;
    };
    if span
        .logs
        .iter()
        .any(|log| log_nanos(log.timestamp).is_none())
    {
        refuse_span(refused, Refusal::InvalidTimestamp, "log timestamp");
        return None;
    }

    let refs: Vec<Ref> = span
        .references
        .iter()
        .map(|r| Ref {
            trace: TraceId {
                high: r.trace_id_high as u64,
                low: r.trace_id_low as u64,
            },
            span: r.span_id as u64,
            ref_type: r.ref_type.0,
        })
        .collect();
    let parent = match span.parent_span_id {
        0 => parent_from_refs(trace, &refs),
        id => id as u64,
    };
    let events = span
        .logs
        .into_iter()
        .map(|log| {
            let fields = log.fields.into_iter().map(thrift_attribute).collect();
            event(log_nanos(log.timestamp).unwrap_or_default(), fields)
        })
        .collect();
    Some(build_span(
        Parts {
            trace,
            span_id,
            parent,
            name: span.operation_name,
            start,
            end,
            sampled: span.flags as u32 & JAEGER_SAMPLED != 0,
            attributes: span.tags.into_iter().map(thrift_attribute).collect(),
            events,
            refs,
        },
        false,
    ))
}

/// Returns the span and its scope (name, version).
fn proto_span(
    mut span: proto::Span,
    index: usize,
    refused: &mut Refusals,
) -> Option<((String, String), Span)> {
    let refuse_span = |refused: &mut Refusals, refusal, detail| {
        refuse(refused, refusal, index, &span.trace_id, detail)
    };
    let Some(trace) = proto_trace_id(&span.trace_id) else {
        refuse_span(refused, Refusal::InvalidId, "trace ID is not 8 or 16 bytes");
        return None;
    };
    let Some(span_id) = proto_span_id(&span.span_id) else {
        refuse_span(refused, Refusal::InvalidId, "span ID is not 8 bytes");
        return None;
    };
    let refs: Option<Vec<Ref>> = span
        .references
        .iter()
        .map(|r| {
            Some(Ref {
                trace: proto_trace_id(&r.trace_id)?,
                span: proto_span_id(&r.span_id)?,
                ref_type: r.ref_type,
            })
        })
        .collect();
    let Some(refs) = refs else {
        refuse_span(
            refused,
            Refusal::InvalidId,
            "reference ID of the wrong length",
        );
        return None;
    };
    if let Err(refusal) = check_ids(&trace.bytes(), &span_id.to_be_bytes()) {
        refuse_span(refused, refusal, "");
        return None;
    }
    let start = timestamp_nanos(span.start_time.unwrap_or_default()).filter(|&ns| ns > 0);
    let duration = duration_nanos(span.duration.unwrap_or_default());
    let Some((start, end)) = start
        .zip(duration)
        .and_then(|(s, d)| Some((s, s.checked_add(d)?)))
    else {
        refuse_span(refused, Refusal::InvalidTimestamp, "start time or duration");
        return None;
    };
    if span
        .logs
        .iter()
        .any(|log| timestamp_nanos(log.timestamp.unwrap_or_default()).is_none())
    {
        refuse_span(refused, Refusal::InvalidTimestamp, "log timestamp");
        return None;
    }

    let scope = take_scope(&mut span.tags);
    let events = span
        .logs
        .into_iter()
        .map(|log| {
            let time = timestamp_nanos(log.timestamp.unwrap_or_default()).unwrap_or_default();
            event(time, log.fields.into_iter().map(proto_attribute).collect())
        })
        .collect();
    let parent = parent_from_refs(trace, &refs);
    let span = build_span(
        Parts {
            trace,
            span_id,
            parent,
            name: span.operation_name,
            start,
            end,
            sampled: span.flags & JAEGER_SAMPLED != 0,
            attributes: span.tags.into_iter().map(proto_attribute).collect(),
            events,
            refs,
        },
        true,
    );
    Some((scope, span))
}

fn refuse(refused: &mut Refusals, refusal: Refusal, index: usize, trace_id: &[u8], detail: &str) {
    refused.add(refusal, || {
        let mut hex = Vec::with_capacity(trace_id.len() * 2);
        hex::push_hex(&mut hex, trace_id);
        let reason = match refusal {
            Refusal::ZeroTraceId => "zero trace ID",
            Refusal::ZeroSpanId => "zero span ID",
            Refusal::InvalidId => "invalid ID",
            Refusal::InvalidTimestamp => "invalid timestamp",
            // The split's reasons, never the translation's.
            Refusal::TimestampOutOfWindow => "timestamp out of window",
            Refusal::TooLarge => "too large",
        };
        let separator = if detail.is_empty() { "" } else { ": " };
        format!(
            "span {index} (trace {}): {reason}{separator}{detail}",
            String::from_utf8_lossy(&hex)
        )
    });
}

/// Jaeger reads 16 bytes as high + low and 8 as low; absent is zero.
fn proto_trace_id(bytes: &[u8]) -> Option<TraceId> {
    match bytes.len() {
        0 => Some(TraceId { high: 0, low: 0 }),
        8 => Some(TraceId {
            high: 0,
            low: u64::from_be_bytes(bytes.try_into().ok()?),
        }),
        16 => Some(TraceId {
            high: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            low: u64::from_be_bytes(bytes[8..].try_into().ok()?),
        }),
        _ => None,
    }
}

fn proto_span_id(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        0 => Some(0),
        _ => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
    }
}

/// Nanoseconds since the epoch, for a valid timestamp not before 1970.
fn timestamp_nanos(t: prost_types::Timestamp) -> Option<u64> {
    let nanos = u64::try_from(t.nanos).ok().filter(|&n| n < 1_000_000_000)?;
    u64::try_from(t.seconds)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Nanoseconds of a valid, non-negative duration.
fn duration_nanos(d: prost_types::Duration) -> Option<u64> {
    timestamp_nanos(prost_types::Timestamp {
        seconds: d.seconds,
        nanos: d.nanos,
    })
}

fn log_nanos(micros: i64) -> Option<u64> {
    u64::try_from(micros).ok()?.checked_mul(1_000)
}

/// Jaeger's `ParentSpanID`: the first CHILD_OF reference in the same trace,
/// else the first FOLLOWS_FROM one, else none (0).
fn parent_from_refs(trace: TraceId, refs: &[Ref]) -> u64 {
    let mut follows_from = None;
    for r in refs.iter().filter(|r| r.trace == trace) {
        match r.ref_type {
            CHILD_OF => return r.span,
            FOLLOWS_FROM => {
                follows_from.get_or_insert(r.span);
            }
            _ => {}
        }
    }
    follows_from.unwrap_or(0)
}

/// Removes the first scope name tag (and its version tag) and returns their
/// string fields, as the Collector reads them whatever the tag's type.
fn take_scope(tags: &mut Vec<proto::KeyValue>) -> (String, String) {
    for (name_key, version_key) in SCOPE_TAGS {
        if let Some(name) = take_tag(tags, name_key) {
            return (name, take_tag(tags, version_key).unwrap_or_default());
        }
    }
    Default::default()
}

fn take_tag(tags: &mut Vec<proto::KeyValue>, key: &str) -> Option<String> {
    let index = tags.iter().position(|kv| kv.key == key)?;
    Some(tags.remove(index).v_str)
}

fn build_span(parts: Parts, trace_state_from_tag: bool) -> Span {
    let mut attributes = dedupe(parts.attributes);
    let kind = match take(&mut attributes, SPAN_KIND) {
        Some(kv) => span_kind(str_value(&kv)),
        None => SpanKind::Unspecified,
    };
    let status = status(&mut attributes, kind);
    let trace_state = trace_state_from_tag
        .then(|| take(&mut attributes, TRACE_STATE).map(into_string))
        .flatten();
    Span {
        trace_id: parts.trace.bytes().to_vec(),
        span_id: parts.span_id.to_be_bytes().to_vec(),
        trace_state: trace_state.unwrap_or_default(),
        parent_span_id: id_bytes(&parts.parent.to_be_bytes()),
        flags: if parts.sampled { OTLP_SAMPLED } else { 0 },
        name: parts.name,
        kind: kind as i32,
        start_time_unix_nano: parts.start,
        end_time_unix_nano: parts.end,
        attributes,
        events: parts.events,
        links: links(&parts.refs, parts.parent),
        status,
        ..Default::default()
    }
}

fn span_kind(text: &str) -> SpanKind {
    match text {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

/// The Collector's `setInternalSpanStatus`; `None` when no rule applies.
fn status(attributes: &mut Vec<KeyValue>, kind: SpanKind) -> Option<Status> {
    let mut code = StatusCode::Unset;
    let mut message = String::new();
    let mut found = false;

    let error_is_true = find(attributes, ERROR)
        .is_some_and(|i| matches!(value(&attributes[i]), Some(Value::BoolValue(true))));
    if error_is_true {
        remove(attributes, ERROR);
        code = StatusCode::Error;
        found = true;
        message = match take(attributes, STATUS_DESCRIPTION) {
            Some(kv) => into_string(kv),
            None => get_str(attributes, HTTP_STATUS_MESSAGE),
        };
    }

    if let Some(i) = find(attributes, STATUS_CODE) {
        if !found {
            found = true;
            let text = str_value(&attributes[i]);
            if text.eq_ignore_ascii_case("OK") {
                code = StatusCode::Ok;
            } else if text.eq_ignore_ascii_case("ERROR") {
                code = StatusCode::Error;
            }
            if let Some(kv) = take(attributes, STATUS_DESCRIPTION) {
                message = into_string(kv);
            }
        }
        remove(attributes, STATUS_CODE);
    } else if !found {
        let http_code =
            find(attributes, HTTP_STATUS_CODE).and_then(|i| match value(&attributes[i]) {
                Some(Value::IntValue(n)) => Some(*n),
                Some(Value::StringValue(s)) => s.parse::<i64>().ok(),
                _ => None,
            });
        if let Some(http_code) = http_code {
            let from_http = status_from_http(http_code, kind);
            if from_http != StatusCode::Unset {
                found = true;
                code = from_http;
            }
            message = get_str(attributes, HTTP_STATUS_MESSAGE);
        }
    }

    found.then_some(Status {
        message,
        code: code as i32,
    })
}

fn status_from_http(code: i64, kind: SpanKind) -> StatusCode {
    if (400..500).contains(&code) {
        match kind {
            SpanKind::Client => return StatusCode::Error,
            SpanKind::Server => return StatusCode::Unset,
            _ => {}
        }
    }
    // The Collector's bound: 399 itself counts as an error.
    if (100..399).contains(&code) {
        StatusCode::Unset
    } else {
        StatusCode::Error
    }
}

/// A log as an event. Only a non-empty string `event` field becomes the
/// event name: the Collector reads any `event` field as a string and drops
/// it, losing e.g. an int64 `event` (Jaeger's own fixture has one), while
/// kept as an attribute it comes back as the same field in the document.
fn event(time_unix_nano: u64, fields: Vec<KeyValue>) -> Event {
    let mut attributes = dedupe(fields);
    let is_name = find(&attributes, EVENT).is_some_and(
        |i| matches!(value(&attributes[i]), Some(Value::StringValue(s)) if !s.is_empty()),
    );
    let name = if is_name {
        take(&mut attributes, EVENT).map(into_string)
    } else {
        None
    };
    Event {
        time_unix_nano,
        name: name.unwrap_or_default(),
        attributes,
        ..Default::default()
    }
}

fn links(refs: &[Ref], parent: u64) -> Vec<Link> {
    refs.iter()
        .filter(|r| !(r.span == parent && r.ref_type == CHILD_OF))
        .map(|r| Link {
            trace_id: id_bytes(&r.trace.bytes()),
            span_id: id_bytes(&r.span.to_be_bytes()),
            attributes: vec![kv_str(
                REF_TYPE,
                if r.ref_type == CHILD_OF {
                    "child_of"
                } else {
                    "follows_from"
                },
            )],
            ..Default::default()
        })
        .collect()
}

/// pdata writes an all-zero ID as no bytes at all.
fn id_bytes(id: &[u8]) -> Vec<u8> {
    if id.iter().all(|&b| b == 0) {
        Vec::new()
    } else {
        id.to_vec()
    }
}

fn proto_resource(process: Option<proto::Process>) -> Resource {
    match process {
        Some(p) if p.service_name != NO_SERVICE_NAME => {
            resource(p.service_name, p.tags.into_iter().map(proto_attribute))
        }
        _ => Resource::default(),
    }
}

fn resource(service_name: String, tags: impl ExactSizeIterator<Item = KeyValue>) -> Resource {
    if service_name.is_empty() && tags.len() == 0 {
        return Resource::default();
    }
    let mut attributes = Vec::with_capacity(tags.len() + 1);
    if !service_name.is_empty() {
        attributes.push(kv_str(SERVICE_NAME, service_name));
    }
    attributes.extend(tags);
    let mut attributes = dedupe(attributes);
    // The Collector appends the new key and removes the old one, which moves
    // the new key into the old one's place: a rename in place.
    if let Some(i) = find(&attributes, HOSTNAME) {
        if find(&attributes, HOST_NAME).is_none() {
            attributes[i].key = HOST_NAME.to_owned();
        }
    }
    if let Some(i) = find(&attributes, JAEGER_VERSION) {
        if find(&attributes, EXPORTER_VERSION).is_none() {
            let version = format!("Jaeger-{}", str_value(&attributes[i]));
            attributes[i] = kv_str(EXPORTER_VERSION, version);
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

fn thrift_attribute(tag: thrift::Tag) -> KeyValue {
    let value = match tag.v_type {
        thrift::TagType::STRING => Value::StringValue(tag.v_str.unwrap_or_default()),
        thrift::TagType::DOUBLE => Value::DoubleValue(tag.v_double.unwrap_or_default()),
        thrift::TagType::BOOL => Value::BoolValue(tag.v_bool.unwrap_or_default()),
        thrift::TagType::LONG => Value::IntValue(tag.v_long.unwrap_or_default()),
        thrift::TagType::BINARY => Value::BytesValue(tag.v_binary.unwrap_or_default()),
        // Go's generated String() for an unnamed TagType.
        _ => Value::StringValue(r#"<Unknown Jaeger TagType "<UNSET>">"#.to_owned()),
    };
    kv(tag.key, value)
}

fn proto_attribute(tag: proto::KeyValue) -> KeyValue {
    let value = match proto::ValueType::try_from(tag.v_type) {
        Ok(proto::ValueType::String) => Value::StringValue(tag.v_str),
        Ok(proto::ValueType::Bool) => Value::BoolValue(tag.v_bool),
        Ok(proto::ValueType::Int64) => Value::IntValue(tag.v_int64),
        Ok(proto::ValueType::Float64) => Value::DoubleValue(tag.v_float64),
        Ok(proto::ValueType::Binary) => Value::BytesValue(tag.v_binary),
        // gogo's String() for an unnamed enum value is its number.
        Err(_) => Value::StringValue(format!("<Unknown Jaeger TagType \"{}\">", tag.v_type)),
    };
    kv(tag.key, value)
}

// ---------------------------------------------------------------------------
// Attributes with pdata `Map` semantics

/// Applies `Map.Put*` to the attributes in order: a repeated key keeps its
/// first position and takes the last value (and type).
fn dedupe(attributes: Vec<KeyValue>) -> Vec<KeyValue> {
    let repeats = if attributes.len() <= LINEAR_SCAN_LIMIT {
        (1..attributes.len()).any(|i| attributes[..i].iter().any(|kv| kv.key == attributes[i].key))
    } else {
        let mut seen = HashSet::with_capacity(attributes.len());
        attributes.iter().any(|kv| !seen.insert(kv.key.as_str()))
    };
    if !repeats {
        return attributes;
    }
    let mut unique: Vec<KeyValue> = Vec::with_capacity(attributes.len());
    let mut positions: HashMap<String, usize> = HashMap::new();
    for attribute in attributes {
        match positions.get(&attribute.key) {
            Some(&i) => unique[i].value = attribute.value,
            None => {
                positions.insert(attribute.key.clone(), unique.len());
                unique.push(attribute);
            }
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::thrift::{Tag, TagType};
    use super::*;
    use crate::jaeger::model::{self, RefType, ValueType};
    use crate::jaeger::SpanDocWriter;
    use proto::{KeyValue as PKv, SpanRefType};

    const HIGH: u64 = 0x5b8e_fff7_9803_8103;
    const LOW: u64 = 0xd269_b633_813f_c60c;
    const SPAN: u64 = 0xeee1_9b7e_c3c1_b174;
    const PARENT: u64 = 0xeee1_9b7e_c3c1_b173;
    const START_MICROS: i64 = 1_485_467_191_639_875;
    const START_NANOS: u64 = 1_485_467_191_639_875_000;

    fn trace_bytes() -> Vec<u8> {
        proto::trace_id_bytes(HIGH, LOW)
    }

    fn thrift_span() -> thrift::Span {
        thrift::Span {
            trace_id_low: LOW as i64,
            trace_id_high: HIGH as i64,
            span_id: SPAN as i64,
            operation_name: "GET /dispatch".into(),
            start_time: START_MICROS,
            duration: 5_432,
            ..Default::default()
        }
    }

    fn thrift_batch(spans: Vec<thrift::Span>) -> thrift::Batch {
        thrift::Batch {
            process: thrift::Process {
                service_name: "frontend".into(),
                tags: vec![],
            },
            spans,
            ..Default::default()
        }
    }

    fn timestamp(micros: i64) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: micros / 1_000_000,
            nanos: (micros % 1_000_000) as i32 * 1_000,
        }
    }

    fn proto_span() -> proto::Span {
        proto::Span {
            trace_id: trace_bytes(),
            span_id: proto::span_id_bytes(SPAN),
            operation_name: "GET /dispatch".into(),
            start_time: Some(timestamp(START_MICROS)),
            duration: Some(prost_types::Duration {
                seconds: 0,
                nanos: 5_432_000,
            }),
            ..Default::default()
        }
    }

    fn proto_batch(spans: Vec<proto::Span>) -> proto::Batch {
        proto::Batch {
            spans,
            process: Some(proto::Process {
                service_name: "frontend".into(),
                tags: vec![],
            }),
        }
    }

    fn only_span(translated: &Translated) -> &Span {
        let spans: Vec<&Span> = all_spans(translated);
        assert_eq!(spans.len(), 1, "{translated:#?}");
        spans[0]
    }

    fn all_spans(translated: &Translated) -> Vec<&Span> {
        translated
            .request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect()
    }

    fn thrift_with_tags(tags: Vec<Tag>) -> Span {
        let mut span = thrift_span();
        span.tags = tags;
        only_span(&thrift_batch_to_otlp(thrift_batch(vec![span]))).clone()
    }

    fn string(value: &str) -> Value {
        Value::StringValue(value.into())
    }

    fn keys(attributes: &[KeyValue]) -> Vec<&str> {
        attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    /// A span using every rule both translators share, in both models.
    fn equivalent_batches() -> (thrift::Batch, proto::Batch) {
        let mut t = thrift_span();
        t.parent_span_id = PARENT as i64;
        t.flags = 1;
        t.references = vec![thrift::SpanRef {
            ref_type: thrift::SpanRefType::FOLLOWS_FROM,
            trace_id_low: 7,
            trace_id_high: 0,
            span_id: 8,
        }];
        t.tags = vec![
            Tag::string("span.kind", "client"),
            Tag::double("ratio", 72.5),
            Tag::bool("error", true),
            Tag::long("http.status_code", 504),
            Tag::binary("payload", vec![0, 1, 0xff]),
            Tag::string("otel.status_description", "timeout"),
        ];
        t.logs = vec![
            thrift::Log {
                timestamp: START_MICROS + 1_000,
                fields: vec![Tag::string("event", "retry"), Tag::long("attempt", 2)],
            },
            thrift::Log {
                timestamp: START_MICROS + 2_000,
                fields: vec![],
            },
            thrift::Log {
                timestamp: START_MICROS + 3_000,
                fields: vec![Tag::long("event", 123_415)],
            },
        ];
        let mut thrift = thrift_batch(vec![t]);
        thrift.process.tags = vec![
            Tag::string("hostname", "node-1"),
            Tag::string("jaeger.version", "Go-2.30.0"),
            Tag::string("ip", "10.0.0.7"),
        ];

        let mut p = proto_span();
        p.flags = 1;
        p.references = vec![
            proto::SpanRef {
                trace_id: trace_bytes(),
                span_id: proto::span_id_bytes(PARENT),
                ref_type: SpanRefType::ChildOf as i32,
            },
            proto::SpanRef {
                trace_id: proto::trace_id_bytes(0, 7),
                span_id: proto::span_id_bytes(8),
                ref_type: SpanRefType::FollowsFrom as i32,
            },
        ];
        p.tags = vec![
            PKv::string("span.kind", "client"),
            PKv::float64("ratio", 72.5),
            PKv::bool("error", true),
            PKv::int64("http.status_code", 504),
            PKv::binary("payload", vec![0, 1, 0xff]),
            PKv::string("otel.status_description", "timeout"),
        ];
        p.logs = vec![
            proto::Log {
                timestamp: Some(timestamp(START_MICROS + 1_000)),
                fields: vec![PKv::string("event", "retry"), PKv::int64("attempt", 2)],
            },
            proto::Log {
                timestamp: Some(timestamp(START_MICROS + 2_000)),
                fields: vec![],
            },
            proto::Log {
                timestamp: Some(timestamp(START_MICROS + 3_000)),
                fields: vec![PKv::int64("event", 123_415)],
            },
        ];
        let mut proto = proto_batch(vec![p]);
        proto.process = Some(proto::Process {
            service_name: "frontend".into(),
            tags: vec![
                PKv::string("hostname", "node-1"),
                PKv::string("jaeger.version", "Go-2.30.0"),
                PKv::string("ip", "10.0.0.7"),
            ],
        });
        (thrift, proto)
    }

    #[test]
    fn thrift_and_proto_batches_translate_alike() {
        let (thrift, proto) = equivalent_batches();
        let from_thrift = thrift_batch_to_otlp(thrift);
        let from_proto = proto_batches_to_otlp(vec![proto]);
        assert_eq!(from_thrift, from_proto);
        assert_eq!(from_thrift.spans, 1);
        assert_eq!(from_thrift.refused.total(), 0);

        let rs = &from_thrift.request.resource_spans[0];
        assert_eq!(
            rs.resource.as_ref().map(|r| r.attributes.clone()),
            Some(vec![
                kv("service.name", string("frontend")),
                kv("host.name", string("node-1")),
                kv("opencensus.exporterversion", string("Jaeger-Go-2.30.0")),
                kv("ip", string("10.0.0.7")),
            ])
        );
        assert_eq!(
            rs.scope_spans[0].scope,
            Some(InstrumentationScope::default())
        );
        let span = &rs.scope_spans[0].spans[0];
        assert_eq!(span.trace_id, trace_bytes());
        assert_eq!(span.span_id, SPAN.to_be_bytes());
        assert_eq!(span.parent_span_id, PARENT.to_be_bytes());
        assert_eq!(span.flags, OTLP_SAMPLED);
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, START_NANOS);
        assert_eq!(span.end_time_unix_nano, START_NANOS + 5_432_000);
        assert_eq!(
            span.status,
            Some(Status {
                message: "timeout".into(),
                code: StatusCode::Error as i32,
            })
        );
        // span.kind was first: the last attribute took its place, then
        // `error` and the description were removed the same way.
        assert_eq!(
            span.attributes,
            vec![
                kv("http.status_code", Value::IntValue(504)),
                kv("ratio", Value::DoubleValue(72.5)),
                kv("payload", Value::BytesValue(vec![0, 1, 0xff])),
            ]
        );
        assert_eq!(
            span.events,
            vec![
                Event {
                    time_unix_nano: START_NANOS + 1_000_000,
                    name: "retry".into(),
                    attributes: vec![kv("attempt", Value::IntValue(2))],
                    ..Default::default()
                },
                Event {
                    time_unix_nano: START_NANOS + 2_000_000,
                    ..Default::default()
                },
                Event {
                    time_unix_nano: START_NANOS + 3_000_000,
                    attributes: vec![kv("event", Value::IntValue(123_415))],
                    ..Default::default()
                },
            ]
        );
        assert_eq!(
            span.links,
            vec![Link {
                trace_id: proto::trace_id_bytes(0, 7),
                span_id: proto::span_id_bytes(8),
                attributes: vec![kv("opentracing.ref_type", string("follows_from"))],
                ..Default::default()
            }]
        );
    }

    #[test]
    fn maps_span_kind_tag_and_removes_it() {
        for (text, kind) in [
            ("client", SpanKind::Client),
            ("server", SpanKind::Server),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
            ("internal", SpanKind::Internal),
            ("SERVER", SpanKind::Unspecified),
            ("rpc", SpanKind::Unspecified),
        ] {
            let span = thrift_with_tags(vec![Tag::string("span.kind", text), Tag::long("n", 1)]);
            assert_eq!(span.kind, kind as i32, "{text}");
            assert_eq!(keys(&span.attributes), ["n"]);
        }
        // A non-string kind reads as empty: unspecified, and still removed.
        let span = thrift_with_tags(vec![Tag::long("span.kind", 2)]);
        assert_eq!(span.kind, SpanKind::Unspecified as i32);
        assert!(span.attributes.is_empty());
    }

    type StatusAndMessage = Option<(StatusCode, String)>;

    fn status_of(tags: Vec<Tag>) -> (StatusAndMessage, Vec<String>) {
        let span = thrift_with_tags(tags);
        let status = span
            .status
            .map(|s| (StatusCode::try_from(s.code).expect("known code"), s.message));
        let mut keys: Vec<String> = span.attributes.into_iter().map(|kv| kv.key).collect();
        keys.sort();
        (status, keys)
    }

    #[test]
    fn derives_status_like_the_collector() {
        use StatusCode::{Error, Ok as Fine, Unset};
        let s = |code: StatusCode, message: &str| Some((code, message.to_owned()));
        let cases: Vec<(Vec<Tag>, StatusAndMessage, Vec<&str>)> = vec![
            (
                vec![
                    Tag::bool("error", true),
                    Tag::string("otel.status_description", "boom"),
                ],
                s(Error, "boom"),
                vec![],
            ),
            (
                vec![
                    Tag::bool("error", true),
                    Tag::string("http.status_message", "Bad Gateway"),
                ],
                s(Error, "Bad Gateway"),
                vec!["http.status_message"],
            ),
            // Only a boolean `error` counts.
            (vec![Tag::string("error", "true")], None, vec!["error"]),
            (vec![Tag::bool("error", false)], None, vec!["error"]),
            (
                vec![Tag::string("otel.status_code", "ok")],
                s(Fine, ""),
                vec![],
            ),
            (
                vec![
                    Tag::string("otel.status_code", "ERROR"),
                    Tag::string("otel.status_description", "d"),
                ],
                s(Error, "d"),
                vec![],
            ),
            (
                vec![Tag::string("otel.status_code", "maybe")],
                s(Unset, ""),
                vec![],
            ),
            // `error` wins; otel.status_code is removed anyway.
            (
                vec![
                    Tag::bool("error", true),
                    Tag::string("otel.status_code", "OK"),
                ],
                s(Error, ""),
                vec![],
            ),
            // An explicit code stops the HTTP fallback.
            (
                vec![
                    Tag::string("otel.status_code", "OK"),
                    Tag::long("http.status_code", 500),
                ],
                s(Fine, ""),
                vec!["http.status_code"],
            ),
            (
                vec![
                    Tag::long("http.status_code", 500),
                    Tag::string("http.status_message", "oops"),
                ],
                s(Error, "oops"),
                vec!["http.status_code", "http.status_message"],
            ),
            (
                vec![Tag::string("http.status_code", "503")],
                s(Error, ""),
                vec!["http.status_code"],
            ),
            (
                vec![Tag::long("http.status_code", 200)],
                None,
                vec!["http.status_code"],
            ),
            (
                vec![Tag::long("http.status_code", 399)],
                s(Error, ""),
                vec!["http.status_code"],
            ),
            (
                vec![Tag::long("http.status_code", 404)],
                s(Error, ""),
                vec!["http.status_code"],
            ),
            (
                vec![
                    Tag::string("span.kind", "server"),
                    Tag::long("http.status_code", 404),
                ],
                None,
                vec!["http.status_code"],
            ),
            (
                vec![
                    Tag::string("span.kind", "client"),
                    Tag::long("http.status_code", 404),
                ],
                s(Error, ""),
                vec!["http.status_code"],
            ),
            (
                vec![Tag::string("http.status_code", "n/a")],
                None,
                vec!["http.status_code"],
            ),
            (
                vec![Tag::double("http.status_code", 500.0)],
                None,
                vec!["http.status_code"],
            ),
        ];
        for (tags, status, remaining) in cases {
            let description = format!("{tags:?}");
            assert_eq!(
                status_of(tags),
                (status, remaining.iter().map(|k| k.to_string()).collect()),
                "{description}"
            );
        }
    }

    #[test]
    fn maps_every_tag_type() {
        let unknown = Tag {
            key: "future".into(),
            v_type: TagType(9),
            v_str: Some("x".into()),
            ..Default::default()
        };
        let missing = Tag {
            key: "no value".into(),
            v_type: TagType::LONG,
            ..Default::default()
        };
        let span = thrift_with_tags(vec![
            Tag::string("s", "v"),
            Tag::double("d", 1.5),
            Tag::bool("b", true),
            Tag::long("l", -3),
            Tag::binary("bin", vec![7]),
            unknown,
            missing,
        ]);
        assert_eq!(
            span.attributes,
            vec![
                kv("s", string("v")),
                kv("d", Value::DoubleValue(1.5)),
                kv("b", Value::BoolValue(true)),
                kv("l", Value::IntValue(-3)),
                kv("bin", Value::BytesValue(vec![7])),
                kv("future", string(r#"<Unknown Jaeger TagType "<UNSET>">"#)),
                kv("no value", Value::IntValue(0)),
            ]
        );

        let mut p = proto_span();
        p.tags = vec![
            PKv::string("s", "v"),
            PKv::float64("d", 1.5),
            PKv::bool("b", true),
            PKv::int64("l", -3),
            PKv::binary("bin", vec![7]),
            PKv {
                key: "future".into(),
                v_type: 9,
                ..Default::default()
            },
        ];
        let translated = proto_batches_to_otlp(vec![proto_batch(vec![p])]);
        let attributes = &only_span(&translated).attributes;
        assert_eq!(attributes[..5], span.attributes[..5]);
        assert_eq!(
            attributes[5],
            kv("future", string(r#"<Unknown Jaeger TagType "9">"#))
        );
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        let mut tags = vec![
            Tag::string("a", "1"),
            Tag::long("b", 2),
            Tag::bool("a", false),
        ];
        let span = thrift_with_tags(tags.clone());
        assert_eq!(
            span.attributes,
            vec![
                kv("a", Value::BoolValue(false)),
                kv("b", Value::IntValue(2))
            ]
        );
        // Past the linear-scan size too.
        tags.extend((0..40).map(|i| Tag::long(format!("k{i}"), i)));
        tags.push(Tag::string("b", "last"));
        let span = thrift_with_tags(tags);
        assert_eq!(span.attributes.len(), 42);
        assert_eq!(span.attributes[1], kv("b", string("last")));
        assert_eq!(span.attributes[41].key, "k39");
    }

    #[test]
    fn logs_become_events_named_by_their_event_field() {
        let mut span = thrift_span();
        span.logs = vec![
            thrift::Log {
                timestamp: START_MICROS,
                fields: vec![
                    Tag::string("message", "m"),
                    Tag::string("event", "first"),
                    Tag::long("n", 1),
                ],
            },
            // Any other event field stays a field of its type (the
            // Collector drops it).
            thrift::Log {
                timestamp: START_MICROS,
                fields: vec![Tag::long("event", 5)],
            },
            thrift::Log {
                timestamp: START_MICROS,
                fields: vec![Tag::string("event", ""), Tag::long("n", 2)],
            },
            thrift::Log {
                timestamp: START_MICROS,
                fields: vec![Tag::bool("event", true)],
            },
        ];
        let translated = thrift_batch_to_otlp(thrift_batch(vec![span]));
        let events = &only_span(&translated).events;
        assert_eq!(events[0].name, "first");
        assert_eq!(keys(&events[0].attributes), ["message", "n"]);
        assert_eq!(events[1].name, "");
        assert_eq!(events[1].attributes, [kv("event", Value::IntValue(5))]);
        assert_eq!(events[2].name, "");
        assert_eq!(
            events[2].attributes,
            [kv("event", string("")), kv("n", Value::IntValue(2))]
        );
        assert_eq!(events[3].attributes, [kv("event", Value::BoolValue(true))]);
    }

    fn thrift_ref(ref_type: thrift::SpanRefType, high: u64, span_id: u64) -> thrift::SpanRef {
        thrift::SpanRef {
            ref_type,
            trace_id_low: LOW as i64,
            trace_id_high: high as i64,
            span_id: span_id as i64,
        }
    }

    fn parent_and_links(span: &Span) -> (Vec<u8>, Vec<(u64, &str)>) {
        let links = span
            .links
            .iter()
            .map(|l| {
                let id = u64::from_be_bytes(l.span_id.as_slice().try_into().expect("8 bytes"));
                (id, str_value(&l.attributes[0]))
            })
            .collect();
        (span.parent_span_id.clone(), links)
    }

    #[test]
    fn references_become_parent_and_links() {
        use super::thrift::SpanRefType as T;
        let with_refs = |parent: u64, refs: Vec<thrift::SpanRef>| {
            let mut span = thrift_span();
            span.parent_span_id = parent as i64;
            span.references = refs;
            thrift_batch_to_otlp(thrift_batch(vec![span]))
        };
        // parentSpanId wins; the CHILD_OF reference naming it is not repeated.
        let t = with_refs(
            PARENT,
            vec![
                thrift_ref(T::CHILD_OF, HIGH, PARENT),
                thrift_ref(T::CHILD_OF, HIGH, 5),
            ],
        );
        assert_eq!(
            parent_and_links(only_span(&t)),
            (PARENT.to_be_bytes().to_vec(), vec![(5, "child_of")])
        );
        // No parentSpanId: the first CHILD_OF in the trace, else the first FOLLOWS_FROM.
        let t = with_refs(
            0,
            vec![
                thrift_ref(T::FOLLOWS_FROM, HIGH, 4),
                thrift_ref(T::CHILD_OF, HIGH, 5),
            ],
        );
        assert_eq!(
            parent_and_links(only_span(&t)),
            (5u64.to_be_bytes().to_vec(), vec![(4, "follows_from")])
        );
        let t = with_refs(
            0,
            vec![
                thrift_ref(T::CHILD_OF, 1, 3),
                thrift_ref(T::FOLLOWS_FROM, HIGH, 4),
            ],
        );
        // The FOLLOWS_FROM parent stays a link too (only CHILD_OF ones are folded).
        assert_eq!(
            parent_and_links(only_span(&t)),
            (
                4u64.to_be_bytes().to_vec(),
                vec![(3, "child_of"), (4, "follows_from")]
            )
        );
        // Unknown reference types are links of type follows_from, never parents.
        let t = with_refs(0, vec![thrift_ref(thrift::SpanRefType(7), HIGH, 6)]);
        assert_eq!(
            parent_and_links(only_span(&t)),
            (vec![], vec![(6, "follows_from")])
        );

        // Protobuf has only references; an 8-byte trace ID is the low half.
        let mut p = proto_span();
        p.trace_id = LOW.to_be_bytes().to_vec();
        p.references = vec![
            proto::SpanRef {
                trace_id: LOW.to_be_bytes().to_vec(),
                span_id: proto::span_id_bytes(PARENT),
                ref_type: SpanRefType::ChildOf as i32,
            },
            proto::SpanRef {
                trace_id: proto::trace_id_bytes(0, LOW),
                span_id: proto::span_id_bytes(9),
                ref_type: SpanRefType::FollowsFrom as i32,
            },
        ];
        let translated = proto_batches_to_otlp(vec![proto_batch(vec![p])]);
        let span = only_span(&translated);
        assert_eq!(span.trace_id, proto::trace_id_bytes(0, LOW));
        assert_eq!(
            parent_and_links(span),
            (PARENT.to_be_bytes().to_vec(), vec![(9, "follows_from")])
        );
    }

    #[test]
    fn proto_tags_set_trace_state_and_scope_but_thrift_tags_stay() {
        let span_with = |tags: Vec<PKv>| {
            let mut p = proto_span();
            p.tags = tags;
            p
        };
        let batch = proto_batch(vec![
            span_with(vec![
                PKv::string("otel.scope.name", "lib"),
                PKv::string("w3c.tracestate", "rojo=00f067aa0ba902b7"),
                PKv::string("otel.scope.version", "1.2"),
                PKv::int64("n", 1),
            ]),
            span_with(vec![
                PKv::string("otel.library.name", "old"),
                PKv::string("otel.library.version", "0.1"),
            ]),
            span_with(vec![]),
            span_with(vec![
                PKv::string("otel.scope.name", "lib"),
                PKv::string("otel.scope.version", "1.2"),
            ]),
            // A version without a name is an attribute.
            span_with(vec![PKv::string("otel.scope.version", "9")]),
        ]);
        let translated = proto_batches_to_otlp(vec![batch]);
        let scopes: Vec<(&str, &str, usize)> = translated.request.resource_spans[0]
            .scope_spans
            .iter()
            .map(|ss| {
                let scope = ss.scope.as_ref().expect("scope");
                (scope.name.as_str(), scope.version.as_str(), ss.spans.len())
            })
            .collect();
        assert_eq!(scopes, [("lib", "1.2", 2), ("old", "0.1", 1), ("", "", 2)]);
        let first = &translated.request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(first.trace_state, "rojo=00f067aa0ba902b7");
        assert_eq!(keys(&first.attributes), ["n"]);
        let versionless = &translated.request.resource_spans[0].scope_spans[2].spans[1];
        assert_eq!(keys(&versionless.attributes), ["otel.scope.version"]);

        let span = thrift_with_tags(vec![
            Tag::string("otel.scope.name", "lib"),
            Tag::string("w3c.tracestate", "rojo=00f067aa0ba902b7"),
        ]);
        assert_eq!(span.trace_state, "");
        assert_eq!(
            keys(&span.attributes),
            ["otel.scope.name", "w3c.tracestate"]
        );
    }

    #[test]
    fn process_becomes_resource() {
        let resource_of = |service: &str, tags: Vec<Tag>| {
            let mut batch = thrift_batch(vec![thrift_span()]);
            batch.process = thrift::Process {
                service_name: service.into(),
                tags,
            };
            thrift_batch_to_otlp(batch).request.resource_spans[0]
                .resource
                .clone()
                .expect("resource")
                .attributes
        };
        // The renames keep the tag's place.
        assert_eq!(
            resource_of(
                "svc",
                vec![
                    Tag::string("jaeger.version", "Java-1.8"),
                    Tag::long("hostname", 7),
                    Tag::string("ip", "1.2.3.4"),
                ]
            ),
            vec![
                kv("service.name", string("svc")),
                kv("opencensus.exporterversion", string("Jaeger-Java-1.8")),
                kv("host.name", Value::IntValue(7)),
                kv("ip", string("1.2.3.4")),
            ]
        );
        // Not when the target key is already there.
        assert_eq!(
            keys(&resource_of(
                "svc",
                vec![Tag::string("hostname", "a"), Tag::string("host.name", "b")]
            )),
            ["service.name", "hostname", "host.name"]
        );
        // No service name: tags only; neither: an empty resource.
        assert_eq!(keys(&resource_of("", vec![Tag::string("ip", "x")])), ["ip"]);
        assert!(resource_of("", vec![]).is_empty());
        // A `service.name` tag overrides the process's name, in its place.
        assert_eq!(
            resource_of("svc", vec![Tag::string("service.name", "other")]),
            vec![kv("service.name", string("other"))]
        );

        // Protobuf: the writer's placeholder name means "no resource".
        let mut batch = proto_batch(vec![proto_span()]);
        batch.process = Some(proto::Process {
            service_name: NO_SERVICE_NAME.into(),
            tags: vec![PKv::string("ip", "x")],
        });
        let translated = proto_batches_to_otlp(vec![batch]);
        assert_eq!(
            translated.request.resource_spans[0].resource,
            Some(Resource::default())
        );
    }

    #[test]
    fn groups_proto_spans_by_their_own_process() {
        let process = |name: &str| proto::Process {
            service_name: name.into(),
            tags: vec![],
        };
        let with_process = |name: &str| {
            let mut span = proto_span();
            span.process = Some(process(name));
            span
        };
        let batch = proto::Batch {
            spans: vec![
                with_process("other"),
                proto_span(),
                with_process("frontend"),
                with_process("other"),
            ],
            process: Some(process("frontend")),
        };
        // A batch without spans or process adds nothing.
        let translated = proto_batches_to_otlp(vec![proto::Batch::default(), batch]);
        let services: Vec<(String, usize)> = translated
            .request
            .resource_spans
            .iter()
            .map(|rs| {
                let resource = rs.resource.as_ref().expect("resource");
                (
                    str_value(&resource.attributes[0]).to_owned(),
                    rs.scope_spans[0].spans.len(),
                )
            })
            .collect();
        assert_eq!(
            services,
            [("frontend".to_string(), 2), ("other".to_string(), 2)]
        );
        assert_eq!(translated.spans, 4);
    }

    #[test]
    fn refuses_spans_it_cannot_store_and_counts_them_by_reason() {
        let mut zero_trace = thrift_span();
        zero_trace.trace_id_high = 0;
        zero_trace.trace_id_low = 0;
        let mut zero_span = thrift_span();
        zero_span.span_id = 0;
        let mut no_start = thrift_span();
        no_start.start_time = 0;
        let mut negative_duration = thrift_span();
        negative_duration.duration = -1;
        let mut bad_log = thrift_span();
        bad_log.logs = vec![thrift::Log {
            timestamp: -1,
            fields: vec![],
        }];
        let translated = thrift_batch_to_otlp(thrift_batch(vec![
            thrift::Span::default(),
            zero_trace,
            thrift_span(),
            zero_span,
            no_start,
            negative_duration,
            bad_log,
        ]));
        assert_eq!(translated.spans, 1);
        assert_eq!(all_spans(&translated).len(), 1);
        assert_eq!(
            translated.refused.by_reason().collect::<Vec<_>>(),
            [
                ("zero_trace_id", 2),
                ("zero_span_id", 1),
                ("invalid_timestamp", 3)
            ]
        );
        assert_eq!(
            translated.refused.first(),
            Some("span 0 (trace 00000000000000000000000000000000): zero trace ID")
        );

        // Nothing left: no resource at all.
        let translated = thrift_batch_to_otlp(thrift_batch(vec![thrift::Span::default()]));
        assert!(translated.request.resource_spans.is_empty());
        assert_eq!(translated.spans, 0);

        let mut short_trace = proto_span();
        short_trace.trace_id = vec![1; 5];
        let mut long_span = proto_span();
        long_span.span_id = vec![1; 9];
        let mut bad_ref = proto_span();
        bad_ref.references = vec![proto::SpanRef {
            trace_id: trace_bytes(),
            span_id: vec![1; 4],
            ref_type: 0,
        }];
        let mut no_ids = proto_span();
        no_ids.trace_id.clear();
        let mut nanos_out_of_range = proto_span();
        nanos_out_of_range.start_time = Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 1_000_000_000,
        });
        let mut no_start = proto_span();
        no_start.start_time = None;
        let mut negative = proto_span();
        negative.duration = Some(prost_types::Duration {
            seconds: 0,
            nanos: -1,
        });
        let mut overflow = proto_span();
        overflow.duration = Some(prost_types::Duration {
            seconds: i64::MAX,
            nanos: 0,
        });
        let mut bad_log = proto_span();
        bad_log.logs = vec![proto::Log {
            timestamp: Some(prost_types::Timestamp {
                seconds: -1,
                nanos: 0,
            }),
            fields: vec![],
        }];
        let translated = proto_batches_to_otlp(vec![
            proto_batch(vec![short_trace, proto_span()]),
            proto_batch(vec![
                long_span,
                bad_ref,
                no_ids,
                nanos_out_of_range,
                no_start,
                negative,
                overflow,
                bad_log,
            ]),
        ]);
        assert_eq!(translated.spans, 1);
        assert_eq!(
            translated.refused.by_reason().collect::<Vec<_>>(),
            [
                ("zero_trace_id", 1),
                ("invalid_id", 3),
                ("invalid_timestamp", 5)
            ]
        );
        assert_eq!(
            translated.refused.first(),
            Some("span 0 (trace 0101010101): invalid ID: trace ID is not 8 or 16 bytes")
        );
    }

    #[test]
    fn proto_keeps_nanosecond_precision() {
        let mut p = proto_span();
        p.start_time = Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        });
        p.duration = Some(prost_types::Duration {
            seconds: 2,
            nanos: 1,
        });
        let translated = proto_batches_to_otlp(vec![proto_batch(vec![p])]);
        let span = only_span(&translated);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(span.end_time_unix_nano, 1_700_000_002_123_456_790);
    }

    #[test]
    fn sampled_flag_becomes_the_otlp_sampled_flag() {
        for (flags, expected) in [(0, 0), (1, OTLP_SAMPLED), (2, 0), (3, OTLP_SAMPLED)] {
            let mut span = thrift_span();
            span.flags = flags;
            let translated = thrift_batch_to_otlp(thrift_batch(vec![span]));
            assert_eq!(only_span(&translated).flags, expected, "{flags}");
        }
    }

    // ---- Jaeger → OTLP → Jaeger through the ingester's writer --------------

    fn write_docs(request: &ExportTraceServiceRequest) -> Vec<model::Span> {
        let mut writer = SpanDocWriter::new();
        let mut docs = Vec::new();
        let stats = writer.write_request(request, |doc| {
            docs.push(serde_json::from_slice::<model::Span>(doc.json).expect("valid document"));
        });
        assert_eq!(stats.skipped_invalid_ids, 0);
        docs
    }

    fn tag_set(tags: &[model::KeyValue]) -> Vec<(String, ValueType, String)> {
        let mut set: Vec<_> = tags
            .iter()
            .map(|t| (t.key.clone(), t.value_type, t.value.clone()))
            .collect();
        set.sort_by(|a, b| a.0.cmp(&b.0));
        set
    }

    fn tag(key: &str, value_type: ValueType, value: &str) -> (String, ValueType, String) {
        (key.to_owned(), value_type, value.to_owned())
    }

    #[test]
    fn jaeger_span_survives_the_round_trip_through_otlp() {
        let (thrift, proto) = equivalent_batches();
        for request in [
            thrift_batch_to_otlp(thrift).request,
            proto_batches_to_otlp(vec![proto]).request,
        ] {
            let docs = write_docs(&request);
            assert_eq!(docs.len(), 1);
            let doc = &docs[0];
            assert_eq!(doc.trace_id, format!("{HIGH:016x}{LOW:016x}"));
            assert_eq!(doc.span_id, format!("{SPAN:016x}"));
            assert_eq!(doc.operation_name, "GET /dispatch");
            assert_eq!(doc.start_time, START_MICROS as u64);
            assert_eq!(doc.duration, 5_432);
            assert_eq!(doc.process.service_name, "frontend");
            // Documented differences: hostname and jaeger.version renamed.
            assert_eq!(
                tag_set(&doc.process.tags),
                [
                    tag("host.name", ValueType::String, "node-1"),
                    tag("ip", ValueType::String, "10.0.0.7"),
                    tag(
                        "opencensus.exporterversion",
                        ValueType::String,
                        "Jaeger-Go-2.30.0"
                    ),
                ]
            );
            // Every original tag with its type; the status adds otel.status_code
            // (and carries the description).
            assert_eq!(
                tag_set(&doc.tags),
                [
                    tag("error", ValueType::Bool, "true"),
                    tag("http.status_code", ValueType::Int64, "504"),
                    tag("otel.status_code", ValueType::String, "ERROR"),
                    tag("otel.status_description", ValueType::String, "timeout"),
                    tag("payload", ValueType::Binary, "0001ff"),
                    tag("ratio", ValueType::Float64, "72.5"),
                    tag("span.kind", ValueType::String, "client"),
                ]
            );
            assert_eq!(
                doc.references,
                [
                    model::Reference {
                        ref_type: RefType::ChildOf,
                        trace_id: format!("{HIGH:016x}{LOW:016x}"),
                        span_id: format!("{PARENT:016x}"),
                    },
                    model::Reference {
                        ref_type: RefType::FollowsFrom,
                        trace_id: "0000000000000007".into(),
                        span_id: "0000000000000008".into(),
                    },
                ]
            );
            assert_eq!(doc.flags, 1);
            assert_eq!(doc.logs.len(), 3);
            assert_eq!(doc.logs[0].timestamp, START_MICROS as u64 + 1_000);
            assert_eq!(
                tag_set(&doc.logs[0].fields),
                [
                    tag("attempt", ValueType::Int64, "2"),
                    tag("event", ValueType::String, "retry"),
                ]
            );
            assert_eq!(doc.logs[1].timestamp, START_MICROS as u64 + 2_000);
            assert!(doc.logs[1].fields.is_empty());
            // A non-string `event` comes back as the same field.
            assert_eq!(
                tag_set(&doc.logs[2].fields),
                [tag("event", ValueType::Int64, "123415")]
            );
        }
    }

    #[test]
    fn scope_and_follows_from_parent_survive_the_round_trip() {
        let mut p = proto_span();
        p.tags = vec![
            PKv::string("otel.library.name", "lib"),
            PKv::string("otel.library.version", "2"),
            PKv::string("w3c.tracestate", "k=v"),
        ];
        // Only a FOLLOWS_FROM reference: parent in OTLP, and back to
        // FOLLOWS_FROM in Jaeger through the link that names it.
        p.references = vec![proto::SpanRef {
            trace_id: trace_bytes(),
            span_id: proto::span_id_bytes(PARENT),
            ref_type: SpanRefType::FollowsFrom as i32,
        }];
        let docs = write_docs(&proto_batches_to_otlp(vec![proto_batch(vec![p])]).request);
        assert_eq!(
            tag_set(&docs[0].tags),
            [
                tag("otel.scope.name", ValueType::String, "lib"),
                tag("otel.scope.version", ValueType::String, "2"),
                tag("w3c.tracestate", ValueType::String, "k=v"),
            ]
        );
        assert_eq!(
            docs[0].references,
            [model::Reference {
                ref_type: RefType::FollowsFrom,
                trace_id: format!("{HIGH:016x}{LOW:016x}"),
                span_id: format!("{PARENT:016x}"),
            }]
        );
    }
}
