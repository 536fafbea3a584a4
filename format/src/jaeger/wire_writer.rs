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
//! Two outcomes besides the fast path, both through prost:
//! - **Malformed input**: the walk stops before any document is handed out;
//!   prost then decodes the message to give the error, word for word what a
//!   decoding ingester reports. `each` is never called for such a message,
//!   so none of its documents can be left in a bulk.
//! - **Rare encodings** the walk leaves to prost rather than re-implement:
//!   a singular sub-message sent twice (protobuf merges the two), groups,
//!   nesting deeper than [`MAX_DEPTH`]. prost decodes the message and the
//!   reference writer writes it: the same documents, only slower.

use std::ops::Range;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use super::doc_id::{write_doc_id, DOC_ID_LEN};
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
use crate::otlp::varint;

/// Deepest nesting the walk follows itself (the request is depth 0, a span
/// attribute's value depth 5); deeper messages go to prost, whose own limit
/// is 100.
pub const MAX_DEPTH: usize = 64;

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// The walk stopped: the message is malformed or encoded in a way left to
/// prost. Not an error of its own: prost decides which.
#[derive(Debug)]
struct Stop;

type Walk<T> = Result<T, Stop>;

/// A range of the message (bytes) or of an arena (entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Run {
    start: usize,
    end: usize,
}

impl Run {
    #[inline]
    fn of(self, bytes: &[u8]) -> &[u8] {
        bytes.get(self.start..self.end).unwrap_or_default()
    }

    #[inline]
    fn range(self) -> Range<usize> {
        self.start..self.end
    }

    #[inline]
    fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// UTF-8 text of the message, checked by the walk.
#[inline]
fn text(bytes: &[u8], run: Run) -> &str {
    std::str::from_utf8(run.of(bytes)).unwrap_or_default()
}

/// An attribute value, as prost would decode it.
#[derive(Debug, Clone, Copy)]
enum Val {
    /// No value, or the profiling-only string-table index.
    Empty,
    Str(Run),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Run),
    /// An `ArrayValue` message, checked.
    Array(Run),
    /// A `KeyValueList` message, checked.
    Kvlist(Run),
}

#[derive(Debug, Clone, Copy)]
struct Attr {
    key: Run,
    value: Val,
}

#[derive(Debug, Clone, Copy)]
struct ResourceView {
    attrs: Run,
    scopes: Run,
}

#[derive(Debug, Clone, Copy)]
struct ScopeView {
    name: Run,
    version: Run,
    spans: Run,
}

#[derive(Debug, Clone, Copy, Default)]
struct SpanView {
    trace_id: Run,
    span_id: Run,
    trace_state: Run,
    parent_span_id: Run,
    name: Run,
    kind: i32,
    start: u64,
    end: u64,
    flags: u32,
    status_code: i32,
    status_message: Run,
    attrs: Run,
    events: Run,
    links: Run,
}

#[derive(Debug, Clone, Copy)]
struct EventView {
    time: u64,
    name: Run,
    attrs: Run,
}

#[derive(Debug, Clone, Copy)]
struct LinkView {
    trace_id: Run,
    span_id: Run,
    attrs: Run,
}

