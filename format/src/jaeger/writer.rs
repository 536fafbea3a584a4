//! The ingester's hot path: OTLP spans straight to Jaeger v1 Elasticsearch
//! span documents, written as JSON bytes without serde.
//!
//! [`SpanDocWriter::write_request`] walks a decoded `ExportTraceServiceRequest`
//! and hands out one borrowed [`SpanDoc`] per span: the document JSON, a
//! deterministic `_id`, and the values the caller needs to route it (trace
//! ID, start time for the daily index, service and operation for the service
//! index). The buffers are reused from span to span and request to request;
//! once warm, a span costs no heap allocation (an array or key/value-list
//! attribute value needs a scratch buffer that also stays warm).
//!
//! What it guarantees:
//! - **Jaeger's document, field for field.** The translation is the
//!   OpenTelemetry Collector's `pkg/translator/jaeger` (`ProtoFromTraces`,
//!   the version Jaeger 1.x collectors run for OTLP input) followed by Jaeger
//!   1.x's `FromDomainEmbedProcess` and Go's `encoding/json`: the same fields
//!   in the same order, the same tag order, value texts and string escaping
//!   (including Go's `\u003c`-style escaping of `<`, `>`, `&`). The rules are
//!   spelled out where they are applied below. Two fields follow Jaeger v2
//!   instead, which the 1.x pipeline lost: `flags` (the span's W3C trace
//!   flags, sampled = 1) and `fields` of a log, always a list.
//! - **A deterministic `_id`**: `{trace id, 32 hex}-{span id, 16 hex}-{hash of
//!   the document bytes, 16 hex}`. Replaying a Kafka message rewrites the
//!   same documents instead of duplicating them, while two different spans
//!   sharing a span ID (Zipkin-style client/server spans) get different ids.
//!   The hash function is part of the storage contract: changing it changes
//!   every id, so a replay across versions would duplicate.
//! - **Valid JSON for any input.** Strings are escaped completely (prost has
//!   already checked they are UTF-8); a span whose IDs have an impossible
//!   length is skipped and counted instead of written with a made-up ID.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Link;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::doc_id::{write_doc_id, DocId, DOC_ID_LEN};
use super::go_json::{
    decimal, push_go_float_g10, push_head, push_i64, push_json_bytes, push_json_str, push_raw_json,
    push_u64, Scratch,
};
use super::ids::{self, SpanIdBytes, TraceIdBytes};
use super::tags_as_fields::{FieldMap, TagsAsFields};
use crate::hex;
use crate::otlp::semconv::{
    ERROR, EVENT, NO_SERVICE_NAME, REF_TYPE, SCOPE_NAME, SCOPE_VERSION, SERVICE_NAME, SPAN_KIND,
    STATUS_CODE, STATUS_DESCRIPTION, TRACE_STATE,
};

/// Service name of a span whose resource has attributes but no string
/// `service.name` (the translator leaves it empty, and the Jaeger collector's
/// standard `EmptyServiceNameSanitizer` replaces the empty name with this).
pub const EMPTY_SERVICE_NAME: &str = "empty-service-name";

pub(crate) const REF_TYPE_CHILD_OF: &str = "child_of";
/// The W3C trace flags in OTLP's `Span.flags` (`SPAN_FLAGS_TRACE_FLAGS_MASK`).
pub(crate) const TRACE_FLAGS_MASK: u32 = 0xff;

/// One span document, borrowed from the writer (and the request) until the
/// next one is written.
#[derive(Debug, Clone, Copy)]
pub struct SpanDoc<'a> {
    /// The document, compact JSON.
    pub json: &'a [u8],
    /// The document `_id`.
    pub doc_id: &'a DocId,
    /// The trace ID's 16 raw bytes (all zero for an empty OTLP trace ID).
    pub trace_id: &'a [u8],
    /// Span start, µs since the Unix epoch: picks the daily index.
    pub start_time_micros: u64,
    /// `process.serviceName` as written in the document.
    pub service_name: &'a str,
    /// `operationName` as written in the document.
    pub operation_name: &'a str,
}

/// What one [`SpanDocWriter::write_request`] call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Spans handed to the callback.
    pub spans: usize,
    /// Spans skipped because a trace or span ID (own, parent or link) had a
    /// length other than 0 or 16/8 bytes. The OpenTelemetry Collector rejects
    /// a whole request over such an ID; we keep the rest of it.
    pub skipped_invalid_ids: usize,
}

/// Why [`SpanDocWriter::write_request`] skips `span`: the first of its IDs
/// (trace, span, parent, link) of a length it cannot write, described for a
/// log line or a dead letter; `None` when the span is written. Off the hot
/// path: for the rare request that had skipped spans.
pub fn unwritable_id(span: &Span) -> Option<String> {
    let bad = |name: &str, raw: &[u8], expected: usize| {
        Some(format!(
            "{name} of {} bytes, expected {expected} or none",
            raw.len()
        ))
    };
    if ids::trace_id_from_wire(&span.trace_id).is_none() {
        return bad("trace_id", &span.trace_id, 16);
    }
    if ids::span_id_from_wire(&span.span_id).is_none() {
        return bad("span_id", &span.span_id, 8);
    }
    if ids::span_id_from_wire(&span.parent_span_id).is_none() {
        return bad("parent_span_id", &span.parent_span_id, 8);
    }
    for link in &span.links {
        if ids::trace_id_from_wire(&link.trace_id).is_none() {
            return bad("link trace_id", &link.trace_id, 16);
        }
        if ids::span_id_from_wire(&link.span_id).is_none() {
            return bad("link span_id", &link.span_id, 8);
        }
    }
    None
}

/// The `process.serviceName` of the spans of `resource`, by the translator's
/// rules (see `SpanDocWriter::render_process`).
pub fn process_service_name(resource: Option<&Resource>) -> &str {
    let attributes: &[KeyValue] = resource.map_or(&[], |r| r.attributes.as_slice());
    let name = attributes
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .and_then(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            },
        );
    service_name_of(!attributes.is_empty(), name)
}

/// The translator's rule for `process.serviceName`: a resource without
/// attributes is `OTLPResourceNoServiceName`; otherwise the first
/// `service.name`'s string value (`name`), and `empty-service-name` when it
/// is missing, empty or not a string.
pub fn service_name_of(has_attributes: bool, name: Option<&str>) -> &str {
    if !has_attributes {
        return NO_SERVICE_NAME;
    }
    name.filter(|n| !n.is_empty()).unwrap_or(EMPTY_SERVICE_NAME)
}

/// Writes Jaeger span documents; keep one per worker and reuse it.
#[derive(Debug)]
pub struct SpanDocWriter {
    /// The current span document.
    json: Vec<u8>,
    /// `,"process":{…}}`: the tail shared by every span of the current
    /// resource, rendered once per resource.
    process: Vec<u8>,
    scratch: Scratch,
    doc_id: [u8; DOC_ID_LEN],
    trace_id: TraceIdBytes,
    /// The `tag` object being built, when tags-as-fields is configured.
    fields: Option<Box<FieldMap>>,
}

