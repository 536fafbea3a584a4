//! JSON written byte for byte as Go's `encoding/json` writes it, for the
//! Jaeger documents: strings with Go's escaping (`\u003c`-style for `<`,
//! `>`, `&`, and `\u2028` / `\u2029`), integers, floats the way Go formats
//! them, base64, and OTLP values rendered as pdata's `AsRaw()` renders them.
//! Shared by the span writer, tags-as-fields and the service documents; it
//! uses none of them.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;

use crate::hex::push_hex;

/// Reusable buffers for the rare, nested attribute values.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// JSON text of an array / key-value-list value before it is embedded as
    /// a string.
    pub(crate) text: Vec<u8>,
    /// Per nesting depth, the sorted entry order of a key-value list.
    pub(crate) key_order: Vec<Vec<usize>>,
}

/// Writes a value the way pdata's `AsRaw()` + Go `encoding/json` render it
/// (the text inside an array or key-value-list tag): `null` for an empty
/// value, JSON numbers and booleans, strings escaped, bytes base64 (`null`
/// when empty, Go's nil slice), arrays in order, key-value lists as objects
/// with keys sorted bytewise and the last of duplicate keys winning (Go map
/// semantics). Returns false for NaN/±Inf, which `encoding/json` refuses.
pub(crate) fn push_raw_json(
    out: &mut Vec<u8>,
    key_order: &mut Vec<Vec<usize>>,
    value: Option<&Value>,
    depth: usize,
) -> bool {
    match value {
        None | Some(Value::StringValueStrindex(_)) => out.extend_from_slice(b"null"),
        Some(Value::StringValue(s)) => push_json_str(out, s),
        Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(Value::IntValue(i)) => push_i64(out, *i),
        Some(Value::DoubleValue(f)) => return push_go_json_float(out, *f),
        Some(Value::BytesValue(b)) if b.is_empty() => out.extend_from_slice(b"null"),
        Some(Value::BytesValue(b)) => {
            out.push(b'"');
            push_base64(out, b);
            out.push(b'"');
        }
        Some(Value::ArrayValue(array)) => {
            out.push(b'[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if !push_raw_json(out, key_order, any_value(item), depth + 1) {
                    return false;
                }
            }
            out.push(b']');
        }
        Some(Value::KvlistValue(list)) => {
            if key_order.len() <= depth {
                key_order.resize_with(depth + 1, Vec::new);
            }
            let mut order = std::mem::take(&mut key_order[depth]);
            order.clear();
            order.extend(0..list.values.len());
            // Stable, so equal keys keep their request order and the last one
            // of a run is the one a Go map would keep.
            order.sort_by(|&a, &b| list.values[a].key.cmp(&list.values[b].key));
            out.push(b'{');
            let mut ok = true;
            let mut first = true;
            for (pos, &index) in order.iter().enumerate() {
                let entry = &list.values[index];
                if let Some(&next) = order.get(pos + 1) {
                    if list.values[next].key == entry.key {
                        continue;
                    }
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                push_json_str(out, &entry.key);
                out.push(b':');
                let value = entry.value.as_ref().and_then(any_value);
                if !push_raw_json(out, key_order, value, depth + 1) {
                    ok = false;
                    break;
                }
            }
            out.push(b'}');
            key_order[depth] = order;
            return ok;
        }
    }
    true
}

#[inline]
fn any_value(value: &AnyValue) -> Option<&Value> {
    value.value.as_ref()
}

// ---------------------------------------------------------------------------
// JSON strings

const ESC_NONE: u8 = 0;
/// `\u00XX` (control characters, and `<`, `>`, `&` as Go escapes them).
const ESC_UNICODE: u8 = b'u';
/// First byte of U+2028 / U+2029, which Go escapes as `\u2028` / `\u2029`.
const ESC_E2: u8 = 0xe2;

