//! Zipkin v1 Thrift (`zipkinCore.thrift`): our definitions of its `Span`,
//! `Annotation`, `BinaryAnnotation` and `Endpoint`, read through the bounded
//! [`SliceInput`] and converted to the [`V1Span`] model the way the
//! OpenTelemetry Collector's `zipkinv1/thrift.go` reads them.
//!
//! Two framings carry a `list<Span>`: the body of a Zipkin `/api/v1/spans`
//! request with `Content-Type: application/x-thrift` (TBinaryProtocol, the
//! bare list: [`parse_v1_thrift`]), and field 1 of the Jaeger agent's
//! `Agent.emitZipkinBatch` oneway call on UDP ([`read_emit_zipkin_batch_args`]
//! after the caller has read the message header). The Collector's Jaeger
//! receiver does not implement `emitZipkinBatch`; we translate those spans
//! with the same v1 Thrift rules as the Zipkin receiver.
//!
//! As generated Go code does, a field with an unexpected type or id is
//! skipped, and missing non-optional fields read as zero. Strings that are
//! not UTF-8 are decoded lossily (Go passes the bytes through).

use base64::Engine as _;
use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TInputProtocol,
    TListIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use super::model::go_ip_bytes_string;
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span, V1Value};
use super::ZipkinError;
use crate::thrift::{bounded_capacity, read_struct, SliceInput, ThriftProtocol};

/// `zipkincore.Endpoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThriftEndpoint {
    /// 1: IPv4 address packed into 4 bytes (big endian); 0 when unknown.
    pub ipv4: i32,
    /// 2: port, an i16 on the wire (so ports above 32767 read negative).
    pub port: i16,
    /// 3.
    pub service_name: String,
    /// 4 (optional): 16 bytes.
    pub ipv6: Option<Vec<u8>>,
}

/// `zipkincore.Annotation`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThriftAnnotation {
    /// 1: µs since the Unix epoch.
    pub timestamp: i64,
    /// 2.
    pub value: String,
    /// 3 (optional).
    pub host: Option<ThriftEndpoint>,
}

/// `zipkincore.AnnotationType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ThriftAnnotationType {
    #[default]
    Bool,
    Bytes,
    I16,
    I32,
    I64,
    Double,
    String,
    /// A value outside the enum, kept as sent.
    Other(i32),
}

impl ThriftAnnotationType {
    fn from_i32(value: i32) -> Self {
        match value {
            0 => Self::Bool,
            1 => Self::Bytes,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::I64,
            5 => Self::Double,
            6 => Self::String,
            other => Self::Other(other),
        }
    }

    fn to_i32(self) -> i32 {
        match self {
            Self::Bool => 0,
            Self::Bytes => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::I64 => 4,
            Self::Double => 5,
            Self::String => 6,
            Self::Other(other) => other,
        }
    }
}

/// `zipkincore.BinaryAnnotation`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThriftBinaryAnnotation {
    /// 1.
    pub key: String,
    /// 2: the value's bytes, big-endian for numbers.
    pub value: Vec<u8>,
    /// 3.
    pub annotation_type: ThriftAnnotationType,
    /// 4 (optional).
    pub host: Option<ThriftEndpoint>,
}

/// `zipkincore.Span`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThriftSpan {
    /// 1: low 64 bits of the trace ID.
    pub trace_id: i64,
    /// 3.
    pub name: String,
    /// 4.
    pub id: i64,
    /// 5 (optional).
    pub parent_id: Option<i64>,
    /// 6.
    pub annotations: Vec<ThriftAnnotation>,
    /// 8.
    pub binary_annotations: Vec<ThriftBinaryAnnotation>,
    /// 9 (optional).
    pub debug: Option<bool>,
    /// 10 (optional): µs since the Unix epoch.
    pub timestamp: Option<i64>,
    /// 11 (optional): µs.
    pub duration: Option<i64>,
    /// 12 (optional): high 64 bits of a 128-bit trace ID.
    pub trace_id_high: Option<i64>,
}

/// Decodes the body of a Zipkin v1 Thrift request: a TBinaryProtocol
/// `list<Span>`. Bytes after the list are ignored, as in the Collector.
pub fn parse_v1_thrift(body: &[u8]) -> Result<Vec<V1Span>, ZipkinError> {
    let mut input = SliceInput::new(body, ThriftProtocol::Binary);
    read_span_list(&mut input).map_err(|e| ZipkinError::Thrift(crate::thrift::describe(&e)))
}

