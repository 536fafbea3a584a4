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
/// Eight spaces: padding that never needs escaping.
const SPACES: u64 = LO * 0x20;

/// The high bit of a byte's lane is set where the byte of `v` is zero. Exact
/// for the lowest such byte; a lane above a zero may be flagged falsely (the
/// borrow), so a caller acts on the lowest flag only.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Lanes (high bits) of the ASCII bytes that must be escaped: control
/// characters, `"`, `\`, `<`, `>`, `&`. Exact for the lowest flagged lane.
#[inline]
fn ascii_escapes(w: u64) -> u64 {
    let below_space = w.wrapping_sub(SPACES) & !w & HI;
    below_space
        | zero_bytes(w ^ (LO * u64::from(b'"')))
        | zero_bytes(w ^ (LO * u64::from(b'\\')))
        | zero_bytes(w ^ (LO * u64::from(b'<')))
        | zero_bytes(w ^ (LO * u64::from(b'>')))
        | zero_bytes(w ^ (LO * u64::from(b'&')))
}

/// True when any of the 8 bytes may need escaping: one of
/// [`ascii_escapes`], or a non-ASCII byte (which may start U+2028/U+2029).
/// Exact "none" answers let plain ASCII text skip 8 bytes per step.
#[inline]
fn word_needs_care(w: u64) -> bool {
    (ascii_escapes(w) | (w & HI)) != 0
}

#[inline]
fn load_word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The bytes of a string shorter than 8 as a little-endian word, padded
/// with spaces. Two overlapping loads instead of a byte loop or a
/// variable-length copy (a `memcpy` call and a store-forwarding stall).
#[inline]
fn load_short(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let word = match len {
        0 => 0,
        1..=3 => {
            u64::from(bytes[0])
                | u64::from(bytes[len / 2]) << (8 * (len / 2))
                | u64::from(bytes[len - 1]) << (8 * (len - 1))
        }
        _ => {
            let mut head = [0u8; 4];
            head.copy_from_slice(&bytes[..4]);
            let mut tail = [0u8; 4];
            tail.copy_from_slice(&bytes[len - 4..len]);
            u64::from(u32::from_le_bytes(head))
                | u64::from(u32::from_le_bytes(tail)) << (8 * (len - 4))
        }
    };
    let written = (1u64 << (8 * len)) - 1; // the lanes of `bytes`
    word | (SPACES & !written)
}

/// Appends `s` as a JSON string literal, quotes included.
#[inline]
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    push_json_bytes(out, s.as_bytes());
}

/// Appends UTF-8 `bytes` as a JSON string literal, quotes included.
///
/// Nearly every key and value on the wire is plain ASCII with nothing to
/// escape: one pass checks it 8 bytes at a time and stores each checked word
/// as it goes (a fixed-size store, no `memcpy` call), and hands over to
/// [`push_escaped`] at the first word that needs a closer look.
#[inline]
pub(crate) fn push_json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    // Room for the quotes and the last word's overshoot (truncated below).
    out.reserve(len + 10);
    out.push(b'"');
    if len < 8 {
        let word = load_short(bytes);
        if word_needs_care(word) {
            return push_escaped(out, bytes, 0);
        }
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(out.len() - (8 - len));
        out.push(b'"');
        return;
    }
    let mut at = 0;
    while at + 8 <= len {
        let word = load_word(bytes, at);
        if word_needs_care(word) {
            return push_escaped(out, bytes, at);
        }
        out.extend_from_slice(&word.to_le_bytes());
        at += 8;
    }
    if at < len {
        // The last 8 bytes, overlapping some already written: write them
        // again over the same place.
        let word = load_word(bytes, len - 8);
        if word_needs_care(word) {
            return push_escaped(out, bytes, at);
        }
        out.truncate(out.len() - (8 - (len - at)));
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.push(b'"');
}

