//! The ingester's hot path for `otlp_proto` messages: Jaeger span documents
//! written straight from the protobuf wire of an `ExportTraceServiceRequest`,
//! without building prost structs.
//!
//! [`WireDocWriter::write_message`] walks the message once. The walk checks
//! everything prost's decode checks (varints, tags, wire types of the known
//! fields, lengths, UTF-8 of every string, nesting) and records each span,
//! event, link and attribute as byte ranges of the message in reused arenas.
//! Then the documents are rendered from those ranges, in the order and with
//! the texts of [`SpanDocWriter`](super::SpanDocWriter), which stays the
//! reference: for every input the two give byte-identical documents, ids and
//! routing values (`wire_writer`'s property tests compare them).
//!
//! [`WireDocWriter::write_message_into`] writes each document straight into
//! a [`DocDestination`]'s buffer, e.g. a `_bulk` body after the document's
//! action line, so a document is written once and never copied.
//!
//! Two outcomes besides the fast path, both through prost:
//! - **Malformed input**: the walk stops before any document is handed out;
//!   prost then decodes the message to give the error, word for word what a
//!   decoding ingester reports. No document of such a message is written, so
//!   none can be left in a bulk.
//! - **Rare encodings** the walk leaves to prost rather than re-implement:
//!   a singular sub-message sent twice (protobuf merges the two), groups
//!   (see `otlp::wire`). prost decodes the message and the reference writer
//!   writes it: the same documents, only slower.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use super::doc_id::{write_doc_id, DocId, DOC_ID_LEN};
use super::go_json::{
    push_base64, push_go_float_g10, push_go_json_float, push_i64, push_json_bytes, push_u64,
};
use super::ids::{self, SpanIdBytes, TraceIdBytes};
use super::tags_as_fields::{FieldMap, TagsAsFields};
use super::writer::{
    emit_kind_and_status, emit_string, push_doc_head, push_reference, push_separator,
    push_string_tag, push_times, SpanDoc, SpanDocWriter, WriteStats, EMPTY_SERVICE_NAME,
    REF_TYPE_CHILD_OF,
};
use crate::otlp::semconv::{EVENT, NO_SERVICE_NAME, REF_TYPE, SERVICE_NAME};
use crate::otlp::span_view::{self, SpanView};
use crate::otlp::wire::{
    for_each_item, read_any_value, read_key_value, text, Attr, LinkRuns, RequestRuns, Run,
    ScopeRuns, SpanRuns, Val,
};

/// Where [`WireDocWriter::write_message_into`] writes span documents.
pub trait DocDestination {
    /// Called before each document with its span's start time (µs since the
    /// Unix epoch); returns the buffer the document is appended to (after
    /// whatever the destination puts before it).
    fn begin(&mut self, start_time_micros: u64) -> &mut Vec<u8>;

    /// Called once the document has been appended to the buffer [`begin`](Self::begin) returned.
    fn end(&mut self, doc: WrittenDoc<'_>);

    /// Appends a whole document written elsewhere (by the reference writer).
    fn push(&mut self, doc: SpanDoc<'_>) {
        self.begin(doc.start_time_micros)
            .extend_from_slice(doc.json);
        self.end(WrittenDoc {
            doc_id: doc.doc_id,
            trace_id: doc.trace_id,
            start_time_micros: doc.start_time_micros,
            service_name: doc.service_name,
            operation_name: doc.operation_name,
        });
    }
}

/// A [`SpanDoc`] whose JSON is already in its destination's buffer.
#[derive(Debug, Clone, Copy)]
pub struct WrittenDoc<'a> {
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

/// Hands each document to a closure as a [`SpanDoc`], from a buffer of its own.
struct EachDoc<'b, F> {
    json: &'b mut Vec<u8>,
    each: F,
}