impl Default for SpanDocWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanDocWriter {
    pub fn new() -> Self {
        SpanDocWriter {
            json: Vec::with_capacity(4096),
            process: Vec::with_capacity(1024),
            scratch: Scratch::default(),
            doc_id: [b'0'; DOC_ID_LEN],
            trace_id: [0; 16],
            fields: None,
        }
    }

    /// A writer that also stores the tags `config` selects as fields of a
    /// `tag` object (Jaeger's tags-as-fields).
    pub fn with_tags_as_fields(config: TagsAsFields) -> Self {
        let fields = config.is_enabled().then(|| Box::new(FieldMap::new(config)));
        SpanDocWriter {
            fields,
            ..Self::new()
        }
    }

    /// Writes every span of `req` and calls `each` with its document, in
    /// request order.
    pub fn write_request(
        &mut self,
        req: &ExportTraceServiceRequest,
        mut each: impl FnMut(SpanDoc<'_>),
    ) -> WriteStats {
        let mut stats = WriteStats::default();
        for resource_spans in &req.resource_spans {
            if resource_spans
                .scope_spans
                .iter()
                .all(|s| s.spans.is_empty())
            {
                continue;
            }
            let service_name = self.render_process(resource_spans.resource.as_ref());
            for scope_spans in &resource_spans.scope_spans {
                let scope = scope_spans.scope.as_ref();
                for span in &scope_spans.spans {
                    let Some(start_time_micros) = self.render_span(span, scope) else {
                        stats.skipped_invalid_ids += 1;
                        continue;
                    };
                    stats.spans += 1;
                    each(SpanDoc {
                        json: &self.json,
                        doc_id: &self.doc_id,
                        trace_id: &self.trace_id,
                        start_time_micros,
                        service_name,
                        operation_name: &span.name,
                    });
                }
            }
        }
        stats
    }

    /// Renders `,"process":{"serviceName":…,"tags":[…]}}` for a resource and
    /// returns the service name.
    ///
    /// Translator rules: no attributes → `OTLPResourceNoServiceName`;
    /// otherwise the first `service.name` attribute's string value (a
    /// non-string reads as empty, and empty becomes `empty-service-name` in
    /// the Jaeger collector's sanitizer); every other attribute, in order,
    /// becomes a process tag, and every `service.name` entry is left out.
    fn render_process<'r>(&mut self, resource: Option<&'r Resource>) -> &'r str {
        let attributes: &'r [KeyValue] = resource.map_or(&[], |r| r.attributes.as_slice());
        let service_name = process_service_name(resource);
        let out = &mut self.process;
        out.clear();
        out.extend_from_slice(b",\"process\":{\"serviceName\":");
        push_json_str(out, service_name);
        out.extend_from_slice(b",\"tags\":[");
        for kv in attributes.iter().filter(|kv| kv.key != SERVICE_NAME) {
            emit_attribute(out, self.fields.as_deref_mut(), &mut self.scratch, kv);
        }
        out.push(b']');
        if let Some(fields) = self.fields.as_deref_mut() {
            fields.finish(out);
        }
        out.extend_from_slice(b"}}");
        service_name
    }

    /// Writes the document of one span into `self.json` and its id into
    /// `self.doc_id`; returns the start time in µs, or `None` (nothing
    /// written) when an ID has an impossible length.
    fn render_span(&mut self, span: &Span, scope: Option<&InstrumentationScope>) -> Option<u64> {
        let trace_id = ids::trace_id_from_wire(&span.trace_id)?;
        let span_id = ids::span_id_from_wire(&span.span_id)?;
        let parent_id = ids::span_id_from_wire(&span.parent_span_id)?;
        let has_parent = parent_id != [0; 8];

        // References: the parent first as CHILD_OF, then one per link,
        // FOLLOWS_FROM unless the link says `opentracing.ref_type=child_of`.
        // A link to the parent itself is not repeated: it only overrides the
        // parent reference's type (the last such link wins).
        let mut parent_ref_child_of = true;
        for link in &span.links {
            let link_trace = ids::trace_id_from_wire(&link.trace_id)?;
            let link_span = ids::span_id_from_wire(&link.span_id)?;
            if has_parent && link_trace == trace_id && link_span == parent_id {
                parent_ref_child_of = link_is_child_of(link);
            }
        }

        let start_time_micros = span.start_time_unix_nano / 1_000;
        // Jaeger computes end - start in ns, then truncates to µs. A span that
        // ends before it starts gets 0 here (Go would wrap the negative value
        // into a huge unsigned number).
        let duration_micros = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano)
            / 1_000;

        let out = &mut self.json;
        out.clear();
        push_doc_head(out, &trace_id, &span_id, span.flags);
        out.extend_from_slice(b",\"operationName\":");
        push_json_str(out, &span.name);

        out.extend_from_slice(b",\"references\":[");
        if has_parent {
            push_reference(out, parent_ref_child_of, &trace_id, &parent_id);
        }
        for link in &span.links {
            // Lengths were checked above.
            let link_trace = ids::trace_id_from_wire(&link.trace_id).unwrap_or_default();
            let link_span = ids::span_id_from_wire(&link.span_id).unwrap_or_default();
            if has_parent && link_trace == trace_id && link_span == parent_id {
                continue;
            }
            push_reference(out, link_is_child_of(link), &link_trace, &link_span);
        }

        push_times(out, start_time_micros, duration_micros);

        // Tags, in the translator's order: scope name and version, the span
        // attributes (duplicates kept), span.kind, otel.status_code, error,
        // otel.status_description, w3c.tracestate.
        out.extend_from_slice(b",\"tags\":[");
        if let Some(scope) = scope {
            if !scope.name.is_empty() {
                emit_string(
                    out,
                    self.fields.as_deref_mut(),
                    SCOPE_NAME,
                    scope.name.as_bytes(),
                );
            }
            if !scope.version.is_empty() {
                emit_string(
                    out,
                    self.fields.as_deref_mut(),
                    SCOPE_VERSION,
                    scope.version.as_bytes(),
                );
            }
        }
        for kv in &span.attributes {
            emit_attribute(out, self.fields.as_deref_mut(), &mut self.scratch, kv);
        }
        let (status_code, status_message) = span
            .status
            .as_ref()
            .map_or((0, ""), |s| (s.code, s.message.as_str()));
        emit_kind_and_status(out, self.fields.as_deref_mut(), span.kind, status_code);
        if !status_message.is_empty() {
            emit_string(
                out,
                self.fields.as_deref_mut(),
                STATUS_DESCRIPTION,
                status_message.as_bytes(),
            );
        }
        if !span.trace_state.is_empty() {
            emit_string(
                out,
                self.fields.as_deref_mut(),
                TRACE_STATE,
                span.trace_state.as_bytes(),
            );
        }
        out.push(b']');
        if let Some(fields) = self.fields.as_deref_mut() {
            fields.finish(out);
        }

        // Logs: one per event. Fields are the event name as `event` (unless
        // an attribute is already called `event`) and then the attributes.
        // A log with no fields has `[]`, as Jaeger v2 writes it (Jaeger 1.x
        // wrote Go's nil slice, `null`; readers take both).
        out.extend_from_slice(b",\"logs\":[");
        for event in &span.events {
            push_separator(out);
            out.extend_from_slice(b"{\"timestamp\":");
            push_u64(out, event.time_unix_nano / 1_000);
            out.extend_from_slice(b",\"fields\":[");
            if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == EVENT) {
                push_string_tag(out, EVENT, event.name.as_bytes());
            }
            for kv in &event.attributes {
                push_attribute_tag(out, &mut self.scratch, kv);
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b']');
        out.extend_from_slice(&self.process);

        self.trace_id = trace_id;
        write_doc_id(&mut self.doc_id, &trace_id, &span_id, &self.json);
        Some(start_time_micros)
    }
}

