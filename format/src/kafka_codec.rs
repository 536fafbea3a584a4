//! Kafka message encodings the ingester reads, each turned into the bytes
//! of an OTLP `ExportTraceServiceRequest` so one decode path serves them all.
//!
//! The encodings and who writes them:
//!
//! - `otlp_proto`: ferrotrace's collector, and the OpenTelemetry Collector's
//!   Kafka exporter. Passed through borrowed: the ingester decodes it anyway,
//!   so checking it here would double the cost.
//! - `otlp_json`: the OpenTelemetry Collector's Kafka exporter with
//!   `encoding: otlp_json` (OTLP's JSON mapping: camelCase, hex IDs, enums as
//!   integers, 64-bit integers as strings).
//! - `jaeger_proto`: the Jaeger v1 collector's Kafka span writer
//!   (`plugin/storage/kafka/marshaller.go`): one `jaeger.api_v2.Span` per
//!   message carrying its own process; the key (the hex trace ID) is not
//!   needed, the value has the trace ID.
//! - `jaeger_json`: the same writer with its JSON marshaller, gogo
//!   `jsonpb.Marshaler{}` on `model.Span`. As Jaeger 1.x writes it (checked
//!   against `model/ids.go`, `model/model.pb.go` and gogo's `jsonpb.go`):
//!   camelCase names; trace ID as base64 of its 16 big-endian bytes (always
//!   16, even for a 64-bit ID) and span ID as base64 of 8 bytes; `startTime`
//!   RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits; `duration` in
//!   seconds with an `s` suffix (`"0.001245672s"`); enums by name
//!   (`"INT64"`, `"FOLLOWS_FROM"`); `vInt64` as a string; `vBinary` base64;
//!   and every default left out, so a missing `vType` is STRING, a missing
//!   `refType` CHILD_OF, a missing `duration` or `flags` zero. Parsing is as
//!   lenient as Jaeger's own reader (`jsonpb.Unmarshal`): original proto
//!   names (`trace_id`), enums as numbers, 64-bit integers as numbers or
//!   strings, any RFC 3339 offset and any Go duration (`"5000ns"`, `"1m3s"`).
//!   Where we are more lenient still: unknown fields are ignored rather than
//!   rejected, `null` reads as absent, and (serde's derive) an object may
//!   also come as an array of its fields in order.
//!
//! Jaeger spans go through [`crate::jaeger::to_otlp`], the same translation
//! the Jaeger receivers use. A span it refuses (zero or malformed ID,
//! impossible time) is a [`CodecError::Refused`]: a Kafka message holds one
//! span, so the whole message is the poison to set aside.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::civil_date::{days_from_civil, days_in_month};
use crate::jaeger::{proto, to_otlp};
use crate::translate::Refusal;

/// How the values of a topic are encoded; the names are those of the
/// OpenTelemetry Collector's Kafka receiver and of Jaeger's ingester.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    #[default]
    OtlpProto,
    OtlpJson,
    JaegerProto,
    JaegerJson,
}

