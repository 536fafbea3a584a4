//! Reading Thrift from untrusted bytes with the `thrift` crate's protocol
//! runtime, without letting a hostile length allocate gigabytes.
//!
//! The crate's binary and compact input protocols allocate a string or
//! binary field's buffer from the length prefix *before* reading it, so four
//! garbage bytes can ask for 2 GiB (or, negative and cast to `usize`, for an
//! impossible amount, which aborts the process). [`SliceInput`] wraps either
//! protocol over an in-memory slice and checks every length prefix against
//! the bytes actually left before the inner protocol sees it; everything else
//! is delegated unchanged. List and map sizes are the caller's to bound: use
//! [`SliceInput::remaining`] before reserving capacity.
//!
//! Writers (tests, the load generator) use the crate's output protocols
//! directly: their input is trusted.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use thrift::protocol::{
    TBinaryInputProtocol, TCompactInputProtocol, TFieldIdentifier, TInputProtocol, TListIdentifier,
    TMapIdentifier, TMessageIdentifier, TMessageType, TSetIdentifier, TStructIdentifier, TType,
};

/// The two Thrift encodings Jaeger clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// TCompactProtocol (UDP 6831).
    Compact,
    /// TBinaryProtocol (UDP 6832, HTTP 14268).
    Binary,
}

/// An input protocol over a byte slice that refuses lengths the slice cannot hold.
pub struct SliceInput<'a> {
    inner: Inner<'a>,
    cursor: Cursor<'a>,
    /// Compact protocol: the last field id of each open struct, to refuse a
    /// field-id delta that overflows `i16` (the crate would panic on it).
    field_ids: Vec<i16>,
}

enum Inner<'a> {
    Compact(TCompactInputProtocol<Cursor<'a>>),
    Binary(TBinaryInputProtocol<Cursor<'a>>),
}

/// A reader over a slice whose position is shared with [`SliceInput`], so
/// the wrapper can peek at the next length prefix.
#[derive(Clone)]
struct Cursor<'a> {
    data: &'a [u8],
    pos: Rc<Cell<usize>>,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        &self.data[self.pos.get().min(self.data.len())..]
    }
    fn advance(&self, n: usize) {
        self.pos.set(self.pos.get() + n);
    }
}

impl Read for Cursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.rest();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.advance(n);
        Ok(n)
    }
}

const COMPACT_PROTOCOL_ID: u8 = 0x82;
const COMPACT_VERSION: u8 = 1;
const BINARY_VERSION_MASK: u32 = 0xffff_0000;
const BINARY_VERSION_1: u32 = 0x8001_0000;

fn invalid(message: impl Into<String>) -> thrift::Error {
    thrift::Error::Protocol(thrift::ProtocolError::new(
        thrift::ProtocolErrorKind::InvalidData,
        message.into(),
    ))
}

fn truncated() -> thrift::Error {
    thrift::Error::Protocol(thrift::ProtocolError::new(
        thrift::ProtocolErrorKind::InvalidData,
        "truncated input",
    ))
}

fn message_type(byte: u8) -> thrift::Result<TMessageType> {
    match byte {
        1 => Ok(TMessageType::Call),
        2 => Ok(TMessageType::Reply),
        3 => Ok(TMessageType::Exception),
        4 => Ok(TMessageType::OneWay),
        other => Err(invalid(format!("unknown message type {other}"))),
    }
}

impl<'a> SliceInput<'a> {
    pub fn new(data: &'a [u8], protocol: ThriftProtocol) -> Self {
        let cursor = Cursor {
            data,
            pos: Rc::new(Cell::new(0)),
        };
        let inner = match protocol {
            ThriftProtocol::Compact => Inner::Compact(TCompactInputProtocol::new(cursor.clone())),
            // Non-strict: old Jaeger clients send messages without the version word.
            ThriftProtocol::Binary => {
                Inner::Binary(TBinaryInputProtocol::new(cursor.clone(), false))
            }
        };
        Self {
            inner,
            cursor,
            field_ids: vec![0],
        }
    }

    /// Bytes not read yet: an upper bound on any element count still to come.
    pub fn remaining(&self) -> usize {
        self.cursor.rest().len()
    }

    fn inner(&mut self) -> &mut dyn TInputProtocol {
        match &mut self.inner {
            Inner::Compact(p) => p,
            Inner::Binary(p) => p,
        }
    }

