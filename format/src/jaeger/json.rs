//! Jaeger's JSON span, one `jaeger.api_v2.Span` as gogo `jsonpb` writes it:
//! what the Jaeger v1 collector's Kafka span writer puts on a topic with its
//! JSON marshaller (`plugin/storage/kafka/marshaller.go`), read into the
//! protobuf span the rest of [`crate::jaeger`] translates.
//!
//! As Jaeger 1.x writes it, gogo `jsonpb.Marshaler{}` on `model.Span`
//! (checked against `model/ids.go`, `model/model.pb.go` and gogo's
//! `jsonpb.go`): camelCase names; trace ID as base64 of its 16 big-endian
//! bytes (always 16, even for a 64-bit ID) and span ID as base64 of 8 bytes;
//! `startTime` RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits;
//! `duration` in seconds with an `s` suffix (`"0.001245672s"`); enums by
//! name (`"INT64"`, `"FOLLOWS_FROM"`); `vInt64` as a string; `vBinary`
//! base64; and every default left out, so a missing `vType` is STRING, a
//! missing `refType` CHILD_OF, a missing `duration` or `flags` zero.
//!
//! Parsing is as lenient as Jaeger's own reader (`jsonpb.Unmarshal`):
//! original proto names (`trace_id`), enums as numbers, 64-bit integers as
//! numbers or strings, any RFC 3339 offset and any Go duration (`"5000ns"`,
//! `"1m3s"`). Where we are more lenient still: unknown fields are ignored
//! rather than rejected, `null` reads as absent, and (serde's derive) an
//! object may also come as an array of its fields in order.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::proto;
use crate::civil_date::{days_from_civil, days_in_month};

/// A JSON span value as the protobuf span it stands for.
pub fn parse_span(value: &[u8]) -> Result<proto::Span, serde_json::Error> {
    let span: JsonSpan = serde_json::from_slice(value)?;
    Ok(span.into_proto())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JsonSpan {
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
    pub(crate) fn into_proto(self) -> proto::Span {
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
pub fn parse_go_duration(s: &str) -> Option<i64> {
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
    use proptest::prelude::*;

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
        fn arbitrary_strings_never_panic_the_scalar_parsers(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
            let _ = parse_go_duration(&text);
        }
    }
}