/// Reads the fields of one message. `buf` ends where the message ends, and
/// every read goes through `get`, so no length can make it panic.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(message: &'a [u8], run: Run) -> Self {
        Reader {
            buf: message.get(..run.end).unwrap_or_default(),
            pos: run.start,
        }
    }

    #[inline]
    fn more(&self) -> bool {
        self.pos < self.buf.len()
    }

    #[inline(always)]
    fn varint(&mut self) -> Walk<u64> {
        varint::read(self.buf, &mut self.pos).map_err(|_| Stop)
    }

    /// The next field's number and wire type.
    #[inline(always)]
    fn key(&mut self) -> Walk<(u32, u8)> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || key > u64::from(u32::MAX) {
            return Err(Stop);
        }
        Ok((number as u32, (key & 7) as u8))
    }

    #[inline]
    fn take(&mut self, len: u64) -> Walk<Run> {
        let available = self.buf.len().saturating_sub(self.pos);
        match usize::try_from(len) {
            Ok(len) if len <= available => {
                let start = self.pos;
                self.pos += len;
                Ok(Run {
                    start,
                    end: self.pos,
                })
            }
            _ => Err(Stop),
        }
    }

    /// A length-delimited value (bytes, string or sub-message).
    #[inline]
    fn delimited(&mut self, wire_type: u8) -> Walk<Run> {
        expect(wire_type, LEN)?;
        let len = self.varint()?;
        self.take(len)
    }

    /// A string: length-delimited and UTF-8.
    #[inline]
    fn string(&mut self, wire_type: u8) -> Walk<Run> {
        let run = self.delimited(wire_type)?;
        std::str::from_utf8(run.of(self.buf)).map_err(|_| Stop)?;
        Ok(run)
    }

    #[inline]
    fn uint(&mut self, wire_type: u8) -> Walk<u64> {
        expect(wire_type, VARINT)?;
        self.varint()
    }

    #[inline]
    fn fixed64(&mut self, wire_type: u8) -> Walk<u64> {
        expect(wire_type, I64)?;
        let run = self.take(8)?;
        let bytes: [u8; 8] = run.of(self.buf).try_into().map_err(|_| Stop)?;
        Ok(u64::from_le_bytes(bytes))
    }

    #[inline]
    fn fixed32(&mut self, wire_type: u8) -> Walk<u32> {
        expect(wire_type, I32)?;
        let run = self.take(4)?;
        let bytes: [u8; 4] = run.of(self.buf).try_into().map_err(|_| Stop)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// Skips a field this writer does not read. Groups (deprecated, never
    /// in OTLP) are left to prost.
    #[inline]
    fn skip(&mut self, wire_type: u8) -> Walk<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.delimited(LEN).map(drop),
            I32 => self.take(4).map(drop),
            _ => Err(Stop),
        }
    }
}

#[inline(always)]
fn expect(wire_type: u8, expected: u8) -> Walk<()> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(Stop)
    }
}

/// Reads a `KeyValue` at nesting `depth`.
fn read_key_value(message: &[u8], run: Run, depth: usize) -> Walk<Attr> {
    let mut key = Run::default();
    let mut value = Val::Empty;
    let mut has_value = false;
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        match number {
            1 => key = r.string(wire_type)?,
            2 => {
                // A second `value` would be merged into the first.
                if has_value {
                    return Err(Stop);
                }
                has_value = true;
                let run = r.delimited(wire_type)?;
                value = read_any_value(message, run, depth + 1)?;
            }
            3 => drop(r.uint(wire_type)?),
            _ => r.skip(wire_type)?,
        }
    }
    Ok(Attr { key, value })
}

/// Reads an `AnyValue` at nesting `depth`: the last member of its oneof
/// wins, as in prost, except that an array or list following one of its own
/// kind would be merged into it (left to prost).
fn read_any_value(message: &[u8], run: Run, depth: usize) -> Walk<Val> {
    if depth > MAX_DEPTH {
        return Err(Stop);
    }
    let mut value = Val::Empty;
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        value = match number {
            1 => Val::Str(r.string(wire_type)?),
            2 => Val::Bool(r.uint(wire_type)? != 0),
            3 => Val::Int(r.uint(wire_type)? as i64),
            4 => Val::Double(f64::from_bits(r.fixed64(wire_type)?)),
            5 => {
                if matches!(value, Val::Array(_)) {
                    return Err(Stop);
                }
                let run = r.delimited(wire_type)?;
                check_list(message, run, depth + 1, false)?;
                Val::Array(run)
            }
            6 => {
                if matches!(value, Val::Kvlist(_)) {
                    return Err(Stop);
                }
                let run = r.delimited(wire_type)?;
                check_list(message, run, depth + 1, true)?;
                Val::Kvlist(run)
            }
            7 => Val::Bytes(r.delimited(wire_type)?),
            8 => {
                r.uint(wire_type)?;
                Val::Empty
            }
            _ => {
                r.skip(wire_type)?;
                value
            }
        };
    }
    Ok(value)
}

