//! Jaeger's protobuf span model and collector API (`jaeger.api_v2`, from
//! jaegertracing/jaeger-idl `proto/api_v2/model.proto` and `collector.proto`),
//! as prost messages written by hand: only the messages the gRPC receiver
//! (`CollectorService/PostSpans` on :14250) needs.
//!
//! Field numbers and types follow the IDL. Jaeger's own (gogo) types put
//! custom types on the ID fields; on the wire they are plain `bytes`:
//! a trace ID is 16 bytes, high 64 bits then low, both big-endian (Jaeger
//! also reads 8 bytes as a 64-bit ID with a zero high half); a span ID is 8
//! bytes big-endian. Any other length makes Jaeger reject the message; here
//! the bytes are kept as they came and the translator refuses the span.
//! Timestamps and durations are the well-known types, non-nullable in
//! Jaeger, so an absent one reads as zero there.

/// The well-known types the model uses, for callers building spans.
pub use prost_types::{Duration, Timestamp};

/// The gRPC method Jaeger agents and exporters call.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// `ValueType`: which `v_*` field of a [`KeyValue`] holds the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueType {
    String = 0,
    Bool = 1,
    Int64 = 2,
    Float64 = 3,
    Binary = 4,
}

/// A typed tag, process tag or log field.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(enumeration = "ValueType", tag = "2")]
    pub v_type: i32,
    #[prost(string, tag = "3")]
    pub v_str: String,
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

impl KeyValue {
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            v_type: ValueType::String as i32,
            v_str: value.into(),
            ..Default::default()
        }
    }

    pub fn bool(key: impl Into<String>, value: bool) -> Self {
        KeyValue {
            key: key.into(),
            v_type: ValueType::Bool as i32,
            v_bool: value,
            ..Default::default()
        }
    }

    pub fn int64(key: impl Into<String>, value: i64) -> Self {
        KeyValue {
            key: key.into(),
            v_type: ValueType::Int64 as i32,
            v_int64: value,
            ..Default::default()
        }
    }

    pub fn float64(key: impl Into<String>, value: f64) -> Self {
        KeyValue {
            key: key.into(),
            v_type: ValueType::Float64 as i32,
            v_float64: value,
            ..Default::default()
        }
    }

    pub fn binary(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        KeyValue {
            key: key.into(),
            v_type: ValueType::Binary as i32,
            v_binary: value.into(),
            ..Default::default()
        }
    }
}

/// A timed event with fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<prost_types::Timestamp>,
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `SpanRefType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SpanRefType {
    ChildOf = 0,
    FollowsFrom = 1,
}

/// A causal reference to another span.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanRef {
    /// 16 bytes big-endian (8 accepted); see the module docs.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(enumeration = "SpanRefType", tag = "3")]
    pub ref_type: i32,
}

/// The traced process.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// One span. The parent is the first CHILD_OF reference in the same trace
/// (there is no parent field).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes big-endian (8 accepted); see the module docs.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes big-endian.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub operation_name: String,
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<SpanRef>,
    /// 1 = sampled, 2 = debug.
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "7")]
    pub duration: Option<prost_types::Duration>,
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<Log>,
    /// Set when the span's process differs from its batch's.
    #[prost(message, optional, tag = "10")]
    pub process: Option<Process>,
    #[prost(string, tag = "11")]
    pub process_id: String,
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// Spans and the process that (unless a span says otherwise) produced them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Batch {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
    #[prost(message, optional, tag = "2")]
    pub process: Option<Process>,
}

/// `CollectorService.PostSpans` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    #[prost(message, optional, tag = "1")]
    pub batch: Option<Batch>,
}

/// `CollectorService.PostSpans` response (empty).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct PostSpansResponse {}

/// A trace ID as Jaeger marshals it: 16 bytes, high half first, big-endian.
pub fn trace_id_bytes(high: u64, low: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&high.to_be_bytes());
    bytes.extend_from_slice(&low.to_be_bytes());
    bytes
}

/// A span ID as Jaeger marshals it: 8 bytes big-endian.
pub fn span_id_bytes(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Hand-encoded bytes in the layout gogo's generated marshaller emits for
    /// a one-span PostSpansRequest, checked field by field against model.proto.
    #[test]
    fn decodes_the_wire_layout_of_the_idl() {
        let mut span = Vec::new();
        span.extend_from_slice(&[0x0a, 16]); // 1: trace_id
        span.extend_from_slice(&trace_id_bytes(1, 2));
        span.extend_from_slice(&[0x12, 8]); // 2: span_id
        span.extend_from_slice(&span_id_bytes(3));
        span.extend_from_slice(&[0x1a, 2, b'o', b'p']); // 3: operation_name
        span.extend_from_slice(&[0x22, 20, 0x0a, 16]); // 4: references { trace_id
        span.extend_from_slice(&trace_id_bytes(1, 2));
        span.extend_from_slice(&[0x18, 1]); // no span_id, ref_type 1 }
        span.extend_from_slice(&[0x28, 1]); // 5: flags
        span.extend_from_slice(&[0x32, 2, 0x08, 5]); // 6: start_time { seconds 5 }
        span.extend_from_slice(&[0x3a, 2, 0x10, 7]); // 7: duration { nanos 7 }
        span.extend_from_slice(&[0x42, 7, 0x0a, 1, b'k', 0x10, 2, 0x28, 9]); // 8: tag k=9 int64
        span.extend_from_slice(&[0x5a, 1, b'p']); // 11: process_id
        span.extend_from_slice(&[0x62, 1, b'w']); // 12: warnings
        let mut process = vec![0x0a, 3];
        process.extend_from_slice(b"svc");
        let mut batch = vec![0x0a, span.len() as u8];
        batch.extend_from_slice(&span);
        batch.extend_from_slice(&[0x12, process.len() as u8]);
        batch.extend_from_slice(&process);
        let mut request = vec![0x0a, batch.len() as u8];
        request.extend_from_slice(&batch);

        let decoded = PostSpansRequest::decode(request.as_slice()).expect("decodes");
        let batch = decoded.batch.expect("batch");
        assert_eq!(batch.process.as_ref().expect("process").service_name, "svc");
        let span = &batch.spans[0];
        assert_eq!(span.trace_id, trace_id_bytes(1, 2));
        assert_eq!(span.span_id, span_id_bytes(3));
        assert_eq!(span.operation_name, "op");
        assert_eq!(span.references[0].ref_type, SpanRefType::FollowsFrom as i32);
        assert!(span.references[0].span_id.is_empty());
        assert_eq!(span.flags, 1);
        assert_eq!(span.start_time.expect("start").seconds, 5);
        assert_eq!(span.duration.expect("duration").nanos, 7);
        assert_eq!(span.tags, vec![KeyValue::int64("k", 9)]);
        assert_eq!(span.process_id, "p");
        assert_eq!(span.warnings, vec!["w".to_string()]);

        // And prost writes the same bytes back (fields in tag order, defaults omitted).
        assert_eq!(
            PostSpansRequest {
                batch: Some(batch.clone())
            }
            .encode_to_vec(),
            request
        );
    }

    #[test]
    fn ids_are_big_endian_high_then_low() {
        assert_eq!(
            trace_id_bytes(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10),
            (1..=16).collect::<Vec<u8>>()
        );
        assert_eq!(span_id_bytes(0xff), vec![0, 0, 0, 0, 0, 0, 0, 0xff]);
    }

    #[test]
    fn response_is_empty() {
        assert!(PostSpansResponse::default().encode_to_vec().is_empty());
        assert_eq!(POST_SPANS_PATH, "/jaeger.api_v2.CollectorService/PostSpans");
    }
}
