//! Splits an OTLP `ExportTraceServiceRequest` into one Kafka message per
//! trace, working on the protobuf wire bytes instead of decoded structs.
//!
//! Decoding a request with prost and re-encoding it per trace costs about
//! 7 µs per span; the collector cannot afford that (docs/design.md §6). This module
//! walks the bytes once, remembers every resource header, scope header and span
//! as a byte range, reads of a span only its IDs and times, and writes each
//! trace's message by concatenating those ranges under fresh length prefixes.
//!
//! What it guarantees (docs/design.md §2.1):
//! - Every message value is an `ExportTraceServiceRequest` holding spans of
//!   exactly one trace, and decodes to what "decode, group by trace, re-encode"
//!   would give: each span keeps its resource and scope (with their
//!   `schema_url`), and every other field of a `ResourceSpans` or `ScopeSpans`,
//!   unknown fields included, is carried over byte for byte.
//! - Spans keep request order within a trace; consecutive spans of a trace that
//!   share a resource and scope sit under one `ResourceSpans`/`ScopeSpans`.
//!   Traces come out in order of first appearance.
//! - No value is larger than `max_message_bytes`: a trace that does not fit is
//!   packed greedily into several messages with the same key, in span order. A
//!   span that does not fit even alone is refused and counted, as is every
//!   span the ingester could not store as it is (the checks of
//!   [`crate::translate`]): a `trace_id` that is not 16 bytes or is all
//!   zeros, a `span_id` that is not 8 bytes or is all zeros, a
//!   `parent_span_id` or a link's IDs of another length than the ingester
//!   takes (8 / 16 bytes, or empty), no start time, an end before the start,
//!   or a start outside the [`TimeWindow`]. The rest of the request goes on.
//! - Malformed protobuf in the request, its `ResourceSpans`, its `ScopeSpans`
//!   or at the top level of a span is an error, never a panic. Known fields
//!   must have their schema's wire type; group wire types are refused (OTLP
//!   never uses them). Of the span sub-messages only links are walked, for
//!   their IDs; the others (attributes, events, ...) and string contents are
//!   passed through as they came.
//! - Unknown fields at the top level of the request cannot belong to a trace
//!   and are dropped.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::sync::OnceLock;

use super::varint::{self, tag, VarintError, I32, I64, LEN, VARINT};
use crate::translate::{Refusal, Refusals, TimeProblem, TimeWindow};

/// Kafka key and value of every message cut from one request. The values live
/// in one buffer so that a request costs a handful of allocations, not one per
/// trace.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// All message values, back to back.
    pub buf: Vec<u8>,
    /// One entry per Kafka message, grouped by trace in order of first
    /// appearance; a trace's messages are consecutive and in span order.
    pub messages: Vec<TraceMessage>,
    /// Spans written into some message.
    pub accepted_spans: u64,
    /// Spans refused, by reason, with the first one's description for OTLP
    /// `partial_success.error_message`.
    pub refused: Refusals,
}

impl Split {
    /// Each message with its value. Panics only if `buf` or `messages` were
    /// changed after the split so that they no longer match.
    pub fn iter(&self) -> impl Iterator<Item = (&TraceMessage, &[u8])> {
        self.messages
            .iter()
            .map(|message| (message, &self.buf[message.value.clone()]))
    }
}

/// One Kafka message: the spans of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceMessage {
    pub trace_id: [u8; 16],
    /// The value's bytes in [`Split::buf`].
    pub value: Range<usize>,
    /// Spans in this message.
    pub spans: u32,
}

impl TraceMessage {
    /// The Kafka key: the trace ID as 32 lowercase hex characters.
    pub fn key(&self) -> [u8; 32] {
        trace_id_hex(&self.trace_id)
    }
}

/// A request that is not the protobuf it claims to be. Every variant is the
/// client's fault and permanent: answer `INVALID_ARGUMENT` / HTTP 400.
/// `message` names the protobuf message being walked (`ResourceSpans`, `Span`,
/// ...) and `offset` is the byte in the request where the problem starts.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    #[error("malformed OTLP request: truncated varint in {message} at byte {offset}")]
    TruncatedVarint {
        message: &'static str,
        offset: usize,
    },
    #[error("malformed OTLP request: varint longer than 64 bits in {message} at byte {offset}")]
    VarintOverflow {
        message: &'static str,
        offset: usize,
    },
    #[error("malformed OTLP request: invalid field tag {tag} in {message} at byte {offset}")]
    InvalidTag {
        message: &'static str,
        tag: u64,
        offset: usize,
    },
    #[error(
        "malformed OTLP request: {message} field {field} uses the group wire type {wire_type}, \
         which OTLP does not use, at byte {offset}"
    )]
    GroupWireType {
        message: &'static str,
        field: u32,
        wire_type: u8,
        offset: usize,
    },
    #[error("malformed OTLP request: {message} field {field} has invalid wire type {wire_type} at byte {offset}")]
    InvalidWireType {
        message: &'static str,
        field: u32,
        wire_type: u8,
        offset: usize,
    },
    #[error(
        "malformed OTLP request: {message} field {field} ({name}) has wire type {found}, \
         expected {expected}, at byte {offset}"
    )]
    UnexpectedWireType {
        message: &'static str,
        field: u32,
        name: &'static str,
        found: &'static str,
        expected: &'static str,
        offset: usize,
    },
    #[error(
        "malformed OTLP request: {message} field {field} at byte {offset} needs {needed} bytes \
         but only {available} remain in the {message}"
    )]
    PastEnd {
        message: &'static str,
        field: u32,
        needed: u64,
        available: usize,
        offset: usize,
    },
    #[error("OTLP request of {len} bytes is larger than the {max} bytes the splitter can index")]
    TooLarge { len: usize, max: usize },
}

/// The trace ID as 32 lowercase hex characters (the Kafka key).
pub fn trace_id_hex(id: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    crate::hex::encode_hex_into(id, &mut out);
    out
}

/// Splits `request` (a serialized `ExportTraceServiceRequest`) into one message
/// per trace, none larger than `max_message_bytes`, accepting any positive
/// start time. See the module docs for what the output guarantees.
pub fn split_by_trace(request: &[u8], max_message_bytes: usize) -> Result<Split, SplitError> {
    split_by_trace_within(request, max_message_bytes, TimeWindow::ANY)
}

/// [`split_by_trace`], also refusing spans that start outside `window`.
pub fn split_by_trace_within(
    request: &[u8],
    max_message_bytes: usize,
    window: TimeWindow,
) -> Result<Split, SplitError> {
    // Offsets are kept as u32 to keep the per-span record small.
    let max = u32::MAX as usize;
    if request.len() > max {
        return Err(SplitError::TooLarge {
            len: request.len(),
            max,
        });
    }
    let mut index = Index::new(request.len(), window);
    index.walk_request(request)?;
    Ok(index.write_messages(request, max_message_bytes))
}

// ---------------------------------------------------------------------------
// Protobuf wire walking

const REQUEST: &str = "ExportTraceServiceRequest";
const RESOURCE_SPANS: &str = "ResourceSpans";
const SCOPE_SPANS: &str = "ScopeSpans";
const SPAN: &str = "Span";
const LINK: &str = "Link";

/// Tags written in front of the ranges: field 1 (`resource_spans`) of the
/// request, field 2 (`scope_spans`) of ResourceSpans, field 2 (`spans`) of
/// ScopeSpans, all length-delimited.
const RESOURCE_SPANS_TAG: u8 = tag(1, LEN);
const SCOPE_SPANS_TAG: u8 = tag(2, LEN);
const SPAN_TAG: u8 = tag(2, LEN);

/// Tags of the Span fields the walk reads (one byte each).
const TRACE_ID_TAG: u8 = tag(1, LEN);
const SPAN_ID_TAG: u8 = tag(2, LEN);
const PARENT_SPAN_ID_TAG: u8 = tag(4, LEN);
const START_TAG: u8 = tag(7, I64);
const END_TAG: u8 = tag(8, I64);
const LINKS_TAG: u8 = tag(13, LEN);

/// Name and wire type of every Span field in trace.proto, by field number,
/// so that a span we pass on is one prost would also accept at its top level.
const SPAN_FIELDS: [(&str, u8); 17] = [
    ("", u8::MAX),
    ("trace_id", LEN),
    ("span_id", LEN),
    ("trace_state", LEN),
    ("parent_span_id", LEN),
    ("name", LEN),
    ("kind", VARINT),
    ("start_time_unix_nano", I64),
    ("end_time_unix_nano", I64),
    ("attributes", LEN),
    ("dropped_attributes_count", VARINT),
    ("events", LEN),
    ("dropped_events_count", VARINT),
    ("links", LEN),
    ("dropped_links_count", VARINT),
    ("status", LEN),
    ("flags", I32),
];