/// Checks an `ArrayValue` (of `AnyValue`s) or a `KeyValueList` (of
/// `KeyValue`s) at nesting `depth`.
fn check_list(message: &[u8], run: Run, depth: usize, key_values: bool) -> Walk<()> {
    if depth > MAX_DEPTH {
        return Err(Stop);
    }
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        if number == 1 {
            let item = r.delimited(wire_type)?;
            if key_values {
                read_key_value(message, item, depth + 1)?;
            } else {
                read_any_value(message, item, depth + 1)?;
            }
        } else {
            r.skip(wire_type)?;
        }
    }
    Ok(())
}

/// Calls `each` with every item of a checked `ArrayValue` or `KeyValueList`.
fn for_each_item(message: &[u8], run: Run, mut each: impl FnMut(Run)) {
    let mut r = Reader::new(message, run);
    while r.more() {
        let Ok((number, wire_type)) = r.key() else {
            return;
        };
        let item = if number == 1 {
            r.delimited(wire_type).map(Some)
        } else {
            r.skip(wire_type).map(|()| None)
        };
        match item {
            Ok(Some(item)) => each(item),
            Ok(None) => {}
            Err(Stop) => return,
        }
    }
}

/// The request as ranges of the message, arenas reused from message to
/// message. Each arena is appended to by one kind of parent only, so the
/// entries of one parent are contiguous.
#[derive(Debug, Default)]
struct View {
    resources: Vec<ResourceView>,
    scopes: Vec<ScopeView>,
    spans: Vec<SpanView>,
    events: Vec<EventView>,
    links: Vec<LinkView>,
    resource_attrs: Vec<Attr>,
    span_attrs: Vec<Attr>,
    event_attrs: Vec<Attr>,
    link_attrs: Vec<Attr>,
}

fn run_from(start: usize, end: usize) -> Run {
    Run { start, end }
}

impl View {
    fn read(&mut self, message: &[u8]) -> Walk<()> {
        self.resources.clear();
        self.scopes.clear();
        self.spans.clear();
        self.events.clear();
        self.links.clear();
        self.resource_attrs.clear();
        self.span_attrs.clear();
        self.event_attrs.clear();
        self.link_attrs.clear();
        let mut r = Reader::new(message, run_from(0, message.len()));
        while r.more() {
            let (number, wire_type) = r.key()?;
            if number == 1 {
                let run = r.delimited(wire_type)?;
                self.read_resource_spans(message, run)?;
            } else {
                r.skip(wire_type)?;
            }
        }
        Ok(())
    }

    fn read_resource_spans(&mut self, message: &[u8], run: Run) -> Walk<()> {
        let scopes_start = self.scopes.len();
        let mut attrs: Option<Run> = None;
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => {
                    if attrs.is_some() {
                        return Err(Stop);
                    }
                    let run = r.delimited(wire_type)?;
                    attrs = Some(self.read_resource(message, run)?);
                }
                2 => {
                    let run = r.delimited(wire_type)?;
                    self.read_scope_spans(message, run)?;
                }
                3 => drop(r.string(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.resources.push(ResourceView {
            attrs: attrs.unwrap_or_default(),
            scopes: run_from(scopes_start, self.scopes.len()),
        });
        Ok(())
    }

    /// A `Resource` (depth 2): its attributes' run.
    fn read_resource(&mut self, message: &[u8], run: Run) -> Walk<Run> {
        let start = self.resource_attrs.len();
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => {
                    let run = r.delimited(wire_type)?;
                    let attr = read_key_value(message, run, 3)?;
                    self.resource_attrs.push(attr);
                }
                2 => drop(r.uint(wire_type)?),
                3 => {
                    let run = r.delimited(wire_type)?;
                    check_entity_ref(message, run)?;
                }
                _ => r.skip(wire_type)?,
            }
        }
        Ok(run_from(start, self.resource_attrs.len()))
    }