impl<F: FnMut(SpanDoc<'_>)> DocDestination for EachDoc<'_, F> {
    fn begin(&mut self, _start_time_micros: u64) -> &mut Vec<u8> {
        self.json.clear();
        self.json
    }

    fn end(&mut self, doc: WrittenDoc<'_>) {
        (self.each)(SpanDoc {
            json: self.json,
            doc_id: doc.doc_id,
            trace_id: doc.trace_id,
            start_time_micros: doc.start_time_micros,
            service_name: doc.service_name,
            operation_name: doc.operation_name,
        });
    }
}

/// Output buffers, reused from span to span (see [`SpanDocWriter`]).
#[derive(Debug)]
struct Render {
    process: Vec<u8>,
    /// The `process` of recent resources, by their encoded bytes.
    processes: ProcessCache,
    /// The slot of `processes` holding the current resource's text; `None`
    /// for a resource too large to cache, whose text is in `process`.
    process_slot: Option<usize>,
    /// JSON text of an array / key-value-list value.
    text: Vec<u8>,
    /// Per nesting depth, the entries of a key-value list being sorted.
    key_order: Vec<Vec<(Run, Val)>>,
    doc_id: [u8; DOC_ID_LEN],
    trace_id: TraceIdBytes,
    fields: Option<Box<FieldMap>>,
}

/// Writes Jaeger span documents from `otlp_proto` Kafka messages; keep one
/// per worker and reuse it.
#[derive(Debug)]
pub struct WireDocWriter {
    view: RequestRuns,
    render: Render,
    /// The document [`write_message`](Self::write_message) hands out.
    json: Vec<u8>,
    /// Writes what prost decoded, for the encodings the walk leaves to it.
    reference: SpanDocWriter,
}

impl Default for WireDocWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl WireDocWriter {
    pub fn new() -> Self {
        Self::with_tags_as_fields(TagsAsFields::default())
    }

    /// A writer that also stores the tags `config` selects as fields of a
    /// `tag` object (Jaeger's tags-as-fields).
    pub fn with_tags_as_fields(config: TagsAsFields) -> Self {
        let fields = config
            .is_enabled()
            .then(|| Box::new(FieldMap::new(config.clone())));
        WireDocWriter {
            view: RequestRuns::default(),
            json: Vec::with_capacity(4096),
            render: Render {
                process: Vec::with_capacity(1024),
                processes: ProcessCache::default(),
                process_slot: None,
                text: Vec::new(),
                key_order: Vec::new(),
                doc_id: [b'0'; DOC_ID_LEN],
                trace_id: [0; 16],
                fields,
            },
            reference: SpanDocWriter::with_tags_as_fields(config),
        }
    }

    /// Writes every span of `message`, an encoded `ExportTraceServiceRequest`,
    /// and calls `each` with its document, in request order: what
    /// [`SpanDocWriter::write_request`] gives for the decoded request. A
    /// message prost cannot decode gives prost's error, and then `each` has
    /// not been called.
    pub fn write_message(
        &mut self,
        message: &[u8],
        each: impl FnMut(SpanDoc<'_>),
    ) -> Result<WriteStats, prost::DecodeError> {
        self.write_message_visiting(message, each, |_| {})
    }

    /// [`write_message`](Self::write_message), with `visit` called first
    /// with the [`SpanView`] of every span, in request order, from the same
    /// walk (spans whose documents are skipped for invalid IDs included),
    /// while what the walk read is still in the nearest cache. A message
    /// prost cannot decode calls neither.
    pub fn write_message_visiting(
        &mut self,
        message: &[u8],
        each: impl FnMut(SpanDoc<'_>),
        visit: impl FnMut(SpanView<'_>),
    ) -> Result<WriteStats, prost::DecodeError> {
        let mut json = std::mem::take(&mut self.json);
        let mut destination = EachDoc {
            json: &mut json,
            each,
        };
        let written = self.write_message_into(message, &mut destination, visit);
        self.json = json;
        written
    }

    /// [`write_message_visiting`](Self::write_message_visiting), with each
    /// document written into `destination`'s buffer rather than handed out.
    pub fn write_message_into(
        &mut self,
        message: &[u8],
        destination: &mut impl DocDestination,
        mut visit: impl FnMut(SpanView<'_>),
    ) -> Result<WriteStats, prost::DecodeError> {
        if self.view.read(message).is_err() {
            let request = ExportTraceServiceRequest::decode(message)?;
            span_view::visit_decoded(&mut self.view, &request, &mut visit);
            let stats = self
                .reference
                .write_request(&request, |doc| destination.push(doc));
            return Ok(stats);
        }
        let WireDocWriter { view, render, .. } = self;
        span_view::visit(message, view, &mut visit);
        let mut stats = WriteStats::default();
        for resource in &view.resources {
            let scopes = &view.scopes[resource.scopes.range()];
            if scopes.iter().all(|s| s.spans.is_empty()) {
                continue;
            }
            let service_name = render.process(
                message,
                resource.raw.of(message),
                &view.resource_attrs[resource.attrs.range()],
            );
            for scope in scopes {
                for span in &view.spans[scope.spans.range()] {
                    let Some(start_time_micros) =
                        render.span(destination, message, view, span, scope)
                    else {
                        stats.skipped_invalid_ids += 1;
                        continue;
                    };
                    stats.spans += 1;
                    destination.end(WrittenDoc {
                        doc_id: &render.doc_id,
                        trace_id: &render.trace_id,
                        start_time_micros,
                        service_name,
                        operation_name: text(message, span.name),
                    });
                }
            }
        }
        Ok(stats)
    }
}

/// The service name of a resource with these attributes, as Jaeger's
/// translator names it (the rules of [`SpanDocWriter`]'s `render_process`).
fn service_name<'m>(message: &'m [u8], attrs: &[Attr]) -> &'m str {
    if attrs.is_empty() {
        return NO_SERVICE_NAME;
    }
    let name = match attrs
        .iter()
        .find(|a| a.key.of(message) == SERVICE_NAME.as_bytes())
        .map(|a| a.value)
    {
        Some(Val::Str(run)) => text(message, run),
        _ => "",
    };
    if name.is_empty() {
        EMPTY_SERVICE_NAME
    } else {
        name
    }
}

/// The `process` text of the last few resources, keyed by their encoded
/// bytes, replaced in turn. Resources larger than [`MAX_KEY_BYTES`] are
/// rendered every time, so the cache stays a few kilobytes.
#[derive(Debug, Default)]
struct ProcessCache {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

impl ProcessCache {
    const ENTRIES: usize = 16;
    const MAX_KEY_BYTES: usize = 1024;

    /// The slot holding the text of a resource encoded as `raw`.
    fn find(&self, raw: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|(key, _)| key.as_slice() == raw)
    }

    fn text(&self, slot: usize) -> &[u8] {
        &self.entries[slot].1
    }

    /// Keeps `rendered` for resources encoded as `raw`; `None` for a
    /// resource too large to keep.
    fn insert(&mut self, raw: &[u8], rendered: &[u8]) -> Option<usize> {
        if raw.len() > Self::MAX_KEY_BYTES {
            return None;
        }
        if self.entries.len() < Self::ENTRIES {
            self.entries.push((raw.to_vec(), rendered.to_vec()));
            return Some(self.entries.len() - 1);
        }
        let slot = self.next;
        let (key, text) = &mut self.entries[slot];
        key.clear();
        key.extend_from_slice(raw);
        text.clear();
        text.extend_from_slice(rendered);
        self.next = (self.next + 1) % Self::ENTRIES;
        Some(slot)
    }
}

impl Render {
    /// `,"process":{…}}` of a resource, `raw` its encoded bytes and `attrs`
    /// its attributes; returns the service name (the rules of
    /// [`SpanDocWriter`]'s `render_process`). A resource whose bytes equal
    /// one rendered recently (messages of the same services repeat them)
    /// takes that rendering: the same attributes give the same text.
    fn process<'m>(&mut self, message: &'m [u8], raw: &[u8], attrs: &[Attr]) -> &'m str {
        let service_name = service_name(message, attrs);
        self.process_slot = self.processes.find(raw);
        if self.process_slot.is_none() {
            self.render_process(message, attrs, service_name);
            self.process_slot = self.processes.insert(raw, &self.process);
        }
        service_name
    }

    fn render_process(&mut self, message: &[u8], attrs: &[Attr], service_name: &str) {
        let is_service = |a: &&Attr| a.key.of(message) == SERVICE_NAME.as_bytes();
        let out = &mut self.process;
        out.clear();
        out.extend_from_slice(b",\"process\":{\"serviceName\":");
        push_json_bytes(out, service_name.as_bytes());
        out.extend_from_slice(b",\"tags\":[");
        for attr in attrs.iter().filter(|a| !is_service(a)) {
            emit_attribute(
                out,
                self.fields.as_deref_mut(),
                &mut self.text,
                &mut self.key_order,
                message,
                attr,
            );
        }
        out.push(b']');
        if let Some(fields) = self.fields.as_deref_mut() {
            fields.finish(out);
        }
        out.extend_from_slice(b"}}");
    }

    /// The document of one span into `destination`'s buffer, its id into
    /// `doc_id`; the start time in µs, or `None` (nothing written, `begin`
    /// not called) when an ID has an impossible length (the rules of
    /// [`SpanDocWriter`]'s `render_span`).
    fn span(
        &mut self,
        destination: &mut impl DocDestination,
        message: &[u8],
        view: &RequestRuns,
        span: &SpanRuns,
        scope: &ScopeRuns,
    ) -> Option<u64> {
        let trace_id = ids::trace_id_from_wire(span.trace_id.of(message))?;
        let span_id = ids::span_id_from_wire(span.span_id.of(message))?;
        let parent_id = ids::span_id_from_wire(span.parent_span_id.of(message))?;
        let has_parent = parent_id != [0; 8];
        let links = &view.links[span.links.range()];
        let link_ids = |link: &LinkRuns| -> Option<(TraceIdBytes, SpanIdBytes)> {
            Some((
                ids::trace_id_from_wire(link.trace_id.of(message))?,
                ids::span_id_from_wire(link.span_id.of(message))?,
            ))
        };
        let child_of = |link: &LinkRuns| {
            view.link_attrs[link.attrs.range()]
                .iter()
                .find(|a| a.key.of(message) == REF_TYPE.as_bytes())
                .is_some_and(|a| {
                    matches!(a.value, Val::Str(run) if run.of(message) == REF_TYPE_CHILD_OF.as_bytes())
                })
        };
        let mut parent_ref_child_of = true;
        for link in links {
            let (link_trace, link_span) = link_ids(link)?;
            if has_parent && link_trace == trace_id && link_span == parent_id {
                parent_ref_child_of = child_of(link);
            }
        }

        let start_time_micros = span.start / 1_000;
        let duration_micros = span.end.saturating_sub(span.start) / 1_000;

        let out = destination.begin(start_time_micros);
        let doc_start = out.len();
        push_doc_head(out, &trace_id, &span_id, span.flags);
        out.extend_from_slice(b",\"operationName\":");
        push_json_bytes(out, span.name.of(message));

        out.extend_from_slice(b",\"references\":[");
        if has_parent {
            push_reference(out, parent_ref_child_of, &trace_id, &parent_id);
        }
        for link in links {
            let (link_trace, link_span) = link_ids(link).unwrap_or_default();
            if has_parent && link_trace == trace_id && link_span == parent_id {
                continue;
            }
            push_reference(out, child_of(link), &link_trace, &link_span);
        }

        push_times(out, start_time_micros, duration_micros);

        out.extend_from_slice(b",\"tags\":[");
        let mut fields = self.fields.as_deref_mut();
        if !scope.name.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "otel.scope.name",
                scope.name.of(message),
            );
        }
        if !scope.version.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "otel.scope.version",
                scope.version.of(message),
            );
        }
        for attr in &view.span_attrs[span.attrs.range()] {
            emit_attribute(
                out,
                fields.as_deref_mut(),
                &mut self.text,
                &mut self.key_order,
                message,
                attr,
            );
        }
        emit_kind_and_status(out, fields.as_deref_mut(), span.kind, span.status_code);
        if !span.status_message.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "otel.status_description",
                span.status_message.of(message),
            );
        }
        if !span.trace_state.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "w3c.tracestate",
                span.trace_state.of(message),
            );
        }
        out.push(b']');
        if let Some(fields) = fields {
            fields.finish(out);
        }

        out.extend_from_slice(b",\"logs\":[");
        for event in &view.events[span.events.range()] {
            let attrs = &view.event_attrs[event.attrs.range()];
            push_separator(out);
            out.extend_from_slice(b"{\"timestamp\":");
            push_u64(out, event.time / 1_000);
            out.extend_from_slice(b",\"fields\":[");
            if !event.name.is_empty()
                && !attrs.iter().any(|a| a.key.of(message) == EVENT.as_bytes())
            {
                push_string_tag(out, EVENT, event.name.of(message));
            }
            for attr in attrs {
                push_attribute_tag(out, &mut self.text, &mut self.key_order, message, attr);
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b']');
        let process = match self.process_slot {
            Some(slot) => self.processes.text(slot),
            None => &self.process,
        };
        out.extend_from_slice(process);

        self.trace_id = trace_id;
        write_doc_id(&mut self.doc_id, &trace_id, &span_id, &out[doc_start..]);
        Some(start_time_micros)
    }
}