/// The rest of a JSON string from `bytes[from..]` on (what is before is
/// written already), with escapes or non-ASCII text, and the closing quote.
/// Words with nothing to escape are skipped 8 bytes at a time, non-ASCII
/// ones included; in others it jumps to the first byte that is an escape or
/// may start U+2028/U+2029.
#[inline(never)]
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8], from: usize) {
    let len = bytes.len();
    let mut start = from; // first byte not yet copied
    let mut i = from;
    while i < len {
        if i + 8 <= len {
            let word = load_word(bytes, i);
            let care = ascii_escapes(word) | zero_bytes(word ^ (LO * 0xe2));
            if care == 0 {
                i += 8;
                continue;
            }
            i += (care.trailing_zeros() / 8) as usize;
        }
        let b = bytes[i];
        match ESCAPES[usize::from(b)] {
            ESC_NONE => i += 1,
            ESC_E2 => {
                if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9))
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
pub(crate) fn push_u64(out: &mut Vec<u8>, value: u64) {
    let (digits, len) = decimal(value);
    push_head(out, &digits, len);
}

/// `value` in decimal: its digits, at the start of the buffer, and how many.
#[inline]
pub(crate) fn decimal(mut value: u64) -> ([u8; 20], usize) {
    let len = value.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut buf = [0u8; 20];
    let mut i = len;
    while value >= 100 {
        let pair = DEC_PAIRS[(value % 100) as usize];
        value /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair);
    }
    if value >= 10 {
        buf[..2].copy_from_slice(&DEC_PAIRS[value as usize]);
    } else {
        buf[0] = b'0' + value as u8;
    }
    (buf, len)
}

/// Appends the first `len` bytes of `bytes`, a small stack buffer, as a copy
/// of the whole buffer cut back to `len`: a copy of a fixed size compiles to
/// a few moves, where one of a variable length calls `memmove`, which costs
/// more than these few bytes.
#[inline(always)]
pub(crate) fn push_head<const N: usize>(out: &mut Vec<u8>, bytes: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(bytes);
    out.truncate(at + len);
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
            for pair in digits.rchunks_exact_mut(2) {
                pair.copy_from_slice(&DEC_PAIRS[(value % 100) as usize]);
                value /= 100;
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
        // %e with nd - 1 fraction digits: d.ddddddddde-308 at the longest.
        let mut text = [0u8; 16];
        text[0] = digits[0];
        let mut len = 1;
        if nd > 1 {
            text[1] = b'.';
            text[2..11].copy_from_slice(&digits[1..]);
            len = nd as usize + 1;
        }
        text[len] = b'e';
        text[len + 1] = if x < 0 { b'-' } else { b'+' };
        // At least two exponent digits, as Go writes them.
        let e = x.unsigned_abs() as usize;
        if e >= 100 {
            text[len + 2] = b'0' + (e / 100) as u8;
            text[len + 3..len + 5].copy_from_slice(&DEC_PAIRS[e % 100]);
            len += 5;
        } else {
            text[len + 2..len + 4].copy_from_slice(&DEC_PAIRS[e]);
            len += 4;
        }
        push_head(out, &text, len);
    } else {
        // %f with max(prec - dp, 0) fraction digits, prec = nd when the
        // digits reach past the decimal point (dp < 10 here). So exactly the
        // significant digits, with the point among them or zeros around them.
        // The digits past `nd` are zeros (trailing zeros were cut).
        let nd = nd as usize;
        if dp <= 0 {
            // 0.000ddd: -dp is at most 4 (x < -4 took %e).
            let zeros = dp.unsigned_abs() as usize;
            let mut text = [b'0'; 16];
            text[1] = b'.';
            text[2 + zeros..12 + zeros].copy_from_slice(&digits);
            push_head(out, &text, 2 + zeros + nd);
        } else if (dp as usize) < nd {
            // ddd.ddd: the point goes in at byte dp of the digits, read as
            // one little-endian number.
            let mut wide = [0u8; 16];
            wide[..10].copy_from_slice(&digits);
            let wide = u128::from_le_bytes(wide);
            let below = (1u128 << (8 * dp)) - 1;
            let text = (wide & below) | (u128::from(b'.') << (8 * dp)) | ((wide & !below) << 8);
            push_head(out, &text.to_le_bytes(), nd + 1);
        } else {
            // ddd000: at most 10 figures (x >= 10 took %e).
            push_head(out, &digits, dp as usize);
        }
    }
}

const TEN_DIGITS: u128 = 10_000_000_000;

/// Every power of ten that fits in 128 bits: a lookup instead of
/// `checked_pow`'s loop of 128-bit multiplies.
static POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `floor(log10(2^e))` for |e| ≤ 1650, by a multiply and shift (78913 /
/// 2^18 is log10(2) to 7 digits, close enough over that range).
#[inline]
fn floor_log10_pow2(e: i32) -> i32 {
    (e * 78_913) >> 18
}

/// `abs` (finite, above zero) rounded to 10 significant digits, ties to
/// even on its exact binary value, as `{:.9e}` rounds it: the digits as a
/// number in [10^9, 10^10) and the decimal exponent of the first. Exact
/// integer arithmetic, which is several times cheaper than the formatting
/// machinery; `None` for magnitudes whose arithmetic would not fit in 128
/// bits (below about 1e-13 or above about 1e38), left to `{:.9e}`.
fn ten_digits(abs: f64) -> Option<(u64, i32)> {
    if let Some(digits) = ten_digits_by_multiply(abs) {
        return Some(digits);
    }
    let bits = abs.to_bits();
    let biased = (bits >> 52) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        return None; // subnormal
    }
    // abs = mantissa * 2^exp2, exactly.
    let (mantissa, exp2) = (fraction | 1 << 52, biased - 1075);
    // abs is in [2^(exp2 + 52), 2^(exp2 + 53)), so the exponent of its first
    // digit is this or one less; the digit count tells which. (Guessing
    // high keeps 10^-exponent within 128 bits for the smallest values.)
    let mut exp10 = floor_log10_pow2(exp2 + 53);
    for _ in 0..3 {
        let (whole, up) = divide_rounding(mantissa, exp2, exp10 - 9)?;
        if whole < TEN_DIGITS / 10 {
            exp10 -= 1;
        } else if whole >= TEN_DIGITS {
            exp10 += 1; // not reached while the guess holds; kept for safety
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

/// Powers of ten that are exact as `f64`, for [`ten_digits_by_multiply`].
const POW10_F64: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// [`ten_digits`] for the magnitudes spans usually carry, [1e-4, 1e10), by
/// one `f64` multiply: `abs × 10^k` (10^k exact) is within 2^-53 of its
/// exact value relative to it, under 1.2e-6 below 1e10, which decides the
/// rounding to a whole number unless the exact value lies within that of a
/// half. Those rare values (exact ties among them) are left to the exact
/// arithmetic: `None`.
#[inline]
fn ten_digits_by_multiply(abs: f64) -> Option<(u64, i32)> {
    if !(1e-4..1e10).contains(&abs) {
        return None;
    }
    // abs is in [2^e, 2^(e+1)), so its first digit's exponent is this or one more.
    let exp2 = (abs.to_bits() >> 52) as i32 - 1023;
    let mut exp10 = floor_log10_pow2(exp2);
    let mut scaled = abs * POW10_F64[(9 - exp10) as usize];
    if scaled >= 1e10 {
        exp10 += 1;
        scaled = abs * POW10_F64[(9 - exp10) as usize];
    }
    let whole = scaled.trunc();
    let fraction = scaled - whole; // exact: scaled is below 2^34
    if (fraction - 0.5).abs() < 4e-6 {
        return None;
    }
    let rounded = whole as u64 + u64::from(fraction > 0.5);
    Some(if rounded >= TEN_DIGITS as u64 {
        (TEN_DIGITS as u64 / 10, exp10 + 1)
    } else {
        (rounded, exp10)
    })
}

/// mantissa * 2^exp2 / 10^scale: its whole part, and whether rounding it
/// half to even goes up; `None` when a term does not fit in 128 bits.
#[inline]
fn divide_rounding(mantissa: u64, exp2: i32, scale: i32) -> Option<(u128, bool)> {
    // numerator = mantissa * 2^max(exp2, 0) * 10^max(-scale, 0)
    // denominator = 2^max(-exp2, 0) * 10^max(scale, 0)
    let mut numerator = u128::from(mantissa);
    if scale < 0 {
        numerator = numerator.checked_mul(*POW10.get(scale.unsigned_abs() as usize)?)?;
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
        let power = *POW10.get(scale.unsigned_abs() as usize)?;
        if shift >= power.leading_zeros() {
            return None; // the denominator, doubled below, would not fit
        }
        let denominator = power << shift;
        // Twice the remainder against the divisor: no odd bit lost.
        match (u64::try_from(numerator), u64::try_from(denominator)) {
            // The common case (below 2^64): one 64-bit division instead of
            // a call to the 128-bit one.
            (Ok(n), Ok(d)) if d < 1 << 63 => {
                let (whole, remainder) = (n / d, n % d);
                (u128::from(whole), u128::from(remainder * 2), u128::from(d))
            }
            _ => {
                let (whole, remainder) = (numerator / denominator, numerator % denominator);
                (whole, remainder * 2, denominator)
            }
        }
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

    /// Go `encoding/json`'s escaping (HTML-safe, as `json.Marshal` writes),
    /// char by char: the specification the word-at-a-time code must meet.
    fn go_quoted(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                    out.push_str(&format!("\\u{:04x}", u32::from(c)))
                }
                '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// [`push_json_str`] after a prefix, which must stay as it was.
    fn quoted(text: &str) -> String {
        let mut out = b"prefix:".to_vec();
        push_json_str(&mut out, text);
        let out = String::from_utf8(out).expect("utf-8");
        out.strip_prefix("prefix:").expect("prefix kept").to_owned()
    }

    /// Every ASCII character and a sample of every UTF-8 length (U+2028 /
    /// U+2029 and their neighbours sharing the 0xE2 lead byte included), at
    /// every position of strings of every length around the 8-byte words:
    /// the short path, whole words, the overlapping last word.
    #[test]
    fn escapes_every_character_class_at_every_position() {
        let mut specials: Vec<char> = (0u8..0x80).map(char::from).collect();
        specials.extend([
            'é',
            '\u{7ff}',
            '\u{800}',
            '日',
            '\u{2027}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '€',
            '\u{e2}',
            '\u{fffd}',
            '🎉',
            '\u{10ffff}',
        ]);
        for len in 0..=26 {
            for pos in 0..len {
                for &c in &specials {
                    let text: String = (0..len)
                        .map(|i| {
                            if i == pos {
                                c
                            } else {
                                (b'a' + i as u8 % 26) as char
                            }
                        })
                        .collect();
                    assert_eq!(quoted(&text), go_quoted(&text), "{text:?}");
                }
            }
            let plain: String = (0..len).map(|i| (b'A' + i as u8 % 26) as char).collect();
            assert_eq!(quoted(&plain), go_quoted(&plain));
        }
        // Two escapes in one word, an escape right after U+2028, runs of
        // non-ASCII text longer than a word.
        for text in [
            "a<b>c&d\"e\\f\n",
            "\u{2028}<\u{2029}&",
            "日本語のテキスト<です>",
            "ééééééééééééé\"",
            "\u{e2}\u{80}\u{2028}",
        ] {
            assert_eq!(quoted(text), go_quoted(text), "{text:?}");
        }
    }

    fn text_with_escapes() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('\u{0}', '\u{7f}'),
            1 => prop::sample::select(vec!['<', '>', '&', '"', '\\', '\u{2028}', '\u{2029}', '\u{2027}', '€', 'é', '🎉']),
            1 => any::<char>(),
        ];
        proptest::collection::vec(c, 0..80).prop_map(|chars| chars.into_iter().collect())
    }

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

    /// Go's `strconv.FormatFloat(v, 'g', 10, 64)` spelled out over Rust's
    /// `{:.9e}` (which rounds the same way), as plainly as possible: the
    /// specification [`push_go_float_g10`] must meet.
    fn go_g10(v: f64) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
        }
        let sign = if v.is_sign_negative() { "-" } else { "" };
        if v == 0.0 {
            return format!("{sign}0");
        }
        let text = format!("{:.9e}", v.abs());
        let (mantissa, exp) = text.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let digits = mantissa.replace('.', "");
        let digits = digits.trim_end_matches('0');
        let (nd, dp) = (digits.len() as i32, exp + 1);
        let eprec = if 10 > nd && nd >= dp { nd } else { 10 };
        if exp < -4 || exp >= eprec {
            let fraction = if digits.len() > 1 {
                format!(".{}", &digits[1..])
            } else {
                String::new()
            };
            let esign = if exp < 0 { '-' } else { '+' };
            return format!("{sign}{}{fraction}e{esign}{:02}", &digits[..1], exp.abs());
        }
        let prec = if 10 > dp { nd } else { 10 };
        let fraction_digits = (prec - dp).max(0);
        // The digits placed around the point, zeros where there are none.
        let digit = |at: i32| {
            if (0..nd).contains(&at) {
                digits.as_bytes()[at as usize] as char
            } else {
                '0'
            }
        };
        let whole: String = if dp > 0 {
            (0..dp).map(digit).collect()
        } else {
            "0".into()
        };
        let fraction: String = (dp..dp + fraction_digits).map(digit).collect();
        if fraction.is_empty() {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction}")
        }
    }

    fn g10(v: f64) -> String {
        let mut out = Vec::new();
        push_go_float_g10(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn g10_writes_go_forms_at_every_boundary() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.5,
            1e-4,
            1.5e-4,
            9.99999999999e-5,
            1e-5,
            123.456,
            1e9,
            1_234_567_890.0,
            9_999_999_999.0,
            9_999_999_999.5,
            1e10,
            12_345_678_901.0,
            100.0,
            1e21,
            5e-324,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            -2.5,
        ] {
            assert_eq!(g10(v), go_g10(v), "{v:e}");
        }
    }

    /// Integers as Rust prints them, at every digit count and its edges.
    #[test]
    fn integers_are_written_in_decimal() {
        let mut values = vec![0, u64::MAX, i64::MAX as u64];
        for digits in 1..20u32 {
            let power = 10u64.pow(digits);
            values.extend([power - 1, power, power + 1, power / 3 * 2]);
        }
        for value in values {
            let mut out = b"x".to_vec();
            push_u64(&mut out, value);
            assert_eq!(out, format!("x{value}").as_bytes());
            for signed in [value as i64, (value as i64).wrapping_neg(), i64::MIN] {
                let mut out = Vec::new();
                push_i64(&mut out, signed);
                assert_eq!(out, signed.to_string().as_bytes());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn g10_is_go_formatting_for_any_float(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(g10(v), go_g10(v), "{:e}", v);
        }

        #[test]
        fn g10_is_go_formatting_for_everyday_values(v in -1e6..1e6f64, scale in -8..14i32) {
            let v = v * 10f64.powi(scale);
            prop_assert_eq!(g10(v), go_g10(v), "{:e}", v);
        }

        #[test]
        fn ten_digits_round_as_rust_formatting_does(bits in any::<u64>()) {
            let abs = f64::from_bits(bits).abs();
            if abs.is_finite() && abs > 0.0 {
                agrees_with_rust(abs)?;
            }
        }

        #[test]
        fn json_strings_are_escaped_as_go_escapes_them(text in text_with_escapes()) {
            prop_assert_eq!(quoted(&text), go_quoted(&text));
        }

        #[test]
        fn json_strings_of_any_text_are_escaped_as_go_escapes_them(text in any::<String>()) {
            prop_assert_eq!(quoted(&text), go_quoted(&text));
        }

        /// The magnitudes that divide: 10^10 and above, in 64 bits below
        /// 2^63 and in 128 bits above.
        #[test]
        fn ten_digits_of_large_values(v in 1e9..1e25f64) {
            agrees_with_rust(v)?;
        }

        #[test]
        fn ten_digits_of_everyday_values(v in 0.0..1e6f64, scale in -12..22i32) {
            if v > 0.0 {
                agrees_with_rust(v * 10f64.powi(scale))?;
            }
        }

        /// The magnitudes [`ten_digits_by_multiply`] takes, spread evenly
        /// over their decades.
        #[test]
        fn ten_digits_of_multiplied_magnitudes(mantissa in 1.0..10.0f64, exp in -4..10i32) {
            agrees_with_rust(mantissa * 10f64.powi(exp))?;
        }

        /// Values at and next to a half past the tenth digit, where the
        /// multiply cannot decide and the exact arithmetic does.
        #[test]
        fn ten_digits_next_to_halves(head in 1_000_000_000u64..10_000_000_000, ulps in -3..=3i64, exp in -13..=0i32) {
            let half = (head as f64 + 0.5) * 10f64.powi(exp);
            let v = f64::from_bits((half.to_bits() as i64 + ulps) as u64);
            agrees_with_rust(v)?;
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
    fn floor_log10_pow2_is_exact_for_every_binary_exponent() {
        for e in -1100..=1100 {
            let exact = (f64::from(e) * std::f64::consts::LOG10_2).floor() as i32;
            assert_eq!(floor_log10_pow2(e), exact, "2^{e}");
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
        // Just below a rounding to the next power of ten, and powers of two
        // around where the division leaves 64 bits.
        for exp in -12..38 {
            let scale = 10f64.powi(exp);
            for v in [
                9.9999999995 * scale,
                9.999999999499999 * scale,
                1.0000000005 * scale,
            ] {
                for v in [
                    v,
                    f64::from_bits(v.to_bits() - 1),
                    f64::from_bits(v.to_bits() + 1),
                ] {
                    assert_eq!(via_ten_digits(v), Some(format!("{v:.9e}")), "{v:e}");
                }
            }
        }
        for e in 30..=126 {
            let v = 2f64.powi(e);
            for v in [
                v,
                f64::from_bits(v.to_bits() - 1),
                f64::from_bits(v.to_bits() + 1),
            ] {
                assert_eq!(via_ten_digits(v), Some(format!("{v:.9e}")), "2^{e}");
            }
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