    fn read_scope_spans(&mut self, message: &[u8], run: Run) -> Walk<()> {
        let spans_start = self.spans.len();
        let (mut name, mut version) = (Run::default(), Run::default());
        let mut has_scope = false;
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => {
                    if has_scope {
                        return Err(Stop);
                    }
                    has_scope = true;
                    let run = r.delimited(wire_type)?;
                    (name, version) = read_scope(message, run)?;
                }
                2 => {
                    let run = r.delimited(wire_type)?;
                    self.read_span(message, run)?;
                }
                3 => drop(r.string(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.scopes.push(ScopeView {
            name,
            version,
            spans: run_from(spans_start, self.spans.len()),
        });
        Ok(())
    }

    /// A `Span` (depth 3).
    fn read_span(&mut self, message: &[u8], run: Run) -> Walk<()> {
        let attrs_start = self.span_attrs.len();
        let events_start = self.events.len();
        let links_start = self.links.len();
        let mut span = SpanView::default();
        let mut has_status = false;
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => span.trace_id = r.delimited(wire_type)?,
                2 => span.span_id = r.delimited(wire_type)?,
                3 => span.trace_state = r.string(wire_type)?,
                4 => span.parent_span_id = r.delimited(wire_type)?,
                5 => span.name = r.string(wire_type)?,
                6 => span.kind = r.uint(wire_type)? as i32,
                7 => span.start = r.fixed64(wire_type)?,
                8 => span.end = r.fixed64(wire_type)?,
                9 => {
                    let run = r.delimited(wire_type)?;
                    let attr = read_key_value(message, run, 4)?;
                    self.span_attrs.push(attr);
                }
                10 | 12 | 14 => drop(r.uint(wire_type)?),
                11 => {
                    let run = r.delimited(wire_type)?;
                    self.read_event(message, run)?;
                }
                13 => {
                    let run = r.delimited(wire_type)?;
                    self.read_link(message, run)?;
                }
                15 => {
                    if has_status {
                        return Err(Stop);
                    }
                    has_status = true;
                    let run = r.delimited(wire_type)?;
                    (span.status_code, span.status_message) = read_status(message, run)?;
                }
                16 => span.flags = r.fixed32(wire_type)?,
                _ => r.skip(wire_type)?,
            }
        }
        span.attrs = run_from(attrs_start, self.span_attrs.len());
        span.events = run_from(events_start, self.events.len());
        span.links = run_from(links_start, self.links.len());
        self.spans.push(span);
        Ok(())
    }