/// An attribute tag: a field of the `tag` object when tags-as-fields takes
/// it (typed as [`FieldMap`]'s `take_attribute` types it), else an entry of
/// the `tags` array.
#[inline]
fn emit_attribute(
    out: &mut Vec<u8>,
    fields: Option<&mut FieldMap>,
    text_buf: &mut Vec<u8>,
    key_order: &mut Vec<Vec<(Run, Val)>>,
    message: &[u8],
    attr: &Attr,
) {
    if let Some(fields) = fields {
        let binary = matches!(attr.value, Val::Bytes(_));
        let taken = fields.take_with(text(message, attr.key), binary, |buf| {
            field_value(buf, text_buf, key_order, message, attr.value)
        });
        if taken {
            return;
        }
    }
    push_attribute_tag(out, text_buf, key_order, message, attr);
}

/// The JSON value of a tag stored as a field; false for a NaN or infinite
/// float, which stays a tag.
fn field_value(
    out: &mut Vec<u8>,
    text_buf: &mut Vec<u8>,
    key_order: &mut Vec<Vec<(Run, Val)>>,
    message: &[u8],
    value: Val,
) -> bool {
    match value {
        Val::Str(run) => push_json_bytes(out, run.of(message)),
        Val::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Val::Int(i) => push_i64(out, i),
        Val::Double(f) => return push_go_json_float(out, f),
        Val::Bytes(run) if run.is_empty() => out.extend_from_slice(b"null"),
        Val::Bytes(run) => {
            out.push(b'"');
            push_base64(out, run.of(message));
            out.push(b'"');
        }
        Val::Array(_) | Val::Kvlist(_) => {
            nested_text(text_buf, key_order, message, value);
            push_json_bytes(out, text_buf);
        }
        Val::Empty => out.extend_from_slice(b"\"\""),
    }
    true
}

