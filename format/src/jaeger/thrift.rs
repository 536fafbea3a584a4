//! Jaeger's Thrift span model (`jaeger.thrift` and the `emitBatch` arguments
//! of `agent.thrift` in jaegertracing/jaeger-idl), read from untrusted bytes
//! and written for tests and the load generator.
//!
//! The types are ours, written from the IDL; field ids and types follow it
//! exactly. Reading behaves like the Go code Jaeger generates from the same
//! IDL: unknown fields, and known fields sent with another wire type, are
//! skipped; a missing `required` field is a protocol error; an enum value the
//! IDL does not name is kept as its number ([`TagType`] and [`SpanRefType`]
//! are open, like the Rust code Thrift itself generates), so a newer client's
//! span is translated rather than dropped. Every read goes through
//! [`SliceInput`], so no length or count in the input can allocate more than
//! the input could hold.
//!
//! Stricter than Go in two places: a list whose elements are not structs is
//! an error (Go would misread the bytes as structs), and so, in
//! [`SliceInput`], is a string that is not UTF-8 (Go keeps the bytes; an
//! OTLP string cannot hold them).
//!
//! Optional lists are plain `Vec`s: an absent list and an empty one read the
//! same, and an empty one is not written.

use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TInputProtocol,
    TListIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use crate::thrift::{bounded_capacity, read_struct, SliceInput, ThriftProtocol};

/// `TagType`: the type of a [`Tag`]'s value. Values the IDL does not name are
/// kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TagType(pub i32);

impl TagType {
    pub const STRING: TagType = TagType(0);
    pub const DOUBLE: TagType = TagType(1);
    pub const BOOL: TagType = TagType(2);
    pub const LONG: TagType = TagType(3);
    pub const BINARY: TagType = TagType(4);
}

/// A typed key/value pair; only the field named by `v_type` is meant to be set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tag {
    pub key: String,
    pub v_type: TagType,
    pub v_str: Option<String>,
    pub v_double: Option<f64>,
    pub v_bool: Option<bool>,
    pub v_long: Option<i64>,
    pub v_binary: Option<Vec<u8>>,
}

impl Tag {
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::STRING,
            v_str: Some(value.into()),
            ..Default::default()
        }
    }

    pub fn double(key: impl Into<String>, value: f64) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::DOUBLE,
            v_double: Some(value),
            ..Default::default()
        }
    }

    pub fn bool(key: impl Into<String>, value: bool) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::BOOL,
            v_bool: Some(value),
            ..Default::default()
        }
    }

    pub fn long(key: impl Into<String>, value: i64) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::LONG,
            v_long: Some(value),
            ..Default::default()
        }
    }

    pub fn binary(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Tag {
            key: key.into(),
            v_type: TagType::BINARY,
            v_binary: Some(value.into()),
            ..Default::default()
        }
    }
}

/// A timed event with fields; `timestamp` is µs since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Log {
    pub timestamp: i64,
    pub fields: Vec<Tag>,
}

/// `SpanRefType`. Values the IDL does not name are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanRefType(pub i32);

impl SpanRefType {
    pub const CHILD_OF: SpanRefType = SpanRefType(0);
    pub const FOLLOWS_FROM: SpanRefType = SpanRefType(1);
}

/// A causal reference to another span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanRef {
    pub ref_type: SpanRefType,
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
}

/// One span. IDs are the bits of unsigned 64-bit values; times are µs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    pub trace_id_low: i64,
    /// Zero when the trace ID has 64 bits.
    pub trace_id_high: i64,
    pub span_id: i64,
    /// Zero for a root span.
    pub parent_span_id: i64,
    pub operation_name: String,
    pub references: Vec<SpanRef>,
    /// 1 = sampled, 2 = debug.
    pub flags: i32,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
}

/// The traced process: one per batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<Tag>,
}

/// Drop counters a client reports with its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    pub full_queue_dropped_spans: i64,
    pub too_large_dropped_spans: i64,
    pub failed_to_emit_spans: i64,
}

/// A process and spans it produced: the unit every Thrift transport carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub process: Process,
    pub spans: Vec<Span>,
    pub seq_no: Option<i64>,
    pub stats: Option<ClientStats>,
}

// ---------------------------------------------------------------------------
// Reading