/// The span walk's fast paths. Bit n is set when Span field n (below 16) is
/// LEN: one test stands for "field number is not 0, is a Span field, and the
/// tag has that field's wire type".
const SPAN_LEN_FIELDS: u16 = {
    let mut mask = 0u16;
    let mut field = 1;
    while field < 16 {
        if SPAN_FIELDS[field].1 == LEN {
            mask |= 1 << field;
        }
        field += 1;
    }
    mask
};

/// By tag byte, for the one-byte tags of the other Span fields with their
/// schema's wire type: `[size, next_mask]`, the field being `size` bytes
/// when `next & next_mask < 0x80` (`next` being the byte after the tag, so a
/// varint qualifies when it is one byte). Zero means "decode in full".
const SPAN_FIXED_TAGS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut field = 1;
    while field < 16 {
        let wire_type = SPAN_FIELDS[field].1;
        table[(field << 3) | wire_type as usize] = match wire_type {
            VARINT => [2, 0xff],
            I64 => [9, 0],
            I32 => [5, 0],
            _ => [0, 0],
        };
        field += 1;
    }
    table
};

fn wire_type_name(wire_type: u8) -> &'static str {
    match wire_type {
        VARINT => "VARINT",
        I64 => "I64",
        LEN => "LEN",
        3 => "SGROUP",
        4 => "EGROUP",
        I32 => "I32",
        _ => "invalid",
    }
}

/// One field as found on the wire.
struct Field {
    number: u32,
    wire_type: u8,
    /// From the tag's first byte to the value's last: the raw field.
    raw: Range<usize>,
    /// The value; for LEN fields, the payload without its length prefix.
    value: Range<usize>,
}

impl Field {
    /// Errors unless the field has the wire type its schema gives it.
    fn expect(
        &self,
        message: &'static str,
        name: &'static str,
        wire_type: u8,
    ) -> Result<(), SplitError> {
        if self.wire_type == wire_type {
            return Ok(());
        }
        Err(SplitError::UnexpectedWireType {
            message,
            field: self.number,
            name,
            found: wire_type_name(self.wire_type),
            expected: wire_type_name(wire_type),
            offset: self.raw.start,
        })
    }
}

/// Walks the fields of one message. Every offset is
/// absolute in the request, so errors can say where they are. `buf` is cut at
/// the message's end and read through `get`, so a bad length can produce an
/// error but never an out-of-bounds panic.
struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8], range: Range<usize>, message: &'static str) -> Self {
        let end = range.end.min(buf.len());
        Walker {
            buf: buf.get(..end).unwrap_or_default(),
            pos: range.start,
            message,
        }
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, SplitError> {
        let start = self.pos;
        varint::read(self.buf, &mut self.pos).map_err(|error| match error {
            VarintError::Truncated => SplitError::TruncatedVarint {
                message: self.message,
                offset: start,
            },
            VarintError::Overflow => SplitError::VarintOverflow {
                message: self.message,
                offset: start,
            },
        })
    }

    /// Skips `needed` bytes of field `field`'s value starting at the current
    /// position and returns their range.
    #[inline]
    fn take(&mut self, field: u32, needed: u64, offset: usize) -> Result<Range<usize>, SplitError> {
        let available = self.buf.len().saturating_sub(self.pos);
        match usize::try_from(needed) {
            Ok(n) if n <= available => {
                let start = self.pos;
                self.pos += n;
                Ok(start..self.pos)
            }
            _ => Err(SplitError::PastEnd {
                message: self.message,
                field,
                needed,
                available,
                offset,
            }),
        }
    }

    /// The next field, fully checked: tag, wire type and that the value lies
    /// inside this message.
    #[inline]
    fn next_field(&mut self) -> Result<Option<Field>, SplitError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        self.decode_field().map(Some)
    }

    /// Out of line: the span walk calls it about once per span, and keeping
    /// it out keeps that walk's fast loop small.
    #[inline(never)]
    fn decode_field(&mut self) -> Result<Field, SplitError> {
        let start = self.pos;
        let tag = self.varint()?;
        let number = match u32::try_from(tag >> 3) {
            Ok(number) if number != 0 && tag <= u64::from(u32::MAX) => number,
            _ => {
                return Err(SplitError::InvalidTag {
                    message: self.message,
                    tag,
                    offset: start,
                })
            }
        };
        let wire_type = (tag & 7) as u8;
        let value = match wire_type {
            VARINT => {
                let value_start = self.pos;
                self.varint()?;
                value_start..self.pos
            }
            I64 => self.take(number, 8, start)?,
            LEN => {
                let len = self.varint()?;
                self.take(number, len, start)?
            }
            I32 => self.take(number, 4, start)?,
            3 | 4 => {
                return Err(SplitError::GroupWireType {
                    message: self.message,
                    field: number,
                    wire_type,
                    offset: start,
                })
            }
            _ => {
                return Err(SplitError::InvalidWireType {
                    message: self.message,
                    field: number,
                    wire_type,
                    offset: start,
                })
            }
        };
        Ok(Field {
            number,
            wire_type,
            raw: start..self.pos,
            value,
        })
    }
}

// ---------------------------------------------------------------------------
// Index of the request: headers, spans and traces as ranges and indices

/// Marks "no span / no trace / no group" in the u32 links below.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct ScopeRec {
    /// The scope's header bytes in `Index::headers`.
    header: (u32, u32),
    resource: u32,
}

#[derive(Clone, Copy)]
struct SpanRec {
    /// The span's bytes (without tag and length) in the request.
    start: u32,
    len: u32,
    scope: u32,
    /// Next span of the same trace: a linked list saves a Vec per trace.
    next: u32,
}

struct TraceRec {
    id: [u8; 16],
    head: u32,
    tail: u32,
}

struct Index {
    /// Every resource's and scope's header fields, copied once. Headers are
    /// copied rather than referenced because a header is usually split around
    /// its list (prost writes `schema_url`, field 3, after the spans).
    headers: Vec<u8>,
    /// Each resource's header bytes in `headers`.
    resources: Vec<(u32, u32)>,
    scopes: Vec<ScopeRec>,
    spans: Vec<SpanRec>,
    /// In order of first appearance.
    traces: Vec<TraceRec>,
    by_id: HashMap<u128, u32, TraceIdHashBuilder>,
    /// Spans of one trace often come together: skip the map for them.
    last_trace: u32,
    spans_seen: u64,
    refused: Refusals,
    window: TimeWindow,
}

impl Index {
    fn new(request_len: usize, window: TimeWindow) -> Self {
        // A 600-byte span is typical; guessing low only costs a regrowth.
        let spans = request_len / 512 + 4;
        Index {
            headers: Vec::new(),
            resources: Vec::new(),
            scopes: Vec::new(),
            spans: Vec::with_capacity(spans),
            traces: Vec::new(),
            // Room for the dozen or so traces of a typical batch, so the
            // common case never rehashes.
            by_id: HashMap::with_capacity_and_hasher(16, TraceIdHashBuilder::new()),
            last_trace: NONE,
            spans_seen: 0,
            refused: Refusals::default(),
            window,
        }
    }

    fn walk_request(&mut self, request: &[u8]) -> Result<(), SplitError> {
        let mut walker = Walker::new(request, 0..request.len(), REQUEST);
        while let Some(field) = walker.next_field()? {
            if field.number == 1 {
                field.expect(REQUEST, "resource_spans", LEN)?;
                self.walk_resource_spans(request, field.value)?;
            }
        }
        Ok(())
    }

    fn walk_resource_spans(
        &mut self,
        request: &[u8],
        range: Range<usize>,
    ) -> Result<(), SplitError> {
        // First pass: the header, so that it is contiguous in `headers` before
        // the scopes below append theirs.
        let header_start = self.headers.len();
        let mut walker = Walker::new(request, range.clone(), RESOURCE_SPANS);
        while let Some(field) = walker.next_field()? {
            match field.number {
                2 => field.expect(RESOURCE_SPANS, "scope_spans", LEN)?,
                number => {
                    if number == 1 {
                        field.expect(RESOURCE_SPANS, "resource", LEN)?;
                    } else if number == 3 {
                        field.expect(RESOURCE_SPANS, "schema_url", LEN)?;
                    }
                    self.headers.extend_from_slice(&request[field.raw]);
                }
            }
        }
        let resource = self.resources.len() as u32;
        self.resources
            .push((header_start as u32, self.headers.len() as u32));

        // Second pass: the scopes; the first pass has checked every field.
        let mut walker = Walker::new(request, range, RESOURCE_SPANS);
        while let Some(field) = walker.next_field()? {
            if field.number == 2 {
                self.walk_scope_spans(request, field.value, resource)?;
            }
        }
        Ok(())
    }

