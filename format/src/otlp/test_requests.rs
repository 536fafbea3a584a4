//! Generated OTLP trace requests for property tests of the wire readers:
//! every attribute type, nested arrays and maps, empty values, NaN and
//! infinities, odd ID lengths, events and links ([`request`]); and a
//! re-encoder that writes the same request in other valid wire forms
//! ([`reencode`]).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;

use super::varint;

pub(crate) fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(1e21),
        Just(1e-7),
        any::<f64>(),
    ]
}

pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z.]{1,12}",
        any::<String>(),
        Just("<a href=\"x\">&\u{2028}\n\u{0}é🎉".to_owned()),
    ]
}

pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("service.name".to_owned()),
        Just("event".to_owned()),
        Just("opentracing.ref_type".to_owned()),
        Just("http.method".to_owned()),
        Just("a.b".to_owned()),
        Just("error".to_owned()),
        text(),
    ]
}

pub(crate) fn value() -> impl Strategy<Value = Option<Value>> {
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(Value::StringValue(s))),
        Just(Some(Value::StringValue("child_of".into()))),
        any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
        float().prop_map(|f| Some(Value::DoubleValue(f))),
        proptest::collection::vec(any::<u8>(), 0..6).prop_map(|b| Some(Value::BytesValue(b))),
        any::<i32>().prop_map(|i| Some(Value::StringValueStrindex(i))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| {
                Some(Value::ArrayValue(ArrayValue {
                    values: values.into_iter().map(|value| AnyValue { value }).collect(),
                }))
            }),
            proptest::collection::vec((key(), inner), 0..4).prop_map(|entries| {
                Some(Value::KvlistValue(KeyValueList {
                    values: entries
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value: Some(AnyValue { value }),
                            ..Default::default()
                        })
                        .collect(),
                }))
            }),
        ]
    })
}

pub(crate) fn key_value() -> impl Strategy<Value = KeyValue> {
    (key(), value(), any::<bool>()).prop_map(|(key, value, absent)| KeyValue {
        key,
        // An absent AnyValue and one without a member read alike.
        value: (!absent || value.is_some()).then_some(AnyValue { value }),
        ..Default::default()
    })
}

pub(crate) fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(key_value(), 0..max)
}

pub(crate) const TRACE: [u8; 16] = [7; 16];
pub(crate) const PARENT: [u8; 8] = [3; 8];

pub(crate) fn id(len: usize, fill: u8) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => Just(vec![fill; len]),
        1 => Just(Vec::new()),
        1 => Just(vec![fill; len / 2]),
    ]
}

pub(crate) fn link() -> impl Strategy<Value = Link> {
    (
        prop_oneof![Just(TRACE.to_vec()), id(16, 9)],
        prop_oneof![Just(PARENT.to_vec()), id(8, 4)],
        attributes(3),
        any::<u32>(),
    )
        .prop_map(|(trace_id, span_id, attributes, flags)| Link {
            trace_id,
            span_id,
            attributes,
            flags,
            ..Default::default()
        })
}

pub(crate) fn event() -> impl Strategy<Value = Event> {
    (any::<u64>(), text(), attributes(3)).prop_map(|(time_unix_nano, name, attributes)| Event {
        time_unix_nano,
        name,
        attributes,
        ..Default::default()
    })
}

pub(crate) fn span() -> impl Strategy<Value = Span> {
    (
        (
            prop_oneof![Just(TRACE.to_vec()), id(16, 1)],
            id(8, 2),
            prop_oneof![Just(PARENT.to_vec()), id(8, 0)],
            text(),
            text(),
            0..7i32,
            any::<u32>(),
        ),
        (
            any::<u64>(),
            any::<u64>(),
            attributes(6),
            proptest::collection::vec(event(), 0..3),
            proptest::collection::vec(link(), 0..3),
            proptest::option::of((0..4i32, text())),
        ),
    )
        .prop_map(
            |(
                (trace_id, span_id, parent_span_id, name, trace_state, kind, flags),
                (start, end, attributes, events, links, status),
            )| Span {
                trace_id,
                span_id,
                parent_span_id,
                name,
                trace_state,
                kind,
                flags,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                events,
                links,
                status: status.map(|(code, message)| Status { code, message }),
                ..Default::default()
            },
        )
}

pub(crate) fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = proptest::option::of((text(), text(), attributes(2))).prop_map(|scope| {
        scope.map(|(name, version, attributes)| InstrumentationScope {
            name,
            version,
            attributes,
            ..Default::default()
        })
    });
    let scope_spans =
        (scope, proptest::collection::vec(span(), 0..3)).prop_map(|(scope, spans)| ScopeSpans {
            scope,
            spans,
            ..Default::default()
        });
    let resource = proptest::option::of(attributes(4)).prop_map(|attributes| {
        attributes.map(|attributes| Resource {
            attributes,
            ..Default::default()
        })
    });
    let resource_spans = (resource, proptest::collection::vec(scope_spans, 0..3)).prop_map(
        |(resource, scope_spans)| ResourceSpans {
            resource,
            scope_spans,
            ..Default::default()
        },
    );
    proptest::collection::vec(resource_spans, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

// ---- a re-encoder: the same request in other valid wire forms ----------

/// The message types of the trace request, to find sub-messages.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Ty {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    List,
    KeyValueList,
}