/// How each byte must be written inside a JSON string; `ESC_NONE` means
/// as is. Mirrors Go `encoding/json` with HTML escaping on (what
/// `json.Marshal`, and so Jaeger's ES client, uses).
static ESCAPES: [u8; 256] = {
    let mut table = [ESC_NONE; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = ESC_UNICODE;
        i += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'<' as usize] = ESC_UNICODE;
    table[b'>' as usize] = ESC_UNICODE;
    table[b'&' as usize] = ESC_UNICODE;
    table[0xe2] = ESC_E2;
    table
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True when any of the 8 bytes may need escaping: a control character,
/// `"`, `\`, `<`, `>`, `&`, or a non-ASCII byte (looked at byte by byte for
/// U+2028/U+2029). Exact "none" answers let plain ASCII text skip 8 bytes
/// per step.
#[inline]
fn word_needs_care(w: u64) -> bool {
    #[inline]
    fn has_zero(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let specials = has_zero(w ^ (LO * u64::from(b'"')))
        | has_zero(w ^ (LO * u64::from(b'\\')))
        | has_zero(w ^ (LO * u64::from(b'<')))
        | has_zero(w ^ (LO * u64::from(b'>')))
        | has_zero(w ^ (LO * u64::from(b'&')));
    (below_space | specials | (w & HI)) != 0
}

/// Appends `s` as a JSON string literal, quotes included.
#[inline]
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    push_json_bytes(out, s.as_bytes());
}

/// Appends UTF-8 `bytes` as a JSON string literal, quotes included.
#[inline]
pub(crate) fn push_json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Nearly every key and value on the wire is plain ASCII with nothing to
    // escape: check 8 bytes at a time and copy it in one go.
    if !needs_escaping(bytes) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    push_json_bytes_escaped(out, bytes);
}

/// False only when no byte of `bytes` needs escaping (and all are ASCII).
#[inline]
fn needs_escaping(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if word_needs_care(u64::from_le_bytes(word)) {
            return true;
        }
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return false;
    }
    if bytes.len() >= 8 {
        // Re-read the last 8 bytes (overlapping checked ones is harmless):
        // cheaper than assembling a partial word.
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[bytes.len() - 8..]);
        return word_needs_care(u64::from_le_bytes(word));
    }
    // A short string: pad with spaces, which never need escaping. Built
    // byte by byte because a variable-length copy into the word would be a
    // `memcpy` call followed by a store-forwarding stall.
    let mut word = u64::from_le_bytes([b' '; 8]);
    for (i, &b) in rest.iter().enumerate() {
        let shift = 8 * i;
        word = (word & !(0xff << shift)) | (u64::from(b) << shift);
    }
    word_needs_care(word)
}

/// The general path: escapes, non-ASCII text.
#[inline(never)]
fn push_json_bytes_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let len = bytes.len();
    let mut start = 0; // first byte not yet copied
    let mut i = 0;
    while i < len {
        if i + 8 <= len {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[i..i + 8]);
            if !word_needs_care(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        // Something in the next (up to) 8 bytes: go byte by byte over them.
        let end = (i + 8).min(len);
        while i < end {
            let b = bytes[i];
            match ESCAPES[usize::from(b)] {
                ESC_NONE => i += 1,
                ESC_E2 => {
                    if bytes.get(i + 1) == Some(&0x80)
                        && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9))
                    {
                        out.extend_from_slice(&bytes[start..i]);
                        out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                            b"\\u2028"
                        } else {
                            b"\\u2029"
                        });
                        i += 3;
                        start = i;
                    } else {
                        i += 1;
                    }
                }
                ESC_UNICODE => {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(b"\\u00");
                    push_hex(out, &[b]);
                    i += 1;
                    start = i;
                }
                short => {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(&[b'\\', short]);
                    i += 1;
                    start = i;
                }
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Numbers

static DEC_PAIRS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// Appends `value` in decimal.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while value >= 100 {
        let pair = DEC_PAIRS[(value % 100) as usize];
        value /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair);
    }
    if value >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DEC_PAIRS[value as usize]);
    } else {
        i -= 1;
        buf[i] = b'0' + value as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_u64(out, value.unsigned_abs());
}