    fn walk_scope_spans(
        &mut self,
        request: &[u8],
        range: Range<usize>,
        resource: u32,
    ) -> Result<(), SplitError> {
        // Spans copy nothing into `headers`, so one pass keeps this scope's
        // header contiguous.
        let scope = self.scopes.len() as u32;
        let header_start = self.headers.len();
        let mut walker = Walker::new(request, range, SCOPE_SPANS);
        while let Some(field) = walker.next_field()? {
            match field.number {
                2 => {
                    field.expect(SCOPE_SPANS, "spans", LEN)?;
                    self.walk_span(request, field.value, scope)?;
                }
                number => {
                    if number == 1 {
                        field.expect(SCOPE_SPANS, "scope", LEN)?;
                    } else if number == 3 {
                        field.expect(SCOPE_SPANS, "schema_url", LEN)?;
                    }
                    self.headers.extend_from_slice(&request[field.raw]);
                }
            }
        }
        self.scopes.push(ScopeRec {
            header: (header_start as u32, self.headers.len() as u32),
            resource,
        });
        Ok(())
    }

    fn walk_span(
        &mut self,
        request: &[u8],
        range: Range<usize>,
        scope: u32,
    ) -> Result<(), SplitError> {
        self.spans_seen += 1;
        let (mut trace_id, mut span_id, mut parent_id) = (0..0, 0..0, 0..0);
        // Where the 8 bytes of the start and end times are (none: unset, 0).
        let (mut start_at, mut end_at) = (usize::MAX, usize::MAX);
        let mut bad_link: Option<LinkProblem> = None;
        // The walk is most of the split's cost, and nearly all of a span's
        // fields have a one-byte tag and either a one-byte length or a small
        // fixed size: those are handled inline; the rest goes through the
        // general decoder, which also reports every error.
        let mut walker = Walker::new(request, range.clone(), SPAN);
        loop {
            let pos = walker.pos;
            if let Some(&[tag, next]) = walker.buf.get(pos..pos.wrapping_add(2)) {
                // LEN first and apart: its end depends only on the length
                // byte, keeping the table lookup off the critical path.
                let len_end = pos + 2 + usize::from(next);
                if tag & 0x87 == LEN && next < 0x80 && SPAN_LEN_FIELDS & (1 << (tag >> 3)) != 0 {
                    if len_end <= walker.buf.len() {
                        match tag {
                            TRACE_ID_TAG => trace_id = pos + 2..len_end,
                            SPAN_ID_TAG => span_id = pos + 2..len_end,
                            PARENT_SPAN_ID_TAG => parent_id = pos + 2..len_end,
                            LINKS_TAG if bad_link.is_none() => {
                                bad_link = check_link(request, pos + 2..len_end)?;
                            }
                            _ => {}
                        }
                        walker.pos = len_end;
                        continue;
                    }
                } else {
                    let [size, next_mask] = SPAN_FIXED_TAGS[usize::from(tag)];
                    let end = pos + usize::from(size);
                    if size != 0 && next & next_mask < 0x80 && end <= walker.buf.len() {
                        if tag == START_TAG {
                            start_at = pos + 1;
                        } else if tag == END_TAG {
                            end_at = pos + 1;
                        }
                        walker.pos = end;
                        continue;
                    }
                }
            }
            let Some(field) = walker.next_field()? else {
                break;
            };
            if let Some(&(name, wire_type)) = SPAN_FIELDS.get(field.number as usize) {
                field.expect(SPAN, name, wire_type)?;
            }
            // Protobuf says the last occurrence wins; so does prost.
            match field.number {
                1 => trace_id = field.value,
                2 => span_id = field.value,
                4 => parent_id = field.value,
                7 => start_at = field.value.start,
                8 => end_at = field.value.start,
                13 if bad_link.is_none() => bad_link = check_link(request, field.value)?,
                _ => {}
            }
        }

        let ordinal = self.spans_seen;
        let trace_id = request.get(trace_id).unwrap_or_default();
        let id: [u8; 16] = match <[u8; 16]>::try_from(trace_id) {
            Ok(id) if id != [0; 16] => id,
            Ok(_) => {
                self.refused.add(Refusal::ZeroTraceId, || {
                    format!("span {ordinal} of the request has an all-zero trace_id")
                });
                return Ok(());
            }
            Err(_) => {
                let len = trace_id.len();
                self.refused.add(Refusal::InvalidId, || match len {
                    0 => format!("span {ordinal} of the request has no trace_id"),
                    len => format!(
                        "span {ordinal} of the request has a trace_id of {len} bytes, expected 16"
                    ),
                });
                return Ok(());
            }
        };
        let fixed64 = |at: usize| {
            request
                .get(at..at.wrapping_add(8))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes)
        };
        let (start, end) = (fixed64(start_at), fixed64(end_at));
        let ids = SpanIds {
            span: request.get(span_id).unwrap_or_default(),
            parent: request.get(parent_id).unwrap_or_default(),
            bad_link,
        };
        if let Err((refusal, problem)) = check_span(&ids, start, end, &self.window) {
            let window = self.window;
            self.refused.add(refusal, || {
                let hex = trace_id_hex(&id);
                let trace = std::str::from_utf8(&hex).unwrap_or_default();
                let problem = problem.describe(&window, start, end);
                format!("span {ordinal} of the request (trace {trace}) {problem}")
            });
            return Ok(());
        }

        let span = self.spans.len() as u32;
        self.spans.push(SpanRec {
            start: range.start as u32,
            len: range.len() as u32,
            scope,
            next: NONE,
        });
        let trace = match self.traces.get(self.last_trace as usize) {
            Some(last) if last.id == id => self.last_trace,
            _ => {
                let next = self.traces.len() as u32;
                let trace = *self.by_id.entry(u128::from_le_bytes(id)).or_insert(next);
                if trace == next {
                    self.traces.push(TraceRec {
                        id,
                        head: NONE,
                        tail: NONE,
                    });
                }
                trace
            }
        };
        self.last_trace = trace;
        let Some(rec) = self.traces.get_mut(trace as usize) else {
            return Ok(());
        };
        match self.spans.get_mut(rec.tail as usize) {
            Some(tail) => tail.next = span,
            None => rec.head = span,
        }
        rec.tail = span;
        Ok(())
    }

    fn resource_header(&self, resource: u32) -> &[u8] {
        let (start, end) = self.resources[resource as usize];
        &self.headers[start as usize..end as usize]
    }

    fn scope_header(&self, scope: u32) -> &[u8] {
        let (start, end) = self.scopes[scope as usize].header;
        &self.headers[start as usize..end as usize]
    }

    /// Packs each trace's spans greedily into messages under the cap and
    /// writes them.
    fn write_messages(mut self, request: &[u8], cap: usize) -> Split {
        let mut split = Split {
            // Every span once, plus headers repeated per message.
            buf: Vec::with_capacity(
                request.len() + self.traces.len() * (self.headers.len().min(4096) + 16),
            ),
            messages: Vec::with_capacity(self.traces.len()),
            ..Split::default()
        };
        let mut packer = Packer::new(cap);
        for t in 0..self.traces.len() {
            let (id, mut next) = (self.traces[t].id, self.traces[t].head);
            while let Some(&span) = self.spans.get(next as usize) {
                let index = next;
                next = span.next;
                let scope = self.scopes[span.scope as usize];
                let resource_header = self.resource_header(scope.resource).len();
                let scope_header = self.scope_header(span.scope).len();
                let alone = field_len(
                    resource_header + field_len(scope_header + field_len(span.len as usize)),
                );
                if alone > cap {
                    self.refused.add(Refusal::TooLarge, || {
                        format!(
                            "span of {} bytes exceeds the Kafka message limit of {cap} bytes \
                             ({alone} bytes with its resource and scope)",
                            span.len
                        )
                    });
                    continue;
                }
                let sizes = Sizes {
                    span: span.len as usize,
                    scope: span.scope,
                    resource: scope.resource,
                    scope_header,
                    resource_header,
                };
                if !packer.add(index, &sizes) {
                    packer.write(&self, request, id, &mut split);
                    packer.add(index, &sizes);
                }
            }
            packer.write(&self, request, id, &mut split);
        }
        split.refused = std::mem::take(&mut self.refused);
        split
    }
}

/// The IDs of a span, besides its trace ID, as found on the wire.
struct SpanIds<'a> {
    span: &'a [u8],
    parent: &'a [u8],
    /// The first link whose IDs have a length the ingester cannot store.
    bad_link: Option<LinkProblem>,
}

/// A link ID of the wrong length: which one, and its length.
#[derive(Clone, Copy)]
struct LinkProblem {
    field: &'static str,
    len: usize,
}

/// Why a span with a good trace ID is refused; described only for the first.
enum SpanProblem {
    SpanIdLength(usize),
    ZeroSpanId,
    ParentLength(usize),
    Link(LinkProblem),
    Time(TimeProblem),
}

impl SpanProblem {
    fn describe(&self, window: &TimeWindow, start: u64, end: u64) -> String {
        match *self {
            SpanProblem::SpanIdLength(0) => "has no span_id".to_owned(),
            SpanProblem::SpanIdLength(len) => {
                format!("has a span_id of {len} bytes, expected 8")
            }
            SpanProblem::ZeroSpanId => "has an all-zero span_id".to_owned(),
            SpanProblem::ParentLength(len) => {
                format!("has a parent_span_id of {len} bytes, expected 8 or none")
            }
            SpanProblem::Link(LinkProblem { field, len }) => {
                let expected = if field == "trace_id" { 16 } else { 8 };
                format!("has a link whose {field} is {len} bytes, expected {expected} or none")
            }
            SpanProblem::Time(problem) => window.describe(problem, start, end),
        }
    }
}

