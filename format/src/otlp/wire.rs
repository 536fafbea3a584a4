//! The protobuf walk of an encoded `ExportTraceServiceRequest`: one pass
//! that checks everything prost's decode checks (varints, tags, wire types
//! of the known fields, lengths, UTF-8 of every string, nesting) and records
//! each resource, scope, span, event, link and attribute as byte ranges of
//! the message in reused arenas ([`RequestRuns`]).
//!
//! The walk stops ([`Stop`]) on malformed input and on the rare encodings
//! it leaves to prost rather than re-implement: a singular sub-message sent
//! twice (protobuf merges the two), groups. Nesting deeper than [`MAX_DEPTH`]
//! is malformed for both. Its readers are the Jaeger writer that works from the wire
//! (`jaeger::wire_writer`) and the borrowed span view ([`super::span_view`]).

use std::ops::Range;

use super::varint::{self, tag, I32, I64, LEN, VARINT};

/// Deepest nesting of a message the walk reads (the request is depth 0, a
/// span attribute's value depth 5): prost's recursion limit, so that the
/// walk refuses exactly the nesting prost refuses, and every message prost
/// accepts re-encodes to one the walk reads.
pub(crate) const MAX_DEPTH: usize = 100;

/// The walk stopped: the message is malformed or encoded in a way left to
/// prost. Not an error of its own: prost decides which.
#[derive(Debug)]
pub(crate) struct Stop;

pub(crate) type Walk<T> = Result<T, Stop>;

