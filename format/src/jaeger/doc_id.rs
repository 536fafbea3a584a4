//! The `_id` of a span document: `{trace id, 32 hex}-{span id, 16 hex}-{hash
//! of the document bytes, 16 hex}`, so that replaying a Kafka message
//! rewrites the same documents instead of duplicating them, while two
//! different spans sharing a span ID get different ids.
//!
//! The hash is part of the storage contract: changing it changes every id,
//! so a replay across versions would duplicate.

use super::ids::{SpanIdBytes, TraceIdBytes};
use crate::hex::encode_hex_into;

/// Length of a span document `_id`: 32 + 1 + 16 + 1 + 16.
pub const DOC_ID_LEN: usize = 66;

/// A span document `_id`: [`DOC_ID_LEN`] ASCII characters.
pub type DocId = [u8; DOC_ID_LEN];

/// `id` as text.
pub fn doc_id_text(id: &DocId) -> &str {
    std::str::from_utf8(id).unwrap_or_default()
}

/// Writes the `_id` of the span document `document` into `out`.
#[inline]
pub fn write_doc_id(
    out: &mut [u8; DOC_ID_LEN],
    trace_id: &TraceIdBytes,
    span_id: &SpanIdBytes,
    document: &[u8],
) {
    let hash = doc_hash(document);
    encode_hex_into(trace_id, &mut out[..32]);
    out[32] = b'-';
    encode_hex_into(span_id, &mut out[33..49]);
    out[49] = b'-';
    encode_hex_into(&hash.to_be_bytes(), &mut out[50..]);
}

/// 64-bit hash of a document's bytes for its `_id`: a multiply-fold hash in
/// the style of wyhash, four 16-byte lanes per step, little-endian reads so
/// the value is the same on every platform. Not cryptographic: it only has to tell
/// apart different documents that share a trace and span ID.
///
/// Part of the storage contract (see the module docs): do not change it.
pub fn doc_hash(data: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
    const P3: u64 = 0x5899_65cc_7537_4cc3;

    #[inline]
    fn fold(a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        (product as u64) ^ ((product >> 64) as u64)
    }
    #[inline]
    fn read(bytes: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(word)
    }

    let len = data.len() as u64;
    // Four independent lanes over 64-byte blocks: the multiplies of one lane
    // do not wait for the others', which matters for multi-kilobyte docs.
    let mut lanes = [
        P0 ^ len.wrapping_mul(P1),
        P1 ^ len,
        P2 ^ len.rotate_left(17),
        P3 ^ len.rotate_left(41),
    ];
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        for (lane, words) in lanes.iter_mut().zip(block.chunks_exact(16)) {
            let a = read(&words[..8]);
            let b = read(&words[8..]);
            *lane = fold(a ^ P1 ^ *lane, b ^ P2) ^ lane.rotate_left(29);
        }
    }
    let mut state = fold(lanes[0] ^ P0, lanes[1] ^ P1) ^ fold(lanes[2] ^ P2, lanes[3] ^ P3);
    let mut chunks = blocks.remainder().chunks_exact(16);
    for chunk in &mut chunks {
        let a = read(&chunk[..8]);
        let b = read(&chunk[8..]);
        state = fold(a ^ P1 ^ state, b ^ P2) ^ state.rotate_left(29);
    }
    let rest = chunks.remainder();
    let (a, b) = if rest.len() > 8 {
        (read(&rest[..8]), read(&rest[8..]))
    } else {
        (read(rest), 0)
    };
    let state = fold(a ^ P1 ^ state, b ^ P3) ^ state.rotate_left(29);
    fold(state ^ P0, len ^ P2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_hash_is_stable() {
        // Pinned values: a change here changes every document id.
        assert_ne!(doc_hash(b"a"), doc_hash(b"b"));
        assert_ne!(doc_hash(b"a"), doc_hash(b"a\0"));
        let long: Vec<u8> = (0..=255).collect();
        let mut changed = long.clone();
        changed[200] ^= 1;
        assert_ne!(doc_hash(&long), doc_hash(&changed));
        assert_eq!(format!("{:016x}", doc_hash(b"")), PINNED_EMPTY);
        assert_eq!(format!("{:016x}", doc_hash(&long)), PINNED_0_255);
        // 64-byte block, a 16-byte step and a 4-byte tail.
        assert_eq!(format!("{:016x}", doc_hash(&long[..100])), PINNED_0_99);
        for len in 0..200 {
            let mut changed = long[..len].to_vec();
            if let Some(last) = changed.last_mut() {
                *last ^= 0x80;
                assert_ne!(doc_hash(&long[..len]), doc_hash(&changed), "len {len}");
            }
            assert_ne!(
                doc_hash(&long[..len]),
                doc_hash(&long[..len + 1]),
                "len {len}"
            );
        }
    }

    const PINNED_EMPTY: &str = "a54bcfd34e77c47f";
    const PINNED_0_255: &str = "e33bb04256e14f83";
    const PINNED_0_99: &str = "ba83c5bde2144210";
}
