//! Zipkin v2 protobuf (`zipkin.proto`, package `zipkin.proto3`): hand-written
//! prost messages for `ListOfSpans`, and the reader and writer over the
//! [`Span`] model.
//!
//! The reader applies zipkin-go's `zipkin_proto3.ParseSpans` checks, which
//! the OpenTelemetry Collector uses: `trace_id` must be exactly 16 bytes
//! (zipkin.proto allows 8, zipkin-go does not), `id` exactly 8 and
//! `parent_id` empty or 8; anything else fails the whole payload. The
//! `debug` field is read into the model but the Collector takes debug from
//! the `X-B3-Flags` header instead; it does not reach OTLP either way.
//! A `port` above 65535 is truncated to 16 bits as zipkin-go does; an
//! address field that is neither 4 nor 16 bytes is ignored (Go would print
//! it as `?` and hex).

use std::collections::BTreeMap;
use std::net::IpAddr;

use prost::Message;

use super::model::{Annotation, Endpoint, Kind, Span};
use super::ZipkinError;

/// `zipkin.proto3.ListOfSpans`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<ProtoSpan>,
}

/// `zipkin.proto3.Span`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// `Span.Kind`: 0 unspecified, 1 CLIENT, 2 SERVER, 3 PRODUCER, 4 CONSUMER.
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

/// `zipkin.proto3.Annotation`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Decodes a protobuf `ListOfSpans`.
pub fn parse_v2_proto(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let list = ListOfSpans::decode(body).map_err(|e| ZipkinError::Protobuf(e.to_string()))?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| from_proto(span).map_err(|reason| ZipkinError::span(index, reason)))
        .collect()
}

/// Encodes spans as a protobuf `ListOfSpans` (trace IDs always 16 bytes).
pub fn to_v2_proto(spans: &[Span]) -> Vec<u8> {
    ListOfSpans {
        spans: spans.iter().map(to_proto).collect(),
    }
    .encode_to_vec()
}

fn from_proto(span: ProtoSpan) -> Result<Span, String> {
    let trace_id: [u8; 16] = span
        .trace_id
        .as_slice()
        .try_into()
        .map_err(|_| format!("trace_id has {} bytes, wanted 16", span.trace_id.len()))?;
    let id: [u8; 8] = span
        .id
        .as_slice()
        .try_into()
        .map_err(|_| format!("id has {} bytes, wanted 8", span.id.len()))?;
    let parent_id = match span.parent_id.len() {
        0 => None,
        8 => span
            .parent_id
            .as_slice()
            .try_into()
            .ok()
            .filter(|p: &[u8; 8]| *p != [0; 8]),
        n => return Err(format!("parent_id has {n} bytes, wanted 0 or 8")),
    };
    let kind = match span.kind {
        1 => Some(Kind::Client),
        2 => Some(Kind::Server),
        3 => Some(Kind::Producer),
        4 => Some(Kind::Consumer),
        _ => None,
    };
    Ok(Span {
        trace_id,
        id,
        parent_id,
        kind,
        name: span.name,
        timestamp: (span.timestamp > 0).then_some(span.timestamp),
        duration: (span.duration > 0).then_some(span.duration),
        local_endpoint: span.local_endpoint.map(endpoint_from_proto),
        remote_endpoint: span.remote_endpoint.map(endpoint_from_proto),
        annotations: span
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: span.tags,
        debug: span.debug,
        shared: span.shared,
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::from(octets))
    } else if let Ok(octets) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::from(octets))
    } else {
        None
    }
}

fn endpoint_from_proto(endpoint: ProtoEndpoint) -> Endpoint {
    Endpoint {
        service_name: endpoint.service_name,
        ipv4: ip_from_bytes(&endpoint.ipv4),
        ipv6: ip_from_bytes(&endpoint.ipv6),
        // zipkin-go: `uint16(port)`.
        port: endpoint.port as u16,
    }
}

fn ip_to_bytes(ip: Option<IpAddr>) -> Vec<u8> {
    match ip {
        None => Vec::new(),
        Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
        Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
    }
}

fn endpoint_to_proto(endpoint: &Endpoint) -> ProtoEndpoint {
    ProtoEndpoint {
        service_name: endpoint.service_name.clone(),
        ipv4: ip_to_bytes(endpoint.ipv4),
        ipv6: ip_to_bytes(endpoint.ipv6),
        port: i32::from(endpoint.port),
    }
}