/// A range of the message (bytes) or of an arena (entries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Run {
    #[inline]
    pub(crate) fn of(self, bytes: &[u8]) -> &[u8] {
        bytes.get(self.start..self.end).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn range(self) -> Range<usize> {
        self.start..self.end
    }

    #[inline]
    pub(crate) fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// UTF-8 text of the message, checked by the walk.
#[inline]
pub(crate) fn text(bytes: &[u8], run: Run) -> &str {
    std::str::from_utf8(run.of(bytes)).unwrap_or_default()
}

/// An attribute value, as prost would decode it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val {
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
pub(crate) struct Attr {
    pub(crate) key: Run,
    pub(crate) value: Val,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceRuns {
    /// The encoded `Resource` message (empty when absent): equal bytes, equal attributes.
    pub(crate) raw: Run,
    pub(crate) attrs: Run,
    pub(crate) scopes: Run,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeRuns {
    pub(crate) name: Run,
    pub(crate) version: Run,
    pub(crate) spans: Run,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpanRuns {
    pub(crate) trace_id: Run,
    pub(crate) span_id: Run,
    pub(crate) trace_state: Run,
    pub(crate) parent_span_id: Run,
    pub(crate) name: Run,
    pub(crate) kind: i32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) flags: u32,
    pub(crate) status_code: i32,
    pub(crate) status_message: Run,
    pub(crate) attrs: Run,
    pub(crate) events: Run,
    pub(crate) links: Run,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRuns {
    pub(crate) time: u64,
    pub(crate) name: Run,
    pub(crate) attrs: Run,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkRuns {
    pub(crate) trace_id: Run,
    pub(crate) span_id: Run,
    pub(crate) attrs: Run,
}

/// Reads the fields of one message. `buf` ends where the message ends, and
/// every read goes through `get`, so no length can make it panic.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(message: &'a [u8], run: Run) -> Self {
        Reader {
            buf: message.get(..run.end).unwrap_or_default(),
            pos: run.start,
        }
    }

    #[inline]
    pub(crate) fn more(&self) -> bool {
        self.pos < self.buf.len()
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Walk<u64> {
        varint::read(self.buf, &mut self.pos).map_err(|_| Stop)
    }

    /// The next field's number and wire type.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Walk<(u32, u8)> {
        // Fields 1 to 15 take one byte: no overflow to check.
        if let Some(&key) = self.buf.get(self.pos) {
            if key < 0x80 {
                if key < 8 {
                    return Err(Stop);
                }
                self.pos += 1;
                return Ok((u32::from(key >> 3), key & 7));
            }
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || key > u64::from(u32::MAX) {
            return Err(Stop);
        }
        Ok((number as u32, (key & 7) as u8))
    }

    #[inline]
    pub(crate) fn take(&mut self, len: u64) -> Walk<Run> {
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
    pub(crate) fn delimited(&mut self, wire_type: u8) -> Walk<Run> {
        expect(wire_type, LEN)?;
        let len = self.varint()?;
        self.take(len)
    }

    /// A string: length-delimited and UTF-8.
    #[inline]
    pub(crate) fn string(&mut self, wire_type: u8) -> Walk<Run> {
        let run = self.delimited(wire_type)?;
        check_utf8(run.of(self.buf))?;
        Ok(run)
    }

    #[inline]
    pub(crate) fn uint(&mut self, wire_type: u8) -> Walk<u64> {
        expect(wire_type, VARINT)?;
        self.varint()
    }

    #[inline]
    pub(crate) fn fixed64(&mut self, wire_type: u8) -> Walk<u64> {
        expect(wire_type, I64)?;
        let run = self.take(8)?;
        let bytes: [u8; 8] = run.of(self.buf).try_into().map_err(|_| Stop)?;
        Ok(u64::from_le_bytes(bytes))
    }

    #[inline]
    pub(crate) fn fixed32(&mut self, wire_type: u8) -> Walk<u32> {
        expect(wire_type, I32)?;
        let run = self.take(4)?;
        let bytes: [u8; 4] = run.of(self.buf).try_into().map_err(|_| Stop)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// Skips a field this writer does not read. Groups (deprecated, never
    /// in OTLP) are left to prost.
    #[inline]
    pub(crate) fn skip(&mut self, wire_type: u8) -> Walk<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.delimited(LEN).map(drop),
            I32 => self.take(4).map(drop),
            _ => Err(Stop),
        }
    }
}

/// UTF-8 as prost checks it; ASCII, what nearly every key and value is,
/// is checked inline.
#[inline(always)]
fn check_utf8(bytes: &[u8]) -> Walk<()> {
    if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(Stop)
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
#[inline]
pub(crate) fn read_key_value(message: &[u8], run: Run, depth: usize) -> Walk<Attr> {
    match usual_key_value(message, run, depth) {
        Some(attr) => Ok(attr),
        None => read_any_key_value(message, run, depth),
    }
}

/// The usual encoding's `KeyValue` ([`read_usual_key_value`]), tried only
/// below the nesting limit.
#[inline(always)]
fn usual_key_value(message: &[u8], run: Run, depth: usize) -> Option<Attr> {
    if depth < MAX_DEPTH {
        read_usual_key_value(message, run)
    } else {
        None
    }
}

/// Reads a `KeyValue` at nesting `depth` onto the end of `attrs`. The usual
/// encoding's attribute is stored from registers straight into the arena;
/// merged with the general reader's result first, it went through the
/// stack and was copied from there with wide loads over narrow stores just
/// made, which cannot be forwarded (the hottest instruction of the walk in
/// the ingester's profile; the gain measured is small, BENCHMARKS.md).
#[inline(always)]
fn push_key_value(attrs: &mut Vec<Attr>, message: &[u8], run: Run, depth: usize) -> Walk<()> {
    match usual_key_value(message, run, depth) {
        Some(attr) => {
            attrs.push(attr);
            Ok(())
        }
        None => push_any_key_value(attrs, message, run, depth),
    }
}

/// [`push_key_value`] for the encodings the usual reader leaves: kept out
/// of line, so its result is not merged with the usual one.
#[inline(never)]
fn push_any_key_value(attrs: &mut Vec<Attr>, message: &[u8], run: Run, depth: usize) -> Walk<()> {
    attrs.push(read_any_key_value(message, run, depth)?);
    Ok(())
}

/// The `KeyValue` every SDK sends, read in one pass over its bytes: the key,
/// then an `AnyValue` of one scalar member (or none), each length one byte.
/// `None` for any other encoding, valid or not, which
/// [`read_any_key_value`] reads: what this one reads, that one reads the
/// same, so it decides nothing on its own.
#[inline(always)]
fn read_usual_key_value(message: &[u8], run: Run) -> Option<Attr> {
    const KEY: u8 = tag(1, LEN);
    const VALUE: u8 = tag(2, LEN);
    const STRING: u8 = tag(1, LEN);
    const BOOL: u8 = tag(2, VARINT);
    const INT: u8 = tag(3, VARINT);
    const DOUBLE: u8 = tag(4, I64);
    const BYTES: u8 = tag(7, LEN);
    // Each length must be one byte (below 128) and end where its message
    // ends, or be the key's, followed by the value.
    let one_byte = |len: u8, rest: &[u8]| len < 0x80 && usize::from(len) == rest.len();
    let bytes = run.of(message);
    let [KEY, key_len, rest @ ..] = bytes else {
        return None;
    };
    let key_len = usize::from(*key_len);
    if key_len >= 0x80 || key_len > rest.len() {
        return None;
    }
    let (key_bytes, rest) = rest.split_at(key_len);
    check_utf8(key_bytes).ok()?;
    let key = run_from(run.start + 2, run.start + 2 + key_len);
    // The value's bytes, as a run: they end where the `KeyValue` does.
    let tail = |len: usize| run_from(run.end - len, run.end);
    let value = match rest {
        [] => Val::Empty,
        [VALUE, len, any @ ..] if one_byte(*len, any) => match any {
            [] => Val::Empty,
            [STRING, len, text @ ..] if one_byte(*len, text) => {
                check_utf8(text).ok()?;
                Val::Str(tail(text.len()))
            }
            [BOOL, b] if *b < 0x80 => Val::Bool(*b != 0),
            [INT, int @ ..] => {
                let mut pos = 0;
                let int_value = varint::read(int, &mut pos).ok()?;
                if pos != int.len() {
                    return None;
                }
                Val::Int(int_value as i64)
            }
            [DOUBLE, double @ ..] => Val::Double(f64::from_le_bytes(double.try_into().ok()?)),
            [BYTES, len, raw @ ..] if one_byte(*len, raw) => Val::Bytes(tail(raw.len())),
            _ => return None,
        },
        _ => return None,
    };
    Some(Attr { key, value })
}

/// Reads a `KeyValue` at nesting `depth`, in any encoding prost reads.
fn read_any_key_value(message: &[u8], run: Run, depth: usize) -> Walk<Attr> {
    if depth > MAX_DEPTH {
        return Err(Stop);
    }
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
pub(crate) fn read_any_value(message: &[u8], run: Run, depth: usize) -> Walk<Val> {
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
pub(crate) fn for_each_item(message: &[u8], run: Run, mut each: impl FnMut(Run)) {
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
pub(crate) struct RequestRuns {
    pub(crate) resources: Vec<ResourceRuns>,
    pub(crate) scopes: Vec<ScopeRuns>,
    pub(crate) spans: Vec<SpanRuns>,
    pub(crate) events: Vec<EventRuns>,
    pub(crate) links: Vec<LinkRuns>,
    pub(crate) resource_attrs: Vec<Attr>,
    pub(crate) span_attrs: Vec<Attr>,
    pub(crate) event_attrs: Vec<Attr>,
    pub(crate) link_attrs: Vec<Attr>,
}

fn run_from(start: usize, end: usize) -> Run {
    Run { start, end }
}

impl RequestRuns {
    pub(crate) fn read(&mut self, message: &[u8]) -> Walk<()> {
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
        let mut raw = Run::default();
        let mut r = Reader::new(message, run);
        while r.more() {
            let (number, wire_type) = r.key()?;
            match number {
                1 => {
                    if attrs.is_some() {
                        return Err(Stop);
                    }
                    raw = r.delimited(wire_type)?;
                    attrs = Some(self.read_resource(message, raw)?);
                }
                2 => {
                    let run = r.delimited(wire_type)?;
                    self.read_scope_spans(message, run)?;
                }
                3 => drop(r.string(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.resources.push(ResourceRuns {
            raw,
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
                    push_key_value(&mut self.resource_attrs, message, run, 3)?;
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
        self.scopes.push(ScopeRuns {
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
        let mut span = SpanRuns::default();
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
                    push_key_value(&mut self.span_attrs, message, run, 4)?;
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
                    push_key_value(&mut self.event_attrs, message, run, 5)?;
                }
                4 => drop(r.uint(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.events.push(EventRuns {
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
                    push_key_value(&mut self.link_attrs, message, run, 5)?;
                }
                5 => drop(r.uint(wire_type)?),
                6 => drop(r.fixed32(wire_type)?),
                _ => r.skip(wire_type)?,
            }
        }
        self.links.push(LinkRuns {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::test_requests::{damage, edits, key_value, reencode, Ty};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use proptest::prelude::*;
    use prost::Message as _;

    /// Equal attributes; doubles by their bits (a NaN is one).
    fn same(a: &Attr, b: &Attr) -> bool {
        let bits = |v: Val| match v {
            Val::Double(d) => format!("Double({})", d.to_bits()),
            other => format!("{other:?}"),
        };
        a.key == b.key && bits(a.value) == bits(b.value)
    }

    /// What the one-pass reader makes of `bytes`, checked against the
    /// general reader: whatever it reads, the general one reads the same.
    fn usual(bytes: &[u8]) -> Result<Option<Attr>, String> {
        let run = run_from(0, bytes.len());
        let Some(fast) = read_usual_key_value(bytes, run) else {
            return Ok(None);
        };
        match read_any_key_value(bytes, run, 0) {
            Ok(general) if same(&fast, &general) => Ok(Some(fast)),
            general => Err(format!("one pass {fast:?}, general {general:?}")),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Every attribute, as sent, re-encoded and damaged: the one-pass
        /// reader reads what the general reader reads, or leaves it to it.
        #[test]
        fn the_one_pass_attribute_reader_agrees_with_the_general_one(
            kv in key_value(),
            mut seed in 1..u64::MAX,
            edits in edits(),
        ) {
            let bytes = kv.encode_to_vec();
            prop_assert!(usual(&bytes).is_ok(), "{:?}", usual(&bytes));
            let reencoded = reencode(&bytes, Ty::KeyValue, &mut seed);
            prop_assert!(usual(&reencoded).is_ok(), "{:?}", usual(&reencoded));
            let mut damaged = bytes;
            damage(&mut damaged, edits);
            prop_assert!(usual(&damaged).is_ok(), "{:?}", usual(&damaged));
        }
    }

    fn encoded(key: &str, value: Option<Value>) -> Vec<u8> {
        KeyValue {
            key: key.into(),
            value: value.map(|v| AnyValue { value: Some(v) }),
            ..KeyValue::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn the_usual_attributes_are_read_in_one_pass() {
        let long = "k".repeat(127);
        for (bytes, expected) in [
            (
                encoded("http.method", Some(Value::StringValue("GET".into()))),
                Val::Str(run_from(17, 20)),
            ),
            (
                encoded("ok", Some(Value::BoolValue(false))),
                Val::Bool(false),
            ),
            (encoded("n", Some(Value::IntValue(-1))), Val::Int(-1)),
            (encoded("n", Some(Value::IntValue(300))), Val::Int(300)),
            (
                encoded("f", Some(Value::DoubleValue(0.5))),
                Val::Double(0.5),
            ),
            (
                encoded("b", Some(Value::BytesValue(vec![0xff]))),
                Val::Bytes(run_from(7, 8)),
            ),
            (encoded("none", None), Val::Empty),
            (encoded(&long, None), Val::Empty),
        ] {
            let attr = usual(&bytes).expect("agrees").expect("one pass");
            assert_eq!(format!("{:?}", attr.value), format!("{expected:?}"));
            assert_eq!(attr.key.start, 2);
        }
    }

    #[test]
    fn other_encodings_are_left_to_the_general_reader() {
        let long = "k".repeat(128);
        let mut bad_key = encoded("ab", Some(Value::IntValue(1)));
        bad_key[2] = 0xff;
        let mut trailing_int = encoded("n", Some(Value::IntValue(1)));
        trailing_int.extend_from_slice(&[0x08, 0x01]);
        let short_double = vec![0x0a, 1, b'f', 0x12, 8, 0x21, 0, 0, 0, 0, 0, 0, 0];
        let mut bad_text = encoded("s", Some(Value::StringValue("é".into())));
        *bad_text.last_mut().expect("bytes") = b'A';
        for (case, bytes) in [
            ("two-byte key length", encoded(&long, None)),
            (
                "two-byte value length",
                encoded("s", Some(Value::StringValue("v".repeat(200)))),
            ),
            ("no key", encoded("", Some(Value::BoolValue(true)))),
            ("a key not UTF-8", bad_key),
            ("a field after the value", trailing_int),
            ("a double cut short", short_double),
            ("a string cut inside a character", bad_text),
            (
                "a nested value",
                encoded(
                    "a",
                    Some(Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue { values: vec![] },
                    )),
                ),
            ),
        ] {
            assert_eq!(usual(&bytes).map(|a| a.is_some()), Ok(false), "{case}");
        }
    }
}