/// A fixed-size `fmt::Write` target, so float formatting needs no heap.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl StackText {
    fn new() -> Self {
        StackText {
            buf: [0; 64],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `v` as Go's `strconv.FormatFloat(v, 'g', 10, 64)`: Jaeger's text
/// for a float64 tag.
///
/// Go rounds to 10 significant digits (ties to even, exactly like Rust's
/// `{:.9e}`), drops trailing zeros, and picks `%e` form when the decimal
/// exponent is below -4 or at least the precision (10, or the digit count
/// when that is smaller and the number has no fractional digits), with a
/// signed, at least two-digit exponent (`1e+21`, `1.5e-07`).
pub(crate) fn push_go_float_g10(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    let abs = v.abs();
    if abs == 0.0 {
        out.push(b'0');
        return;
    }
    // 10 significant digits, correctly rounded, and the exponent of the first.
    let mut digits = [0u8; 10];
    let exp = match ten_digits(abs) {
        Some((mut value, exp)) => {
            for digit in digits.iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
            exp
        }
        None => {
            // "d.ddddddddde<exp>" from Rust's exact formatting, which rounds the same way.
            let mut text = StackText::new();
            if write!(text, "{abs:.9e}").is_err() {
                return;
            }
            let t = text.bytes();
            digits[0] = t[0];
            digits[1..].copy_from_slice(&t[2..11]);
            std::str::from_utf8(&t[12..])
                .ok()
                .and_then(|e| e.parse().ok())
                .unwrap_or(0)
        }
    };
    let mut nd: i32 = 10;
    while nd > 1 && digits[(nd - 1) as usize] == b'0' {
        nd -= 1;
    }
    let dp = exp + 1; // decimal point position relative to the digits
    const PREC: i32 = 10;
    let mut eprec = PREC;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let x = dp - 1;
    if x < -4 || x >= eprec {
        // %e with nd - 1 fraction digits.
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..nd as usize]);
        }
        out.push(b'e');
        out.push(if x < 0 { b'-' } else { b'+' });
        let e = x.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(e));
    } else {
        // %f with max(prec - dp, 0) fraction digits, prec = nd when the
        // digits reach past the decimal point.
        let prec = if PREC > dp { nd } else { PREC };
        let frac = (prec - dp).max(0);
        if dp > 0 {
            let int_digits = dp.min(nd) as usize;
            out.extend_from_slice(&digits[..int_digits]);
            for _ in nd..dp {
                out.push(b'0');
            }
        } else {
            out.push(b'0');
        }
        if frac > 0 {
            out.push(b'.');
            for i in 1..=frac {
                let j = dp + i - 1;
                out.push(if (0..nd).contains(&j) {
                    digits[j as usize]
                } else {
                    b'0'
                });
            }
        }
    }
}

const TEN_DIGITS: u128 = 10_000_000_000;

/// `abs` (finite, above zero) rounded to 10 significant digits, ties to
/// even on its exact binary value, as `{:.9e}` rounds it: the digits as a
/// number in [10^9, 10^10) and the decimal exponent of the first. Exact
/// integer arithmetic, which is several times cheaper than the formatting
/// machinery; `None` for magnitudes whose arithmetic would not fit in 128
/// bits (below about 1e-13 or above about 1e38), left to `{:.9e}`.
fn ten_digits(abs: f64) -> Option<(u64, i32)> {
    let bits = abs.to_bits();
    let biased = (bits >> 52) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        return None; // subnormal
    }
    // abs = mantissa * 2^exp2, exactly.
    let (mantissa, exp2) = (fraction | 1 << 52, biased - 1075);
    // A guess at the exponent of the first digit, off by one at most near
    // powers of ten; the digit count corrects it.
    let mut exp10 = abs.log10().floor() as i32;
    for _ in 0..3 {
        let (whole, up) = divide_rounding(mantissa, exp2, exp10 - 9)?;
        if whole >= TEN_DIGITS {
            exp10 += 1;
        } else if whole < TEN_DIGITS / 10 {
            exp10 -= 1;
        } else {
            let rounded = whole + u128::from(up);
            return Some(if rounded == TEN_DIGITS {
                (TEN_DIGITS as u64 / 10, exp10 + 1)
            } else {
                (rounded as u64, exp10)
            });
        }
    }
    None
}

/// mantissa * 2^exp2 / 10^scale: its whole part, and whether rounding it
/// half to even goes up; `None` when a term does not fit in 128 bits.
fn divide_rounding(mantissa: u64, exp2: i32, scale: i32) -> Option<(u128, bool)> {
    // numerator = mantissa * 2^max(exp2, 0) * 10^max(-scale, 0)
    // denominator = 2^max(-exp2, 0) * 10^max(scale, 0)
    let mut numerator = u128::from(mantissa);
    if scale < 0 {
        numerator = numerator.checked_mul(10u128.checked_pow(scale.unsigned_abs())?)?;
    }
    if exp2 > 0 {
        let shift = exp2.unsigned_abs();
        if numerator.leading_zeros() <= shift {
            return None;
        }
        numerator <<= shift;
    }
    let shift = if exp2 < 0 { exp2.unsigned_abs() } else { 0 };
    // The whole part, and the remainder and half the divisor on one scale.
    let (whole, remainder, half) = if scale <= 0 {
        // A power of two: shifts.
        if shift == 0 {
            return Some((numerator, false));
        }
        if shift >= 128 {
            return None;
        }
        let half = 1u128 << (shift - 1);
        (numerator >> shift, numerator & ((half << 1) - 1), half)
    } else {
        let power = 10u128.checked_pow(scale.unsigned_abs())?;
        if shift >= power.leading_zeros() {
            return None; // the denominator, doubled below, would not fit
        }
        let denominator = power << shift;
        let (whole, remainder) = (numerator / denominator, numerator % denominator);
        // Twice the remainder against the divisor: no odd bit lost.
        (whole, remainder * 2, denominator)
    };
    let up = remainder > half || (remainder == half && whole & 1 == 1);
    Some((whole, up))
}