/// The text of an array or key-value-list value in `text_buf`: pdata's
/// `AsString()`, empty when it holds a NaN or infinity.
fn nested_text(
    text_buf: &mut Vec<u8>,
    key_order: &mut Vec<Vec<(Run, Val)>>,
    message: &[u8],
    value: Val,
) {
    text_buf.clear();
    if !push_raw_json(text_buf, key_order, message, value, 0) {
        text_buf.clear();
    }
}

/// `{"key":…,"type":…,"value":…}` (the rules of [`SpanDocWriter`]'s
/// `push_attribute_tag`).
fn push_attribute_tag(
    out: &mut Vec<u8>,
    text_buf: &mut Vec<u8>,
    key_order: &mut Vec<Vec<(Run, Val)>>,
    message: &[u8],
    attr: &Attr,
) {
    push_separator(out);
    out.extend_from_slice(b"{\"key\":");
    push_json_bytes(out, attr.key.of(message));
    match attr.value {
        Val::Str(run) => {
            out.extend_from_slice(b",\"type\":\"string\",\"value\":");
            push_json_bytes(out, run.of(message));
        }
        Val::Bool(b) => out.extend_from_slice(if b {
            b",\"type\":\"bool\",\"value\":\"true\""
        } else {
            b",\"type\":\"bool\",\"value\":\"false\""
        }),
        Val::Int(i) => {
            out.extend_from_slice(b",\"type\":\"int64\",\"value\":\"");
            push_i64(out, i);
            out.push(b'"');
        }
        Val::Double(f) => {
            out.extend_from_slice(b",\"type\":\"float64\",\"value\":\"");
            push_go_float_g10(out, f);
            out.push(b'"');
        }
        Val::Bytes(run) => {
            out.extend_from_slice(b",\"type\":\"binary\",\"value\":\"");
            crate::hex::push_hex(out, run.of(message));
            out.push(b'"');
        }
        value @ (Val::Array(_) | Val::Kvlist(_)) => {
            nested_text(text_buf, key_order, message, value);
            out.extend_from_slice(b",\"type\":\"string\",\"value\":");
            push_json_bytes(out, text_buf);
        }
        Val::Empty => out.extend_from_slice(b",\"type\":\"string\",\"value\":\"\""),
    }
    out.push(b'}');
}