/// The link's reference type: CHILD_OF only when its first
/// `opentracing.ref_type` attribute is the string `child_of`.
fn link_is_child_of(link: &Link) -> bool {
    link.attributes
        .iter()
        .find(|kv| kv.key == REF_TYPE)
        .is_some_and(|kv| {
            matches!(
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(Value::StringValue(s)) if s == REF_TYPE_CHILD_OF
            )
        })
}

/// Writes a comma unless `out` is right after the opening bracket.
#[inline]
pub(crate) fn push_separator(out: &mut Vec<u8>) {
    if out.last() != Some(&b'[') {
        out.push(b',');
    }
}

pub(crate) fn push_reference(
    out: &mut Vec<u8>,
    child_of: bool,
    trace_id: &TraceIdBytes,
    span_id: &SpanIdBytes,
) {
    push_separator(out);
    out.extend_from_slice(if child_of {
        b"{\"refType\":\"CHILD_OF\",\"traceID\":\""
    } else {
        b"{\"refType\":\"FOLLOWS_FROM\",\"traceID\":\""
    });
    ids::push_jaeger_trace_id(out, trace_id);
    out.extend_from_slice(b"\",\"spanID\":\"");
    hex::push_hex(out, span_id);
    out.extend_from_slice(b"\"}");
}

/// `{"traceID":…,"spanID":…` and `"flags"`: the start of a span document,
/// appended to `out`.
///
/// `parentSpanID` is not written: Jaeger 1.x leaves it out, and Jaeger v2
/// readers fall back to the first CHILD_OF reference. `flags` are the W3C
/// trace flags (the low byte of OTLP's flags: sampled = 1, as in Jaeger's
/// model), left out when zero like Jaeger's `omitempty`. Jaeger v2 writes all
/// 32 bits; bits 8 and 9 (OTLP's "parent is remote") mean nothing to a
/// Jaeger reader.
pub(crate) fn push_doc_head(
    out: &mut Vec<u8>,
    trace_id: &TraceIdBytes,
    span_id: &SpanIdBytes,
    otlp_flags: u32,
) {
    out.extend_from_slice(b"{\"traceID\":\"");
    ids::push_jaeger_trace_id(out, trace_id);
    out.extend_from_slice(b"\",\"spanID\":\"");
    hex::push_hex(out, span_id);
    out.push(b'"');
    let flags = otlp_flags & TRACE_FLAGS_MASK;
    if flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        push_u64(out, u64::from(flags));
    }
}

/// `],"startTime":…,"startTimeMillis":…,"duration":…`: closes the
/// references.
pub(crate) fn push_times(out: &mut Vec<u8>, start_time_micros: u64, duration_micros: u64) {
    let (start, len) = decimal(start_time_micros);
    out.extend_from_slice(b"],\"startTime\":");
    push_head(out, &start, len);
    out.extend_from_slice(b",\"startTimeMillis\":");
    // start / 1000: the same digits without the last three.
    if len > 3 {
        push_head(out, &start, len - 3);
    } else {
        out.push(b'0');
    }
    out.extend_from_slice(b",\"duration\":");
    push_u64(out, duration_micros);
}

/// The `span.kind` tag value of an OTLP span kind (None: unspecified or unknown).
pub fn span_kind_tag(kind: i32) -> Option<&'static str> {
    Some(match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => return None,
    })
}

/// The `span.kind`, `otel.status_code` and `error` tags of an OTLP span kind
/// and status code.
pub(crate) fn emit_kind_and_status(
    out: &mut Vec<u8>,
    mut fields: Option<&mut FieldMap>,
    kind: i32,
    status_code: i32,
) {
    if let Some(kind) = span_kind_tag(kind) {
        emit_string(out, fields.as_deref_mut(), SPAN_KIND, kind.as_bytes());
    }
    match status_code {
        1 => emit_string(out, fields, STATUS_CODE, b"OK"),
        2 => {
            emit_string(out, fields.as_deref_mut(), STATUS_CODE, b"ERROR");
            if !fields.is_some_and(|f| f.take_bool(ERROR, true)) {
                push_separator(out);
                out.extend_from_slice(b"{\"key\":\"error\",\"type\":\"bool\",\"value\":\"true\"}");
            }
        }
        _ => {}
    }
}

/// A string tag: a field of the `tag` object when tags-as-fields takes it,
/// else an entry of the `tags` array.
#[inline]
pub(crate) fn emit_string(
    out: &mut Vec<u8>,
    fields: Option<&mut FieldMap>,
    key: &str,
    value: &[u8],
) {
    if !fields.is_some_and(|f| f.take_string(key, value)) {
        push_string_tag(out, key, value);
    }
}

/// An attribute tag: a field of the `tag` object when tags-as-fields takes
/// it, else an entry of the `tags` array.
#[inline]
fn emit_attribute(
    out: &mut Vec<u8>,
    fields: Option<&mut FieldMap>,
    scratch: &mut Scratch,
    kv: &KeyValue,
) {
    if !fields.is_some_and(|f| f.take_attribute(scratch, kv)) {
        push_attribute_tag(out, scratch, kv);
    }
}

pub(crate) fn push_string_tag(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    push_separator(out);
    out.extend_from_slice(b"{\"key\":");
    push_json_str(out, key);
    out.extend_from_slice(b",\"type\":\"string\",\"value\":");
    push_json_bytes(out, value);
    out.push(b'}');
}