    fn take<const N: usize>(&self) -> thrift::Result<[u8; N]> {
        let rest = self.cursor.rest();
        let bytes: [u8; N] = rest
            .get(..N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(truncated)?;
        self.cursor.advance(N);
        Ok(bytes)
    }

    /// Reads an unsigned LEB128 varint of at most 32 bits (compact lengths).
    fn take_varint_u32(&self) -> thrift::Result<u32> {
        let (value, len) = peek_varint_u32(self.cursor.rest())?;
        self.cursor.advance(len);
        Ok(value)
    }

    /// Reads a length-prefixed string without trusting the prefix.
    fn take_string(&self, length: usize) -> thrift::Result<String> {
        let rest = self.cursor.rest();
        let bytes = rest.get(..length).ok_or_else(truncated)?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| invalid("string is not UTF-8"))?
            .to_owned();
        self.cursor.advance(length);
        Ok(text)
    }

    /// Checks the length prefix at the cursor against what is left.
    fn check_next_length(&self) -> thrift::Result<()> {
        let rest = self.cursor.rest();
        let (length, prefix) = match self.inner {
            Inner::Binary(_) => {
                let word: [u8; 4] = rest
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(truncated)?;
                let length = i32::from_be_bytes(word);
                if length < 0 {
                    return Err(invalid(format!("negative length {length}")));
                }
                (length as usize, 4)
            }
            Inner::Compact(_) => {
                let (length, prefix) = peek_varint_u32(rest)?;
                (length as usize, prefix)
            }
        };
        if length > rest.len() - prefix {
            return Err(invalid(format!(
                "length {length} exceeds the {} bytes left",
                rest.len() - prefix
            )));
        }
        Ok(())
    }

    fn check_count(&self, count: i32, min_element_bytes: usize) -> thrift::Result<()> {
        if count < 0 {
            return Err(invalid(format!("negative element count {count}")));
        }
        if count as usize > self.remaining() / min_element_bytes.max(1) + 1 {
            return Err(invalid(format!(
                "element count {count} exceeds the {} bytes left",
                self.remaining()
            )));
        }
        Ok(())
    }
}

fn peek_varint_u32(bytes: &[u8]) -> thrift::Result<(u32, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map(|v| (v, i + 1))
                .map_err(|_| invalid("varint overflows 32 bits"));
        }
    }
    if bytes.len() < 5 {
        Err(truncated())
    } else {
        Err(invalid("varint longer than 5 bytes"))
    }
}