/// What the ingester needs of a span besides its trace ID: an 8-byte,
/// non-zero span ID, a parent and link IDs it can write (empty means none),
/// and a start time in the window with the end not before it.
fn check_span(
    ids: &SpanIds<'_>,
    start: u64,
    end: u64,
    window: &TimeWindow,
) -> Result<(), (Refusal, SpanProblem)> {
    match <[u8; 8]>::try_from(ids.span) {
        Ok(id) if id == [0; 8] => return Err((Refusal::ZeroSpanId, SpanProblem::ZeroSpanId)),
        Ok(_) => {}
        Err(_) => {
            return Err((
                Refusal::InvalidId,
                SpanProblem::SpanIdLength(ids.span.len()),
            ))
        }
    }
    if !matches!(ids.parent.len(), 0 | 8) {
        return Err((
            Refusal::InvalidId,
            SpanProblem::ParentLength(ids.parent.len()),
        ));
    }
    if let Some(link) = ids.bad_link {
        return Err((Refusal::InvalidId, SpanProblem::Link(link)));
    }
    window
        .check(start, end)
        .map_err(|(refusal, problem)| (refusal, SpanProblem::Time(problem)))
}

/// Walks one `Link` of a span for its IDs: a trace ID of 0 or 16 bytes and
/// a span ID of 0 or 8, as the ingester's writer takes them.
fn check_link(request: &[u8], range: Range<usize>) -> Result<Option<LinkProblem>, SplitError> {
    let mut walker = Walker::new(request, range, LINK);
    let (mut trace_len, mut span_len) = (0, 0);
    while let Some(field) = walker.next_field()? {
        match field.number {
            1 => {
                field.expect(LINK, "trace_id", LEN)?;
                trace_len = field.value.len();
            }
            2 => {
                field.expect(LINK, "span_id", LEN)?;
                span_len = field.value.len();
            }
            _ => {}
        }
    }
    Ok(if !matches!(trace_len, 0 | 16) {
        Some(LinkProblem {
            field: "trace_id",
            len: trace_len,
        })
    } else if !matches!(span_len, 0 | 8) {
        Some(LinkProblem {
            field: "span_id",
            len: span_len,
        })
    } else {
        None
    })
}

/// Bytes of a LEN field (one-byte tag, length prefix, payload) whose payload
/// is `len` bytes. All our tags are field numbers below 16: one byte.
#[inline]
fn field_len(len: usize) -> usize {
    1 + varint::len(len as u64) + len
}

/// What the packer needs to know about one span.
struct Sizes {
    span: usize,
    scope: u32,
    resource: u32,
    scope_header: usize,
    resource_header: usize,
}

/// The message being filled for one trace. Sizes are tracked per nesting level
/// so that adding a span can be priced exactly, length prefixes included,
/// before it is committed.
struct Packer {
    cap: usize,
    /// Bytes of the closed ResourceSpans entries.
    closed: usize,
    /// Payload of the open ResourceSpans: header plus closed ScopeSpans entries.
    resource_body: usize,
    /// Payload of the open ScopeSpans: header plus span entries.
    scope_body: usize,
    resource: u32,
    scope: u32,
    spans: Vec<u32>,
    /// Payload length of each ResourceSpans and ScopeSpans in the order the
    /// writer opens them; a slot is filled when its group closes.
    group_lens: Vec<usize>,
    resource_slot: usize,
    scope_slot: usize,
}

impl Packer {
    fn new(cap: usize) -> Self {
        Packer {
            cap,
            closed: 0,
            resource_body: 0,
            scope_body: 0,
            resource: NONE,
            scope: NONE,
            spans: Vec::new(),
            group_lens: Vec::new(),
            resource_slot: 0,
            scope_slot: 0,
        }
    }

    fn open_resource_len(&self) -> usize {
        self.resource_body + field_len(self.scope_body)
    }

    fn size(&self) -> usize {
        if self.spans.is_empty() {
            return 0;
        }
        self.closed + field_len(self.open_resource_len())
    }

    /// Adds the span if the message stays within the cap; an empty message
    /// always takes it (the caller has checked it fits alone).
    fn add(&mut self, span: u32, sizes: &Sizes) -> bool {
        let entry = field_len(sizes.span);
        let same_scope = self.scope == sizes.scope;
        let same_resource = self.resource == sizes.resource;
        let (closed, resource_body, scope_body) = if same_scope {
            (self.closed, self.resource_body, self.scope_body + entry)
        } else if same_resource {
            (
                self.closed,
                self.open_resource_len(),
                sizes.scope_header + entry,
            )
        } else {
            (
                self.size(),
                sizes.resource_header,
                sizes.scope_header + entry,
            )
        };
        let total = closed + field_len(resource_body + field_len(scope_body));
        if !self.spans.is_empty() && total > self.cap {
            return false;
        }
        if !same_scope {
            if !self.spans.is_empty() {
                self.close_scope();
                if !same_resource {
                    self.close_resource();
                }
            }
            if !same_resource {
                self.resource_slot = self.group_lens.len();
                self.group_lens.push(0);
            }
            self.scope_slot = self.group_lens.len();
            self.group_lens.push(0);
        }
        (self.closed, self.resource_body, self.scope_body) = (closed, resource_body, scope_body);
        (self.resource, self.scope) = (sizes.resource, sizes.scope);
        self.spans.push(span);
        true
    }

    fn close_scope(&mut self) {
        if let Some(slot) = self.group_lens.get_mut(self.scope_slot) {
            *slot = self.scope_body;
        }
    }

    fn close_resource(&mut self) {
        let len = self.open_resource_len();
        if let Some(slot) = self.group_lens.get_mut(self.resource_slot) {
            *slot = len;
        }
    }

    /// Writes the message (if any) and empties the packer.
    fn write(&mut self, index: &Index, request: &[u8], trace_id: [u8; 16], split: &mut Split) {
        if self.spans.is_empty() {
            return;
        }
        self.close_scope();
        self.close_resource();
        let total = self.size();
        let buf = &mut split.buf;
        let start = buf.len();
        buf.reserve(total);
        let mut lens = self.group_lens.iter().copied();
        let (mut resource, mut scope) = (NONE, NONE);
        for &index_of_span in &self.spans {
            let span = index.spans[index_of_span as usize];
            if span.scope != scope {
                scope = span.scope;
                let span_resource = index.scopes[scope as usize].resource;
                if span_resource != resource {
                    resource = span_resource;
                    buf.push(RESOURCE_SPANS_TAG);
                    varint::put(buf, lens.next().unwrap_or_default() as u64);
                    buf.extend_from_slice(index.resource_header(resource));
                }
                buf.push(SCOPE_SPANS_TAG);
                varint::put(buf, lens.next().unwrap_or_default() as u64);
                buf.extend_from_slice(index.scope_header(scope));
            }
            let bytes = span.start as usize..span.start as usize + span.len as usize;
            buf.push(SPAN_TAG);
            varint::put(buf, span.len as u64);
            buf.extend_from_slice(&request[bytes]);
        }
        debug_assert_eq!(
            buf.len() - start,
            total,
            "packer priced the message wrongly"
        );
        split.messages.push(TraceMessage {
            trace_id,
            value: start..buf.len(),
            spans: self.spans.len() as u32,
        });
        split.accepted_spans += self.spans.len() as u64;

        self.closed = 0;
        self.resource_body = 0;
        self.scope_body = 0;
        self.resource = NONE;
        self.scope = NONE;
        self.spans.clear();
        self.group_lens.clear();
    }
}

// ---------------------------------------------------------------------------
// Trace ID hashing

/// Hashes the 128-bit trace ID with one keyed folded multiply. Trace IDs are
/// random, so SipHash's quality buys nothing here, but a client can choose
/// them: the per-process random key keeps crafted IDs from all landing in one
/// bucket.
#[derive(Clone, Copy)]
struct TraceIdHashBuilder {
    keys: (u64, u64),
}

impl TraceIdHashBuilder {
    fn new() -> Self {
        static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
        let keys = *KEYS.get_or_init(|| {
            let random = std::collections::hash_map::RandomState::new();
            (random.hash_one(1u8), random.hash_one(2u8))
        });
        TraceIdHashBuilder { keys }
    }
}

impl BuildHasher for TraceIdHashBuilder {
    type Hasher = TraceIdHasher;

    fn build_hasher(&self) -> TraceIdHasher {
        TraceIdHasher {
            keys: self.keys,
            hash: 0,
        }
    }
}

struct TraceIdHasher {
    keys: (u64, u64),
    hash: u64,
}