/// Writes an OTLP attribute as a Jaeger tag: `{"key":…,"type":…,"value":…}`.
///
/// Types and value texts (translator's `attributeToJaegerProtoTag`, then
/// Jaeger's `KeyValue.AsString`): string as is; bool `"true"`/`"false"`;
/// int64 in decimal; float64 as Go `strconv.FormatFloat(v, 'g', 10, 64)`;
/// bytes as `binary`, lowercase hex; arrays and key-value lists as `string`
/// holding pdata's `AsString()` JSON; an absent value as an empty string.
fn push_attribute_tag(out: &mut Vec<u8>, scratch: &mut Scratch, kv: &KeyValue) {
    push_separator(out);
    out.extend_from_slice(b"{\"key\":");
    push_json_str(out, &kv.key);
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => {
            out.extend_from_slice(b",\"type\":\"string\",\"value\":");
            push_json_str(out, s);
        }
        Some(Value::BoolValue(b)) => {
            out.extend_from_slice(if *b {
                b",\"type\":\"bool\",\"value\":\"true\""
            } else {
                b",\"type\":\"bool\",\"value\":\"false\""
            });
        }
        Some(Value::IntValue(i)) => {
            out.extend_from_slice(b",\"type\":\"int64\",\"value\":\"");
            push_i64(out, *i);
            out.push(b'"');
        }
        Some(Value::DoubleValue(f)) => {
            out.extend_from_slice(b",\"type\":\"float64\",\"value\":\"");
            push_go_float_g10(out, *f);
            out.push(b'"');
        }
        Some(Value::BytesValue(b)) => {
            out.extend_from_slice(b",\"type\":\"binary\",\"value\":\"");
            hex::push_hex(out, b);
            out.push(b'"');
        }
        Some(value @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
            scratch.text.clear();
            // pdata's AsString ignores json.Marshal's error (NaN or ±Inf
            // inside) and returns the empty string.
            if !push_raw_json(&mut scratch.text, &mut scratch.key_order, Some(value), 0) {
                scratch.text.clear();
            }
            out.extend_from_slice(b",\"type\":\"string\",\"value\":");
            push_json_bytes(out, &scratch.text);
        }
        // Empty value (and the profiling-only string-table index, which pdata
        // does not know): Jaeger's zero KeyValue is an empty string.
        Some(Value::StringValueStrindex(_)) | None => {
            out.extend_from_slice(b",\"type\":\"string\",\"value\":\"\"");
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger::doc_id::doc_id_text;
    use crate::jaeger::model::{self, RefType, ValueType};
    use crate::otlp::attributes::kv;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};
    use proptest::prelude::*;

    const TRACE: [u8; 16] = [
        0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6,
        0x0c,
    ];
    const SPAN: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
    const PARENT: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73];
    const LINKED_TRACE: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff];
    const LINKED_SPAN: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0xfe];
    /// 2017-01-26T21:46:31.639875123Z
    const START_NANOS: u64 = 1_485_467_191_639_875_123;

    fn string(value: &str) -> Value {
        Value::StringValue(value.into())
    }

    fn array(values: Vec<Value>) -> Value {
        Value::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    }

    fn kvlist(values: Vec<KeyValue>) -> Value {
        Value::KvlistValue(KeyValueList { values })
    }

    fn span() -> Span {
        Span {
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            name: "GET /dispatch".into(),
            start_time_unix_nano: START_NANOS,
            end_time_unix_nano: START_NANOS + 5_432_100,
            ..Default::default()
        }
    }

    fn request(
        resource: Vec<KeyValue>,
        scope: Option<InstrumentationScope>,
        spans: Vec<Span>,
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn service(name: &str) -> Vec<KeyValue> {
        vec![kv("service.name", string(name))]
    }

    /// An owned copy of a [`SpanDoc`].
    #[derive(Debug, Clone, PartialEq)]
    struct Written {
        json: String,
        doc_id: String,
        trace_id: Vec<u8>,
        start_time_micros: u64,
        service_name: String,
        operation_name: String,
    }

    fn write_all(req: &ExportTraceServiceRequest) -> (Vec<Written>, WriteStats) {
        let mut writer = SpanDocWriter::new();
        let mut docs = Vec::new();
        let stats = writer.write_request(req, |doc| {
            docs.push(Written {
                json: String::from_utf8(doc.json.to_vec()).expect("utf-8 json"),
                doc_id: doc_id_text(doc.doc_id).to_owned(),
                trace_id: doc.trace_id.to_vec(),
                start_time_micros: doc.start_time_micros,
                service_name: doc.service_name.to_owned(),
                operation_name: doc.operation_name.to_owned(),
            })
        });
        (docs, stats)
    }

    fn write_one(req: &ExportTraceServiceRequest) -> Written {
        let (mut docs, stats) = write_all(req);
        assert_eq!(stats.spans, 1);
        docs.remove(0)
    }

    fn parse(doc: &Written) -> model::Span {
        serde_json::from_str(&doc.json).unwrap_or_else(|e| panic!("{e}: {}", doc.json))
    }

    fn tags_of(span: Span) -> Vec<(String, ValueType, String)> {
        let doc = write_one(&request(service("svc"), None, vec![span]));
        parse(&doc)
            .tags
            .into_iter()
            .map(|t| (t.key, t.value_type, t.value))
            .collect()
    }

    fn tag(key: &str, value_type: ValueType, value: &str) -> (String, ValueType, String) {
        (key.into(), value_type, value.into())
    }

    #[test]
    fn maps_every_attribute_type_to_tag_type_and_value() {
        let mut s = span();
        s.attributes = vec![
            kv("str", string("hello")),
            kv("bool.t", Value::BoolValue(true)),
            kv("bool.f", Value::BoolValue(false)),
            kv("int", Value::IntValue(23456)),
            kv("int.neg", Value::IntValue(i64::MIN)),
            kv("double", Value::DoubleValue(72.5)),
            kv("double.third", Value::DoubleValue(1.0 / 3.0)),
            kv("bytes", Value::BytesValue(vec![0x00, 0x00, 0x30, 0x39])),
            kv(
                "array",
                array(vec![
                    string("a"),
                    Value::IntValue(1),
                    Value::BoolValue(true),
                ]),
            ),
            kv(
                "kvlist",
                kvlist(vec![kv("b", Value::IntValue(2)), kv("a", string("x"))]),
            ),
            KeyValue {
                key: "empty".into(),
                value: None,
                ..Default::default()
            },
            kv("dup", string("first")),
            kv("dup", string("second")),
        ];
        assert_eq!(
            tags_of(s),
            vec![
                tag("str", ValueType::String, "hello"),
                tag("bool.t", ValueType::Bool, "true"),
                tag("bool.f", ValueType::Bool, "false"),
                tag("int", ValueType::Int64, "23456"),
                tag("int.neg", ValueType::Int64, "-9223372036854775808"),
                tag("double", ValueType::Float64, "72.5"),
                tag("double.third", ValueType::Float64, "0.3333333333"),
                tag("bytes", ValueType::Binary, "00003039"),
                tag("array", ValueType::String, r#"["a",1,true]"#),
                tag("kvlist", ValueType::String, r#"{"a":"x","b":2}"#),
                tag("empty", ValueType::String, ""),
                tag("dup", ValueType::String, "first"),
                tag("dup", ValueType::String, "second"),
            ]
        );
    }

    #[test]
    fn renders_nested_values_like_pdata_as_string() {
        let render = |value: Value| {
            let mut s = span();
            s.attributes = vec![kv("v", value)];
            tags_of(s).remove(0).2
        };
        // Keys sorted bytewise, the last duplicate wins, nested lists too.
        assert_eq!(
            render(kvlist(vec![
                kv("z", Value::IntValue(1)),
                kv("B", string("first")),
                kv(
                    "a",
                    kvlist(vec![
                        kv("y", Value::BoolValue(false)),
                        kv("x", array(vec![]))
                    ])
                ),
                kv("B", string("last")),
            ])),
            r#"{"B":"last","a":{"x":[],"y":false},"z":1}"#
        );
        // Bytes are base64, empty bytes and empty values null.
        assert_eq!(
            render(array(vec![
                Value::BytesValue(b"hi!?".to_vec()),
                Value::BytesValue(vec![]),
                Value::StringValueStrindex(3),
            ])),
            r#"["aGkhPw==",null,null]"#
        );
        // Floats as Go's encoding/json writes them.
        assert_eq!(
            render(array(vec![
                Value::DoubleValue(1.0),
                Value::DoubleValue(-0.0),
                Value::DoubleValue(0.1),
                Value::DoubleValue(1e-6),
                Value::DoubleValue(1.5e-7),
                Value::DoubleValue(1e20),
                Value::DoubleValue(1e21),
                Value::DoubleValue(-2.5e100),
            ])),
            "[1,-0,0.1,0.000001,1.5e-7,100000000000000000000,1e+21,-2.5e+100]"
        );
        // Strings inside are JSON-escaped with Go's HTML escaping.
        assert_eq!(
            render(array(vec![string("<a href=\"x\">")])),
            r#"["\u003ca href=\"x\"\u003e"]"#
        );
        // json.Marshal fails on NaN/Inf, and pdata then returns "".
        assert_eq!(
            render(array(vec![
                Value::IntValue(1),
                Value::DoubleValue(f64::NAN)
            ])),
            ""
        );
        assert_eq!(
            render(kvlist(vec![kv("inf", Value::DoubleValue(f64::INFINITY))])),
            ""
        );
    }

    /// Expected texts produced by Go 1.19's `strconv.FormatFloat(v, 'g', 10,
    /// 64)` (Jaeger's float64 tag text) for the same inputs.
    #[test]
    fn formats_float_tags_like_go_format_float_g10() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (72.5, "72.5"),
            (-72.5, "-72.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333"),
            (2.0 / 3.0, "0.6666666667"),
            (100.0, "100"),
            (123_456_789.0, "123456789"),
            (1_234_567_890.0, "1234567890"),
            (12_345_678_901.0, "1.23456789e+10"),
            (1e10, "1e+10"),
            (1e21, "1e+21"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (0.000_123_456_789_01, "0.000123456789"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "4.940656458e-324"),
            (f64::MAX, "1.797693135e+308"),
            (f64::MIN_POSITIVE, "2.225073859e-308"),
            (1_234_567_890.5, "1234567890"),
            (1_234_567_891.5, "1234567892"),
            (99.999_999_999_99, "100"),
            (9_999_999_999.5, "1e+10"),
            (std::f64::consts::PI, "3.141592654"),
            (-1.25e-300, "-1.25e-300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(value, expected) in cases {
            let mut out = Vec::new();
            push_go_float_g10(&mut out, value);
            assert_eq!(String::from_utf8_lossy(&out), expected, "value {value:e}");
        }
    }

    #[test]
    fn writes_events_as_logs() {
        let mut s = span();
        s.events = vec![
            Event {
                time_unix_nano: START_NANOS + 1_500,
                name: "cache miss".into(),
                attributes: vec![kv("key", string("k1")), kv("attempt", Value::IntValue(2))],
                ..Default::default()
            },
            Event {
                // An `event` attribute takes the place of the name.
                time_unix_nano: START_NANOS + 2_999,
                name: "ignored".into(),
                attributes: vec![kv("event", Value::IntValue(123_415))],
                ..Default::default()
            },
            Event {
                time_unix_nano: START_NANOS,
                ..Default::default()
            },
        ];
        let doc = write_one(&request(service("svc"), None, vec![s]));
        // A log without fields still has a list, as Jaeger v2 writes it.
        assert!(doc
            .json
            .contains(r#"{"timestamp":1485467191639875,"fields":[]}"#));
        let logs = parse(&doc).logs;
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[0].timestamp, 1_485_467_191_639_876);
        assert_eq!(
            logs[0].fields,
            vec![
                model::KeyValue::string("event", "cache miss"),
                model::KeyValue {
                    key: "key".into(),
                    value_type: ValueType::String,
                    value: "k1".into()
                },
                model::KeyValue {
                    key: "attempt".into(),
                    value_type: ValueType::Int64,
                    value: "2".into()
                },
            ]
        );
        assert_eq!(logs[1].timestamp, 1_485_467_191_639_878);
        assert_eq!(logs[1].fields.len(), 1);
        assert_eq!(logs[1].fields[0].key, "event");
        assert_eq!(logs[1].fields[0].value, "123415");
        assert!(logs[2].fields.is_empty());
    }

    #[test]
    fn writes_w3c_trace_flags_and_omits_zero() {
        let flags_of = |flags: u32| {
            let mut s = span();
            s.flags = flags;
            let doc = write_one(&request(service("svc"), None, vec![s]));
            (parse(&doc).flags, doc.json.contains("\"flags\""))
        };
        assert_eq!(flags_of(0), (0, false));
        assert_eq!(flags_of(1), (1, true));
        // OTLP's "parent is remote" bits (8, 9) are not trace flags.
        assert_eq!(flags_of(0x301), (1, true));
        assert_eq!(flags_of(0x100), (0, false));
        // Where Jaeger's model puts them: right after the span ID.
        let mut s = span();
        s.flags = 1;
        let doc = write_one(&request(service("svc"), None, vec![s]));
        assert!(doc
            .json
            .contains(r#""spanID":"eee19b7ec3c1b174","flags":1,"operationName":"#));
        // The same place as the dbmodel serialises it.
        assert_eq!(
            serde_json::to_string(&parse(&doc)).expect("serialises"),
            doc.json
        );
    }

    #[test]
    fn puts_parent_first_as_child_of() {
        let mut s = span();
        s.parent_span_id = PARENT.to_vec();
        s.links = vec![Link {
            trace_id: LINKED_TRACE.to_vec(),
            span_id: LINKED_SPAN.to_vec(),
            ..Default::default()
        }];
        let refs = parse(&write_one(&request(service("svc"), None, vec![s]))).references;
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].ref_type, RefType::ChildOf);
        assert_eq!(refs[0].trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(refs[0].span_id, "eee19b7ec3c1b173");
        assert_eq!(refs[1].ref_type, RefType::FollowsFrom);
    }

    #[test]
    fn writes_links_as_follows_from_references() {
        let mut s = span();
        s.links = vec![
            Link {
                trace_id: LINKED_TRACE.to_vec(),
                span_id: LINKED_SPAN.to_vec(),
                attributes: vec![kv("other", string("x"))],
                ..Default::default()
            },
            Link {
                trace_id: TRACE.to_vec(),
                span_id: LINKED_SPAN.to_vec(),
                attributes: vec![kv("opentracing.ref_type", string("child_of"))],
                ..Default::default()
            },
            Link {
                trace_id: TRACE.to_vec(),
                span_id: PARENT.to_vec(),
                attributes: vec![kv("opentracing.ref_type", string("follows_from"))],
                ..Default::default()
            },
        ];
        let refs = parse(&write_one(&request(service("svc"), None, vec![s]))).references;
        let got: Vec<_> = refs
            .iter()
            .map(|r| (r.ref_type, r.trace_id.as_str(), r.span_id.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                // A high-zero trace ID is written in its 16-character form.
                (RefType::FollowsFrom, "00000000000000ff", "00000000000000fe"),
                (
                    RefType::ChildOf,
                    "5b8efff798038103d269b633813fc60c",
                    "00000000000000fe"
                ),
                (
                    RefType::FollowsFrom,
                    "5b8efff798038103d269b633813fc60c",
                    "eee19b7ec3c1b173"
                ),
            ]
        );
    }

    #[test]
    fn link_to_the_parent_only_overrides_the_parent_reference_type() {
        let mut s = span();
        s.parent_span_id = PARENT.to_vec();
        s.links = vec![Link {
            trace_id: TRACE.to_vec(),
            span_id: PARENT.to_vec(),
            ..Default::default()
        }];
        let refs = parse(&write_one(&request(service("svc"), None, vec![s]))).references;
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].ref_type, RefType::FollowsFrom);
        assert_eq!(refs[0].span_id, "eee19b7ec3c1b173");
    }

    #[test]
    fn adds_kind_and_status_tags() {
        let kinds = [
            (0, None),
            (1, Some("internal")),
            (2, Some("server")),
            (3, Some("client")),
            (4, Some("producer")),
            (5, Some("consumer")),
            (9, None),
        ];
        for (kind, expected) in kinds {
            let mut s = span();
            s.kind = kind;
            let tags = tags_of(s);
            let got = tags
                .iter()
                .find(|t| t.0 == "span.kind")
                .map(|t| t.2.as_str());
            assert_eq!(got, expected, "kind {kind}");
        }

        let mut s = span();
        s.attributes = vec![kv("a", string("1"))];
        s.kind = 3;
        s.status = Some(Status {
            code: 2,
            message: "boom".into(),
        });
        s.trace_state = "rojo=00f067aa0ba902b7".into();
        assert_eq!(
            tags_of(s),
            vec![
                tag("a", ValueType::String, "1"),
                tag("span.kind", ValueType::String, "client"),
                tag("otel.status_code", ValueType::String, "ERROR"),
                tag("error", ValueType::Bool, "true"),
                tag("otel.status_description", ValueType::String, "boom"),
                tag("w3c.tracestate", ValueType::String, "rojo=00f067aa0ba902b7"),
            ]
        );

        let mut s = span();
        s.status = Some(Status {
            code: 1,
            message: String::new(),
        });
        assert_eq!(
            tags_of(s),
            vec![tag("otel.status_code", ValueType::String, "OK")]
        );

        // Unset status: no code tag, but a message is still kept.
        let mut s = span();
        s.status = Some(Status {
            code: 0,
            message: "note".into(),
        });
        assert_eq!(
            tags_of(s),
            vec![tag("otel.status_description", ValueType::String, "note")]
        );
        assert!(tags_of(span()).is_empty());
    }

    #[test]
    fn adds_scope_tags_before_attributes() {
        let mut s = span();
        s.attributes = vec![kv("a", Value::IntValue(1))];
        let scope = InstrumentationScope {
            name: "io.opentelemetry.http".into(),
            version: "1.2.3".into(),
            ..Default::default()
        };
        let doc = write_one(&request(service("svc"), Some(scope), vec![s.clone()]));
        let tags: Vec<_> = parse(&doc)
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        assert_eq!(
            tags,
            vec![
                (
                    "otel.scope.name".to_owned(),
                    "io.opentelemetry.http".to_owned()
                ),
                ("otel.scope.version".to_owned(), "1.2.3".to_owned()),
                ("a".to_owned(), "1".to_owned()),
            ]
        );
        let only_version = InstrumentationScope {
            version: "9".into(),
            ..Default::default()
        };
        let doc = write_one(&request(service("svc"), Some(only_version), vec![s]));
        assert_eq!(parse(&doc).tags[0].key, "otel.scope.version");
    }

    #[test]
    fn maps_resource_to_process_without_service_name_tag() {
        let resource = vec![
            kv("host.name", string("node-1")),
            kv("service.name", string("frontend")),
            kv("process.pid", Value::IntValue(4242)),
            kv("service.name", string("second")),
        ];
        let doc = write_one(&request(resource, None, vec![span()]));
        assert_eq!(doc.service_name, "frontend");
        let process = parse(&doc).process;
        assert_eq!(process.service_name, "frontend");
        let tags: Vec<_> = process
            .tags
            .into_iter()
            .map(|t| (t.key, t.value_type, t.value))
            .collect();
        assert_eq!(
            tags,
            vec![
                tag("host.name", ValueType::String, "node-1"),
                tag("process.pid", ValueType::Int64, "4242"),
            ]
        );
    }

    #[test]
    fn names_service_when_resource_lacks_service_name() {
        let no_resource = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    spans: vec![span()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let doc = write_one(&no_resource);
        assert_eq!(doc.service_name, NO_SERVICE_NAME);
        assert!(doc
            .json
            .ends_with(r#""process":{"serviceName":"OTLPResourceNoServiceName","tags":[]}}"#));

        let doc = write_one(&request(vec![], None, vec![span()]));
        assert_eq!(doc.service_name, "OTLPResourceNoServiceName");

        let doc = write_one(&request(
            vec![kv("host.name", string("h"))],
            None,
            vec![span()],
        ));
        assert_eq!(doc.service_name, "empty-service-name");
        assert_eq!(parse(&doc).process.tags.len(), 1);

        let doc = write_one(&request(
            vec![kv("service.name", Value::IntValue(7))],
            None,
            vec![span()],
        ));
        assert_eq!(doc.service_name, "empty-service-name");
        assert!(parse(&doc).process.tags.is_empty());

        let doc = write_one(&request(service(""), None, vec![span()]));
        assert_eq!(doc.service_name, "empty-service-name");
    }

    #[test]
    fn written_json_parses_into_model_span() {
        let mut s = span();
        s.parent_span_id = PARENT.to_vec();
        s.kind = 2;
        let doc = write_one(&request(service("frontend"), None, vec![s]));
        let parsed = parse(&doc);
        assert_eq!(parsed.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(parsed.span_id, "eee19b7ec3c1b174");
        assert_eq!(parsed.parent_span_id, None);
        assert_eq!(parsed.parent_span_id(), Some("eee19b7ec3c1b173"));
        assert_eq!(parsed.flags, 0);
        assert_eq!(parsed.operation_name, "GET /dispatch");
        assert_eq!(parsed.start_time, 1_485_467_191_639_875);
        assert_eq!(parsed.start_time_millis, 1_485_467_191_639);
        assert_eq!(parsed.duration, 5_432);
        assert_eq!(parsed.process.service_name, "frontend");
        assert!(parsed.logs.is_empty());
        assert!(!doc.json.contains("flags"));
        assert!(!doc.json.contains("parentSpanID"));

        assert_eq!(doc.trace_id, TRACE.to_vec());
        assert_eq!(doc.start_time_micros, 1_485_467_191_639_875);
        assert_eq!(doc.operation_name, "GET /dispatch");
        // Serialising the model gives back the same bytes: field order and
        // omissions agree with Jaeger's dbmodel.
        assert_eq!(
            serde_json::to_string(&parsed).expect("serialises"),
            doc.json
        );
    }

    #[test]
    fn writes_high_zero_trace_id_as_16_hex() {
        let mut s = span();
        s.trace_id = LINKED_TRACE.to_vec();
        let doc = write_one(&request(service("svc"), None, vec![s]));
        assert_eq!(parse(&doc).trace_id, "00000000000000ff");
        // The _id always carries the full 32-character form.
        assert!(doc
            .doc_id
            .starts_with("000000000000000000000000000000ff-eee19b7ec3c1b174-"));
    }

    #[test]
    fn duration_saturates_when_end_precedes_start() {
        let mut s = span();
        s.end_time_unix_nano = s.start_time_unix_nano - 1;
        assert_eq!(
            parse(&write_one(&request(service("svc"), None, vec![s]))).duration,
            0
        );
    }

    fn spans_of_request(req: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
        req.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
    }

    #[test]
    fn skips_spans_with_invalid_id_lengths() {
        let mut bad_trace = span();
        bad_trace.trace_id = vec![1; 8];
        let mut bad_parent = span();
        bad_parent.parent_span_id = vec![1; 4];
        let mut bad_link = span();
        bad_link.links = vec![Link {
            trace_id: TRACE.to_vec(),
            span_id: vec![1; 9],
            ..Default::default()
        }];
        let mut empty_ids = span();
        empty_ids.trace_id.clear();
        empty_ids.span_id.clear();
        let req = request(
            service("svc"),
            None,
            vec![bad_trace, span(), bad_parent, bad_link, empty_ids],
        );
        let (docs, stats) = write_all(&req);
        assert_eq!(
            stats,
            WriteStats {
                spans: 2,
                skipped_invalid_ids: 3
            }
        );
        // `unwritable_id` names exactly the spans skipped.
        let described: Vec<Option<String>> = spans_of_request(&req).map(unwritable_id).collect();
        assert_eq!(
            described,
            vec![
                Some("trace_id of 8 bytes, expected 16 or none".to_owned()),
                None,
                Some("parent_span_id of 4 bytes, expected 8 or none".to_owned()),
                Some("link span_id of 9 bytes, expected 8 or none".to_owned()),
                None,
            ]
        );
        // Empty IDs read as zero, as pdata decodes them.
        let zero = parse(&docs[1]);
        assert_eq!(zero.trace_id, "0000000000000000");
        assert_eq!(zero.span_id, "0000000000000000");
    }

    #[test]
    fn doc_id_is_deterministic_and_changes_with_any_field() {
        let mut base = span();
        base.parent_span_id = PARENT.to_vec();
        base.attributes = vec![kv("http.status_code", Value::IntValue(200))];
        base.events = vec![Event {
            time_unix_nano: START_NANOS,
            name: "e".into(),
            ..Default::default()
        }];
        let scope = || {
            Some(InstrumentationScope {
                name: "lib".into(),
                version: "1".into(),
                ..Default::default()
            })
        };
        let id_of = |s: Span, resource: Vec<KeyValue>, scope: Option<InstrumentationScope>| {
            write_one(&request(resource, scope, vec![s])).doc_id
        };
        let base_id = id_of(base.clone(), service("svc"), scope());
        assert_eq!(base_id.len(), DOC_ID_LEN);
        assert!(base_id.starts_with("5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-"));
        assert_eq!(id_of(base.clone(), service("svc"), scope()), base_id);

        let mut variants: Vec<String> = Vec::new();
        let mut push = |s: Span| variants.push(id_of(s, service("svc"), scope()));
        let mut s = base.clone();
        s.name.push('x');
        push(s);
        let mut s = base.clone();
        s.start_time_unix_nano += 1_000;
        push(s);
        let mut s = base.clone();
        s.end_time_unix_nano += 1_000;
        push(s);
        let mut s = base.clone();
        s.attributes[0] = kv("http.status_code", Value::IntValue(201));
        push(s);
        let mut s = base.clone();
        s.events[0].name = "f".into();
        push(s);
        let mut s = base.clone();
        s.parent_span_id = SPAN.to_vec();
        push(s);
        let mut s = base.clone();
        s.kind = 3; // Zipkin-style client/server spans sharing one span ID
        push(s);
        let mut s = base.clone();
        s.status = Some(Status {
            code: 2,
            message: String::new(),
        });
        push(s);
        variants.push(id_of(base.clone(), service("svc2"), scope()));
        variants.push(id_of(base.clone(), service("svc"), None));

        for (i, id) in variants.iter().enumerate() {
            assert_ne!(id, &base_id, "variant {i}");
            assert_eq!(&id[..50], &base_id[..50], "variant {i}");
            for other in &variants[i + 1..] {
                assert_ne!(id, other);
            }
        }
    }

    #[test]
    fn writes_each_resource_with_its_own_process() {
        let mut req = request(service("a"), None, vec![span(), span()]);
        let mut other = request(service("b"), None, vec![span()]);
        req.resource_spans.append(&mut other.resource_spans);
        // A resource without spans produces nothing.
        req.resource_spans.push(ResourceSpans::default());
        let (docs, stats) = write_all(&req);
        assert_eq!(stats.spans, 3);
        let names: Vec<_> = docs.iter().map(|d| d.service_name.as_str()).collect();
        assert_eq!(names, ["a", "a", "b"]);
        assert_eq!(parse(&docs[2]).process.service_name, "b");
        assert_eq!(docs[0].doc_id, docs[1].doc_id);
    }

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        push_json_str(&mut out, s);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn escapes_quotes_control_chars_and_unicode() {
        assert_eq!(escaped(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(escaped("\n\r\t"), r#""\n\r\t""#);
        assert_eq!(
            escaped("\u{0}\u{1f}\u{8}\u{c}"),
            r#""\u0000\u001f\u0008\u000c""#
        );
        assert_eq!(escaped("<a>&"), r#""\u003ca\u003e\u0026""#);
        assert_eq!(escaped("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        assert_eq!(
            escaped("é日本🎉\u{7f}\u{2027}"),
            "\"é日本🎉\u{7f}\u{2027}\""
        );
        assert_eq!(escaped(""), r#""""#);
        // A special byte at every offset of the 8-byte fast path.
        for pos in 0..24 {
            let mut text: String = "abcdefghijklmnopqrstuvwx".into();
            text.replace_range(pos..pos + 1, "\"");
            let out = escaped(&text);
            assert_eq!(serde_json::from_str::<String>(&out).expect("valid"), text);
            assert_eq!(out.len(), text.len() + 3);
        }
    }

    proptest! {
        #[test]
        fn escaped_strings_parse_back_to_the_original(text in any::<String>()) {
            let out = escaped(&text);
            prop_assert_eq!(serde_json::from_str::<String>(&out).expect("valid JSON string"), text);
        }

        #[test]
        fn any_span_name_and_attribute_gives_a_parsable_document(
            name in any::<String>(),
            key in any::<String>(),
            value in any::<String>(),
            number in any::<f64>(),
        ) {
            let mut s = span();
            s.name = name.clone();
            s.attributes = vec![kv(&key, string(&value)), kv("n", Value::DoubleValue(number))];
            let doc = write_one(&request(service("svc"), None, vec![s]));
            let parsed = parse(&doc);
            prop_assert_eq!(parsed.operation_name, name);
            prop_assert_eq!(&parsed.tags[0].key, &key);
            prop_assert_eq!(&parsed.tags[0].value, &value);
        }
    }

    // ---- golden fixture ---------------------------------------------------

    const GOLDEN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jaeger_span_golden.json"
    );

    /// One span exercising every translation rule.
    fn golden_request() -> ExportTraceServiceRequest {
        let mut s = span();
        s.parent_span_id = PARENT.to_vec();
        s.kind = 2;
        s.trace_state = "rojo=00f067aa0ba902b7".into();
        // Sampled, with OTLP's "parent is remote" bits.
        s.flags = 0x301;
        s.status = Some(Status {
            code: 2,
            message: "upstream \"db\" timed out".into(),
        });
        s.attributes = vec![
            kv("http.method", string("GET")),
            kv("http.status_code", Value::IntValue(504)),
            kv("http.response_time_ratio", Value::DoubleValue(72.5)),
            kv("retry", Value::BoolValue(true)),
            kv("payload", Value::BytesValue(vec![0x00, 0x00, 0x30, 0x39])),
            kv(
                "http.request.header.accept",
                array(vec![string("text/html"), string("*/*")]),
            ),
            kv(
                "db.params",
                kvlist(vec![
                    kv("limit", Value::IntValue(10)),
                    kv("id", string("<7>")),
                ]),
            ),
        ];
        s.events = vec![
            Event {
                time_unix_nano: START_NANOS + 1_000_000,
                name: "retrying".into(),
                attributes: vec![kv("attempt", Value::IntValue(2))],
                ..Default::default()
            },
            Event {
                time_unix_nano: START_NANOS + 2_000_000,
                ..Default::default()
            },
        ];
        s.links = vec![Link {
            trace_id: LINKED_TRACE.to_vec(),
            span_id: LINKED_SPAN.to_vec(),
            ..Default::default()
        }];
        request(
            vec![
                kv("service.name", string("frontend")),
                kv("host.name", string("node-1")),
                kv("process.pid", Value::IntValue(4242)),
            ],
            Some(InstrumentationScope {
                name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
                version: "0.46.1".into(),
                ..Default::default()
            }),
            vec![s],
        )
    }

    /// Re-indents compact JSON, keeping field order (serde_json's `Value`
    /// would sort keys).
    fn pretty(json: &str) -> String {
        let mut out = String::new();
        let mut indent = 0usize;
        let mut in_string = false;
        let mut escape = false;
        let chars: Vec<char> = json.chars().collect();
        let newline = |out: &mut String, indent: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(indent));
        };
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if in_string {
                out.push(c);
                if escape {
                    escape = false;
                } else if c == '\\' {
                    escape = true;
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            match c {
                '"' => {
                    in_string = true;
                    out.push(c);
                }
                '{' | '[' => {
                    let close = if c == '{' { '}' } else { ']' };
                    out.push(c);
                    if chars.get(i) == Some(&close) {
                        out.push(close);
                        i += 1;
                    } else {
                        indent += 1;
                        newline(&mut out, indent);
                    }
                }
                '}' | ']' => {
                    indent -= 1;
                    newline(&mut out, indent);
                    out.push(c);
                }
                ',' => {
                    out.push(c);
                    newline(&mut out, indent);
                }
                ':' => out.push_str(": "),
                _ => out.push(c),
            }
        }
        out.push('\n');
        out
    }

    /// Drops the whitespace outside strings.
    fn minify(json: &str) -> String {
        let mut out = String::new();
        let mut in_string = false;
        let mut escape = false;
        for c in json.chars() {
            if in_string {
                out.push(c);
                if escape {
                    escape = false;
                } else if c == '\\' {
                    escape = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
                out.push(c);
            } else if !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }

    /// The fixture was produced by this writer and checked field by field
    /// against Jaeger's dbmodel and the Collector's translator. Regenerate
    /// with `FERROTRACE_BLESS=1` after a deliberate change, and review the
    /// diff.
    #[test]
    fn matches_golden_document() {
        let doc = write_one(&golden_request());
        if std::env::var_os("FERROTRACE_BLESS").is_some() {
            std::fs::write(GOLDEN, pretty(&doc.json)).expect("write golden fixture");
        }
        let golden = std::fs::read_to_string(GOLDEN).expect("golden fixture present");
        assert_eq!(minify(&golden), doc.json);
        assert_eq!(pretty(&doc.json), golden);
    }

    /// `startTimeMillis` is `startTime / 1000` at every digit count and
    /// its edges (it is written from `startTime`'s digits).
    #[test]
    fn start_time_millis_is_the_start_time_divided_by_a_thousand() {
        let mut starts = vec![0, 1, u64::MAX];
        for digits in 1..20u32 {
            let power = 10u64.pow(digits);
            starts.extend([power - 1, power, power + 1, power / 3 * 2]);
        }
        for start in starts {
            let mut out = Vec::new();
            push_times(&mut out, start, 7);
            let want = format!(
                "],\"startTime\":{start},\"startTimeMillis\":{},\"duration\":7",
                start / 1000
            );
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