/// Reads a `list<zipkincore.Span>` and converts each span.
pub fn read_span_list(input: &mut SliceInput<'_>) -> thrift::Result<Vec<V1Span>> {
    let list = input.read_list_begin()?;
    let mut spans = Vec::with_capacity(bounded_capacity(input, list.size));
    for _ in 0..list.size {
        spans.push(V1Span::from(read_span(input)?));
    }
    input.read_list_end()?;
    Ok(spans)
}

/// Reads the `Agent.emitZipkinBatch` argument struct (field 1: the span
/// list); the caller has read the message header and reads its end.
pub fn read_emit_zipkin_batch_args(input: &mut SliceInput<'_>) -> thrift::Result<Vec<V1Span>> {
    let mut spans = Vec::new();
    read_struct(input, |input, id, field_type| match (id, field_type) {
        (1, TType::List) => {
            spans = read_span_list(input)?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(spans)
}

fn read_text(input: &mut SliceInput<'_>) -> thrift::Result<String> {
    let bytes = input.read_bytes()?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn read_list<T>(
    input: &mut SliceInput<'_>,
    read: fn(&mut SliceInput<'_>) -> thrift::Result<T>,
) -> thrift::Result<Vec<T>> {
    let list = input.read_list_begin()?;
    let mut items = Vec::with_capacity(bounded_capacity(input, list.size));
    for _ in 0..list.size {
        items.push(read(input)?);
    }
    input.read_list_end()?;
    Ok(items)
}

fn read_span(input: &mut SliceInput<'_>) -> thrift::Result<ThriftSpan> {
    let mut span = ThriftSpan::default();
    read_struct(input, |input, id, field_type| {
        match (id, field_type) {
            (1, TType::I64) => span.trace_id = input.read_i64()?,
            (3, TType::String) => span.name = read_text(input)?,
            (4, TType::I64) => span.id = input.read_i64()?,
            (5, TType::I64) => span.parent_id = Some(input.read_i64()?),
            (6, TType::List) => span.annotations = read_list(input, read_annotation)?,
            (8, TType::List) => span.binary_annotations = read_list(input, read_binary_annotation)?,
            (9, TType::Bool) => span.debug = Some(input.read_bool()?),
            (10, TType::I64) => span.timestamp = Some(input.read_i64()?),
            (11, TType::I64) => span.duration = Some(input.read_i64()?),
            (12, TType::I64) => span.trace_id_high = Some(input.read_i64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(span)
}

fn read_annotation(input: &mut SliceInput<'_>) -> thrift::Result<ThriftAnnotation> {
    let mut annotation = ThriftAnnotation::default();
    read_struct(input, |input, id, field_type| {
        match (id, field_type) {
            (1, TType::I64) => annotation.timestamp = input.read_i64()?,
            (2, TType::String) => annotation.value = read_text(input)?,
            (3, TType::Struct) => annotation.host = Some(read_endpoint(input)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(annotation)
}

fn read_binary_annotation(input: &mut SliceInput<'_>) -> thrift::Result<ThriftBinaryAnnotation> {
    let mut annotation = ThriftBinaryAnnotation::default();
    read_struct(input, |input, id, field_type| {
        match (id, field_type) {
            (1, TType::String) => annotation.key = read_text(input)?,
            (2, TType::String) => annotation.value = input.read_bytes()?,
            (3, TType::I32) => {
                annotation.annotation_type = ThriftAnnotationType::from_i32(input.read_i32()?)
            }
            (4, TType::Struct) => annotation.host = Some(read_endpoint(input)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(annotation)
}

fn read_endpoint(input: &mut SliceInput<'_>) -> thrift::Result<ThriftEndpoint> {
    let mut endpoint = ThriftEndpoint::default();
    read_struct(input, |input, id, field_type| {
        match (id, field_type) {
            (1, TType::I32) => endpoint.ipv4 = input.read_i32()?,
            (2, TType::I16) => endpoint.port = input.read_i16()?,
            (3, TType::String) => endpoint.service_name = read_text(input)?,
            (4, TType::String) => endpoint.ipv6 = Some(input.read_bytes()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(endpoint)
}

// ---- conversion to the v1 model (contrib `zipkinv1/thrift.go`) ----

impl From<ThriftSpan> for V1Span {
    fn from(span: ThriftSpan) -> Self {
        let mut trace_id = [0; 16];
        trace_id[..8].copy_from_slice(&span.trace_id_high.unwrap_or(0).to_be_bytes());
        trace_id[8..].copy_from_slice(&span.trace_id.to_be_bytes());
        V1Span {
            trace_id,
            id: span.id.to_be_bytes(),
            parent_id: span.parent_id.map(i64::to_be_bytes),
            name: span.name,
            timestamp: span.timestamp,
            duration: span.duration,
            annotations: span
                .annotations
                .into_iter()
                .map(|a| V1Annotation {
                    timestamp: a.timestamp,
                    value: a.value,
                    endpoint: a.host.map(V1Endpoint::from),
                })
                .collect(),
            binary_annotations: span
                .binary_annotations
                .into_iter()
                .map(|b| V1BinaryAnnotation {
                    value: binary_value(b.annotation_type, &b.value),
                    key: b.key,
                    endpoint: b.host.map(V1Endpoint::from),
                })
                .collect(),
            debug: span.debug.unwrap_or(false),
        }
    }
}

impl From<ThriftEndpoint> for V1Endpoint {
    fn from(endpoint: ThriftEndpoint) -> Self {
        V1Endpoint {
            service_name: endpoint.service_name,
            ipv4: if endpoint.ipv4 == 0 {
                String::new()
            } else {
                std::net::Ipv4Addr::from(endpoint.ipv4 as u32).to_string()
            },
            ipv6: match &endpoint.ipv6 {
                Some(bytes) if !bytes.is_empty() => go_ip_bytes_string(bytes),
                _ => String::new(),
            },
            port: i32::from(endpoint.port),
        }
    }
}

/// A binary annotation's value by its type. Integers are read unsigned from
/// their leading bytes, as the Collector does (so an I16 of -1 is 65535); a
/// value too short for its type, or an unknown type, becomes a `<…>` string.
fn binary_value(annotation_type: ThriftAnnotationType, bytes: &[u8]) -> V1Value {
    const SHORT: &str = "<not enough bytes representing the number>";
    fn lead<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.get(..N).and_then(|b| b.try_into().ok())
    }
    let short = || V1Value::String(SHORT.into());
    match annotation_type {
        ThriftAnnotationType::Bool => V1Value::Bool(bytes == [1]),
        ThriftAnnotationType::Bytes => {
            V1Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        ThriftAnnotationType::Double => lead::<8>(bytes).map_or_else(short, |b| {
            V1Value::Double(f64::from_bits(u64::from_be_bytes(b)))
        }),
        ThriftAnnotationType::I16 => {
            lead::<2>(bytes).map_or_else(short, |b| V1Value::Int(i64::from(u16::from_be_bytes(b))))
        }
        ThriftAnnotationType::I32 => {
            lead::<4>(bytes).map_or_else(short, |b| V1Value::Int(i64::from(u32::from_be_bytes(b))))
        }
        ThriftAnnotationType::I64 => {
            lead::<8>(bytes).map_or_else(short, |b| V1Value::Int(i64::from_be_bytes(b)))
        }
        ThriftAnnotationType::String => {
            V1Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        ThriftAnnotationType::Other(other) => V1Value::String(format!(
            "<unknown zipkin v1 binary annotation type ({other})>"
        )),
    }
}

// ---- writer (tests, load generation) ----

/// Encodes a complete `Agent.emitZipkinBatch` oneway message, as a Jaeger
/// client sends it to the agent's UDP port.
pub fn encode_emit_zipkin_batch(spans: &[ThriftSpan], protocol: ThriftProtocol) -> Vec<u8> {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = match protocol {
        ThriftProtocol::Compact => write_batch(&mut TCompactOutputProtocol::new(&mut buf), spans),
        ThriftProtocol::Binary => {
            write_batch(&mut TBinaryOutputProtocol::new(&mut buf, true), spans)
        }
    };
    buf
}

/// Encodes a bare TBinaryProtocol `list<Span>`, the body of a Zipkin v1
/// Thrift `POST /api/v1/spans` (for tests and seeds; input is trusted).
pub fn encode_span_list(spans: &[ThriftSpan]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut out = TBinaryOutputProtocol::new(&mut buf, true);
    let _ = write_list(&mut out, spans, write_span).and_then(|()| out.flush());
    buf
}

fn write_batch(out: &mut dyn TOutputProtocol, spans: &[ThriftSpan]) -> thrift::Result<()> {
    out.write_message_begin(&TMessageIdentifier::new(
        "emitZipkinBatch",
        TMessageType::OneWay,
        1,
    ))?;
    out.write_struct_begin(&TStructIdentifier::new("emitZipkinBatch_args"))?;
    field(out, "spans", TType::List, 1)?;
    write_list(out, spans, write_span)?;
    out.write_field_end()?;
    out.write_field_stop()?;
    out.write_struct_end()?;
    out.write_message_end()?;
    out.flush()
}

fn field(
    out: &mut dyn TOutputProtocol,
    name: &str,
    field_type: TType,
    id: i16,
) -> thrift::Result<()> {
    out.write_field_begin(&TFieldIdentifier::new(name, field_type, id))
}

fn write_list<T>(
    out: &mut dyn TOutputProtocol,
    items: &[T],
    write: fn(&mut dyn TOutputProtocol, &T) -> thrift::Result<()>,
) -> thrift::Result<()> {
    out.write_list_begin(&TListIdentifier::new(TType::Struct, items.len() as i32))?;
    for item in items {
        write(out, item)?;
    }
    out.write_list_end()
}

fn write_i64_field(
    out: &mut dyn TOutputProtocol,
    name: &str,
    id: i16,
    value: i64,
) -> thrift::Result<()> {
    field(out, name, TType::I64, id)?;
    out.write_i64(value)?;
    out.write_field_end()
}

fn write_span(out: &mut dyn TOutputProtocol, span: &ThriftSpan) -> thrift::Result<()> {
    out.write_struct_begin(&TStructIdentifier::new("Span"))?;
    write_i64_field(out, "trace_id", 1, span.trace_id)?;
    field(out, "name", TType::String, 3)?;
    out.write_string(&span.name)?;
    out.write_field_end()?;
    write_i64_field(out, "id", 4, span.id)?;
    if let Some(parent_id) = span.parent_id {
        write_i64_field(out, "parent_id", 5, parent_id)?;
    }
    field(out, "annotations", TType::List, 6)?;
    write_list(out, &span.annotations, write_annotation)?;
    out.write_field_end()?;
    field(out, "binary_annotations", TType::List, 8)?;
    write_list(out, &span.binary_annotations, write_binary_annotation)?;
    out.write_field_end()?;
    if let Some(debug) = span.debug {
        field(out, "debug", TType::Bool, 9)?;
        out.write_bool(debug)?;
        out.write_field_end()?;
    }
    for (name, id, value) in [
        ("timestamp", 10, span.timestamp),
        ("duration", 11, span.duration),
        ("trace_id_high", 12, span.trace_id_high),
    ] {
        if let Some(value) = value {
            write_i64_field(out, name, id, value)?;
        }
    }
    out.write_field_stop()?;
    out.write_struct_end()
}

fn write_annotation(
    out: &mut dyn TOutputProtocol,
    annotation: &ThriftAnnotation,
) -> thrift::Result<()> {
    out.write_struct_begin(&TStructIdentifier::new("Annotation"))?;
    write_i64_field(out, "timestamp", 1, annotation.timestamp)?;
    field(out, "value", TType::String, 2)?;
    out.write_string(&annotation.value)?;
    out.write_field_end()?;
    if let Some(host) = &annotation.host {
        field(out, "host", TType::Struct, 3)?;
        write_endpoint(out, host)?;
        out.write_field_end()?;
    }
    out.write_field_stop()?;
    out.write_struct_end()
}

fn write_binary_annotation(
    out: &mut dyn TOutputProtocol,
    annotation: &ThriftBinaryAnnotation,
) -> thrift::Result<()> {
    out.write_struct_begin(&TStructIdentifier::new("BinaryAnnotation"))?;
    field(out, "key", TType::String, 1)?;
    out.write_string(&annotation.key)?;
    out.write_field_end()?;
    field(out, "value", TType::String, 2)?;
    out.write_bytes(&annotation.value)?;
    out.write_field_end()?;
    field(out, "annotation_type", TType::I32, 3)?;
    out.write_i32(annotation.annotation_type.to_i32())?;
    out.write_field_end()?;
    if let Some(host) = &annotation.host {
        field(out, "host", TType::Struct, 4)?;
        write_endpoint(out, host)?;
        out.write_field_end()?;
    }
    out.write_field_stop()?;
    out.write_struct_end()
}

fn write_endpoint(out: &mut dyn TOutputProtocol, endpoint: &ThriftEndpoint) -> thrift::Result<()> {
    out.write_struct_begin(&TStructIdentifier::new("Endpoint"))?;
    field(out, "ipv4", TType::I32, 1)?;
    out.write_i32(endpoint.ipv4)?;
    out.write_field_end()?;
    field(out, "port", TType::I16, 2)?;
    out.write_i16(endpoint.port)?;
    out.write_field_end()?;
    field(out, "service_name", TType::String, 3)?;
    out.write_string(&endpoint.service_name)?;
    out.write_field_end()?;
    if let Some(ipv6) = &endpoint.ipv6 {
        field(out, "ipv6", TType::String, 4)?;
        out.write_bytes(ipv6)?;
        out.write_field_end()?;
    }
    out.write_field_stop()?;
    out.write_struct_end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample_thrift_span() -> ThriftSpan {
        let endpoint = |name: &str, ip: [u8; 4], port: i16| ThriftEndpoint {
            ipv4: i32::from_be_bytes(ip),
            port,
            service_name: name.into(),
            ipv6: None,
        };
        ThriftSpan {
            trace_id: 0x0102_0304_0506_0708,
            name: "get /users".into(),
            id: 0x1111_2222_3333_4444,
            parent_id: Some(0x5555_6666_7777_0000),
            annotations: vec![
                ThriftAnnotation {
                    timestamp: 1_600_000_000_000_000,
                    value: "sr".into(),
                    host: Some(endpoint("users", [10, 0, 0, 5], 8080)),
                },
                ThriftAnnotation {
                    timestamp: 1_600_000_000_000_500,
                    value: "db query".into(),
                    host: None,
                },
                ThriftAnnotation {
                    timestamp: 1_600_000_000_001_000,
                    value: "ss".into(),
                    host: Some(endpoint("users", [10, 0, 0, 5], 8080)),
                },
            ],
            binary_annotations: vec![
                ThriftBinaryAnnotation {
                    key: "http.status_code".into(),
                    value: 500i32.to_be_bytes().to_vec(),
                    annotation_type: ThriftAnnotationType::I32,
                    host: None,
                },
                ThriftBinaryAnnotation {
                    key: "ca".into(),
                    value: vec![1],
                    annotation_type: ThriftAnnotationType::Bool,
                    host: Some(ThriftEndpoint {
                        ipv6: Some(vec![
                            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                        ]),
                        ..endpoint("web", [10, 0, 0, 9], -1)
                    }),
                },
                ThriftBinaryAnnotation {
                    key: "weight".into(),
                    value: 0.5f64.to_bits().to_be_bytes().to_vec(),
                    annotation_type: ThriftAnnotationType::Double,
                    host: None,
                },
                ThriftBinaryAnnotation {
                    key: "blob".into(),
                    value: vec![0xff, 0x00],
                    annotation_type: ThriftAnnotationType::Bytes,
                    host: None,
                },
                ThriftBinaryAnnotation {
                    key: "short".into(),
                    value: vec![1],
                    annotation_type: ThriftAnnotationType::I64,
                    host: None,
                },
                ThriftBinaryAnnotation {
                    key: "odd".into(),
                    value: b"x".to_vec(),
                    annotation_type: ThriftAnnotationType::Other(9),
                    host: None,
                },
            ],
            debug: Some(true),
            timestamp: Some(1_600_000_000_000_000),
            duration: Some(1_000),
            trace_id_high: Some(0x0a0b_0c0d_0e0f_1011),
        }
    }

    fn decode_batch(bytes: &[u8], protocol: ThriftProtocol) -> thrift::Result<Vec<V1Span>> {
        let mut input = SliceInput::new(bytes, protocol);
        let message = input.read_message_begin()?;
        assert_eq!(message.name, "emitZipkinBatch");
        assert_eq!(message.message_type, TMessageType::OneWay);
        let spans = read_emit_zipkin_batch_args(&mut input)?;
        input.read_message_end()?;
        Ok(spans)
    }

    #[test]
    fn round_trips_emit_zipkin_batch_in_both_protocols() {
        let spans = vec![sample_thrift_span(), ThriftSpan::default()];
        let expected: Vec<V1Span> = spans.iter().cloned().map(V1Span::from).collect();
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let bytes = encode_emit_zipkin_batch(&spans, protocol);
            assert_eq!(
                decode_batch(&bytes, protocol).unwrap(),
                expected,
                "{protocol:?}"
            );
        }
    }

    #[test]
    fn converts_ids_endpoints_and_typed_values_like_the_collector() {
        let span = V1Span::from(sample_thrift_span());
        assert_eq!(
            span.trace_id,
            [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            span.parent_id,
            Some([0x55, 0x55, 0x66, 0x66, 0x77, 0x77, 0, 0])
        );
        let host = span.annotations[0].endpoint.as_ref().unwrap();
        assert_eq!((host.ipv4.as_str(), host.port), ("10.0.0.5", 8080));
        let values: Vec<&V1Value> = span.binary_annotations.iter().map(|b| &b.value).collect();
        assert_eq!(
            values,
            [
                &V1Value::Int(500),
                &V1Value::Bool(true),
                &V1Value::Double(0.5),
                &V1Value::String("/wA=".into()),
                &V1Value::String("<not enough bytes representing the number>".into()),
                &V1Value::String("<unknown zipkin v1 binary annotation type (9)>".into()),
            ]
        );
        let ca = span.binary_annotations[1].endpoint.as_ref().unwrap();
        assert_eq!((ca.ipv6.as_str(), ca.port), ("2001:db8::1", -1));
        assert_eq!(
            binary_value(ThriftAnnotationType::I16, &(-1i16).to_be_bytes()),
            V1Value::Int(65535)
        );
    }

    #[test]
    fn reads_a_zipkin_v1_thrift_body() {
        let body = encode_span_list(&[sample_thrift_span()]);
        let spans = parse_v1_thrift(&body).unwrap();
        assert_eq!(spans, vec![V1Span::from(sample_thrift_span())]);
        assert!(parse_v1_thrift(b"garbage").is_err());
    }

    #[test]
    fn skips_unknown_fields_and_fields_of_the_wrong_type() {
        let mut buf = Vec::new();
        {
            let out: &mut dyn TOutputProtocol = &mut TBinaryOutputProtocol::new(&mut buf, true);
            out.write_list_begin(&TListIdentifier::new(TType::Struct, 1))
                .unwrap();
            out.write_struct_begin(&TStructIdentifier::new("Span"))
                .unwrap();
            // id as a string: skipped.
            field(out, "id", TType::String, 4).unwrap();
            out.write_string("nope").unwrap();
            out.write_field_end().unwrap();
            // Unknown field 99 holding a map: skipped.
            field(out, "x", TType::Map, 99).unwrap();
            out.write_map_begin(&thrift::protocol::TMapIdentifier::new(
                TType::I32,
                TType::I32,
                1,
            ))
            .unwrap();
            out.write_i32(1).unwrap();
            out.write_i32(2).unwrap();
            out.write_map_end().unwrap();
            out.write_field_end().unwrap();
            write_i64_field(out, "trace_id", 1, 77).unwrap();
            out.write_field_stop().unwrap();
            out.write_struct_end().unwrap();
            out.write_list_end().unwrap();
        }
        let spans = parse_v1_thrift(&buf).unwrap();
        assert_eq!(spans[0].id, [0; 8]);
        assert_eq!(spans[0].trace_id[15], 77);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let bytes = encode_emit_zipkin_batch(&[sample_thrift_span()], protocol);
            for len in 0..bytes.len() {
                assert!(
                    decode_batch(&bytes[..len], protocol).is_err(),
                    "{protocol:?} prefix {len}"
                );
            }
        }
        let body = encode_span_list(&[sample_thrift_span()]);
        for len in 0..body.len() {
            assert!(parse_v1_thrift(&body[..len]).is_err(), "prefix {len}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_v1_thrift(&body);
            for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
                let mut input = SliceInput::new(&body, protocol);
                let _ = read_emit_zipkin_batch_args(&mut input);
            }
        }

        #[test]
        fn never_panics_on_mutated_batches(index in 0usize..400, byte in any::<u8>()) {
            for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
                let mut bytes = encode_emit_zipkin_batch(&[sample_thrift_span()], protocol);
                let i = index % bytes.len();
                bytes[i] = byte;
                let mut input = SliceInput::new(&bytes, protocol);
                if input.read_message_begin().is_ok() {
                    let _ = read_emit_zipkin_batch_args(&mut input);
                }
            }
        }
    }
}