impl TInputProtocol for SliceInput<'_> {
    /// Parsed here rather than by the inner protocol, whose message-name read
    /// would allocate from an unchecked length.
    fn read_message_begin(&mut self) -> thrift::Result<TMessageIdentifier> {
        match self.inner {
            Inner::Compact(_) => {
                let [protocol_id, version_and_type] = self.take::<2>()?;
                if protocol_id != COMPACT_PROTOCOL_ID {
                    return Err(invalid(format!(
                        "not a compact protocol message (first byte {protocol_id:#04x})"
                    )));
                }
                if version_and_type & 0x1f != COMPACT_VERSION {
                    return Err(invalid("unsupported compact protocol version"));
                }
                let message_type = message_type(version_and_type >> 5)?;
                let sequence_number = self.take_varint_u32()? as i32;
                let length = self.take_varint_u32()? as usize;
                let name = self.take_string(length)?;
                Ok(TMessageIdentifier::new(name, message_type, sequence_number))
            }
            Inner::Binary(_) => {
                let first = u32::from_be_bytes(self.take::<4>()?);
                let (name, message_type) = if first & 0x8000_0000 != 0 {
                    if first & BINARY_VERSION_MASK != BINARY_VERSION_1 {
                        return Err(invalid("unsupported binary protocol version"));
                    }
                    let message_type = message_type((first & 0xff) as u8)?;
                    let length = i32::from_be_bytes(self.take::<4>()?);
                    let length = usize::try_from(length)
                        .map_err(|_| invalid(format!("negative length {length}")))?;
                    (self.take_string(length)?, message_type)
                } else {
                    // Old style: name length, name, type byte.
                    let name = self.take_string(first as usize)?;
                    let [kind] = self.take::<1>()?;
                    (name, message_type(kind)?)
                };
                let sequence_number = i32::from_be_bytes(self.take::<4>()?);
                Ok(TMessageIdentifier::new(name, message_type, sequence_number))
            }
        }
    }
    fn read_message_end(&mut self) -> thrift::Result<()> {
        Ok(())
    }
    fn read_struct_begin(&mut self) -> thrift::Result<Option<TStructIdentifier>> {
        self.field_ids.push(0);
        self.inner().read_struct_begin()
    }
    fn read_struct_end(&mut self) -> thrift::Result<()> {
        self.field_ids.pop();
        self.inner().read_struct_end()
    }
    fn read_field_begin(&mut self) -> thrift::Result<TFieldIdentifier> {
        if let Inner::Compact(_) = self.inner {
            // Short form: the high nibble is a delta from the previous field id.
            let header = *self.cursor.rest().first().ok_or_else(truncated)?;
            let delta = i16::from(header >> 4);
            let last = self.field_ids.last().copied().unwrap_or(0);
            if header & 0x0f != 0 && delta != 0 && last.checked_add(delta).is_none() {
                return Err(invalid(format!("field id {last} + {delta} overflows")));
            }
        }
        let field = self.inner().read_field_begin()?;
        if let (Some(id), Some(last)) = (field.id, self.field_ids.last_mut()) {
            *last = id;
        }
        Ok(field)
    }
    fn read_field_end(&mut self) -> thrift::Result<()> {
        self.inner().read_field_end()
    }
    fn read_bool(&mut self) -> thrift::Result<bool> {
        self.inner().read_bool()
    }
    fn read_bytes(&mut self) -> thrift::Result<Vec<u8>> {
        self.check_next_length()?;
        self.inner().read_bytes()
    }
    fn read_i8(&mut self) -> thrift::Result<i8> {
        self.inner().read_i8()
    }
    fn read_i16(&mut self) -> thrift::Result<i16> {
        self.inner().read_i16()
    }
    fn read_i32(&mut self) -> thrift::Result<i32> {
        self.inner().read_i32()
    }
    fn read_i64(&mut self) -> thrift::Result<i64> {
        self.inner().read_i64()
    }
    fn read_double(&mut self) -> thrift::Result<f64> {
        self.inner().read_double()
    }
    fn read_string(&mut self) -> thrift::Result<String> {
        self.check_next_length()?;
        self.inner().read_string()
    }
    fn read_list_begin(&mut self) -> thrift::Result<TListIdentifier> {
        let list = self.inner().read_list_begin()?;
        self.check_count(list.size, 1)?;
        Ok(list)
    }
    fn read_list_end(&mut self) -> thrift::Result<()> {
        self.inner().read_list_end()
    }
    fn read_set_begin(&mut self) -> thrift::Result<TSetIdentifier> {
        let set = self.inner().read_set_begin()?;
        self.check_count(set.size, 1)?;
        Ok(set)
    }
    fn read_set_end(&mut self) -> thrift::Result<()> {
        self.inner().read_set_end()
    }
    fn read_map_begin(&mut self) -> thrift::Result<TMapIdentifier> {
        let map = self.inner().read_map_begin()?;
        self.check_count(map.size, 1)?;
        Ok(map)
    }
    fn read_map_end(&mut self) -> thrift::Result<()> {
        self.inner().read_map_end()
    }
    fn read_byte(&mut self) -> thrift::Result<u8> {
        self.inner().read_byte()
    }
}

/// A Thrift error as one readable line. The crate's `Display` prints only
/// the error kind ("bad data") and drops the message that says what was wrong.
pub fn describe(error: &thrift::Error) -> String {
    match error {
        thrift::Error::Transport(e) if e.kind == thrift::TransportErrorKind::EndOfFile => {
            "truncated input".into()
        }
        thrift::Error::Transport(e) if !e.message.is_empty() => e.message.clone(),
        thrift::Error::Protocol(e) if !e.message.is_empty() => e.message.clone(),
        thrift::Error::Application(e) if !e.message.is_empty() => e.message.clone(),
        other => other.to_string(),
    }
}

/// Capacity to reserve for a list of `size` elements: never more than the
/// bytes left could hold, so a lying count cannot allocate.
pub fn bounded_capacity(input: &SliceInput<'_>, size: i32) -> usize {
    (size.max(0) as usize).min(input.remaining())
}