/// A value as pdata's `AsRaw()` + Go `encoding/json` write it (the rules of
/// the reference writer's `push_raw_json`); false for NaN/±Inf.
fn push_raw_json(
    out: &mut Vec<u8>,
    key_order: &mut Vec<Vec<(Run, Val)>>,
    message: &[u8],
    value: Val,
    depth: usize,
) -> bool {
    match value {
        Val::Empty => out.extend_from_slice(b"null"),
        Val::Str(run) => push_json_bytes(out, run.of(message)),
        Val::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Val::Int(i) => push_i64(out, i),
        Val::Double(f) => return push_go_json_float(out, f),
        Val::Bytes(run) if run.is_empty() => out.extend_from_slice(b"null"),
        Val::Bytes(run) => {
            out.push(b'"');
            push_base64(out, run.of(message));
            out.push(b'"');
        }
        Val::Array(run) => {
            out.push(b'[');
            let mut ok = true;
            let mut first = true;
            for_each_item(message, run, |item| {
                if !ok {
                    return;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                // Checked by the walk: it reads again the same way.
                let value = read_any_value(message, item, 0).unwrap_or(Val::Empty);
                ok = push_raw_json(out, key_order, message, value, depth + 1);
            });
            if !ok {
                return false;
            }
            out.push(b']');
        }
        Val::Kvlist(run) => {
            if key_order.len() <= depth {
                key_order.resize_with(depth + 1, Vec::new);
            }
            let mut entries = std::mem::take(&mut key_order[depth]);
            entries.clear();
            for_each_item(message, run, |item| {
                if let Ok(attr) = read_key_value(message, item, 0) {
                    entries.push((attr.key, attr.value));
                }
            });
            // Stable: equal keys keep their order, and the last one of a run
            // is the one a Go map keeps.
            entries.sort_by(|a, b| a.0.of(message).cmp(b.0.of(message)));
            out.push(b'{');
            let mut ok = true;
            let mut first = true;
            for (pos, &(key, value)) in entries.iter().enumerate() {
                if let Some(&(next, _)) = entries.get(pos + 1) {
                    if next.of(message) == key.of(message) {
                        continue;
                    }
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                push_json_bytes(out, key.of(message));
                out.push(b':');
                if !push_raw_json(out, key_order, message, value, depth + 1) {
                    ok = false;
                    break;
                }
            }
            out.push(b'}');
            key_order[depth] = entries;
            return ok;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;
    use crate::jaeger::doc_id::doc_id_text;
    use crate::otlp::test_requests::{
        damage, edits, reencode, request, spans_of, Ty, PARENT, TRACE,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

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

    type Outcome = Result<(Vec<Written>, WriteStats), String>;

    fn collect(docs: &mut Vec<Written>) -> impl FnMut(SpanDoc<'_>) + '_ {
        |doc| {
            docs.push(Written {
                json: String::from_utf8(doc.json.to_vec()).expect("utf-8 json"),
                doc_id: doc_id_text(doc.doc_id).to_owned(),
                trace_id: doc.trace_id.to_vec(),
                start_time_micros: doc.start_time_micros,
                service_name: doc.service_name.to_owned(),
                operation_name: doc.operation_name.to_owned(),
            })
        }
    }

    /// Today's path: prost decode, then the reference writer.
    fn reference(message: &[u8], config: &TagsAsFields) -> Outcome {
        let request = ExportTraceServiceRequest::decode(message).map_err(|e| e.to_string())?;
        let mut docs = Vec::new();
        let stats = SpanDocWriter::with_tags_as_fields(config.clone())
            .write_request(&request, collect(&mut docs));
        Ok((docs, stats))
    }

    /// The wire writer, and whether its walk wrote the documents itself
    /// (rather than leaving the message to prost).
    fn wire(writer: &mut WireDocWriter, message: &[u8]) -> (Outcome, bool) {
        let fast = RequestRuns::default().read(message).is_ok();
        let mut docs = Vec::new();
        let outcome = writer
            .write_message(message, collect(&mut docs))
            .map(|stats| (docs, stats))
            .map_err(|e| e.to_string());
        (outcome, fast)
    }

    fn tags_as_fields() -> impl Strategy<Value = TagsAsFields> {
        prop_oneof![
            Just(TagsAsFields::default()),
            Just(TagsAsFields {
                all: true,
                ..TagsAsFields::default()
            }),
            Just(TagsAsFields {
                include: ["a.b", "http.method", "error", "span.kind", "event"]
                    .map(String::from)
                    .into(),
                dot_replacement: "_".into(),
                ..TagsAsFields::default()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every generated request: the wire writer writes it itself, and
        /// exactly what prost + the reference writer write.
        #[test]
        fn writes_what_the_reference_writer_writes(
            request in request(),
            config in tags_as_fields(),
        ) {
            let message = request.encode_to_vec();
            let mut writer = WireDocWriter::with_tags_as_fields(config.clone());
            let (outcome, fast) = wire(&mut writer, &message);
            prop_assert!(fast, "the walk left a prost encoding to prost");
            let expected = reference(&message, &config);
            prop_assert_eq!(&outcome, &expected);
            // Again with the same writer: every resource's process now comes
            // from its cache.
            prop_assert_eq!(wire(&mut writer, &message).0, expected);
        }

        /// The same request in any field order, with unknown fields of every
        /// wire type: the same documents, still from the walk.
        #[test]
        fn field_order_and_unknown_fields_change_nothing(
            request in request(),
            config in tags_as_fields(),
            mut seed in 1..u64::MAX,
        ) {
            let message = request.encode_to_vec();
            let reencoded = reencode(&message, Ty::Request, &mut seed);
            let mut writer = WireDocWriter::with_tags_as_fields(config.clone());
            let (outcome, fast) = wire(&mut writer, &reencoded);
            prop_assert!(fast);
            prop_assert_eq!(&outcome, &reference(&reencoded, &config));
            prop_assert_eq!(outcome, reference(&message, &config));
        }

        /// Damaged bytes (invalid UTF-8, wrong wire types, bad lengths,
        /// repeated singular fields): whatever the walk accepts, prost
        /// accepts with the same meaning, and what prost refuses is refused
        /// with prost's error.
        #[test]
        fn damaged_messages_agree_with_prost(
            request in request(),
            config in tags_as_fields(),
            edits in edits(),
        ) {
            let mut message = request.encode_to_vec();
            damage(&mut message, edits);
            let mut writer = WireDocWriter::with_tags_as_fields(config.clone());
            let (outcome, _) = wire(&mut writer, &message);
            prop_assert_eq!(outcome, reference(&message, &config));
        }

        /// Documents written into a destination's own buffer, after text of
        /// its own, are the documents handed out one by one, ids included:
        /// from the walk, and from prost for what the walk leaves to it.
        #[test]
        fn documents_written_into_a_destination_are_those_handed_out(
            request in request(),
            config in tags_as_fields(),
            edits in edits(),
            damaged in any::<bool>(),
        ) {
            let mut message = request.encode_to_vec();
            if damaged {
                damage(&mut message, edits);
            }
            let expected = wire(&mut WireDocWriter::with_tags_as_fields(config.clone()), &message).0;
            let mut framed = Framed::default();
            let outcome = WireDocWriter::with_tags_as_fields(config)
                .write_message_into(&message, &mut framed, |_| {})
                .map(|stats| (framed.docs(), stats))
                .map_err(|e| e.to_string());
            prop_assert_eq!(outcome, expected);
        }
    }

    /// A destination that frames each document: `<start time>` before it,
    /// `|` and its id after it.
    #[derive(Default)]
    struct Framed {
        out: Vec<u8>,
        /// Each document's place in `out`, and what `end` was told of it.
        docs: Vec<(Range<usize>, Written)>,
        doc_start: usize,
    }

    impl DocDestination for Framed {
        fn begin(&mut self, start_time_micros: u64) -> &mut Vec<u8> {
            self.out
                .extend_from_slice(format!("<{start_time_micros}>").as_bytes());
            self.doc_start = self.out.len();
            &mut self.out
        }

        fn end(&mut self, doc: WrittenDoc<'_>) {
            let range = self.doc_start..self.out.len();
            self.docs.push((
                range,
                Written {
                    json: String::new(),
                    doc_id: doc_id_text(doc.doc_id).to_owned(),
                    trace_id: doc.trace_id.to_vec(),
                    start_time_micros: doc.start_time_micros,
                    service_name: doc.service_name.to_owned(),
                    operation_name: doc.operation_name.to_owned(),
                },
            ));
            self.out.push(b'|');
            self.out.extend_from_slice(doc.doc_id);
        }
    }

    impl Framed {
        /// The documents, read back from the buffer, each checked to sit in its frame.
        fn docs(&self) -> Vec<Written> {
            let mut at = 0;
            self.docs
                .iter()
                .map(|(range, written)| {
                    let prefix = format!("<{}>", written.start_time_micros);
                    assert_eq!(&self.out[at..range.start], prefix.as_bytes());
                    let suffix = format!("|{}", written.doc_id);
                    at = range.end + suffix.len();
                    assert_eq!(&self.out[range.end..at], suffix.as_bytes());
                    Written {
                        json: String::from_utf8(self.out[range.clone()].to_vec()).expect("utf-8"),
                        ..written.clone()
                    }
                })
                .collect()
        }
    }

    /// The views `write_message_visiting` hands out, checked against what
    /// prost decodes: `Ok(spans)` when each is the decoded span, in order.
    fn visited(writer: &mut WireDocWriter, message: &[u8]) -> Result<usize, String> {
        let decoded = ExportTraceServiceRequest::decode(message).map_err(|e| e.to_string());
        let spans = decoded.as_ref().map(spans_of).unwrap_or_default();
        let (mut at, mut wrong) = (0, None);
        let written = writer.write_message_visiting(
            message,
            |_| {},
            |view| {
                match spans.get(at) {
                    Some(&(resource, scope, span)) if view.same_as(resource, scope, span) => {}
                    _ => wrong = wrong.or(Some(at)),
                }
                at += 1;
            },
        );
        match (written, &decoded, wrong) {
            (Ok(_), Ok(_), None) if at == spans.len() => Ok(at),
            (Err(e), Err(expected), None) if at == 0 && e.to_string() == *expected => {
                Err(expected.clone())
            }
            (written, _, wrong) => Err(format!(
                "visited {at} of {} spans, first wrong {wrong:?}, written {written:?}",
                spans.len()
            )),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The walk that writes the documents hands out every span's view,
        /// in any wire form, and none of a message prost refuses.
        #[test]
        fn visits_every_span_as_prost_decodes_it(
            request in request(),
            mut seed in 1..u64::MAX,
            damage in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        ) {
            let mut writer = WireDocWriter::new();
            let message = request.encode_to_vec();
            let spans = request.resource_spans.iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum::<usize>();
            prop_assert_eq!(visited(&mut writer, &message), Ok(spans));
            let mut reencoded = reencode(&message, Ty::Request, &mut seed);
            prop_assert_eq!(visited(&mut writer, &reencoded), Ok(spans));
            if let (Some((at, byte)), false) = (damage, reencoded.is_empty()) {
                let i = at.index(reencoded.len());
                reencoded[i] = byte;
                let outcome = visited(&mut writer, &reencoded);
                prop_assert!(!outcome.as_ref().is_err_and(|e| e.starts_with("visited")), "{:?}", outcome);
            }
        }
    }

    /// A writer reused across messages gives each the documents a fresh one
    /// gives.
    #[test]
    fn a_reused_writer_keeps_nothing_from_the_last_message() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut writer = WireDocWriter::with_tags_as_fields(TagsAsFields {
            all: true,
            ..TagsAsFields::default()
        });
        for _ in 0..64 {
            let request = request().new_tree(&mut runner).expect("tree").current();
            let message = request.encode_to_vec();
            let (outcome, fast) = wire(&mut writer, &message);
            assert!(fast);
            let config = TagsAsFields {
                all: true,
                ..TagsAsFields::default()
            };
            assert_eq!(outcome, reference(&message, &config));
        }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn one_span_request(attributes: Vec<KeyValue>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue("svc".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: TRACE.to_vec(),
                        span_id: PARENT.to_vec(),
                        name: "op".into(),
                        attributes,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// Resources that differ in one byte of one value, more of them than
    /// the process cache holds, each written several times by one writer:
    /// every document carries its own resource's process.
    #[test]
    fn each_resource_keeps_its_own_process_through_the_cache() {
        let mut writer = WireDocWriter::new();
        for round in 0..3 {
            for host in 0..20 {
                let mut request = one_span_request(Vec::new());
                let resource = request.resource_spans[0]
                    .resource
                    .as_mut()
                    .expect("resource");
                let host = Value::StringValue(format!("host-{host:02}"));
                resource.attributes.push(kv("host.name", host));
                let message = request.encode_to_vec();
                let (outcome, _) = wire(&mut writer, &message);
                let expected = reference(&message, &TagsAsFields::default());
                assert_eq!(outcome, expected, "round {round}");
            }
        }
    }

    /// A resource too large for the process cache, between cached ones:
    /// rendered each time, and no cached text taken for it or after it.
    #[test]
    fn a_resource_too_large_to_cache_keeps_its_own_process() {
        let mut writer = WireDocWriter::new();
        for host in ["small", &"x".repeat(2000), "small", &"y".repeat(2000)] {
            let mut request = one_span_request(Vec::new());
            let resource = request.resource_spans[0]
                .resource
                .as_mut()
                .expect("resource");
            resource
                .attributes
                .push(kv("host.name", Value::StringValue(host.to_owned())));
            let message = request.encode_to_vec();
            let (outcome, _) = wire(&mut writer, &message);
            assert_eq!(outcome, reference(&message, &TagsAsFields::default()));
        }
    }

    #[test]
    fn invalid_utf8_is_prosts_error_and_no_document() {
        let mut message =
            one_span_request(vec![kv("marker", Value::StringValue("zz".into()))]).encode_to_vec();
        let at = message
            .windows(2)
            .position(|w| w == b"zz")
            .expect("marker value");
        message[at] = 0xff;
        let mut writer = WireDocWriter::new();
        let mut called = false;
        let error = writer
            .write_message(&message, |_| called = true)
            .expect_err("invalid UTF-8");
        assert!(!called, "no document of a bad message is handed out");
        assert_eq!(
            error.to_string(),
            ExportTraceServiceRequest::decode(message.as_slice())
                .expect_err("prost refuses it too")
                .to_string()
        );
    }

    #[test]
    fn truncated_messages_are_errors_without_documents() {
        let message = one_span_request(vec![kv("a", Value::IntValue(1))]).encode_to_vec();
        let mut writer = WireDocWriter::new();
        for len in 0..message.len() {
            let mut called = 0;
            let result = writer.write_message(&message[..len], |_| called += 1);
            let decoded = ExportTraceServiceRequest::decode(&message[..len]);
            assert_eq!(result.is_ok(), decoded.is_ok(), "length {len}");
            if result.is_err() {
                assert_eq!(called, 0, "length {len}");
            }
        }
    }

    /// A singular sub-message sent twice is merged by prost; the walk leaves
    /// such a message to it and the documents are still the reference's.
    #[test]
    fn a_status_sent_twice_is_merged_as_prost_merges_it() {
        let request = one_span_request(Vec::new());
        let mut message = request.encode_to_vec();
        // Append a second ResourceSpans whose span carries two statuses.
        let mut span = Vec::new();
        span.extend_from_slice(&[0x0a, 16]);
        span.extend_from_slice(&TRACE);
        // status { code: ERROR } then status { message: "late" }
        span.extend_from_slice(&[0x7a, 2, 0x18, 2]);
        span.extend_from_slice(&[0x7a, 6, 0x12, 4]);
        span.extend_from_slice(b"late");
        let mut scope_spans = vec![0x12, span.len() as u8];
        scope_spans.extend_from_slice(&span);
        let mut resource_spans = vec![0x12, scope_spans.len() as u8];
        resource_spans.extend_from_slice(&scope_spans);
        message.push(0x0a);
        message.push(resource_spans.len() as u8);
        message.extend_from_slice(&resource_spans);

        assert!(
            RequestRuns::default().read(&message).is_err(),
            "left to prost"
        );
        let mut writer = WireDocWriter::new();
        let (outcome, _) = wire(&mut writer, &message);
        let (docs, _) = outcome.clone().expect("valid");
        assert!(docs[1]
            .json
            .contains(r#""key":"otel.status_code","type":"string","value":"ERROR""#));
        assert!(docs[1].json.contains(r#""value":"late""#));
        assert_eq!(outcome, reference(&message, &TagsAsFields::default()));
    }

    #[test]
    fn nesting_is_walked_as_deep_as_prost_reads_it() {
        let nested = |levels: usize| {
            let mut value = Value::IntValue(1);
            for _ in 0..levels {
                value = Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue { value: Some(value) }],
                });
            }
            one_span_request(vec![kv("deep", value)]).encode_to_vec()
        };
        // The span attribute's value is at depth 5, each array level adds two.
        let mut prost_limit_seen = false;
        for levels in 40..52 {
            let message = nested(levels);
            let walked = RequestRuns::default().read(&message).is_ok();
            let decoded = ExportTraceServiceRequest::decode(&message[..]).is_ok();
            assert_eq!(walked, decoded, "{levels} levels");
            prost_limit_seen |= !decoded;
            let mut writer = WireDocWriter::new();
            let (outcome, fast) = wire(&mut writer, &message);
            assert_eq!(fast, decoded);
            assert_eq!(outcome, reference(&message, &TagsAsFields::default()));
        }
        assert!(
            prost_limit_seen,
            "no nesting deep enough for prost to refuse"
        );
    }
}
