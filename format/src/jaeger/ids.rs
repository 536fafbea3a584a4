//! Jaeger's textual trace and span IDs, formatted the way Jaeger 1.x writes
//! them into Elasticsearch.
//!
//! Jaeger keeps a trace ID as two `u64` halves and prints it with
//! `TraceID.String()`: `%016x` of the low half when the high half is zero
//! (16 characters), otherwise `%016x%016x` (32 characters). Both halves are
//! zero-padded, so a 64-bit trace ID keeps its leading zeros. Span IDs are
//! `%016x`. All hex is lowercase.
//!
//! Everything here writes into a caller-owned buffer and never allocates: it
//! runs once or more per span on the ingester's hot path.

use crate::hex::{encode_hex_into, parse_hex_u64, push_hex};

/// Raw bytes of a 128-bit trace ID, big-endian as on the OTLP wire.
pub type TraceIdBytes = [u8; 16];
/// Raw bytes of a 64-bit span ID, big-endian as on the OTLP wire.
pub type SpanIdBytes = [u8; 8];

/// Formats a trace ID as Jaeger's `TraceID.String()` into `out` and returns
/// the text: 16 characters when the high 64 bits are zero, else 32.
#[inline]
pub fn jaeger_trace_id<'b>(id: &TraceIdBytes, out: &'b mut [u8; 32]) -> &'b str {
    let bytes: &[u8] = if id[..8] == [0u8; 8] { &id[8..] } else { id };
    let len = bytes.len() * 2;
    encode_hex_into(bytes, &mut out[..len]);
    ascii_str(&out[..len])
}

/// Appends a trace ID as Jaeger's `TraceID.String()` to `out`.
#[inline]
pub fn push_jaeger_trace_id(out: &mut Vec<u8>, id: &TraceIdBytes) {
    if id[..8] == [0u8; 8] {
        push_hex(out, &id[8..]);
    } else {
        push_hex(out, id);
    }
}

/// Formats a trace ID as 32 lowercase hex characters (the OTLP/W3C form and
/// the Kafka message key), whatever its high half.
#[inline]
pub fn trace_id_hex32<'b>(id: &TraceIdBytes, out: &'b mut [u8; 32]) -> &'b str {
    encode_hex_into(id, out);
    ascii_str(out)
}

/// Formats a span ID as Jaeger's `SpanID.String()`: 16 lowercase hex
/// characters, zero-padded.
#[inline]
pub fn span_id_hex<'b>(id: &SpanIdBytes, out: &'b mut [u8; 16]) -> &'b str {
    encode_hex_into(id, out);
    ascii_str(out)
}

/// Normalises an OTLP `trace_id` field: 16 bytes as they are, an empty field
/// as the all-zero ID (as the OpenTelemetry Collector's pdata decodes it),
/// any other length is invalid.
#[inline]
pub fn trace_id_from_wire(raw: &[u8]) -> Option<TraceIdBytes> {
    match raw.len() {
        0 => Some([0; 16]),
        16 => raw.try_into().ok(),
        _ => None,
    }
}

/// Normalises an OTLP `span_id` / `parent_span_id` field like
/// [`trace_id_from_wire`]: 8 bytes, or empty meaning zero.
#[inline]
pub fn span_id_from_wire(raw: &[u8]) -> Option<SpanIdBytes> {
    match raw.len() {
        0 => Some([0; 8]),
        8 => raw.try_into().ok(),
        _ => None,
    }
}

/// Parses a Jaeger trace ID string back into bytes, accepting what Jaeger's
/// `TraceIDFromString` accepts: 1 to 32 hex digits, either case, where the
/// last 16 digits are the low half.
pub fn parse_trace_id(text: &str) -> Option<TraceIdBytes> {
    let len = text.len();
    if len == 0 || len > 32 {
        return None;
    }
    let split = len.saturating_sub(16);
    let high = if split == 0 {
        0
    } else {
        parse_hex_u64(&text.as_bytes()[..split])?
    };
    let low = parse_hex_u64(&text.as_bytes()[split..])?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&high.to_be_bytes());
    out[8..].copy_from_slice(&low.to_be_bytes());
    Some(out)
}