impl TraceIdHasher {
    #[inline]
    fn mix(&mut self, value: u128) {
        let low = (value as u64) ^ self.keys.0 ^ self.hash;
        let high = ((value >> 64) as u64) ^ self.keys.1;
        let product = u128::from(low) * u128::from(high);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for TraceIdHasher {
    #[inline]
    fn write_u128(&mut self, value: u128) {
        self.mix(value);
    }

    /// Only `u128` keys are hashed; this keeps the hasher correct for anything.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut block = [0u8; 16];
            block[..chunk.len()].copy_from_slice(chunk);
            self.mix(u128::from_le_bytes(block));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::attributes::kv_str;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, InstrumentationScope, KeyValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;
    use prost::Message;

    /// Trace IDs the generators draw from, so traces repeat across resources
    /// and scopes. The last one has a zero high half, as 64-bit Jaeger IDs do.
    const TRACE_IDS: [[u8; 16]; 4] = [
        [0xab; 16],
        [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ],
        [0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f],
        [0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1],
    ];

    fn span(trace_id: &[u8], n: u8, attributes: usize) -> Span {
        Span {
            trace_id: trace_id.to_vec(),
            span_id: vec![n; 8],
            name: format!("span-{n}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(n),
            end_time_unix_nano: 1_700_000_000_000_100_000,
            attributes: (0..attributes)
                .map(|i| kv_str(format!("attr.{i}"), "some value"))
                .collect(),
            ..Span::default()
        }
    }

    fn scope_spans(name: &str, spans: Vec<Span>) -> ScopeSpans {
        ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                version: "1.0".into(),
                ..InstrumentationScope::default()
            }),
            spans,
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        }
    }