pub(crate) fn child(ty: Ty, number: u64) -> Option<Ty> {
    Some(match (ty, number) {
        (Ty::Request, 1) => Ty::ResourceSpans,
        (Ty::ResourceSpans, 1) => Ty::Resource,
        (Ty::ResourceSpans, 2) => Ty::ScopeSpans,
        (Ty::Resource, 1) | (Ty::Scope, 3) | (Ty::Span, 9) => Ty::KeyValue,
        (Ty::Event, 3) | (Ty::Link, 4) | (Ty::KeyValueList, 1) => Ty::KeyValue,
        (Ty::ScopeSpans, 1) => Ty::Scope,
        (Ty::ScopeSpans, 2) => Ty::Span,
        (Ty::Span, 11) => Ty::Event,
        (Ty::Span, 13) => Ty::Link,
        (Ty::Span, 15) => Ty::Status,
        (Ty::KeyValue, 2) | (Ty::List, 1) => Ty::AnyValue,
        (Ty::AnyValue, 5) => Ty::List,
        (Ty::AnyValue, 6) => Ty::KeyValueList,
        _ => return None,
    })
}

/// Re-encodes a valid message of type `ty`: its fields in another order
/// (fields of one number keep theirs, which the meaning depends on), an
/// unknown field of every wire type here and there, and nested messages
/// the same way. prost reads the result as the same request.
pub(crate) fn reencode(bytes: &[u8], ty: Ty, seed: &mut u64) -> Vec<u8> {
    let mut groups: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let key = varint::read(bytes, &mut pos).unwrap();
        let (number, wire_type) = (key >> 3, key & 7);
        let mut field = Vec::new();
        varint::put(&mut field, key);
        match wire_type {
            0 => {
                let start = pos;
                varint::read(bytes, &mut pos).unwrap();
                field.extend_from_slice(&bytes[start..pos]);
            }
            1 => {
                field.extend_from_slice(&bytes[pos..pos + 8]);
                pos += 8;
            }
            5 => {
                field.extend_from_slice(&bytes[pos..pos + 4]);
                pos += 4;
            }
            _ => {
                let len = varint::read(bytes, &mut pos).unwrap() as usize;
                let value = &bytes[pos..pos + len];
                pos += len;
                let value = match child(ty, number) {
                    Some(sub) => reencode(value, sub, seed),
                    None => value.to_vec(),
                };
                varint::put(&mut field, value.len() as u64);
                field.extend_from_slice(&value);
            }
        }
        match groups.iter_mut().find(|(n, _)| *n == number) {
            Some((_, fields)) => fields.push(field),
            None => groups.push((number, vec![field])),
        }
    }
    let mut out = Vec::new();
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    for group in &mut groups {
        group.1.reverse();
    }
    loop {
        if next() % 3 == 0 {
            let number = 100 + next() % 50;
            match next() % 4 {
                0 => {
                    varint::put(&mut out, number << 3);
                    varint::put(&mut out, next());
                }
                1 => {
                    varint::put(&mut out, (number << 3) | 1);
                    out.extend_from_slice(&next().to_le_bytes());
                }
                2 => {
                    varint::put(&mut out, (number << 3) | 2);
                    out.extend_from_slice(&[3, 0xff, 0xfe, 0x80]);
                }
                _ => {
                    varint::put(&mut out, (number << 3) | 5);
                    out.extend_from_slice(&[1, 2, 3, 4]);
                }
            }
        }
        let open: Vec<usize> = (0..groups.len())
            .filter(|&i| !groups[i].1.is_empty())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = open[(next() % open.len() as u64) as usize];
        if let Some(field) = groups[pick].1.pop() {
            out.extend_from_slice(&field);
        }
    }
    out
}

/// Edits that damage an encoded message: (where, byte, how).
pub(crate) type Edits = Vec<(prop::sample::Index, u8, u8)>;

/// One to three damaging edits: a byte overwritten, inserted or removed,
/// or the message cut.
pub(crate) fn edits() -> impl Strategy<Value = Edits> {
    proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 1..4)
}

/// `message` damaged by `edits`.
pub(crate) fn damage(message: &mut Vec<u8>, edits: Edits) {
    for (at, byte, how) in edits {
        if message.is_empty() {
            break;
        }
        let i = at.index(message.len());
        match how {
            0 => message[i] = byte,
            1 => message.insert(i, byte),
            2 => {
                message.remove(i);
            }
            _ => message.truncate(i),
        }
    }
}

/// Every span of `request` with its resource and scope, in request order.
pub(crate) fn spans_of(
    request: &ExportTraceServiceRequest,
) -> Vec<(Option<&Resource>, Option<&InstrumentationScope>, &Span)> {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans
                    .iter()
                    .map(move |span| (rs.resource.as_ref(), ss.scope.as_ref(), span))
            })
        })
        .collect()
}