/// Parses a Jaeger span ID string (1 to 16 hex digits) into bytes.
pub fn parse_span_id(text: &str) -> Option<SpanIdBytes> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    parse_hex_u64(text.as_bytes()).map(u64::to_be_bytes)
}

/// Views bytes this module wrote (hex digits only) as `&str`.
#[inline]
fn ascii_str(bytes: &[u8]) -> &str {
    // Only ASCII hex digits are ever written into these buffers, so this
    // cannot fail; the fallback keeps the function total without a panic.
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: TraceIdBytes = [
        0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6,
        0x0c,
    ];

    #[test]
    fn formats_full_trace_id_as_32_hex() {
        let mut buf = [0u8; 32];
        assert_eq!(
            jaeger_trace_id(&FULL, &mut buf),
            "5b8efff798038103d269b633813fc60c"
        );
    }

    #[test]
    fn formats_high_zero_trace_id_as_16_hex_with_leading_zeros() {
        let mut id = [0u8; 16];
        id[14] = 0x01;
        id[15] = 0x02;
        let mut buf = [0u8; 32];
        // Jaeger prints `%016x` of the low half: padded, not trimmed.
        assert_eq!(jaeger_trace_id(&id, &mut buf), "0000000000000102");
        let mut out = Vec::new();
        push_jaeger_trace_id(&mut out, &id);
        assert_eq!(out, b"0000000000000102");
    }

    #[test]
    fn keeps_low_half_zero_padding_when_high_half_is_set() {
        let mut id = [0u8; 16];
        id[7] = 0x01;
        id[15] = 0x0a;
        let mut buf = [0u8; 32];
        assert_eq!(
            jaeger_trace_id(&id, &mut buf),
            "0000000000000001000000000000000a"
        );
    }

    #[test]
    fn formats_all_zero_trace_id_as_16_zeros() {
        let mut buf = [0u8; 32];
        assert_eq!(jaeger_trace_id(&[0; 16], &mut buf), "0000000000000000");
        assert_eq!(trace_id_hex32(&[0; 16], &mut buf), "0".repeat(32));
    }

    #[test]
    fn formats_span_id_as_16_hex() {
        let mut buf = [0u8; 16];
        assert_eq!(
            span_id_hex(&[0, 0, 0, 0, 0, 0, 0xab, 0xcd], &mut buf),
            "000000000000abcd"
        );
        let mut out = Vec::new();
        crate::hex::push_u64_hex16(&mut out, 0xff);
        assert_eq!(out, b"00000000000000ff");
    }

    #[test]
    fn normalises_wire_ids() {
        assert_eq!(trace_id_from_wire(&[]), Some([0; 16]));
        assert_eq!(trace_id_from_wire(&FULL), Some(FULL));
        assert_eq!(trace_id_from_wire(&[1; 8]), None);
        assert_eq!(span_id_from_wire(&[]), Some([0; 8]));
        assert_eq!(span_id_from_wire(&[7; 8]), Some([7; 8]));
        assert_eq!(span_id_from_wire(&[7; 16]), None);
    }

    #[test]
    fn parses_what_it_formats() {
        let mut buf = [0u8; 32];
        let text = jaeger_trace_id(&FULL, &mut buf).to_owned();
        assert_eq!(parse_trace_id(&text), Some(FULL));
        let mut short = [0u8; 16];
        short[15] = 0x2a;
        assert_eq!(parse_trace_id("000000000000002a"), Some(short));
        assert_eq!(parse_trace_id("2a"), Some(short));
        assert_eq!(parse_trace_id("2A"), Some(short));
        assert_eq!(parse_trace_id(""), None);
        assert_eq!(parse_trace_id("+2a"), None);
        assert_eq!(parse_trace_id(&"1".repeat(33)), None);
        assert_eq!(
            parse_span_id("00000000000000ff"),
            Some([0, 0, 0, 0, 0, 0, 0, 0xff])
        );
        assert_eq!(parse_span_id("xyz"), None);
    }
}