impl Encoding {
    pub const ALL: [Encoding; 4] = [
        Encoding::OtlpProto,
        Encoding::OtlpJson,
        Encoding::JaegerProto,
        Encoding::JaegerJson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
            Encoding::JaegerProto => "jaeger_proto",
            Encoding::JaegerJson => "jaeger_json",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An encoding name that is none of [`Encoding::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding {0:?} (expected otlp_proto, otlp_json, jaeger_proto or jaeger_json)")]
pub struct UnknownEncoding(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEncoding(s.to_owned()))
    }
}

/// Why a message could not be turned into an OTLP request. Every variant is
/// permanent: the same bytes fail the same way on every attempt.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("invalid OTLP JSON: {0}")]
    OtlpJson(#[source] serde_json::Error),
    #[error("invalid Jaeger protobuf span: {0}")]
    JaegerProto(#[source] prost::DecodeError),
    #[error("invalid Jaeger JSON span: {0}")]
    JaegerJson(#[source] serde_json::Error),
    /// The span decoded but the Jaeger translator refused it.
    #[error("span refused ({reason}): {detail}")]
    Refused {
        /// The refusal's metric label, e.g. `zero_trace_id`.
        reason: &'static str,
        detail: String,
    },
}

impl CodecError {
    /// A short fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            CodecError::OtlpJson(_) => "invalid_otlp_json",
            CodecError::JaegerProto(_) => "invalid_jaeger_proto",
            CodecError::JaegerJson(_) => "invalid_jaeger_json",
            CodecError::Refused { reason, .. } => reason,
        }
    }

    /// Every [`label`](Self::label) a value in `encoding` can fail with
    /// (`otlp_proto` values are handed on unchecked: none).
    pub fn labels(encoding: Encoding) -> Vec<&'static str> {
        let refusals = Refusal::ALL.into_iter().map(Refusal::label);
        match encoding {
            Encoding::OtlpProto => Vec::new(),
            Encoding::OtlpJson => vec!["invalid_otlp_json"],
            Encoding::JaegerProto => std::iter::once("invalid_jaeger_proto")
                .chain(refusals)
                .collect(),
            Encoding::JaegerJson => std::iter::once("invalid_jaeger_json")
                .chain(refusals)
                .collect(),
        }
    }
}

/// A message value in `encoding` → protobuf `ExportTraceServiceRequest`
/// bytes; `otlp_proto` comes back borrowed and unchecked.
pub fn decode(encoding: Encoding, value: &[u8]) -> Result<Cow<'_, [u8]>, CodecError> {
    match encoding {
        Encoding::OtlpProto => Ok(Cow::Borrowed(value)),
        Encoding::OtlpJson => {
            let request: ExportTraceServiceRequest =
                serde_json::from_slice(value).map_err(CodecError::OtlpJson)?;
            Ok(Cow::Owned(request.encode_to_vec()))
        }
        Encoding::JaegerProto => {
            let span = proto::Span::decode(value).map_err(CodecError::JaegerProto)?;
            jaeger_span_to_otlp(span)
        }
        Encoding::JaegerJson => jaeger_span_to_otlp(jaeger_json_to_proto(value)?),
    }
}

/// A `jaeger_json` message value as the `jaeger.api_v2.Span` a
/// `jaeger_proto` message carries, before translation.
pub fn jaeger_json_to_proto(value: &[u8]) -> Result<proto::Span, CodecError> {
    let span: JsonSpan = serde_json::from_slice(value).map_err(CodecError::JaegerJson)?;
    Ok(span.into_proto())
}

fn jaeger_span_to_otlp(span: proto::Span) -> Result<Cow<'static, [u8]>, CodecError> {
    let translated = to_otlp::proto_batches_to_otlp(vec![proto::Batch {
        spans: vec![span],
        process: None,
    }]);
    if let Some((reason, _)) = translated.refused.by_reason().next() {
        return Err(CodecError::Refused {
            reason,
            detail: translated.refused.first().unwrap_or(reason).to_owned(),
        });
    }
    Ok(Cow::Owned(translated.request.encode_to_vec()))
}

// ---------------------------------------------------------------------------
// Jaeger's jsonpb span

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    #[serde(alias = "trace_id")]
    trace_id: Option<Base64>,
    #[serde(alias = "span_id")]
    span_id: Option<Base64>,
    #[serde(alias = "operation_name")]
    operation_name: Option<String>,
    references: Option<Vec<JsonSpanRef>>,
    flags: Option<Integer<u32>>,
    #[serde(alias = "start_time")]
    start_time: Option<JsonTimestamp>,
    duration: Option<JsonDuration>,
    tags: Option<Vec<JsonKeyValue>>,
    logs: Option<Vec<JsonLog>>,
    process: Option<JsonProcess>,
    #[serde(alias = "process_id")]
    process_id: Option<String>,
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpanRef {
    #[serde(alias = "trace_id")]
    trace_id: Option<Base64>,
    #[serde(alias = "span_id")]
    span_id: Option<Base64>,
    #[serde(alias = "ref_type")]
    ref_type: Option<JsonEnum<RefTypeNames>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonKeyValue {
    key: Option<String>,
    #[serde(alias = "v_type")]
    v_type: Option<JsonEnum<ValueTypeNames>>,
    #[serde(alias = "v_str")]
    v_str: Option<String>,
    #[serde(alias = "v_bool")]
    v_bool: Option<bool>,
    #[serde(alias = "v_int64")]
    v_int64: Option<Integer<i64>>,
    #[serde(alias = "v_float64")]
    v_float64: Option<Float>,
    #[serde(alias = "v_binary")]
    v_binary: Option<Base64>,
}

#[derive(Deserialize)]
struct JsonLog {
    timestamp: Option<JsonTimestamp>,
    fields: Option<Vec<JsonKeyValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonProcess {
    #[serde(alias = "service_name")]
    service_name: Option<String>,
    tags: Option<Vec<JsonKeyValue>>,
}

impl JsonSpan {
    /// Absent IDs stay empty, which the translator reads as zero (and
    /// refuses): jsonpb leaves out a zero span ID.
    fn into_proto(self) -> proto::Span {
        proto::Span {
            trace_id: bytes(self.trace_id),
            span_id: bytes(self.span_id),
            operation_name: self.operation_name.unwrap_or_default(),
            references: self
                .references
                .unwrap_or_default()
                .into_iter()
                .map(|r| proto::SpanRef {
                    trace_id: bytes(r.trace_id),
                    span_id: bytes(r.span_id),
                    ref_type: r.ref_type.map_or(0, |t| t.0),
                })
                .collect(),
            flags: self.flags.map_or(0, |f| f.0),
            start_time: self.start_time.map(|t| t.0),
            duration: self.duration.map(|d| d.0),
            tags: key_values(self.tags),
            logs: self
                .logs
                .unwrap_or_default()
                .into_iter()
                .map(|log| proto::Log {
                    timestamp: log.timestamp.map(|t| t.0),
                    fields: key_values(log.fields),
                })
                .collect(),
            process: self.process.map(|p| proto::Process {
                service_name: p.service_name.unwrap_or_default(),
                tags: key_values(p.tags),
            }),
            process_id: self.process_id.unwrap_or_default(),
            warnings: self.warnings.unwrap_or_default(),
        }
    }
}

fn bytes(id: Option<Base64>) -> Vec<u8> {
    id.map(|b| b.0).unwrap_or_default()
}

fn key_values(kvs: Option<Vec<JsonKeyValue>>) -> Vec<proto::KeyValue> {
    kvs.unwrap_or_default()
        .into_iter()
        .map(|kv| proto::KeyValue {
            key: kv.key.unwrap_or_default(),
            v_type: kv.v_type.map_or(0, |t| t.0),
            v_str: kv.v_str.unwrap_or_default(),
            v_bool: kv.v_bool.unwrap_or_default(),
            v_int64: kv.v_int64.map_or(0, |v| v.0),
            v_float64: kv.v_float64.map_or(0.0, |v| v.0),
            v_binary: bytes(kv.v_binary),
        })
        .collect()
}

// ---- scalar forms jsonpb writes and reads ----------------------------------

/// Bytes as base64. jsonpb writes the standard alphabet with padding; the
/// proto3 JSON mapping also allows URL-safe and unpadded input.
struct Base64(Vec<u8>);

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Base64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Base64, E> {
                STANDARD
                    .decode(s)
                    .or_else(|_| URL_SAFE.decode(s))
                    .map(Base64)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer as a JSON number or a decimal string (jsonpb quotes 64-bit ones).
struct Integer<T>(T);

impl<'de, T> Deserialize<'de> for Integer<T>
where
    T: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: TryFrom<i64> + TryFrom<u64> + FromStr> Visitor<'_> for V<T> {
            type Value = Integer<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer in range, as a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::try_from(v)
                    .map(Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::try_from(v)
                    .map(Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                s.parse()
                    .map(Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A double as a JSON number, a numeric string, or `"NaN"`/`"Infinity"`/`"-Infinity"`.
struct Float(f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Float;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Float, E> {
                match s {
                    "NaN" => Ok(Float(f64::NAN)),
                    "Infinity" => Ok(Float(f64::INFINITY)),
                    "-Infinity" => Ok(Float(f64::NEG_INFINITY)),
                    // Only JSON number syntax, not Rust's "inf"/"nan".
                    _ if s.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => s
                        .parse()
                        .ok()
                        .filter(|v: &f64| v.is_finite())
                        .map(Float)
                        .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The names of a proto enum's values.
trait EnumNames {
    const WHAT: &'static str;
    const NAMES: &'static [(&'static str, i32)];
}

struct ValueTypeNames;
impl EnumNames for ValueTypeNames {
    const WHAT: &'static str = "a ValueType name (STRING, BOOL, INT64, FLOAT64, BINARY) or number";
    const NAMES: &'static [(&'static str, i32)] = &[
        ("STRING", proto::ValueType::String as i32),
        ("BOOL", proto::ValueType::Bool as i32),
        ("INT64", proto::ValueType::Int64 as i32),
        ("FLOAT64", proto::ValueType::Float64 as i32),
        ("BINARY", proto::ValueType::Binary as i32),
    ];
}

struct RefTypeNames;
impl EnumNames for RefTypeNames {
    const WHAT: &'static str = "a SpanRefType name (CHILD_OF, FOLLOWS_FROM) or number";
    const NAMES: &'static [(&'static str, i32)] = &[
        ("CHILD_OF", proto::SpanRefType::ChildOf as i32),
        ("FOLLOWS_FROM", proto::SpanRefType::FollowsFrom as i32),
    ];
}

/// An enum by name, or by any int32 number (an unknown number is kept, as
/// protobuf keeps it; the translator decides what it means).
struct JsonEnum<N>(i32, PhantomData<N>);

impl<'de, N: EnumNames> Deserialize<'de> for JsonEnum<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<N>(PhantomData<N>);
        impl<N: EnumNames> Visitor<'_> for V<N> {
            type Value = JsonEnum<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(N::WHAT)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| JsonEnum(v, PhantomData))
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i32::try_from(v)
                    .map(|v| JsonEnum(v, PhantomData))
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                N::NAMES
                    .iter()
                    .find(|(name, _)| *name == s)
                    .map(|&(_, v)| JsonEnum(v, PhantomData))
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

struct JsonTimestamp(prost_types::Timestamp);

impl<'de> Deserialize<'de> for JsonTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JsonTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp between years 1 and 9999")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<JsonTimestamp, E> {
                parse_rfc3339(s)
                    .map(JsonTimestamp)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

struct JsonDuration(prost_types::Duration);

impl<'de> Deserialize<'de> for JsonDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JsonDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"0.001245672s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<JsonDuration, E> {
                let nanos = parse_go_duration(s)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))?;
                // Truncating division keeps seconds and nanos of one sign, as
                // gogo's DurationProto does.
                Ok(JsonDuration(prost_types::Duration {
                    seconds: nanos / 1_000_000_000,
                    nanos: (nanos % 1_000_000_000) as i32,
                }))
            }
        }
        d.deserialize_str(V)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, read as Go's
/// `time.Parse(time.RFC3339Nano, …)` reads it: fraction digits past the
/// ninth are dropped; the result must lie in years 1–9999 as gogo's
/// `TimestampFromProto` requires.
fn parse_rfc3339(s: &str) -> Option<prost_types::Timestamp> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut i = 19;
    let mut nanos = 0i64;
    if sep(i, b".,") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let kept = (i - start).min(9);
        nanos = num(start..start + kept)? * 10i64.pow(9 - kept as u32);
    }
    let offset = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };

    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    // 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z
    if !(-62_135_596_800..=253_402_300_799).contains(&seconds) {
        return None;
    }
    Some(prost_types::Timestamp {
        seconds,
        nanos: nanos as i32,
    })
}

/// Nanoseconds of a Go duration string, as `time.ParseDuration` reads it:
/// an optional sign, then one or more decimal numbers each with a unit
/// (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); `"0"` alone needs none.
/// Fractions are scaled through a float, as Go does, so results match Go's.
fn parse_go_duration(s: &str) -> Option<i64> {
    const LIMIT: u64 = 1 << 63;
    let mut b = s.as_bytes();
    let negative = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'-' | b'+')) {
        b = &b[1..];
    }
    if b == b"0" {
        return Some(0);
    }
    if b.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !b.is_empty() {
        // The integer part; None once it overflows.
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let whole = b[..digits].iter().try_fold(0u64, |acc, &c| {
            acc.checked_mul(10)?
                .checked_add(u64::from(c - b'0'))
                .filter(|&v| v <= LIMIT)
        })?;
        b = &b[digits..];
        // The fraction: digits past u64's precision are read and ignored.
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, 0);
        if b.first() == Some(&b'.') {
            b = &b[1..];
            fraction_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflowed = false;
            for &c in &b[..fraction_digits] {
                if overflowed {
                    continue;
                }
                match fraction
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(c - b'0')))
                {
                    Some(v) if v <= LIMIT => {
                        fraction = v;
                        scale *= 10.0;
                    }
                    _ => overflowed = true,
                }
            }
            b = &b[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return None;
        }
        let unit_len = b
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        let unit: u64 = match &b[..unit_len] {
            b"ns" => 1,
            // "µs" (U+00B5 micro sign) and "μs" (U+03BC Greek mu) in UTF-8.
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        b = &b[unit_len..];
        let mut value = whole.checked_mul(unit).filter(|&v| v <= LIMIT)?;
        if fraction > 0 {
            value = value
                .checked_add((fraction as f64 * (unit as f64 / scale)) as u64)
                .filter(|&v| v <= LIMIT)?;
        }
        total = total.checked_add(value).filter(|&v| v <= LIMIT)?;
    }
    if negative {
        Some((total as i64).wrapping_neg())
    } else {
        i64::try_from(total).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::attributes::{kv, kv_str};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;
    use proto::KeyValue as JKv;

    const HIGH: u64 = 0x5b8e_fff7_9803_8103;
    const LOW: u64 = 0xd269_b633_813f_c60c;
    const SPAN: u64 = 0x0515_81bf_3cb5_5c13;
    const PARENT: u64 = 0xeee1_9b7e_c3c1_b174;
    /// 2023-11-14T22:13:20.123456789Z
    const START_SECONDS: i64 = 1_700_000_000;
    const START_NANOS: u64 = 1_700_000_000_123_456_789;

    fn trace_id() -> Vec<u8> {
        proto::trace_id_bytes(HIGH, LOW)
    }

    /// A span as a Jaeger 1.x collector hands it to its Kafka writer.
    fn jaeger_span() -> proto::Span {
        proto::Span {
            trace_id: trace_id(),
            span_id: proto::span_id_bytes(SPAN),
            operation_name: "GET /dispatch".into(),
            references: vec![
                proto::SpanRef {
                    trace_id: trace_id(),
                    span_id: proto::span_id_bytes(PARENT),
                    ref_type: proto::SpanRefType::ChildOf as i32,
                },
                proto::SpanRef {
                    trace_id: proto::trace_id_bytes(0, 7),
                    span_id: proto::span_id_bytes(8),
                    ref_type: proto::SpanRefType::FollowsFrom as i32,
                },
            ],
            flags: 1,
            start_time: Some(proto::Timestamp {
                seconds: START_SECONDS,
                nanos: 123_456_789,
            }),
            duration: Some(proto::Duration {
                seconds: 0,
                nanos: 5_432_000,
            }),
            tags: vec![
                JKv::string("span.kind", "client"),
                JKv::bool("error", true),
                JKv::int64("http.status_code", 504),
                JKv::float64("ratio", 72.5),
                JKv::binary("payload", vec![0, 1, 255]),
                JKv::string("otel.scope.name", "dispatcher"),
                JKv::string("otel.scope.version", "1.2"),
            ],
            logs: vec![proto::Log {
                timestamp: Some(proto::Timestamp {
                    seconds: START_SECONDS,
                    nanos: 124_456_789,
                }),
                fields: vec![JKv::string("event", "retry"), JKv::int64("attempt", 2)],
            }],
            process: Some(proto::Process {
                service_name: "frontend".into(),
                tags: vec![
                    JKv::string("hostname", "node-1"),
                    JKv::string("ip", "10.0.0.7"),
                ],
            }),
            process_id: String::new(),
            warnings: vec![],
        }
    }

    /// `jaeger_span()` as gogo's `jsonpb.Marshaler{}` writes it: fields in
    /// struct order, defaults (STRING vType, CHILD_OF refType) left out,
    /// IDs base64, vInt64 quoted, time in UTC, duration in seconds.
    const JAEGER_JSON: &str = r#"{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"BRWBvzy1XBM=","operationName":"GET /dispatch","references":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="},{"traceId":"AAAAAAAAAAAAAAAAAAAABw==","spanId":"AAAAAAAAAAg=","refType":"FOLLOWS_FROM"}],"flags":1,"startTime":"2023-11-14T22:13:20.123456789Z","duration":"0.005432s","tags":[{"key":"span.kind","vStr":"client"},{"key":"error","vType":"BOOL","vBool":true},{"key":"http.status_code","vType":"INT64","vInt64":"504"},{"key":"ratio","vType":"FLOAT64","vFloat64":72.5},{"key":"payload","vType":"BINARY","vBinary":"AAH/"},{"key":"otel.scope.name","vStr":"dispatcher"},{"key":"otel.scope.version","vStr":"1.2"}],"logs":[{"timestamp":"2023-11-14T22:13:20.124456789Z","fields":[{"key":"event","vStr":"retry"},{"key":"attempt","vType":"INT64","vInt64":"2"}]}],"process":{"serviceName":"frontend","tags":[{"key":"hostname","vStr":"node-1"},{"key":"ip","vStr":"10.0.0.7"}]}}"#;

    /// The same span in forms jsonpb also reads: proto names, enums and
    /// 64-bit integers as numbers, another offset, a Go duration, unknown
    /// fields and nulls.
    const JAEGER_JSON_LENIENT: &str = r#"{
        "trace_id": "W47_95gDgQPSabYzgT_GDA", "span_id": "BRWBvzy1XBM=",
        "operation_name": "GET /dispatch",
        "references": [
            {"trace_id": "W47/95gDgQPSabYzgT/GDA==", "span_id": "7uGbfsPBsXQ=", "ref_type": 0},
            {"traceId": "AAAAAAAAAAAAAAAAAAAABw==", "spanId": "AAAAAAAAAAg=", "refType": 1}
        ],
        "flags": "1",
        "start_time": "2023-11-14T17:13:20.1234567891-05:00",
        "duration": "5ms432us",
        "tags": [
            {"key": "span.kind", "v_type": "STRING", "v_str": "client"},
            {"key": "error", "v_type": 1, "v_bool": true},
            {"key": "http.status_code", "vType": 2, "vInt64": 504},
            {"key": "ratio", "vType": "FLOAT64", "vFloat64": "72.5"},
            {"key": "payload", "vType": "BINARY", "v_binary": "AAH/"},
            {"key": "otel.scope.name", "vStr": "dispatcher", "vBool": null},
            {"key": "otel.scope.version", "vStr": "1.2"}
        ],
        "logs": [{"timestamp": "2023-11-14T22:13:20.124456789Z",
                  "fields": [{"key": "event", "vStr": "retry"},
                             {"key": "attempt", "vType": "INT64", "vInt64": "2"}]}],
        "process": {"service_name": "frontend",
                    "tags": [{"key": "hostname", "vStr": "node-1"}, {"key": "ip", "vStr": "10.0.0.7"}]},
        "processId": null,
        "somethingNew": {"ignored": [1, 2]}
    }"#;

    /// What the Jaeger translator makes of `jaeger_span()`.
    fn expected_from_jaeger() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv_str("service.name", "frontend"),
                        kv_str("host.name", "node-1"),
                        kv_str("ip", "10.0.0.7"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "dispatcher".into(),
                        version: "1.2".into(),
                        ..Default::default()
                    }),
                    spans: vec![Span {
                        trace_id: trace_id(),
                        span_id: proto::span_id_bytes(SPAN),
                        parent_span_id: proto::span_id_bytes(PARENT),
                        flags: 1,
                        name: "GET /dispatch".into(),
                        kind: SpanKind::Client as i32,
                        start_time_unix_nano: START_NANOS,
                        end_time_unix_nano: START_NANOS + 5_432_000,
                        // span.kind and error removed as pdata's Map.Remove
                        // does it: the last attribute moves into the gap.
                        attributes: vec![
                            kv("payload", Value::BytesValue(vec![0, 1, 255])),
                            kv("ratio", Value::DoubleValue(72.5)),
                            kv("http.status_code", Value::IntValue(504)),
                        ],
                        events: vec![Event {
                            time_unix_nano: START_NANOS + 1_000_000,
                            name: "retry".into(),
                            attributes: vec![kv("attempt", Value::IntValue(2))],
                            ..Default::default()
                        }],
                        links: vec![Link {
                            trace_id: proto::trace_id_bytes(0, 7),
                            span_id: proto::span_id_bytes(8),
                            attributes: vec![kv_str("opentracing.ref_type", "follows_from")],
                            ..Default::default()
                        }],
                        status: Some(Status {
                            code: StatusCode::Error as i32,
                            message: String::new(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn request(bytes: &[u8]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(bytes).expect("decodes as OTLP")
    }

    #[test]
    fn parses_and_prints_encoding_names() {
        for encoding in Encoding::ALL {
            assert_eq!(encoding.to_string().parse::<Encoding>(), Ok(encoding));
        }
        assert_eq!("jaeger_json".parse(), Ok(Encoding::JaegerJson));
        assert_eq!(Encoding::default(), Encoding::OtlpProto);
        let error = "protobuf".parse::<Encoding>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown encoding \"protobuf\" (expected otlp_proto, otlp_json, jaeger_proto or jaeger_json)"
        );
    }

    #[test]
    fn otlp_proto_is_borrowed_unchecked() {
        let bytes = expected_from_jaeger().encode_to_vec();
        let decoded = decode(Encoding::OtlpProto, &bytes).expect("passes");
        assert!(matches!(decoded, Cow::Borrowed(b) if b.as_ptr() == bytes.as_ptr()));
        // Not validated here: the ingester's decode will reject it.
        assert!(matches!(
            decode(Encoding::OtlpProto, b"\xff garbage"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn otlp_json_as_the_collector_writes_it_becomes_the_same_request() {
        // pdata's JSON marshaller: hex IDs, camelCase, enums as integers,
        // 64-bit integers as strings.
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"frontend"}},
            {"key":"host.name","value":{"stringValue":"node-1"}},
            {"key":"ip","value":{"stringValue":"10.0.0.7"}}]},
          "scopeSpans":[{"scope":{"name":"dispatcher","version":"1.2"},"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"051581bf3cb55c13",
            "parentSpanId":"eee19b7ec3c1b174","flags":1,"name":"GET /dispatch","kind":3,
            "startTimeUnixNano":"1700000000123456789","endTimeUnixNano":"1700000000128888789",
            "attributes":[{"key":"payload","value":{"bytesValue":"AAH/"}},
              {"key":"ratio","value":{"doubleValue":72.5}},
              {"key":"http.status_code","value":{"intValue":"504"}}],
            "events":[{"timeUnixNano":"1700000000124456789","name":"retry",
              "attributes":[{"key":"attempt","value":{"intValue":"2"}}]}],
            "links":[{"traceId":"00000000000000000000000000000007","spanId":"0000000000000008",
              "attributes":[{"key":"opentracing.ref_type","value":{"stringValue":"follows_from"}}]}],
            "status":{"code":2}}]}]}]}"#;
        let decoded = decode(Encoding::OtlpJson, json.as_bytes()).expect("decodes");
        assert!(matches!(decoded, Cow::Owned(_)));
        assert_eq!(request(&decoded), expected_from_jaeger());
        // Byte for byte what a protobuf producer would have written.
        assert_eq!(&*decoded, expected_from_jaeger().encode_to_vec().as_slice());
    }

    #[test]
    fn jaeger_proto_span_becomes_an_otlp_request() {
        let bytes = jaeger_span().encode_to_vec();
        let decoded = decode(Encoding::JaegerProto, &bytes).expect("decodes");
        assert_eq!(request(&decoded), expected_from_jaeger());
    }

    #[test]
    fn jaeger_json_span_becomes_the_same_request_as_its_protobuf() {
        let from_proto = decode(Encoding::JaegerProto, &jaeger_span().encode_to_vec())
            .expect("proto decodes")
            .into_owned();
        for json in [JAEGER_JSON, JAEGER_JSON_LENIENT] {
            let decoded = decode(Encoding::JaegerJson, json.as_bytes()).expect("json decodes");
            assert_eq!(request(&decoded), expected_from_jaeger());
            assert_eq!(&*decoded, from_proto.as_slice());
        }
        // And the parsed span itself equals the protobuf one, field for field.
        let span: JsonSpan = serde_json::from_str(JAEGER_JSON).expect("parses");
        assert_eq!(span.into_proto(), jaeger_span());
    }

    #[test]
    fn jaeger_json_defaults_are_the_omitted_values() {
        // jsonpb leaves out zero duration, flags, STRING and CHILD_OF; a
        // 64-bit trace ID is still 16 bytes.
        let json = r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=",
            "references":[{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAM="}],
            "startTime":"2017-01-26T16:46:31.639875139-05:00",
            "tags":[{"key":"k","vStr":"v"}],"process":{"serviceName":"svc"}}"#;
        let request = request(&decode(Encoding::JaegerJson, json.as_bytes()).expect("decodes"));
        let resource = &request.resource_spans[0];
        assert_eq!(
            resource.resource.as_ref().expect("resource").attributes,
            [kv_str("service.name", "svc")]
        );
        let span = &resource.scope_spans[0].spans[0];
        assert_eq!(span.trace_id, proto::trace_id_bytes(0, 1));
        assert_eq!(span.span_id, proto::span_id_bytes(2));
        assert_eq!(span.parent_span_id, proto::span_id_bytes(3));
        assert!(span.links.is_empty());
        assert_eq!(span.flags, 0);
        assert_eq!(span.start_time_unix_nano, 1_485_467_191_639_875_139);
        assert_eq!(span.end_time_unix_nano, span.start_time_unix_nano);
        assert_eq!(span.attributes, [kv_str("k", "v")]);
    }

    #[test]
    fn refused_spans_are_errors_with_the_reason() {
        let cases: [(&str, proto::Span); 3] = [
            (
                "zero_trace_id",
                proto::Span {
                    trace_id: vec![0; 16],
                    ..jaeger_span()
                },
            ),
            (
                "invalid_id",
                proto::Span {
                    span_id: vec![1; 5],
                    ..jaeger_span()
                },
            ),
            (
                "invalid_timestamp",
                proto::Span {
                    start_time: None,
                    ..jaeger_span()
                },
            ),
        ];
        for (reason, span) in cases {
            let error = decode(Encoding::JaegerProto, &span.encode_to_vec()).unwrap_err();
            assert_eq!(error.label(), reason);
            assert!(error
                .to_string()
                .starts_with(&format!("span refused ({reason}): span 0 (trace ")));
        }

        for (json, reason) in [
            ("{}", "zero_trace_id"),
            (r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ=="}"#, "zero_span_id"),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI="}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=","startTime":"1969-12-31T23:59:59Z"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAAAAAAAAAAAAAAAAAAAAQ==","spanId":"AAAAAAAAAAI=","startTime":"2023-11-14T22:13:20Z","duration":"-1s"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"traceId":"AAECAw==","spanId":"AAAAAAAAAAI=","startTime":"2023-11-14T22:13:20Z"}"#,
                "invalid_id",
            ),
        ] {
            let error = decode(Encoding::JaegerJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), reason, "{json}: {error}");
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        let proto_bytes = jaeger_span().encode_to_vec();
        // Cut inside the operation name (a length-delimited field).
        let truncated = &proto_bytes[..2 + 16 + 2 + 8 + 5];
        for value in [
            truncated,
            b"not a span at all".as_slice(),
            b"\x0a\xff\xff\xff\xff\x0f",
        ] {
            let error = decode(Encoding::JaegerProto, value).unwrap_err();
            assert_eq!(error.label(), "invalid_jaeger_proto");
            assert!(error
                .to_string()
                .starts_with("invalid Jaeger protobuf span: "));
        }

        for json in [
            "",
            "garbage",
            "null",
            "[1, 2]",
            r#"{"traceId": 5}"#,
            r#"{"traceId": "not base64!"}"#,
            r#"{"operationName": 7}"#,
            r#"{"flags": -1}"#,
            r#"{"flags": 1.5}"#,
            r#"{"startTime": "yesterday"}"#,
            r#"{"startTime": "2023-02-29T00:00:00Z"}"#,
            r#"{"startTime": 1700000000}"#,
            r#"{"duration": 5}"#,
            r#"{"duration": "5"}"#,
            r#"{"tags": {"key": "k"}}"#,
            r#"{"tags": [{"key": "k", "vType": "NUMBER"}]}"#,
            r#"{"tags": [{"key": "k", "vInt64": "12x"}]}"#,
            r#"{"tags": [{"key": "k", "vInt64": 1.5}]}"#,
            r#"{"tags": [{"key": "k", "vBool": "true"}]}"#,
            r#"{"tags": [{"key": "k", "vFloat64": "inf"}]}"#,
            r#"{"references": [{"refType": "PARENT"}]}"#,
            r#"{"logs": [{"timestamp": "2023-11-14 22:13:20Z"}]}"#,
            &JAEGER_JSON[..JAEGER_JSON.len() - 1],
        ] {
            let error = decode(Encoding::JaegerJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), "invalid_jaeger_json", "{json}: {error}");
            assert!(error.to_string().starts_with("invalid Jaeger JSON span: "));
        }

        for json in [
            "",
            "{",
            r#"{"resourceSpans": 5}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
        ] {
            let error = decode(Encoding::OtlpJson, json.as_bytes()).unwrap_err();
            assert_eq!(error.label(), "invalid_otlp_json", "{json}");
            assert!(error.to_string().starts_with("invalid OTLP JSON: "));
        }
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_handled() {
        let proto_bytes = jaeger_span().encode_to_vec();
        let otlp_json = serde_json::to_vec(&expected_from_jaeger()).expect("serialises");
        for (encoding, value) in [
            (Encoding::JaegerProto, proto_bytes.as_slice()),
            (Encoding::JaegerJson, JAEGER_JSON.as_bytes()),
            (Encoding::OtlpJson, otlp_json.as_slice()),
        ] {
            for end in 0..value.len() {
                // Ok or Err, never a panic.
                let _ = decode(encoding, &value[..end]);
            }
        }
    }

    #[test]
    fn reads_rfc3339_like_go() {
        let ts = |s| parse_rfc3339(s).map(|t| (t.seconds, t.nanos));
        assert_eq!(ts("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            ts("2017-01-26T16:46:31.639875139-05:00"),
            Some((1_485_467_191, 639_875_139))
        );
        assert_eq!(
            ts("2023-12-01T10:47:45.853Z"),
            Some((1_701_427_665, 853_000_000))
        );
        assert_eq!(
            ts("2023-12-01t10:47:45.8z"),
            Some((1_701_427_665, 800_000_000))
        );
        assert_eq!(ts("2023-12-01T12:17:45+01:30"), Some((1_701_427_665, 0)));
        assert_eq!(
            ts("2024-02-29T00:00:00.1234567899Z").map(|t| t.1),
            Some(123_456_789)
        );
        assert_eq!(ts("0001-01-01T00:00:00Z"), Some((-62_135_596_800, 0)));
        assert_eq!(
            ts("9999-12-31T23:59:59.999999999Z").map(|t| t.0),
            Some(253_402_300_799)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z",
            "2023-11-14T22:13:60Z",
            "2023-13-14T22:13:20Z",
            "2023-04-31T22:13:20Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20+24:00",
            "0001-01-01T00:00:00+00:01",
            "+2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20Zjunk",
            "２０２３-11-14T22:13:20Z",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_durations_like_go() {
        for (text, nanos) in [
            ("0", 0),
            ("-0", 0),
            ("0s", 0),
            ("0.001245672s", 1_245_672),
            ("0.005432s", 5_432_000),
            ("1.500s", 1_500_000_000),
            ("1.5s", 1_500_000_000),
            ("1.s", 1_000_000_000),
            (".5s", 500_000_000),
            ("5000ns", 5_000),
            ("5us", 5_000),
            ("5µs", 5_000),
            ("5μs", 5_000),
            ("3ms", 3_000_000),
            ("1h2m3.5s", 3_723_500_000_000),
            ("-1.5s", -1_500_000_000),
            ("+2m", 120_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.100000000000000000000001s", 100_000_000),
        ] {
            assert_eq!(parse_go_duration(text), Some(nanos), "{text}");
        }
        for bad in [
            "",
            "-",
            "s",
            "5",
            "5x",
            ".s",
            "1..5s",
            "9223372036854775808ns",
            "2562048h",
            "1 s",
            "1s ",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for encoding in Encoding::ALL {
                let _ = decode(encoding, &bytes);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic_the_scalar_parsers(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
            let _ = parse_go_duration(&text);
        }

        #[test]
        fn corrupted_jaeger_json_never_panics(index in 0..JAEGER_JSON.len(), byte in any::<u8>()) {
            let mut bytes = JAEGER_JSON.as_bytes().to_vec();
            bytes[index] = byte;
            let _ = decode(Encoding::JaegerJson, &bytes);
        }
    }
}