/// Reads one struct, handing each field's id and wire type to `on_field`,
/// which reads the value and returns true, or returns false for a field it
/// does not know (or a known id with another wire type): that field is
/// skipped, as generated Thrift code does.
pub fn read_struct(
    input: &mut SliceInput<'_>,
    mut on_field: impl FnMut(&mut SliceInput<'_>, i16, TType) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    input.read_struct_begin()?;
    loop {
        let field = input.read_field_begin()?;
        if field.field_type == TType::Stop {
            break;
        }
        if !on_field(input, field.id.unwrap_or_default(), field.field_type)? {
            input.skip(field.field_type)?;
        }
        input.read_field_end()?;
    }
    input.read_struct_end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use thrift::protocol::{TBinaryOutputProtocol, TCompactOutputProtocol, TOutputProtocol};

    fn encode(protocol: ThriftProtocol, write: impl Fn(&mut dyn TOutputProtocol)) -> Vec<u8> {
        let mut buf = Vec::new();
        match protocol {
            ThriftProtocol::Compact => write(&mut TCompactOutputProtocol::new(&mut buf)),
            ThriftProtocol::Binary => write(&mut TBinaryOutputProtocol::new(&mut buf, true)),
        }
        buf
    }

    #[test]
    fn reads_what_the_crate_writes() {
        for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
            let bytes = encode(protocol, |out| {
                out.write_message_begin(&TMessageIdentifier::new(
                    "emitBatch",
                    TMessageType::OneWay,
                    7,
                ))
                .unwrap();
                out.write_string("héllo").unwrap();
                out.write_list_begin(&TListIdentifier::new(TType::I64, 2))
                    .unwrap();
                out.write_i64(-5).unwrap();
                out.write_i64(i64::MAX).unwrap();
                out.write_list_end().unwrap();
                out.write_bytes(&[0, 1, 2]).unwrap();
                out.write_message_end().unwrap();
                out.flush().unwrap();
            });
            let mut input = SliceInput::new(&bytes, protocol);
            let message = input.read_message_begin().unwrap();
            assert_eq!(message.name, "emitBatch");
            assert_eq!(message.message_type, TMessageType::OneWay);
            assert_eq!(message.sequence_number, 7);
            assert_eq!(input.read_string().unwrap(), "héllo");
            let list = input.read_list_begin().unwrap();
            assert_eq!(list.size, 2);
            assert_eq!(input.read_i64().unwrap(), -5);
            assert_eq!(input.read_i64().unwrap(), i64::MAX);
            assert_eq!(input.read_bytes().unwrap(), vec![0, 1, 2]);
            assert_eq!(input.remaining(), 0);
        }
    }

    #[test]
    fn refuses_lengths_the_input_cannot_hold() {
        // Binary: a negative and a huge string length.
        for prefix in [[0xff, 0xff, 0xff, 0xf0], [0x7f, 0xff, 0xff, 0xff]] {
            let mut input = SliceInput::new(&prefix, ThriftProtocol::Binary);
            assert!(input.read_string().is_err());
        }
        // Compact: a 4 GiB varint length followed by two bytes.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, b'a', b'b'];
        assert!(SliceInput::new(&bytes, ThriftProtocol::Compact)
            .read_bytes()
            .is_err());
        // A list claiming a billion elements.
        let bytes = encode(ThriftProtocol::Binary, |out| {
            out.write_list_begin(&TListIdentifier::new(TType::I64, 1_000_000_000))
                .unwrap();
        });
        assert!(SliceInput::new(&bytes, ThriftProtocol::Binary)
            .read_list_begin()
            .is_err());
    }

    #[test]
    fn refuses_a_field_id_delta_that_overflows() {
        use thrift::protocol::TInputProtocol as _;
        // Long-form field id 32767, then a short-form delta: the crate itself would panic.
        let bytes = [0x06, 0xfe, 0xff, 0x03, 0x00, 0x16, 0x00, 0x00];
        let mut input = SliceInput::new(&bytes, ThriftProtocol::Compact);
        input.read_struct_begin().unwrap();
        let first = input.read_field_begin().unwrap();
        assert_eq!(first.id, Some(32767));
        input.read_i64().unwrap();
        let error = input.read_field_begin().unwrap_err();
        assert!(
            describe(&error).contains("overflows"),
            "{}",
            describe(&error)
        );
    }

    #[test]
    fn describes_errors_with_their_message() {
        let error = SliceInput::new(&[0x00, 0x00], ThriftProtocol::Binary)
            .read_i64()
            .unwrap_err();
        assert_eq!(describe(&error), "truncated input");
        assert_eq!(
            describe(&invalid("negative length -3")),
            "negative length -3"
        );
    }

    #[test]
    fn refuses_truncated_and_foreign_message_headers() {
        assert!(SliceInput::new(&[0x82], ThriftProtocol::Compact)
            .read_message_begin()
            .is_err());
        assert!(SliceInput::new(b"GET / HTTP/1.1", ThriftProtocol::Compact)
            .read_message_begin()
            .is_err());
        assert!(SliceInput::new(&[0x80, 0x01, 0x00], ThriftProtocol::Binary)
            .read_message_begin()
            .is_err());
        // Old-style header whose name length runs past the end.
        assert!(
            SliceInput::new(&[0x00, 0x00, 0x10, 0x00, b'x'], ThriftProtocol::Binary)
                .read_message_begin()
                .is_err()
        );
    }
}