    fn resource_spans(service: &str, scope_spans: Vec<ScopeSpans>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", service)],
                ..Resource::default()
            }),
            scope_spans,
            schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
        }
    }

    fn encode(resource_spans: Vec<ResourceSpans>) -> Vec<u8> {
        ExportTraceServiceRequest { resource_spans }.encode_to_vec()
    }

    fn decoded(split: &Split) -> Vec<([u8; 16], ExportTraceServiceRequest)> {
        split
            .iter()
            .map(|(message, value)| {
                let request = ExportTraceServiceRequest::decode(value).expect("output decodes");
                (message.trace_id, request)
            })
            .collect()
    }

    fn spans_of(request: &ExportTraceServiceRequest) -> Vec<&Span> {
        request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect()
    }

    // --- reference: decode, group by trace, re-encode ------------------------

    /// (resource index, scope index, span) of one valid span of the request.
    type Item<'a> = (usize, usize, &'a Span);

    struct Reference {
        messages: Vec<([u8; 16], ExportTraceServiceRequest)>,
        accepted: u64,
        rejected: u64,
    }

    /// The slow, obviously right way: prost decode, group spans by trace in
    /// order of first appearance, and pack each trace greedily, pricing every
    /// candidate message with prost's `encoded_len`.
    fn reference_split(request: &[u8], cap: usize) -> Reference {
        let decoded =
            ExportTraceServiceRequest::decode(request).expect("generated request decodes");
        let mut order: Vec<[u8; 16]> = Vec::new();
        let mut by_trace: HashMap<[u8; 16], Vec<Item<'_>>> = HashMap::new();
        let mut rejected = 0;
        for (ri, rs) in decoded.resource_spans.iter().enumerate() {
            for (si, ss) in rs.scope_spans.iter().enumerate() {
                for span in &ss.spans {
                    match <[u8; 16]>::try_from(span.trace_id.as_slice()) {
                        Ok(id) if id != [0; 16] && storable(span) => {
                            by_trace
                                .entry(id)
                                .or_insert_with(|| {
                                    order.push(id);
                                    Vec::new()
                                })
                                .push((ri, si, span));
                        }
                        _ => rejected += 1,
                    }
                }
            }
        }
        let mut messages = Vec::new();
        let mut accepted = 0;
        for id in order {
            let mut current: Vec<Item<'_>> = Vec::new();
            for &item in &by_trace[&id] {
                if build(&decoded, &[item]).encoded_len() > cap {
                    rejected += 1;
                    continue;
                }
                let mut candidate = current.clone();
                candidate.push(item);
                if build(&decoded, &candidate).encoded_len() <= cap {
                    current = candidate;
                } else {
                    accepted += current.len() as u64;
                    messages.push((id, build(&decoded, &current)));
                    current = vec![item];
                }
            }
            if !current.is_empty() {
                accepted += current.len() as u64;
                messages.push((id, build(&decoded, &current)));
            }
        }
        Reference {
            messages,
            accepted,
            rejected,
        }
    }

    /// The reference's rule for a span with a good trace ID: what the
    /// ingester's writer can store, with a start time and no negative
    /// duration.
    fn storable(span: &Span) -> bool {
        span.span_id.len() == 8
            && span.span_id != [0; 8]
            && matches!(span.parent_span_id.len(), 0 | 8)
            && span.links.iter().all(|link| {
                matches!(link.trace_id.len(), 0 | 16) && matches!(link.span_id.len(), 0 | 8)
            })
            && span.start_time_unix_nano > 0
            && span.end_time_unix_nano >= span.start_time_unix_nano
    }

    /// A request holding `items`, consecutive items of one resource and scope
    /// grouped together.
    fn build(decoded: &ExportTraceServiceRequest, items: &[Item<'_>]) -> ExportTraceServiceRequest {
        let mut out = ExportTraceServiceRequest::default();
        let mut last = None;
        for &(ri, si, span) in items {
            let rs = &decoded.resource_spans[ri];
            let ss = &rs.scope_spans[si];
            if last.map(|(r, _)| r) != Some(ri) {
                out.resource_spans.push(ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: Vec::new(),
                    schema_url: rs.schema_url.clone(),
                });
            }
            let out_rs = out.resource_spans.last_mut().expect("pushed above");
            if last != Some((ri, si)) {
                out_rs.scope_spans.push(ScopeSpans {
                    scope: ss.scope.clone(),
                    spans: Vec::new(),
                    schema_url: ss.schema_url.clone(),
                });
            }
            out_rs
                .scope_spans
                .last_mut()
                .expect("pushed above")
                .spans
                .push(span.clone());
            last = Some((ri, si));
        }
        out
    }

    // --- generators ----------------------------------------------------------

    fn arb_trace_id() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            12 => (0..TRACE_IDS.len()).prop_map(|i| TRACE_IDS[i].to_vec()),
            1 => Just(Vec::new()),
            1 => Just(vec![0; 16]),
            1 => prop::collection::vec(any::<u8>(), 1..24).prop_filter("not 16 bytes", |id| id.len() != 16),
        ]
    }

    fn arb_key_value() -> impl Strategy<Value = KeyValue> {
        let value = prop_oneof![
            // Long values give spans fields with two-byte lengths, off the
            // walk's fast path.
            prop_oneof![4 => "[ -~]{0,40}", 1 => "[ -~]{100,200}"]
                .prop_map(any_value::Value::StringValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
            any::<f64>().prop_map(any_value::Value::DoubleValue),
            prop::collection::vec(any::<u8>(), 0..16).prop_map(any_value::Value::BytesValue),
        ];
        ("[a-z.]{1,16}", prop::option::of(value)).prop_map(|(key, value)| KeyValue {
            key,
            value: Some(AnyValue { value }),
            ..KeyValue::default()
        })
    }

    /// A span ID, or a parent or link ID: mostly `len` random bytes,
    /// sometimes empty, all zeros or of another length.
    fn arb_id(len: usize, absent_weight: u32) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            12 => prop::collection::vec(any::<u8>(), len),
            absent_weight => Just(Vec::new()),
            1 => Just(vec![0; len]),
            1 => prop::collection::vec(any::<u8>(), 1..24).prop_filter("another length", move |id| id.len() != len),
        ]
    }

    /// Start and end: mostly a start with a duration, sometimes unset or
    /// anything.
    fn arb_times() -> impl Strategy<Value = (u64, u64)> {
        prop_oneof![
            10 => (1..u64::MAX / 2, 0..u64::MAX / 2).prop_map(|(start, duration)| (start, start + duration)),
            1 => (Just(0u64), any::<u64>()),
            1 => any::<(u64, u64)>(),
        ]
    }

    fn arb_link() -> impl Strategy<Value = Link> {
        (arb_id(16, 1), arb_id(8, 1)).prop_map(|(trace_id, span_id)| Link {
            trace_id,
            span_id,
            ..Link::default()
        })
    }

    fn arb_span() -> impl Strategy<Value = Span> {
        (
            (arb_trace_id(), arb_id(8, 1), arb_id(8, 12)),
            "[a-zA-Z /]{0,24}",
            0..6i32,
            (arb_times(), any::<u32>()),
            prop::collection::vec(arb_key_value(), 0..6),
            prop::option::of(("[a-z ]{0,12}", 0..3i32)),
            prop_oneof![8 => Just(Vec::new()), 1 => prop::collection::vec(arb_link(), 1..3)],
        )
            .prop_map(
                |(
                    (trace_id, span_id, parent_span_id),
                    name,
                    kind,
                    ((start, end), flags),
                    attributes,
                    status,
                    links,
                )| Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    flags,
                    attributes,
                    status: status.map(|(message, code)| Status { message, code }),
                    links,
                    ..Span::default()
                },
            )
    }

    fn arb_scope_spans() -> impl Strategy<Value = ScopeSpans> {
        (
            prop::option::of((
                "[a-z.]{0,16}",
                "[0-9.]{0,6}",
                prop::collection::vec(arb_key_value(), 0..3),
            )),
            prop::collection::vec(arb_span(), 0..6),
            "(https://[a-z/.0-9]{1,20})?",
        )
            .prop_map(|(scope, spans, schema_url)| ScopeSpans {
                scope: scope.map(|(name, version, attributes)| InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count: 0,
                }),
                spans,
                schema_url,
            })
    }

    fn arb_request() -> impl Strategy<Value = Vec<u8>> {
        let resource_spans = (
            prop::option::of(prop::collection::vec(arb_key_value(), 0..5)),
            prop::collection::vec(arb_scope_spans(), 0..4),
            "(https://[a-z/.0-9]{1,20})?",
        )
            .prop_map(|(attributes, scope_spans, schema_url)| ResourceSpans {
                resource: attributes.map(|attributes| Resource {
                    attributes,
                    ..Resource::default()
                }),
                scope_spans,
                schema_url,
            });
        prop::collection::vec(resource_spans, 0..5).prop_map(encode)
    }

    // --- properties ----------------------------------------------------------

    proptest! {
        #[test]
        fn split_equals_decode_group_reencode_reference(
            request in arb_request(),
            cap in prop_oneof![Just(1usize << 20), 60usize..1_000],
        ) {
            let split = split_by_trace(&request, cap).expect("valid request splits");
            let reference = reference_split(&request, cap);
            prop_assert_eq!(decoded(&split), reference.messages);
            prop_assert_eq!(split.accepted_spans, reference.accepted);
            prop_assert_eq!(split.refused.total(), reference.rejected);
            prop_assert_eq!(split.refused.first().is_some(), split.refused.total() > 0);
            let mut end = 0;
            for (message, value) in split.iter() {
                prop_assert!(value.len() <= cap, "{} bytes over the cap of {}", value.len(), cap);
                prop_assert_eq!(message.key().to_vec(), hex::encode(message.trace_id).into_bytes());
                prop_assert_eq!(message.value.start, end, "values are back to back");
                end = message.value.end;
            }
            prop_assert_eq!(end, split.buf.len());
        }

        #[test]
        fn every_valid_span_appears_in_exactly_one_message(request in arb_request()) {
            let split = split_by_trace(&request, 1 << 20).expect("valid request splits");
            let input = ExportTraceServiceRequest::decode(request.as_slice()).expect("decodes");
            let mut expected: Vec<Vec<u8>> = spans_of(&input)
                .into_iter()
                .filter(|span| span.trace_id.len() == 16 && span.trace_id.iter().any(|&b| b != 0) && storable(span))
                .map(Message::encode_to_vec)
                .collect();
            let mut found = Vec::new();
            for (trace_id, message) in decoded(&split) {
                for span in spans_of(&message) {
                    prop_assert_eq!(span.trace_id.as_slice(), trace_id.as_slice());
                    found.push(span.encode_to_vec());
                }
            }
            prop_assert_eq!(split.accepted_spans, found.len() as u64);
            expected.sort();
            found.sort();
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn trace_id_hex_is_lowercase_hex(id in any::<[u8; 16]>()) {
            prop_assert_eq!(trace_id_hex(&id).to_vec(), hex::encode(id).into_bytes());
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cap in 0usize..4_096) {
            check_invariants_if_ok(&bytes, cap);
        }

        #[test]
        fn corrupted_requests_never_panic(
            request in arb_request(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cap in 0usize..4_096,
        ) {
            let mut request = request;
            if !request.is_empty() {
                for (at, byte) in edits {
                    let at = at.index(request.len());
                    request[at] = byte;
                }
            }
            check_invariants_if_ok(&request, cap);
        }
    }

    /// Whatever the input, splitting returns; when it succeeds the output
    /// obeys the cap and accounts for every message.
    fn check_invariants_if_ok(request: &[u8], cap: usize) {
        if let Ok(split) = split_by_trace(request, cap) {
            let mut spans = 0;
            for (message, value) in split.iter() {
                assert!(value.len() <= cap);
                assert_ne!(message.trace_id, [0; 16]);
                spans += u64::from(message.spans);
            }
            assert_eq!(spans, split.accepted_spans);
        }
    }

    // --- examples ------------------------------------------------------------

    #[test]
    fn splits_request_by_trace_id() {
        let [a, b, ..] = TRACE_IDS;
        let request = encode(vec![
            resource_spans(
                "frontend",
                vec![scope_spans("http", vec![span(&a, 1, 2), span(&b, 2, 2)])],
            ),
            resource_spans(
                "backend",
                vec![scope_spans("db", vec![span(&b, 3, 2), span(&a, 4, 2)])],
            ),
        ]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.accepted_spans, 4);
        assert_eq!(split.refused.total(), 0);
        assert_eq!(split.refused.first(), None);
        let messages = decoded(&split);
        assert_eq!(messages.len(), 2);
        assert_eq!(
            &split.messages[0].key(),
            b"abababababababababababababababab"
        );
        assert_eq!(
            &split.messages[1].key(),
            b"0123456789abcdeffedcba9876543210"
        );
        for (trace_id, message) in &messages {
            // One span from each resource, each under its own resource.
            assert_eq!(message.resource_spans.len(), 2);
            assert!(spans_of(message).iter().all(|s| s.trace_id == trace_id));
        }
        let services: Vec<_> = messages[0]
            .1
            .resource_spans
            .iter()
            .map(|rs| rs.resource.as_ref().unwrap().attributes[0].clone())
            .collect();
        assert_eq!(
            services,
            vec![
                kv_str("service.name", "frontend"),
                kv_str("service.name", "backend")
            ]
        );
    }

    #[test]
    fn orders_messages_by_first_appearance_of_each_trace() {
        let [a, b, c, d] = TRACE_IDS;
        let spans = [c, a, d, c, b, a]
            .iter()
            .zip(1..)
            .map(|(id, n)| span(id, n, 0))
            .collect();
        let request = encode(vec![resource_spans("svc", vec![scope_spans("lib", spans)])]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        let order: Vec<_> = split.messages.iter().map(|m| m.trace_id).collect();
        assert_eq!(order, vec![c, a, d, b]);
        let spans: Vec<u32> = split.messages.iter().map(|m| m.spans).collect();
        assert_eq!(spans, vec![2, 2, 1, 1]);
    }

    #[test]
    fn groups_consecutive_spans_under_one_resource_and_scope() {
        let [a, b, ..] = TRACE_IDS;
        // Trace a's spans are interleaved with b's but share resource and
        // scope, so they land in one ScopeSpans; a second scope of the same
        // resource gets a second ScopeSpans under the same ResourceSpans.
        let request = encode(vec![resource_spans(
            "svc",
            vec![
                scope_spans("one", vec![span(&a, 1, 0), span(&b, 2, 0), span(&a, 3, 0)]),
                scope_spans("two", vec![span(&a, 4, 0)]),
            ],
        )]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        let (_, message) = &decoded(&split)[0];
        assert_eq!(message.resource_spans.len(), 1);
        let scopes = &message.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        assert_eq!(
            scopes[0]
                .spans
                .iter()
                .map(|s| s.span_id[0])
                .collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            scopes[1]
                .spans
                .iter()
                .map(|s| s.span_id[0])
                .collect::<Vec<_>>(),
            vec![4]
        );
        assert_eq!(scopes[1].scope.as_ref().unwrap().name, "two");
    }

    #[test]
    fn splits_a_large_trace_into_messages_under_the_byte_cap() {
        let [a, b, ..] = TRACE_IDS;
        let mut spans: Vec<Span> = (1..=40).map(|n| span(&a, n, 5)).collect();
        spans.insert(7, span(&b, 200, 5));
        let request = encode(vec![resource_spans("svc", vec![scope_spans("lib", spans)])]);
        let cap = 1_000;
        let split = split_by_trace(&request, cap).unwrap();
        assert_eq!(split.refused.total(), 0);
        assert_eq!(split.accepted_spans, 41);

        let messages = decoded(&split);
        let of_a: Vec<_> = messages.iter().filter(|(id, _)| *id == a).collect();
        assert!(
            of_a.len() > 1,
            "trace should need several messages, got {}",
            of_a.len()
        );
        // The messages of one trace are consecutive, first, and in span order.
        assert!(split.messages[..of_a.len()]
            .iter()
            .all(|m| m.key() == trace_id_hex(&a)));
        let span_ids: Vec<u8> = of_a
            .iter()
            .flat_map(|(_, m)| spans_of(m))
            .map(|s| s.span_id[0])
            .collect();
        assert_eq!(span_ids, (1..=40).collect::<Vec<u8>>());
        for (message, value) in split.iter() {
            assert!(value.len() <= cap, "{} bytes over the cap", value.len());
            assert!(message.spans > 0);
        }
        // Greedy: each message but the last of a trace had no room for the next span.
        let first = split.messages[0].value.len();
        let span_entry = span(&a, 1, 5).encoded_len() + 2;
        assert!(first + span_entry > cap);
    }

    #[test]
    fn matches_the_reference_at_every_cap() {
        // Every cap from "nothing fits" to "everything fits" hits each packing
        // boundary exactly once, length-prefix growth included.
        let [a, b, c, _] = TRACE_IDS;
        let request = encode(vec![
            resource_spans(
                "one",
                vec![
                    scope_spans(
                        "x",
                        vec![
                            span(&a, 1, 1),
                            span(&b, 2, 4),
                            span(&a, 3, 0),
                            span(&a, 4, 6),
                        ],
                    ),
                    scope_spans("y", vec![span(&a, 5, 2), span(&c, 6, 1)]),
                ],
            ),
            resource_spans(
                "two",
                vec![scope_spans(
                    "x",
                    vec![span(&b, 7, 3), span(&a, 8, 1), span(&a, 9, 9)],
                )],
            ),
        ]);
        for cap in 0..request.len() + 64 {
            let split = split_by_trace(&request, cap).unwrap();
            let reference = reference_split(&request, cap);
            assert_eq!(decoded(&split), reference.messages, "cap {cap}");
            assert_eq!(
                (split.accepted_spans, split.refused.total()),
                (reference.accepted, reference.rejected)
            );
            assert!(
                split.iter().all(|(_, value)| value.len() <= cap),
                "cap {cap}"
            );
        }
    }

    #[test]
    fn rejects_a_span_that_exceeds_the_cap_on_its_own() {
        let [a, b, ..] = TRACE_IDS;
        let request = encode(vec![resource_spans(
            "svc",
            vec![scope_spans(
                "lib",
                vec![
                    span(&a, 1, 1),
                    span(&a, 2, 500),
                    span(&b, 3, 1),
                    span(&a, 4, 1),
                ],
            )],
        )]);
        let split = split_by_trace(&request, 2_000).unwrap();
        assert_eq!(split.accepted_spans, 3);
        assert_eq!(split.refused.total(), 1);
        let reason = split.refused.first().unwrap().to_owned();
        assert!(
            reason.contains("exceeds the Kafka message limit of 2000 bytes"),
            "{reason}"
        );
        // The oversize span leaves its neighbours in one message.
        let messages = decoded(&split);
        assert_eq!(messages.len(), 2);
        let ids: Vec<u8> = spans_of(&messages[0].1)
            .iter()
            .map(|s| s.span_id[0])
            .collect();
        assert_eq!(ids, vec![1, 4]);
        assert_eq!(messages[0].1.resource_spans[0].scope_spans.len(), 1);
    }

    #[test]
    fn rejects_invalid_trace_ids_and_accepts_the_rest() {
        let [a, ..] = TRACE_IDS;
        let request = encode(vec![resource_spans(
            "svc",
            vec![scope_spans(
                "lib",
                vec![
                    span(&a, 1, 0),
                    span(&[], 2, 0),
                    span(&[0; 16], 3, 0),
                    span(&[7; 8], 4, 0),
                    span(&a, 5, 0),
                ],
            )],
        )]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.accepted_spans, 2);
        assert_eq!(split.refused.total(), 3);
        assert_eq!(
            split.refused.first(),
            Some("span 2 of the request has no trace_id")
        );
        assert_eq!(split.messages.len(), 1);

        let only_zero = encode(vec![resource_spans(
            "svc",
            vec![scope_spans("lib", vec![span(&[0; 16], 1, 0)])],
        )]);
        let split = split_by_trace(&only_zero, 1_000_000).unwrap();
        assert_eq!(
            split.refused.first(),
            Some("span 1 of the request has an all-zero trace_id")
        );
        let short = encode(vec![resource_spans(
            "svc",
            vec![scope_spans("lib", vec![span(&[7; 8], 1, 0)])],
        )]);
        let split = split_by_trace(&short, 1_000_000).unwrap();
        assert_eq!(
            split.refused.first(),
            Some("span 1 of the request has a trace_id of 8 bytes, expected 16")
        );
    }

    /// The five spans of issue 23 that were acknowledged and then dropped or
    /// stored wrongly, and the other spans the ingester cannot store as sent.
    #[test]
    fn refuses_spans_the_ingester_cannot_store_by_reason() {
        let [a, ..] = TRACE_IDS;
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let window = TimeWindow::around(
            now,
            std::time::Duration::from_secs(72 * 3600),
            std::time::Duration::from_secs(24 * 3600),
        );
        let good = span(&a, 1, 0);
        let with = |change: &dyn Fn(&mut Span)| {
            let mut span = good.clone();
            change(&mut span);
            span
        };
        let year_2200 = 7_258_118_400_000_000_000;
        let spans = vec![
            with(&|s| s.span_id = vec![1, 2]),
            with(&|s| s.parent_span_id = vec![1, 2]),
            with(&|s| s.span_id.clear()),
            with(&|s| s.start_time_unix_nano = 0),
            with(&|s| {
                s.start_time_unix_nano = year_2200;
                s.end_time_unix_nano = year_2200 + 1;
            }),
            with(&|s| s.span_id = vec![0; 8]),
            with(&|s| s.end_time_unix_nano = s.start_time_unix_nano - 1),
            with(&|s| s.start_time_unix_nano = 1_000_000_000),
            with(&|s| {
                s.links = vec![Link {
                    trace_id: a.to_vec(),
                    span_id: vec![9; 3],
                    ..Link::default()
                }]
            }),
            good.clone(),
            with(&|s| s.parent_span_id = vec![5; 8]),
        ];
        let request = encode(vec![resource_spans("svc", vec![scope_spans("lib", spans)])]);
        let split = split_by_trace_within(&request, 1_000_000, window).unwrap();
        assert_eq!(split.accepted_spans, 2);
        assert_eq!(
            split.refused.by_reason().collect::<Vec<_>>(),
            vec![
                ("zero_span_id", 1),
                ("invalid_id", 4),
                ("invalid_timestamp", 2),
                ("timestamp_out_of_window", 2),
            ]
        );
        assert_eq!(
            split.refused.first(),
            Some(
                "span 1 of the request (trace abababababababababababababababab) \
                 has a span_id of 2 bytes, expected 8"
            )
        );
        let first_of = |span: Span| {
            let request = encode(vec![resource_spans(
                "svc",
                vec![scope_spans("lib", vec![span])],
            )]);
            let split = split_by_trace_within(&request, 1_000_000, window).unwrap();
            assert_eq!(split.refused.total(), 1);
            let first = split.refused.first().unwrap_or_default();
            first
                .split_once(") ")
                .map(|(_, problem)| problem.to_owned())
                .unwrap_or_default()
        };
        assert_eq!(
            first_of(with(&|s| s.parent_span_id = vec![1, 2])),
            "has a parent_span_id of 2 bytes, expected 8 or none"
        );
        assert_eq!(first_of(with(&|s| s.span_id.clear())), "has no span_id");
        assert_eq!(
            first_of(with(&|s| s.start_time_unix_nano = 0)),
            "has no start time (start_time_unix_nano 0)"
        );
        assert_eq!(
            first_of(with(&|s| {
                s.start_time_unix_nano = year_2200;
                s.end_time_unix_nano = year_2200;
            })),
            "starts at 2200-01-01T00:00:00Z, more than 24h (--max-span-future) \
             after the collector's clock 2023-11-14T22:13:20Z"
        );

        // Without a window, only the times that cannot be right are refused.
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.accepted_spans, 4);
        assert_eq!(split.refused.total(), 7);
    }

    /// IDs and times are read on the general decoder's path too (taken
    /// here by non-minimal varints, which protobuf allows) and the last
    /// occurrence of a field wins, as in prost.
    #[test]
    fn reads_ids_and_times_off_the_fast_path_and_takes_the_last_occurrence() {
        let [a, ..] = TRACE_IDS;
        let span_bytes = span(&a, 1, 0).encode_to_vec();
        // span_id again, 4 bytes, with a two-byte length.
        let mut bad_id = span_bytes.clone();
        bad_id.extend_from_slice(&[0x12, 0x84, 0x00, 1, 2, 3, 4]);
        // start_time_unix_nano again, 0, with a two-byte tag.
        let mut no_start = span_bytes.clone();
        no_start.extend_from_slice(&[0xb9, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        // ... and an 8-byte span_id after the 4-byte one.
        let mut fixed = bad_id.clone();
        fixed.extend_from_slice(&[0x12, 0x88, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]);
        let request = raw_request(&[], &[], &[span_bytes, bad_id, no_start, fixed]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.accepted_spans, 2);
        assert_eq!(
            split.refused.by_reason().collect::<Vec<_>>(),
            vec![("invalid_id", 1), ("invalid_timestamp", 1)]
        );
    }

    #[test]
    fn a_malformed_link_is_a_malformed_request() {
        let [a, ..] = TRACE_IDS;
        let mut span_bytes = span(&a, 1, 0).encode_to_vec();
        // links: a Link whose field 1 claims 9 bytes of 2.
        span_bytes.extend_from_slice(&[0x6a, 4, 0x0a, 9, 1, 2]);
        let request = raw_request(&[], &[], &[span_bytes]);
        let error = split_by_trace(&request, 1_000_000).unwrap_err();
        assert!(
            matches!(
                error,
                SplitError::PastEnd {
                    message: "Link",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn uses_the_last_trace_id_when_the_field_repeats() {
        let [a, b, ..] = TRACE_IDS;
        let mut span_bytes = span(&a, 1, 0).encode_to_vec();
        span_bytes.extend_from_slice(&[0x0a, 16]);
        span_bytes.extend_from_slice(&b);
        let request = raw_request(&[], &[], &[span_bytes]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.messages[0].trace_id, b);
    }

    /// Hand-assembles a request with one resource and one scope, with raw
    /// header bytes placed around the lists as given.
    fn raw_request(resource_header: &[u8], scope_header: &[u8], spans: &[Vec<u8>]) -> Vec<u8> {
        fn len_field(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
            out.push(tag);
            varint::put(out, payload.len() as u64);
            out.extend_from_slice(payload);
        }
        let mut scope = Vec::new();
        for span in spans {
            len_field(&mut scope, 0x12, span);
        }
        scope.extend_from_slice(scope_header);
        let mut resource = Vec::new();
        len_field(&mut resource, 0x12, &scope);
        resource.extend_from_slice(resource_header);
        let mut request = Vec::new();
        len_field(&mut request, 0x0a, &resource);
        request
    }

    #[test]
    fn preserves_unknown_fields_in_resource_and_scope_headers() {
        let [a, ..] = TRACE_IDS;
        let span_bytes = span(&a, 1, 1).encode_to_vec();
        // Resource: `resource` {service.name} with an unknown field 9 inside,
        // `schema_url`, then unknown fields 7 (varint), 8 (fixed64), 100 (LEN).
        let mut resource_msg = Resource {
            attributes: vec![kv_str("service.name", "svc")],
            ..Resource::default()
        }
        .encode_to_vec();
        resource_msg.extend_from_slice(&[0x48, 0x2a]);
        let mut resource_header = vec![0x0a, resource_msg.len() as u8];
        resource_header.extend_from_slice(&resource_msg);
        resource_header.extend_from_slice(&[0x1a, 3, b'u', b'r', b'l']);
        resource_header.extend_from_slice(&[0x38, 0x96, 0x01]);
        resource_header.extend_from_slice(&[0x41, 1, 2, 3, 4, 5, 6, 7, 8]);
        resource_header.extend_from_slice(&[0xa2, 0x06, 2, 0xbe, 0xef]);
        // Scope: `scope`, then unknown field 4 (fixed32) and 5 (LEN).
        let scope_header = [0x0a, 0x02, 0x0a, 0x00, 0x25, 9, 9, 9, 9, 0x2a, 1, 0x77];

        let request = raw_request(
            &resource_header,
            &scope_header,
            std::slice::from_ref(&span_bytes),
        );
        let split = split_by_trace(&request, 1_000_000).unwrap();

        // Headers come first, in their original order, then the list.
        let mut scope = scope_header.to_vec();
        scope.push(0x12);
        varint::put(&mut scope, span_bytes.len() as u64);
        scope.extend_from_slice(&span_bytes);
        let mut resource = resource_header.clone();
        resource.push(0x12);
        varint::put(&mut resource, scope.len() as u64);
        resource.extend_from_slice(&scope);
        let mut expected = vec![0x0a];
        varint::put(&mut expected, resource.len() as u64);
        expected.extend_from_slice(&resource);
        assert_eq!(split.iter().next().unwrap().1, expected.as_slice());
    }

    #[test]
    fn empty_request_yields_no_messages() {
        let split = split_by_trace(&[], 1_000_000).unwrap();
        assert!(split.messages.is_empty());
        assert!(split.buf.is_empty());
        assert_eq!((split.accepted_spans, split.refused.total()), (0, 0));
    }

    #[test]
    fn truncated_requests_return_errors() {
        let [a, b, ..] = TRACE_IDS;
        let request = encode(vec![
            resource_spans(
                "one",
                vec![scope_spans("lib", vec![span(&a, 1, 3), span(&b, 2, 3)])],
            ),
            resource_spans("two", vec![scope_spans("lib", vec![span(&a, 3, 3)])]),
        ]);
        // Cutting between the two top-level fields leaves a valid request.
        let boundary = request.len()
            - encode(vec![resource_spans(
                "two",
                vec![scope_spans("lib", vec![span(&a, 3, 3)])],
            )])
            .len();
        for cut in 1..request.len() {
            let result = split_by_trace(&request[..cut], 1_000_000);
            if cut == boundary {
                assert!(result.is_ok(), "cut at {cut}");
            } else {
                assert!(result.is_err(), "cut at {cut} should fail");
            }
        }
    }

    #[test]
    fn malformed_structures_return_clear_errors() {
        let [a, ..] = TRACE_IDS;
        let good_span = span(&a, 1, 0).encode_to_vec();
        let with_span_field = |field: &[u8]| {
            let mut bytes = good_span.clone();
            bytes.extend_from_slice(field);
            raw_request(&[], &[], &[bytes])
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("length past end", vec![0x0a, 0x05, 0x12], "ExportTraceServiceRequest field 1 at byte 0 needs 5 bytes but only 1 remain"),
            ("truncated tag", vec![0x8a], "truncated varint in ExportTraceServiceRequest at byte 0"),
            ("overlong varint", [0x0a].into_iter().chain([0xff; 10]).collect(), "varint longer than 64 bits"),
            ("field number 0", vec![0x02, 0x00], "invalid field tag 2 in ExportTraceServiceRequest"),
            ("group at top level", vec![0x0b], "ExportTraceServiceRequest field 1 uses the group wire type 3"),
            ("wire type 7", vec![0x0f], "ExportTraceServiceRequest field 1 has invalid wire type 7"),
            ("resource_spans as varint", vec![0x08, 0x01], "ExportTraceServiceRequest field 1 (resource_spans) has wire type VARINT, expected LEN"),
            ("scope_spans as fixed32", raw_request(&[0x15, 0, 0, 0, 0], &[], &[]), "ResourceSpans field 2 (scope_spans) has wire type I32, expected LEN"),
            ("schema_url as varint", raw_request(&[0x18, 0x01], &[], &[]), "ResourceSpans field 3 (schema_url) has wire type VARINT"),
            ("scope as varint", raw_request(&[], &[0x08, 0x01], &[]), "ScopeSpans field 1 (scope) has wire type VARINT"),
            ("group in scope", raw_request(&[], &[0x5c], &[]), "ScopeSpans field 11 uses the group wire type 4"),
            ("trace_id as varint", with_span_field(&[0x08, 0x01]), "Span field 1 (trace_id) has wire type VARINT, expected LEN"),
            ("start time as varint", with_span_field(&[0x38, 0x01]), "Span field 7 (start_time_unix_nano) has wire type VARINT, expected I64"),
            ("flags as LEN", with_span_field(&[0x82, 0x01, 0x00]), "Span field 16 (flags) has wire type LEN, expected I32"),
            ("fixed64 past end", with_span_field(&[0x39, 1, 2]), "Span field 7 at byte"),
            ("truncated span varint", with_span_field(&[0x50, 0x80]), "truncated varint in Span"),
            ("unknown span group", with_span_field(&[0xfb, 0x01]), "Span field 31 uses the group wire type 3"),
        ];
        for (what, request, expected) in cases {
            match split_by_trace(&request, 1_000_000) {
                Ok(_) => panic!("{what}: accepted"),
                Err(error) => {
                    let text = error.to_string();
                    assert!(
                        text.contains(expected),
                        "{what}: {text:?} should contain {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn skips_unknown_fields_in_spans_and_request() {
        let [a, ..] = TRACE_IDS;
        let mut span_bytes = span(&a, 1, 0).encode_to_vec();
        span_bytes.extend_from_slice(&[0xf8, 0x01, 0x05, 0xfa, 0x01, 0x01, 0x00]);
        let mut request = raw_request(&[], &[], &[span_bytes.clone()]);
        request.extend_from_slice(&[0x10, 0x01, 0x1d, 1, 2, 3, 4]);
        let split = split_by_trace(&request, 1_000_000).unwrap();
        assert_eq!(split.accepted_spans, 1);
        // The span is passed on whole, its unknown fields included.
        let value = split.iter().next().unwrap().1;
        assert!(value.ends_with(&span_bytes));
    }
}
