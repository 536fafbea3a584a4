//! Protobuf base-128 varints, read and written the way prost does (at most
//! ten bytes, the tenth carrying only bit 63), and the wire types and
//! one-byte tags around them. One home for the wire-level
//! readers of OTLP: the split ([`super::split`]) and the Jaeger document
//! writer that works from the wire (`jaeger::wire_writer`).

/// Protobuf wire types, the low three bits of a field's tag.
pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const I32: u8 = 5;

/// The one-byte tag of field `number` (below 16) with `wire_type`.
pub(crate) const fn tag(number: u8, wire_type: u8) -> u8 {
    assert!(number < 16, "a one-byte tag holds fields 1 to 15");
    (number << 3) | wire_type
}

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes ended before the varint did.
    Truncated,
    /// More than 64 bits.
    Overflow,
}

/// Reads the varint at `*pos` and moves `*pos` past it. Values below 2^14
/// take one or two bytes (tags, lengths of strings, attributes and spans):
/// those common cases stay inline.
#[inline(always)]
pub(crate) fn read(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let at = *pos;
    match buf.get(at) {
        Some(&low) if low < 0x80 => {
            *pos = at + 1;
            Ok(u64::from(low))
        }
        Some(&low) => match buf.get(at + 1) {
            Some(&high) if high < 0x80 => {
                *pos = at + 2;
                Ok(u64::from(low & 0x7f) | u64::from(high) << 7)
            }
            _ => read_multibyte(buf, pos),
        },
        None => Err(VarintError::Truncated),
    }
}

#[inline(never)]
fn read_multibyte(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let &byte = buf.get(*pos).ok_or(VarintError::Truncated)?;
        *pos += 1;
        // The tenth byte may only carry the 64th bit.
        if shift == 63 && byte > 1 {
            return Err(VarintError::Overflow);
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Bytes `value` takes as a varint.
#[inline]
pub(crate) fn len(value: u64) -> usize {
    // 7 payload bits per byte: ceil(bits / 7), with 0 taking one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    (bits * 9 + 64) / 64
}

/// Appends `value` as a varint.
#[inline]
pub(crate) fn put(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The inline one- and two-byte paths read what the general loop
        /// reads, from any position of any bytes: value or error, and the
        /// position after.
        #[test]
        fn inline_paths_read_as_the_general_loop(
            bytes in proptest::collection::vec(any::<u8>(), 0..12),
            start in 0usize..3,
        ) {
            let (mut fast, mut general) = (start, start);
            let read_fast = read(&bytes, &mut fast);
            let read_general = read_multibyte(&bytes, &mut general);
            prop_assert_eq!(read_fast, read_general);
            if read_fast.is_ok() {
                prop_assert_eq!(fast, general);
            }
        }
    }

    #[test]
    fn two_byte_varints_at_their_edges() {
        for (bytes, value) in [
            (&[0x80, 0x01][..], 128),
            (&[0xff, 0x7f], 16_383),
            // Not canonical, but a varint prost reads.
            (&[0x80, 0x00], 0),
            (&[0x85, 0x01, 0xff], 133),
        ] {
            let mut pos = 0;
            assert_eq!(read(bytes, &mut pos), Ok(value), "{bytes:?}");
            assert_eq!(pos, 2, "{bytes:?}");
        }
        let mut pos = 0;
        assert_eq!(read(&[0x80], &mut pos), Err(VarintError::Truncated));
        let mut pos = 3;
        assert_eq!(read(&[0x01], &mut pos), Err(VarintError::Truncated));
    }

    #[test]
    fn round_trips_and_sizes_every_length() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put(&mut buf, value);
            assert_eq!(buf.len(), len(value), "{value}");
            let mut pos = 0;
            assert_eq!(read(&buf, &mut pos), Ok(value));
            assert_eq!(pos, buf.len());
        }
    }

    #[test]
    fn refuses_truncated_and_over_64_bit_varints() {
        let mut pos = 0;
        assert_eq!(read(&[0x80, 0x80], &mut pos), Err(VarintError::Truncated));
        let mut eleven = vec![0xff; 9];
        eleven.push(0x02);
        let mut pos = 0;
        assert_eq!(read(&eleven, &mut pos), Err(VarintError::Overflow));
        let mut max = vec![0xff; 9];
        max.push(0x01);
        let mut pos = 0;
        assert_eq!(read(&max, &mut pos), Ok(u64::MAX));
    }
}
