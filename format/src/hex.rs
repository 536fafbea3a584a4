//! Lowercase hex, written and read without allocation: the one home of the
//! hex every format here needs (Jaeger IDs and document `_id`s, the Kafka
//! key of a trace, Zipkin IDs).
//!
//! The writers run once or more per span on the ingester's hot path, so
//! they write into caller-owned buffers. The readers accept hex digits of
//! either case and nothing else (no sign, no prefix, no whitespace).

/// Every byte value's two lowercase hex digits. One table lookup per byte is
/// cheaper than two nibble lookups and a shift on the hot path.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

/// Writes `bytes` as lowercase hex into `out`, which must hold exactly
/// `2 * bytes.len()` bytes.
#[inline]
pub fn encode_hex_into(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
}

/// Appends `bytes` as lowercase hex to `out`.
#[inline]
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Encode into a stack buffer and append in one copy: one capacity check
    // per 16 input bytes instead of one per byte.
    let mut buf = [0u8; 32];
    for chunk in bytes.chunks(16) {
        let text = &mut buf[..chunk.len() * 2];
        encode_hex_into(chunk, text);
        out.extend_from_slice(text);
    }
}

/// Appends `value` as 16 zero-padded lowercase hex digits (`%016x`).
#[inline]
pub fn push_u64_hex16(out: &mut Vec<u8>, value: u64) {
    push_hex(out, &value.to_be_bytes());
}

/// `bytes` as a lowercase hex `String`, for the cold paths that want one.
pub fn to_hex_string(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Go's `strconv.ParseUint(s, 16, 64)`: one or more hex digits of either
/// case, leading zeros allowed, the value within 64 bits.
pub fn parse_hex_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |value, byte| {
        let digit = (*byte as char).to_digit(16)?;
        value.checked_mul(16)?.checked_add(u64::from(digit))
    })
}

/// Go's `hex.Decode` of exactly `2 * N` hex digits of either case into `N`
/// bytes; any other length or a non-hex character is `None`.
pub fn decode_hex_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = (high * 16 + low) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_hex_crate_for_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        push_hex(&mut out, &all);
        assert_eq!(out, hex::encode(&all).into_bytes());
    }
}