fn invalid(message: String) -> thrift::Error {
    thrift::Error::Protocol(thrift::ProtocolError::new(
        thrift::ProtocolErrorKind::InvalidData,
        message,
    ))
}

fn required<T>(value: Option<T>, field: &str) -> thrift::Result<T> {
    value.ok_or_else(|| invalid(format!("required field {field} is missing")))
}

/// Reads a list of structs; `min_bytes` is the least an element can take on
/// the wire, so a lying count cannot reserve more than the input could fill.
fn read_list<T>(
    input: &mut SliceInput<'_>,
    what: &str,
    min_bytes: usize,
    mut read: impl FnMut(&mut SliceInput<'_>) -> thrift::Result<T>,
) -> thrift::Result<Vec<T>> {
    let list = input.read_list_begin()?;
    if list.size > 0 && list.element_type != TType::Struct {
        return Err(invalid(format!(
            "{what} list holds {:?} elements, not structs",
            list.element_type
        )));
    }
    let capacity = bounded_capacity(input, list.size).min(input.remaining() / min_bytes);
    let mut items = Vec::with_capacity(capacity);
    for _ in 0..list.size {
        items.push(read(input)?);
    }
    input.read_list_end()?;
    Ok(items)
}

fn read_tag(input: &mut SliceInput<'_>) -> thrift::Result<Tag> {
    let mut tag = Tag::default();
    let (mut key, mut v_type) = (None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::String) => key = Some(input.read_string()?),
            (2, TType::I32) => v_type = Some(TagType(input.read_i32()?)),
            (3, TType::String) => tag.v_str = Some(input.read_string()?),
            (4, TType::Double) => tag.v_double = Some(input.read_double()?),
            (5, TType::Bool) => tag.v_bool = Some(input.read_bool()?),
            (6, TType::I64) => tag.v_long = Some(input.read_i64()?),
            (7, TType::String) => tag.v_binary = Some(input.read_bytes()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    tag.key = required(key, "Tag.key")?;
    tag.v_type = required(v_type, "Tag.vType")?;
    Ok(tag)
}

/// A tag is at least a key and a type: two field headers, a length, a
/// value and the stop byte.
const MIN_TAG_BYTES: usize = 5;
const MIN_LOG_BYTES: usize = 5;
const MIN_REF_BYTES: usize = 9;
const MIN_SPAN_BYTES: usize = 19;

fn read_tags(input: &mut SliceInput<'_>) -> thrift::Result<Vec<Tag>> {
    read_list(input, "tags", MIN_TAG_BYTES, read_tag)
}

fn read_log(input: &mut SliceInput<'_>) -> thrift::Result<Log> {
    let (mut timestamp, mut fields) = (None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => timestamp = Some(input.read_i64()?),
            (2, TType::List) => fields = Some(read_tags(input)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Log {
        timestamp: required(timestamp, "Log.timestamp")?,
        fields: required(fields, "Log.fields")?,
    })
}

fn read_span_ref(input: &mut SliceInput<'_>) -> thrift::Result<SpanRef> {
    let (mut ref_type, mut low, mut high, mut span_id) = (None, None, None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::I32) => ref_type = Some(SpanRefType(input.read_i32()?)),
            (2, TType::I64) => low = Some(input.read_i64()?),
            (3, TType::I64) => high = Some(input.read_i64()?),
            (4, TType::I64) => span_id = Some(input.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(SpanRef {
        ref_type: required(ref_type, "SpanRef.refType")?,
        trace_id_low: required(low, "SpanRef.traceIdLow")?,
        trace_id_high: required(high, "SpanRef.traceIdHigh")?,
        span_id: required(span_id, "SpanRef.spanId")?,
    })
}

fn read_span(input: &mut SliceInput<'_>) -> thrift::Result<Span> {
    let mut span = Span::default();
    let (mut low, mut high, mut span_id, mut parent) = (None, None, None, None);
    let (mut name, mut flags, mut start, mut duration) = (None, None, None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => low = Some(input.read_i64()?),
            (2, TType::I64) => high = Some(input.read_i64()?),
            (3, TType::I64) => span_id = Some(input.read_i64()?),
            (4, TType::I64) => parent = Some(input.read_i64()?),
            (5, TType::String) => name = Some(input.read_string()?),
            (6, TType::List) => {
                span.references = read_list(input, "references", MIN_REF_BYTES, read_span_ref)?
            }
            (7, TType::I32) => flags = Some(input.read_i32()?),
            (8, TType::I64) => start = Some(input.read_i64()?),
            (9, TType::I64) => duration = Some(input.read_i64()?),
            (10, TType::List) => span.tags = read_tags(input)?,
            (11, TType::List) => span.logs = read_list(input, "logs", MIN_LOG_BYTES, read_log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    span.trace_id_low = required(low, "Span.traceIdLow")?;
    span.trace_id_high = required(high, "Span.traceIdHigh")?;
    span.span_id = required(span_id, "Span.spanId")?;
    span.parent_span_id = required(parent, "Span.parentSpanId")?;
    span.operation_name = required(name, "Span.operationName")?;
    span.flags = required(flags, "Span.flags")?;
    span.start_time = required(start, "Span.startTime")?;
    span.duration = required(duration, "Span.duration")?;
    Ok(span)
}

fn read_process(input: &mut SliceInput<'_>) -> thrift::Result<Process> {
    let (mut service_name, mut tags) = (None, Vec::new());
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::String) => service_name = Some(input.read_string()?),
            (2, TType::List) => tags = read_tags(input)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Process {
        service_name: required(service_name, "Process.serviceName")?,
        tags,
    })
}

fn read_client_stats(input: &mut SliceInput<'_>) -> thrift::Result<ClientStats> {
    let (mut full_queue, mut too_large, mut failed) = (None, None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => full_queue = Some(input.read_i64()?),
            (2, TType::I64) => too_large = Some(input.read_i64()?),
            (3, TType::I64) => failed = Some(input.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ClientStats {
        full_queue_dropped_spans: required(full_queue, "ClientStats.fullQueueDroppedSpans")?,
        too_large_dropped_spans: required(too_large, "ClientStats.tooLargeDroppedSpans")?,
        failed_to_emit_spans: required(failed, "ClientStats.failedToEmitSpans")?,
    })
}

/// Reads one `Batch` struct: the body of `POST /api/traces` (binary
/// protocol), or the argument of `emitBatch`.
pub fn read_batch(input: &mut SliceInput<'_>) -> thrift::Result<Batch> {
    let (mut process, mut spans, mut seq_no, mut stats) = (None, None, None, None);
    read_struct(input, |input, id, ttype| {
        match (id, ttype) {
            (1, TType::Struct) => process = Some(read_process(input)?),
            (2, TType::List) => spans = Some(read_list(input, "spans", MIN_SPAN_BYTES, read_span)?),
            (3, TType::I64) => seq_no = Some(input.read_i64()?),
            (4, TType::Struct) => stats = Some(read_client_stats(input)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Batch {
        process: required(process, "Batch.process")?,
        spans: required(spans, "Batch.spans")?,
        seq_no,
        stats,
    })
}

/// Reads the `emitBatch_args` struct that follows an `Agent.emitBatch`
/// message header (field 1: the batch).
pub fn read_emit_batch_args(input: &mut SliceInput<'_>) -> thrift::Result<Batch> {
    let mut batch = None;
    read_struct(input, |input, id, ttype| {
        if (id, ttype) != (1, TType::Struct) {
            return Ok(false);
        }
        batch = Some(read_batch(input)?);
        Ok(true)
    })?;
    required(batch, "emitBatch_args.batch")
}

// ---------------------------------------------------------------------------
// Writing (trusted input)

fn field(
    out: &mut dyn TOutputProtocol,
    name: &str,
    ttype: TType,
    id: i16,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> thrift::Result<()> {
    out.write_field_begin(&TFieldIdentifier::new(name, ttype, id))?;
    write(out)?;
    out.write_field_end()
}

fn write_struct(
    out: &mut dyn TOutputProtocol,
    name: &str,
    fields: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> thrift::Result<()> {
    out.write_struct_begin(&TStructIdentifier::new(name))?;
    fields(out)?;
    out.write_field_stop()?;
    out.write_struct_end()
}

fn write_list<T>(
    out: &mut dyn TOutputProtocol,
    items: &[T],
    write: impl Fn(&mut dyn TOutputProtocol, &T) -> thrift::Result<()>,
) -> thrift::Result<()> {
    let size = i32::try_from(items.len())
        .map_err(|_| invalid(format!("list of {} elements is too long", items.len())))?;
    out.write_list_begin(&TListIdentifier::new(TType::Struct, size))?;
    for item in items {
        write(out, item)?;
    }
    out.write_list_end()
}

fn write_tag(out: &mut dyn TOutputProtocol, tag: &Tag) -> thrift::Result<()> {
    write_struct(out, "Tag", |out| {
        field(out, "key", TType::String, 1, |o| o.write_string(&tag.key))?;
        field(out, "vType", TType::I32, 2, |o| o.write_i32(tag.v_type.0))?;
        if let Some(v) = &tag.v_str {
            field(out, "vStr", TType::String, 3, |o| o.write_string(v))?;
        }
        if let Some(v) = tag.v_double {
            field(out, "vDouble", TType::Double, 4, |o| o.write_double(v))?;
        }
        if let Some(v) = tag.v_bool {
            field(out, "vBool", TType::Bool, 5, |o| o.write_bool(v))?;
        }
        if let Some(v) = tag.v_long {
            field(out, "vLong", TType::I64, 6, |o| o.write_i64(v))?;
        }
        if let Some(v) = &tag.v_binary {
            field(out, "vBinary", TType::String, 7, |o| o.write_bytes(v))?;
        }
        Ok(())
    })
}

fn write_optional_tags(out: &mut dyn TOutputProtocol, id: i16, tags: &[Tag]) -> thrift::Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    field(out, "tags", TType::List, id, |o| {
        write_list(o, tags, write_tag)
    })
}

fn write_span(out: &mut dyn TOutputProtocol, span: &Span) -> thrift::Result<()> {
    write_struct(out, "Span", |out| {
        field(out, "traceIdLow", TType::I64, 1, |o| {
            o.write_i64(span.trace_id_low)
        })?;
        field(out, "traceIdHigh", TType::I64, 2, |o| {
            o.write_i64(span.trace_id_high)
        })?;
        field(out, "spanId", TType::I64, 3, |o| o.write_i64(span.span_id))?;
        field(out, "parentSpanId", TType::I64, 4, |o| {
            o.write_i64(span.parent_span_id)
        })?;
        field(out, "operationName", TType::String, 5, |o| {
            o.write_string(&span.operation_name)
        })?;
        if !span.references.is_empty() {
            field(out, "references", TType::List, 6, |o| {
                write_list(o, &span.references, |o, r| {
                    write_struct(o, "SpanRef", |o| {
                        field(o, "refType", TType::I32, 1, |o| o.write_i32(r.ref_type.0))?;
                        field(o, "traceIdLow", TType::I64, 2, |o| {
                            o.write_i64(r.trace_id_low)
                        })?;
                        field(o, "traceIdHigh", TType::I64, 3, |o| {
                            o.write_i64(r.trace_id_high)
                        })?;
                        field(o, "spanId", TType::I64, 4, |o| o.write_i64(r.span_id))
                    })
                })
            })?;
        }
        field(out, "flags", TType::I32, 7, |o| o.write_i32(span.flags))?;
        field(out, "startTime", TType::I64, 8, |o| {
            o.write_i64(span.start_time)
        })?;
        field(out, "duration", TType::I64, 9, |o| {
            o.write_i64(span.duration)
        })?;
        write_optional_tags(out, 10, &span.tags)?;
        if !span.logs.is_empty() {
            field(out, "logs", TType::List, 11, |o| {
                write_list(o, &span.logs, |o, log| {
                    write_struct(o, "Log", |o| {
                        field(o, "timestamp", TType::I64, 1, |o| {
                            o.write_i64(log.timestamp)
                        })?;
                        field(o, "fields", TType::List, 2, |o| {
                            write_list(o, &log.fields, write_tag)
                        })
                    })
                })
            })?;
        }
        Ok(())
    })
}

/// Writes `batch` as a `Batch` struct.
pub fn write_batch(out: &mut dyn TOutputProtocol, batch: &Batch) -> thrift::Result<()> {
    write_struct(out, "Batch", |out| {
        field(out, "process", TType::Struct, 1, |o| {
            write_struct(o, "Process", |o| {
                field(o, "serviceName", TType::String, 1, |o| {
                    o.write_string(&batch.process.service_name)
                })?;
                write_optional_tags(o, 2, &batch.process.tags)
            })
        })?;
        field(out, "spans", TType::List, 2, |o| {
            write_list(o, &batch.spans, write_span)
        })?;
        if let Some(seq_no) = batch.seq_no {
            field(out, "seqNo", TType::I64, 3, |o| o.write_i64(seq_no))?;
        }
        if let Some(stats) = batch.stats {
            field(out, "stats", TType::Struct, 4, |o| {
                write_struct(o, "ClientStats", |o| {
                    field(o, "fullQueueDroppedSpans", TType::I64, 1, |o| {
                        o.write_i64(stats.full_queue_dropped_spans)
                    })?;
                    field(o, "tooLargeDroppedSpans", TType::I64, 2, |o| {
                        o.write_i64(stats.too_large_dropped_spans)
                    })?;
                    field(o, "failedToEmitSpans", TType::I64, 3, |o| {
                        o.write_i64(stats.failed_to_emit_spans)
                    })
                })
            })?;
        }
        Ok(())
    })
}

/// Runs `write` against `protocol`'s output protocol over a new buffer
/// (binary strict, with the version word, as Jaeger clients send).
fn encode(
    protocol: ThriftProtocol,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> Vec<u8> {
    let mut buf = Vec::new();
    let result = match protocol {
        ThriftProtocol::Compact => {
            let mut out = TCompactOutputProtocol::new(&mut buf);
            write(&mut out).and_then(|()| out.flush())
        }
        ThriftProtocol::Binary => {
            let mut out = TBinaryOutputProtocol::new(&mut buf, true);
            write(&mut out).and_then(|()| out.flush())
        }
    };
    // Writing to a Vec cannot fail, and write_list refuses only lists of
    // more than 2^31 elements, which do not fit in memory as spans anyway.
    debug_assert!(result.is_ok(), "encoding failed: {result:?}");
    buf
}

/// `batch` as a bare `Batch` struct: the body of `POST /api/traces` (use
/// [`ThriftProtocol::Binary`]).
pub fn encode_batch(batch: &Batch, protocol: ThriftProtocol) -> Vec<u8> {
    encode(protocol, |out| write_batch(out, batch))
}

/// `batch` as one complete `Agent.emitBatch` one-way message, what a Jaeger
/// client puts in a UDP packet (compact for :6831, binary for :6832).
pub fn encode_emit_batch(batch: &Batch, protocol: ThriftProtocol, seq: i32) -> Vec<u8> {
    encode(protocol, |out| {
        out.write_message_begin(&TMessageIdentifier::new(
            "emitBatch",
            TMessageType::OneWay,
            seq,
        ))?;
        write_struct(out, "emitBatch_args", |o| {
            field(o, "batch", TType::Struct, 1, |o| write_batch(o, batch))
        })?;
        out.write_message_end()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROTOCOLS: [ThriftProtocol; 2] = [ThriftProtocol::Compact, ThriftProtocol::Binary];

    fn full_batch() -> Batch {
        Batch {
            process: Process {
                service_name: "frontend".into(),
                tags: vec![
                    Tag::string("hostname", "node-1"),
                    Tag::string("jaeger.version", "Go-2.30.0"),
                    Tag::string("ip", "10.0.0.7"),
                ],
            },
            spans: vec![
                Span {
                    trace_id_low: 0x0123_4567_89ab_cdef,
                    trace_id_high: -0x5a5a_5a5a_5a5a_5a5b,
                    span_id: i64::MIN + 7,
                    parent_span_id: 42,
                    operation_name: "GET /dispatch ✓".into(),
                    references: vec![
                        SpanRef {
                            ref_type: SpanRefType::CHILD_OF,
                            trace_id_low: 0x0123_4567_89ab_cdef,
                            trace_id_high: -0x5a5a_5a5a_5a5a_5a5b,
                            span_id: 42,
                        },
                        SpanRef {
                            ref_type: SpanRefType::FOLLOWS_FROM,
                            trace_id_low: 9,
                            trace_id_high: 0,
                            span_id: 10,
                        },
                    ],
                    flags: 1,
                    start_time: 1_485_467_191_639_875,
                    duration: 5_432,
                    tags: vec![
                        Tag::string("span.kind", "server"),
                        Tag::double("ratio", 72.5),
                        Tag::bool("error", true),
                        Tag::long("http.status_code", 504),
                        Tag::binary("payload", vec![0, 1, 0xff]),
                        Tag {
                            key: "future".into(),
                            v_type: TagType(9),
                            v_str: Some("?".into()),
                            ..Default::default()
                        },
                    ],
                    logs: vec![
                        Log {
                            timestamp: 1_485_467_191_640_000,
                            fields: vec![Tag::string("event", "retry"), Tag::long("attempt", 2)],
                        },
                        Log {
                            timestamp: 1_485_467_191_641_000,
                            fields: vec![],
                        },
                    ],
                },
                Span {
                    trace_id_low: 1,
                    span_id: 2,
                    operation_name: String::new(),
                    start_time: 1,
                    ..Default::default()
                },
            ],
            seq_no: Some(17),
            stats: Some(ClientStats {
                full_queue_dropped_spans: 1,
                too_large_dropped_spans: 2,
                failed_to_emit_spans: 3,
            }),
        }
    }

    fn read_emit_batch_message(bytes: &[u8], protocol: ThriftProtocol) -> thrift::Result<Batch> {
        let mut input = SliceInput::new(bytes, protocol);
        let message = input.read_message_begin()?;
        assert_eq!(message.name, "emitBatch");
        assert_eq!(message.message_type, TMessageType::OneWay);
        let batch = read_emit_batch_args(&mut input)?;
        input.read_message_end()?;
        assert_eq!(input.remaining(), 0);
        Ok(batch)
    }

    #[test]
    fn round_trips_a_batch_in_both_protocols() {
        let batch = full_batch();
        for protocol in PROTOCOLS {
            let bytes = encode_batch(&batch, protocol);
            let mut input = SliceInput::new(&bytes, protocol);
            assert_eq!(read_batch(&mut input).expect("decodes"), batch);
            assert_eq!(input.remaining(), 0);

            let bytes = encode_emit_batch(&batch, protocol, 5);
            assert_eq!(
                read_emit_batch_message(&bytes, protocol).expect("decodes"),
                batch
            );
        }
    }

    #[test]
    fn emit_batch_header_is_what_jaeger_clients_send() {
        let batch = full_batch();
        let compact = encode_emit_batch(&batch, ThriftProtocol::Compact, 5);
        // Protocol id, version 1 | one-way (4) << 5, seq 5, name length 9.
        assert_eq!(&compact[..4], &[0x82, 0x81, 0x05, 0x09]);
        assert_eq!(&compact[4..13], b"emitBatch");
        let binary = encode_emit_batch(&batch, ThriftProtocol::Binary, 5);
        assert_eq!(&binary[..8], &[0x80, 0x01, 0x00, 0x04, 0, 0, 0, 9]);
        assert_eq!(&binary[8..17], b"emitBatch");
        assert_eq!(&binary[17..21], &[0, 0, 0, 5]);
    }

    /// Writes a struct by hand, for inputs our writer would never produce.
    fn hand_written(
        protocol: ThriftProtocol,
        write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
    ) -> Vec<u8> {
        encode(protocol, write)
    }

    #[test]
    fn skips_unknown_fields_and_known_ids_with_another_type() {
        let batch = Batch {
            process: Process {
                service_name: "svc".into(),
                tags: vec![],
            },
            spans: vec![],
            ..Default::default()
        };
        for protocol in PROTOCOLS {
            let bytes = hand_written(protocol, |out| {
                write_struct(out, "Batch", |o| {
                    field(o, "future", TType::List, 9, |o| {
                        o.write_list_begin(&TListIdentifier::new(TType::I64, 2))?;
                        o.write_i64(1)?;
                        o.write_i64(2)?;
                        o.write_list_end()
                    })?;
                    // seqNo sent as a string: skipped, as Go's generated code does.
                    field(o, "seqNo", TType::String, 3, |o| o.write_string("17"))?;
                    field(o, "process", TType::Struct, 1, |o| {
                        write_struct(o, "Process", |o| {
                            field(o, "serviceName", TType::String, 1, |o| {
                                o.write_string("svc")
                            })?;
                            field(o, "extra", TType::Struct, 7, |o| {
                                write_struct(o, "X", |o| {
                                    field(o, "b", TType::Bool, 1, |o| o.write_bool(true))
                                })
                            })
                        })
                    })?;
                    field(o, "spans", TType::List, 2, |o| {
                        write_list(o, &[], write_span)
                    })
                })
            });
            let mut input = SliceInput::new(&bytes, protocol);
            assert_eq!(read_batch(&mut input).expect("decodes"), batch);
        }
    }

    /// The crate's `Display` for a protocol error leaves the message out.
    fn message(error: &thrift::Error) -> &str {
        match error {
            thrift::Error::Protocol(e) => &e.message,
            _ => "",
        }
    }

    #[test]
    fn missing_required_fields_are_errors() {
        for protocol in PROTOCOLS {
            let no_process = hand_written(protocol, |out| {
                write_struct(out, "Batch", |o| {
                    field(o, "spans", TType::List, 2, |o| {
                        write_list(o, &[], write_span)
                    })
                })
            });
            let error =
                read_batch(&mut SliceInput::new(&no_process, protocol)).expect_err("no process");
            assert!(message(&error).contains("Batch.process"), "{error:?}");

            let no_span_id = hand_written(protocol, |out| {
                write_struct(out, "Batch", |o| {
                    field(o, "process", TType::Struct, 1, |o| {
                        write_struct(o, "Process", |o| {
                            field(o, "serviceName", TType::String, 1, |o| o.write_string("s"))
                        })
                    })?;
                    field(o, "spans", TType::List, 2, |o| {
                        o.write_list_begin(&TListIdentifier::new(TType::Struct, 1))?;
                        write_struct(o, "Span", |o| {
                            field(o, "traceIdLow", TType::I64, 1, |o| o.write_i64(1))
                        })?;
                        o.write_list_end()
                    })
                })
            });
            let error =
                read_batch(&mut SliceInput::new(&no_span_id, protocol)).expect_err("no span ids");
            assert!(message(&error).contains("Span.traceIdHigh"), "{error:?}");

            let no_batch = hand_written(protocol, |out| {
                write_struct(out, "emitBatch_args", |_| Ok(()))
            });
            assert!(read_emit_batch_args(&mut SliceInput::new(&no_batch, protocol)).is_err());
        }
    }

    #[test]
    fn keeps_enum_values_the_idl_does_not_name() {
        let mut batch = full_batch();
        batch.spans[0].references[0].ref_type = SpanRefType(7);
        for protocol in PROTOCOLS {
            let bytes = encode_batch(&batch, protocol);
            let read = read_batch(&mut SliceInput::new(&bytes, protocol)).expect("decodes");
            assert_eq!(read.spans[0].references[0].ref_type, SpanRefType(7));
            assert_eq!(read.spans[0].tags[5].v_type, TagType(9));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let batch = full_batch();
        for protocol in PROTOCOLS {
            let bytes = encode_batch(&batch, protocol);
            for len in 0..bytes.len() {
                assert!(
                    read_batch(&mut SliceInput::new(&bytes[..len], protocol)).is_err(),
                    "{protocol:?} prefix {len}"
                );
            }
            let bytes = encode_emit_batch(&batch, protocol, 1);
            for len in 0..bytes.len() {
                assert!(
                    read_emit_batch_message(&bytes[..len], protocol).is_err(),
                    "{protocol:?} message prefix {len}"
                );
            }
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let batch = full_batch();
        for protocol in PROTOCOLS {
            let bytes = encode_emit_batch(&batch, protocol, 1);
            for pos in 0..bytes.len() {
                for flip in [0x01, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[pos] ^= flip;
                    let mut input = SliceInput::new(&bad, protocol);
                    if input.read_message_begin().is_ok() {
                        let _ = read_emit_batch_args(&mut input);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for protocol in PROTOCOLS {
                let _ = read_batch(&mut SliceInput::new(&bytes, protocol));
                let mut input = SliceInput::new(&bytes, protocol);
                if input.read_message_begin().is_ok() {
                    let _ = read_emit_batch_args(&mut input);
                }
            }
        }

        #[test]
        fn garbage_after_a_valid_prefix_never_panics(
            cut in 0usize..400,
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            for protocol in PROTOCOLS {
                let mut bytes = encode_batch(&full_batch(), protocol);
                bytes.truncate(cut.min(bytes.len()));
                bytes.extend_from_slice(&tail);
                let _ = read_batch(&mut SliceInput::new(&bytes, protocol));
            }
        }
    }
}