/// Appends `v` as Go's `encoding/json` writes a float64: the shortest
/// round-trip digits, in plain decimal unless |v| < 1e-6 or ≥ 1e21, where it
/// is exponent form with `e-7` / `e+21` style exponents. Returns false for
/// NaN/±Inf, which Go refuses to encode.
pub(crate) fn push_go_json_float(out: &mut Vec<u8>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    let abs = v.abs();
    let mut text = StackText::new();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is shortest round-trip, like Go's 'e' with -1, and
        // writes `e-7` (what Go's clean-up of `e-07` gives) but `e21` where Go
        // writes `e+21`.
        if write!(text, "{v:e}").is_err() {
            return false;
        }
        let t = text.bytes();
        match t.iter().position(|&b| b == b'e') {
            Some(e) => {
                out.extend_from_slice(&t[..=e]);
                if t.get(e + 1) != Some(&b'-') {
                    out.push(b'+');
                }
                out.extend_from_slice(&t[e + 1..]);
            }
            None => out.extend_from_slice(t),
        }
    } else {
        // Rust's Display never uses an exponent and is shortest round-trip,
        // like Go's 'f' with -1 (`100`, `0.5`, `-0`).
        if write!(text, "{v}").is_err() {
            return false;
        }
        out.extend_from_slice(text.bytes());
    }
    true
}

/// Appends standard base64 with padding (Go's `encoding/json` for []byte).
pub(crate) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `{:.9e}` of `abs` as [`ten_digits`] gives it, or `None`.
    fn via_ten_digits(abs: f64) -> Option<String> {
        let (digits, exp) = ten_digits(abs)?;
        let digits = digits.to_string();
        Some(format!("{}.{}e{exp}", &digits[..1], &digits[1..]))
    }

    fn agrees_with_rust(abs: f64) -> Result<(), TestCaseError> {
        if let Some(fast) = via_ten_digits(abs) {
            prop_assert_eq!(fast, format!("{abs:.9e}"), "{:e}", abs);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn ten_digits_round_as_rust_formatting_does(bits in any::<u64>()) {
            let abs = f64::from_bits(bits).abs();
            if abs.is_finite() && abs > 0.0 {
                agrees_with_rust(abs)?;
            }
        }

        #[test]
        fn ten_digits_of_everyday_values(v in 0.0..1e6f64, scale in -12..22i32) {
            if v > 0.0 {
                agrees_with_rust(v * 10f64.powi(scale))?;
            }
        }

        /// Exact ties (an integer of 11 to 16 digits ending in 5 past the
        /// tenth) go to the even neighbour.
        #[test]
        fn ten_digits_ties_go_to_even(head in 1_000_000_000u64..10_000_000_000, tail in 0..4u32) {
            let v = (head * 10 + 5) * 10u64.pow(tail);
            if v < 1 << 53 {
                agrees_with_rust(v as f64)?;
            }
        }
    }

    #[test]
    fn ten_digits_cover_the_magnitudes_spans_carry() {
        for v in [
            1e-13,
            1e-7,
            0.1,
            0.5,
            1.0,
            9.9999999995,
            99.99999999999,
            1e9,
            123.456,
            1e20,
            1e37,
        ] {
            assert!(via_ten_digits(v).is_some(), "{v:e}");
        }
        // Powers of ten, where the exponent guess is most often off.
        for exp in -12..38 {
            let v = 10f64.powi(exp);
            for v in [
                v,
                f64::from_bits(v.to_bits() - 1),
                f64::from_bits(v.to_bits() + 1),
            ] {
                assert_eq!(via_ten_digits(v), Some(format!("{v:.9e}")), "{v:e}");
            }
        }
    }
}