fn to_proto(span: &Span) -> ProtoSpan {
    ProtoSpan {
        trace_id: span.trace_id.to_vec(),
        parent_id: span.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
        id: span.id.to_vec(),
        kind: match span.kind {
            None => 0,
            Some(Kind::Client) => 1,
            Some(Kind::Server) => 2,
            Some(Kind::Producer) => 3,
            Some(Kind::Consumer) => 4,
        },
        name: span.name.clone(),
        timestamp: span.timestamp.unwrap_or(0),
        duration: span.duration.unwrap_or(0),
        local_endpoint: span.local_endpoint.as_ref().map(endpoint_to_proto),
        remote_endpoint: span.remote_endpoint.as_ref().map(endpoint_to_proto),
        annotations: span
            .annotations
            .iter()
            .map(|a| ProtoAnnotation {
                timestamp: a.timestamp,
                value: a.value.clone(),
            })
            .collect(),
        tags: span.tags.clone(),
        debug: span.debug,
        shared: span.shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Span {
        Span {
            trace_id: [7; 16],
            id: [1, 2, 3, 4, 5, 6, 7, 8],
            parent_id: Some([9; 8]),
            kind: Some(Kind::Producer),
            name: "send".into(),
            timestamp: Some(1_700_000_000_000_000),
            duration: Some(42),
            local_endpoint: Some(Endpoint {
                service_name: "queue".into(),
                ipv4: Some("10.1.2.3".parse().unwrap()),
                ipv6: Some("fe80::1".parse().unwrap()),
                port: 5672,
            }),
            remote_endpoint: Some(Endpoint {
                service_name: "broker".into(),
                ..Endpoint::default()
            }),
            annotations: vec![Annotation {
                timestamp: 1_700_000_000_000_010,
                value: "ws".into(),
            }],
            tags: BTreeMap::from([("a".to_owned(), "1".to_owned())]),
            debug: true,
            shared: true,
        }
    }

    #[test]
    fn round_trips_through_proto() {
        let spans = vec![
            sample(),
            Span {
                trace_id: [1; 16],
                id: [2; 8],
                ..Span::default()
            },
        ];
        assert_eq!(parse_v2_proto(&to_v2_proto(&spans)).unwrap(), spans);
        assert_eq!(parse_v2_proto(&[]).unwrap(), vec![]);
    }

    #[test]
    fn uses_the_field_numbers_of_zipkin_proto() {
        // Span{trace_id=1 (16 bytes), id=3, kind=4 SERVER, timestamp=6 fixed64,
        // local_endpoint=8{port=4}}, hand-encoded.
        let mut span = vec![0x0a, 16];
        span.extend_from_slice(&[0xab; 16]);
        span.extend_from_slice(&[0x1a, 8, 0, 0, 0, 0, 0, 0, 0, 5]);
        span.extend_from_slice(&[0x20, 2]);
        span.push(0x31);
        span.extend_from_slice(&1_000_000u64.to_le_bytes());
        span.extend_from_slice(&[0x42, 3, 0x20, 0x90, 0x03]);
        let mut body = vec![0x0a, span.len() as u8];
        body.extend_from_slice(&span);
        let parsed = parse_v2_proto(&body).unwrap();
        assert_eq!(parsed[0].trace_id, [0xab; 16]);
        assert_eq!(parsed[0].id, [0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(parsed[0].kind, Some(Kind::Server));
        assert_eq!(parsed[0].timestamp, Some(1_000_000));
        assert_eq!(parsed[0].local_endpoint.as_ref().unwrap().port, 400);
    }

    #[test]
    fn refuses_ids_of_the_wrong_length_like_zipkin_go() {
        let encode = |span: ProtoSpan| ListOfSpans { spans: vec![span] }.encode_to_vec();
        let valid = to_proto(&sample());
        let eight_byte_trace = ProtoSpan {
            trace_id: vec![1; 8],
            ..valid.clone()
        };
        let error = parse_v2_proto(&encode(eight_byte_trace)).unwrap_err();
        assert_eq!(error.to_string(), "span 0: trace_id has 8 bytes, wanted 16");
        let no_id = ProtoSpan {
            id: vec![],
            ..valid.clone()
        };
        assert!(parse_v2_proto(&encode(no_id)).is_err());
        let odd_parent = ProtoSpan {
            parent_id: vec![1; 4],
            ..valid.clone()
        };
        assert!(parse_v2_proto(&encode(odd_parent)).is_err());
        let big_port = ProtoSpan {
            local_endpoint: Some(ProtoEndpoint {
                port: 70_000,
                ..ProtoEndpoint::default()
            }),
            ..valid
        };
        let parsed = parse_v2_proto(&encode(big_port)).unwrap();
        assert_eq!(
            parsed[0].local_endpoint.as_ref().unwrap().port,
            70_000u32 as u16
        );
    }

    #[test]
    fn every_truncation_fails_or_decodes_without_panicking() {
        let body = to_v2_proto(&[sample(), sample()]);
        for len in 0..body.len() {
            // A cut at a message boundary can still be a valid shorter list.
            if let Ok(spans) = parse_v2_proto(&body[..len]) {
                assert!(spans.len() < 2, "prefix {len} decoded both spans");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_v2_proto(&body);
        }
    }
}