    /// An `Event` (depth 4).
    fn read_event(&mut self, message: &[u8], run: Run) -> Walk<()> {
        let start = self.event_attrs.len();
        let (mut time, mut name) = (0, Run::default());
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => time = r.fixed64(wire_type)?,
                2 => name = r.string(wire_type)?,
                3 => {
                    let run = r.delimited(wire_type)?;
                    let attr = read_key_value(message, run, 5)?;
                    self.event_attrs.push(attr);
                }
                4 => drop(r.uint(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.events.push(EventView {
            time,
            name,
            attrs: run_from(start, self.event_attrs.len()),
        });
        Ok(())
    }

    /// A `Link` (depth 4).
    fn read_link(&mut self, message: &[u8], run: Run) -> Walk<()> {
        let start = self.link_attrs.len();
        let (mut trace_id, mut span_id) = (Run::default(), Run::default());
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => trace_id = r.delimited(wire_type)?,
                2 => span_id = r.delimited(wire_type)?,
                3 => drop(r.string(wire_type)?),
                4 => {
                    let run = r.delimited(wire_type)?;
                    let attr = read_key_value(message, run, 5)?;
                    self.link_attrs.push(attr);
                }
                5 => drop(r.uint(wire_type)?),
                6 => drop(r.fixed32(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.links.push(LinkView {
            trace_id,
            span_id,
            attrs: run_from(start, self.link_attrs.len()),
        });
        Ok(())
    }
}

/// An `InstrumentationScope` (depth 3): name and version; its attributes
/// are checked but not written (the Jaeger translation drops them).
fn read_scope(message: &[u8], run: Run) -> Walk<(Run, Run)> {
    let (mut name, mut version) = (Run::default(), Run::default());
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        match number {
            1 => name = r.string(wire_type)?,
            2 => version = r.string(wire_type)?,
            3 => {
                let run = r.delimited(wire_type)?;
                read_key_value(message, run, 4)?;
            }
            4 => drop(r.uint(wire_type)?),
            _ => r.skip(wire_type)?,
        }
    }
    Ok((name, version))
}

/// A `Status` (depth 4): code and message.
fn read_status(message: &[u8], run: Run) -> Walk<(i32, Run)> {
    let (mut code, mut text) = (0, Run::default());
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        match number {
            2 => text = r.string(wire_type)?,
            3 => code = r.uint(wire_type)? as i32,
            _ => r.skip(wire_type)?,
        }
    }
    Ok((code, text))
}

/// An `EntityRef` of a resource: not written, but its strings are checked
/// as prost checks them.
fn check_entity_ref(message: &[u8], run: Run) -> Walk<()> {
    let mut r = Reader::new(message, run);
    while r.more() {
        let (number, wire_type) = r.key()?;
        match number {
            1..=4 => drop(r.string(wire_type)?),
            _ => r.skip(wire_type)?,
        }
    }
    Ok(())
}

/// Output buffers, reused from span to span (see [`SpanDocWriter`]).
#[derive(Debug)]
struct Render {
    json: Vec<u8>,
    process: Vec<u8>,
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
    view: View,
    render: Render,
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
            view: View::default(),
            render: Render {
                json: Vec::with_capacity(4096),
                process: Vec::with_capacity(1024),
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
        mut each: impl FnMut(SpanDoc<'_>),
    ) -> Result<WriteStats, prost::DecodeError> {
        if self.view.read(message).is_err() {
            let request = ExportTraceServiceRequest::decode(message)?;
            return Ok(self.reference.write_request(&request, each));
        }
        let WireDocWriter { view, render, .. } = self;
        let mut stats = WriteStats::default();
        for resource in &view.resources {
            let scopes = &view.scopes[resource.scopes.range()];
            if scopes.iter().all(|s| s.spans.is_empty()) {
                continue;
            }
            let service_name =
                render.process(message, &view.resource_attrs[resource.attrs.range()]);
            for scope in scopes {
                for span in &view.spans[scope.spans.range()] {
                    let Some(start_time_micros) = render.span(message, view, span, scope) else {
                        stats.skipped_invalid_ids += 1;
                        continue;
                    };
                    stats.spans += 1;
                    each(SpanDoc {
                        json: &render.json,
                        doc_id: std::str::from_utf8(&render.doc_id).unwrap_or_default(),
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

impl Render {
    /// `,"process":{…}}` of a resource; returns the service name (the rules
    /// of [`SpanDocWriter`]'s `render_process`).
    fn process<'m>(&mut self, message: &'m [u8], attrs: &[Attr]) -> &'m str {
        let is_service = |a: &&Attr| a.key.of(message) == SERVICE_NAME.as_bytes();
        let service_name = if attrs.is_empty() {
            NO_SERVICE_NAME
        } else {
            let name = match attrs.iter().find(is_service).map(|a| a.value) {
                Some(Val::Str(run)) => text(message, run),
                _ => "",
            };
            if name.is_empty() {
                EMPTY_SERVICE_NAME
            } else {
                name
            }
        };
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
        service_name
    }

    /// The document of one span into `json`, its id into `doc_id`; the start
    /// time in µs, or `None` (nothing written) when an ID has an impossible
    /// length (the rules of [`SpanDocWriter`]'s `render_span`).
    fn span(
        &mut self,
        message: &[u8],
        view: &View,
        span: &SpanView,
        scope: &ScopeView,
    ) -> Option<u64> {
        let trace_id = ids::trace_id_from_wire(span.trace_id.of(message))?;
        let span_id = ids::span_id_from_wire(span.span_id.of(message))?;
        let parent_id = ids::span_id_from_wire(span.parent_span_id.of(message))?;
        let has_parent = parent_id != [0; 8];
        let links = &view.links[span.links.range()];
        let link_ids = |link: &LinkView| -> Option<(TraceIdBytes, SpanIdBytes)> {
            Some((
                ids::trace_id_from_wire(link.trace_id.of(message))?,
                ids::span_id_from_wire(link.span_id.of(message))?,
            ))
        };
        let child_of = |link: &LinkView| {
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

        let out = &mut self.json;
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
                text(message, scope.name),
            );
        }
        if !scope.version.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "otel.scope.version",
                text(message, scope.version),
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
                text(message, span.status_message),
            );
        }
        if !span.trace_state.is_empty() {
            emit_string(
                out,
                fields.as_deref_mut(),
                "w3c.tracestate",
                text(message, span.trace_state),
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
                push_string_tag(out, EVENT, text(message, event.name));
            }
            for attr in attrs {
                push_attribute_tag(out, &mut self.text, &mut self.key_order, message, attr);
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
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
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
                doc_id: doc.doc_id.to_owned(),
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
        let fast = View::default().read(message).is_ok();
        let mut docs = Vec::new();
        let outcome = writer
            .write_message(message, collect(&mut docs))
            .map(|stats| (docs, stats))
            .map_err(|e| e.to_string());
        (outcome, fast)
    }

    // ---- generated requests -----------------------------------------------

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(1e21),
            Just(1e-7),
            any::<f64>(),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z.]{1,12}",
            any::<String>(),
            Just("<a href=\"x\">&\u{2028}\n\u{0}é🎉".to_owned()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("service.name".to_owned()),
            Just("event".to_owned()),
            Just("opentracing.ref_type".to_owned()),
            Just("http.method".to_owned()),
            Just("a.b".to_owned()),
            Just("error".to_owned()),
            text(),
        ]
    }

    fn value() -> impl Strategy<Value = Option<Value>> {
        let leaf = prop_oneof![
            Just(None),
            text().prop_map(|s| Some(Value::StringValue(s))),
            Just(Some(Value::StringValue("child_of".into()))),
            any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
            float().prop_map(|f| Some(Value::DoubleValue(f))),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(|b| Some(Value::BytesValue(b))),
            any::<i32>().prop_map(|i| Some(Value::StringValueStrindex(i))),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| {
                    Some(Value::ArrayValue(ArrayValue {
                        values: values.into_iter().map(|value| AnyValue { value }).collect(),
                    }))
                }),
                proptest::collection::vec((key(), inner), 0..4).prop_map(|entries| {
                    Some(Value::KvlistValue(KeyValueList {
                        values: entries
                            .into_iter()
                            .map(|(key, value)| KeyValue {
                                key,
                                value: Some(AnyValue { value }),
                                ..Default::default()
                            })
                            .collect(),
                    }))
                }),
            ]
        })
    }

    fn key_value() -> impl Strategy<Value = KeyValue> {
        (key(), value(), any::<bool>()).prop_map(|(key, value, absent)| KeyValue {
            key,
            // An absent AnyValue and one without a member read alike.
            value: (!absent || value.is_some()).then_some(AnyValue { value }),
            ..Default::default()
        })
    }

    fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(key_value(), 0..max)
    }

    const TRACE: [u8; 16] = [7; 16];
    const PARENT: [u8; 8] = [3; 8];

    fn id(len: usize, fill: u8) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => Just(vec![fill; len]),
            1 => Just(Vec::new()),
            1 => Just(vec![fill; len / 2]),
        ]
    }

    fn link() -> impl Strategy<Value = Link> {
        (
            prop_oneof![Just(TRACE.to_vec()), id(16, 9)],
            prop_oneof![Just(PARENT.to_vec()), id(8, 4)],
            attributes(3),
            any::<u32>(),
        )
            .prop_map(|(trace_id, span_id, attributes, flags)| Link {
                trace_id,
                span_id,
                attributes,
                flags,
                ..Default::default()
            })
    }

    fn event() -> impl Strategy<Value = Event> {
        (any::<u64>(), text(), attributes(3)).prop_map(|(time_unix_nano, name, attributes)| Event {
            time_unix_nano,
            name,
            attributes,
            ..Default::default()
        })
    }

    fn span() -> impl Strategy<Value = Span> {
        (
            (
                prop_oneof![Just(TRACE.to_vec()), id(16, 1)],
                id(8, 2),
                prop_oneof![Just(PARENT.to_vec()), id(8, 0)],
                text(),
                text(),
                0..7i32,
                any::<u32>(),
            ),
            (
                any::<u64>(),
                any::<u64>(),
                attributes(6),
                proptest::collection::vec(event(), 0..3),
                proptest::collection::vec(link(), 0..3),
                proptest::option::of((0..4i32, text())),
            ),
        )
            .prop_map(
                |(
                    (trace_id, span_id, parent_span_id, name, trace_state, kind, flags),
                    (start, end, attributes, events, links, status),
                )| Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    name,
                    trace_state,
                    kind,
                    flags,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    events,
                    links,
                    status: status.map(|(code, message)| Status { code, message }),
                    ..Default::default()
                },
            )
    }

    fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let scope = proptest::option::of((text(), text(), attributes(2))).prop_map(|scope| {
            scope.map(|(name, version, attributes)| InstrumentationScope {
                name,
                version,
                attributes,
                ..Default::default()
            })
        });
        let scope_spans =
            (scope, proptest::collection::vec(span(), 0..3)).prop_map(|(scope, spans)| {
                ScopeSpans {
                    scope,
                    spans,
                    ..Default::default()
                }
            });
        let resource = proptest::option::of(attributes(4)).prop_map(|attributes| {
            attributes.map(|attributes| Resource {
                attributes,
                ..Default::default()
            })
        });
        let resource_spans = (resource, proptest::collection::vec(scope_spans, 0..3)).prop_map(
            |(resource, scope_spans)| ResourceSpans {
                resource,
                scope_spans,
                ..Default::default()
            },
        );
        proptest::collection::vec(resource_spans, 0..3)
            .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
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

    // ---- a re-encoder: the same request in other valid wire forms ----------

    /// The message types of the trace request, to find sub-messages.
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Ty {
        Request,
        ResourceSpans,
        Resource,
        ScopeSpans,
        Scope,
        Span,
        Event,
        Link,
        Status,
        KeyValue,
        AnyValue,
        List,
        KeyValueList,
    }

    fn child(ty: Ty, number: u64) -> Option<Ty> {
        Some(match (ty, number) {
            (Ty::Request, 1) => Ty::ResourceSpans,
            (Ty::ResourceSpans, 1) => Ty::Resource,
            (Ty::ResourceSpans, 2) => Ty::ScopeSpans,
            (Ty::Resource, 1) | (Ty::Scope, 3) | (Ty::Span, 9) => Ty::KeyValue,
            (Ty::Event, 3) | (Ty::Link, 4) | (Ty::KeyValueList, 1) => Ty::KeyValue,
            (Ty::ScopeSpans, 1) => Ty::Scope,
            (Ty::ScopeSpans, 2) => Ty::Span,
            (Ty::Span, 11) => Ty::Event,
            (Ty::Span, 13) => Ty::Link,
            (Ty::Span, 15) => Ty::Status,
            (Ty::KeyValue, 2) | (Ty::List, 1) => Ty::AnyValue,
            (Ty::AnyValue, 5) => Ty::List,
            (Ty::AnyValue, 6) => Ty::KeyValueList,
            _ => return None,
        })
    }

    /// Re-encodes a valid message of type `ty`: its fields in another order
    /// (fields of one number keep theirs, which the meaning depends on), an
    /// unknown field of every wire type here and there, and nested messages
    /// the same way. prost reads the result as the same request.
    fn reencode(bytes: &[u8], ty: Ty, seed: &mut u64) -> Vec<u8> {
        let mut groups: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let key = varint::read(bytes, &mut pos).unwrap();
            let (number, wire_type) = (key >> 3, key & 7);
            let mut field = Vec::new();
            varint::put(&mut field, key);
            match wire_type {
                0 => {
                    let start = pos;
                    varint::read(bytes, &mut pos).unwrap();
                    field.extend_from_slice(&bytes[start..pos]);
                }
                1 => {
                    field.extend_from_slice(&bytes[pos..pos + 8]);
                    pos += 8;
                }
                5 => {
                    field.extend_from_slice(&bytes[pos..pos + 4]);
                    pos += 4;
                }
                _ => {
                    let len = varint::read(bytes, &mut pos).unwrap() as usize;
                    let value = &bytes[pos..pos + len];
                    pos += len;
                    let value = match child(ty, number) {
                        Some(sub) => reencode(value, sub, seed),
                        None => value.to_vec(),
                    };
                    varint::put(&mut field, value.len() as u64);
                    field.extend_from_slice(&value);
                }
            }
            match groups.iter_mut().find(|(n, _)| *n == number) {
                Some((_, fields)) => fields.push(field),
                None => groups.push((number, vec![field])),
            }
        }
        let mut out = Vec::new();
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        for group in &mut groups {
            group.1.reverse();
        }
        loop {
            if next() % 3 == 0 {
                let number = 100 + next() % 50;
                match next() % 4 {
                    0 => {
                        varint::put(&mut out, number << 3);
                        varint::put(&mut out, next());
                    }
                    1 => {
                        varint::put(&mut out, (number << 3) | 1);
                        out.extend_from_slice(&next().to_le_bytes());
                    }
                    2 => {
                        varint::put(&mut out, (number << 3) | 2);
                        out.extend_from_slice(&[3, 0xff, 0xfe, 0x80]);
                    }
                    _ => {
                        varint::put(&mut out, (number << 3) | 5);
                        out.extend_from_slice(&[1, 2, 3, 4]);
                    }
                }
            }
            let open: Vec<usize> = (0..groups.len())
                .filter(|&i| !groups[i].1.is_empty())
                .collect();
            if open.is_empty() {
                break;
            }
            let pick = open[(next() % open.len() as u64) as usize];
            if let Some(field) = groups[pick].1.pop() {
                out.extend_from_slice(&field);
            }
        }
        out
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
            prop_assert_eq!(outcome, reference(&message, &config));
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
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 1..4),
        ) {
            let mut message = request.encode_to_vec();
            for (at, byte, how) in edits {
                if message.is_empty() {
                    break;
                }
                let i = at.index(message.len());
                match how {
                    0 => message[i] = byte,
                    1 => message.insert(i, byte),
                    2 => { message.remove(i); }
                    _ => message.truncate(i),
                }
            }
            let mut writer = WireDocWriter::with_tags_as_fields(config.clone());
            let (outcome, _) = wire(&mut writer, &message);
            prop_assert_eq!(outcome, reference(&message, &config));
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

        assert!(View::default().read(&message).is_err(), "left to prost");
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
    fn deep_nesting_is_left_to_prost() {
        let mut value = Value::IntValue(1);
        for _ in 0..70 {
            value = Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(value) }],
            });
        }
        let message = one_span_request(vec![kv("deep", value)]).encode_to_vec();
        assert!(View::default().read(&message).is_err());
        let mut writer = WireDocWriter::new();
        let (outcome, _) = wire(&mut writer, &message);
        assert_eq!(outcome, reference(&message, &TagsAsFields::default()));
    }
}
