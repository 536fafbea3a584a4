//! Zipkin JSON: the v2 list of spans (`zipkin2-api.yaml`), the v1 list of
//! spans (`zipkin-api.yaml`), and a v2 writer for tests and load generation.
//!
//! The readers accept and refuse what the OpenTelemetry Collector's readers
//! do: v2 through zipkin-go's `model.SpanModel` JSON decoding, v1 through
//! contrib's `zipkinv1/json.go` structs. A wrong JSON type anywhere (a
//! number where a string belongs, a non-string tag value, a v1 binary
//! annotation whose value is `true`) fails the whole payload, as Go's typed
//! decoding does, with the span's position and the field in the message.
//! Unknown fields are ignored and a repeated key keeps its last value.
//!
//! Where the Go decoders are looser by accident rather than by design, we
//! are stricter and say so: an ID given as a JSON number (zipkin-go strips
//! its first and last digit and reads the rest as hex) is an error here, and
//! keys must match in case (Go's `encoding/json` matches them in any case).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::hex::{decode_hex_exact, parse_hex_u64, to_hex_string};

use super::model::{Annotation, Endpoint, Kind, Span};
use super::v1::{V1Annotation, V1BinaryAnnotation, V1Endpoint, V1Span, V1Value};
use super::ZipkinError;

/// Decodes a Zipkin v2 JSON list of spans. `null` entries are skipped, as
/// the Collector skips nil spans.
pub fn parse_v2_json(body: &[u8]) -> Result<Vec<Span>, ZipkinError> {
    let items = top_level_array(body)?;
    let mut spans = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Null => continue,
            Value::Object(map) => {
                spans.push(v2_span(map).map_err(|reason| ZipkinError::span(index, reason))?)
            }
            _ => return Err(ZipkinError::span(index, "expected a JSON object")),
        }
    }
    Ok(spans)
}

/// Decodes a Zipkin v1 JSON list of spans.
pub fn parse_v1_json(body: &[u8]) -> Result<Vec<V1Span>, ZipkinError> {
    let items = top_level_array(body)?;
    let mut spans = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            // The Collector dereferences a null v1 span and panics; refuse it instead.
            Value::Object(map) => {
                spans.push(v1_span(map).map_err(|reason| ZipkinError::span(index, reason))?)
            }
            _ => return Err(ZipkinError::span(index, "expected a JSON object")),
        }
    }
    Ok(spans)
}

/// Encodes spans as a Zipkin v2 JSON list, leaving out empty fields the way
/// zipkin-go does. 64-bit trace IDs (zero high half) are written as 16 hex
/// digits.
pub fn to_v2_json(spans: &[Span]) -> Vec<u8> {
    let wire: Vec<WireSpan<'_>> = spans.iter().map(WireSpan::from).collect();
    serde_json::to_vec(&wire).unwrap_or_default()
}

fn top_level_array(body: &[u8]) -> Result<Vec<Value>, ZipkinError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items),
        // Go decodes `null` into an empty slice.
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(_) => Err(ZipkinError::NotAnArray),
        Err(error) => Err(ZipkinError::Json(error.to_string())),
    }
}

// ---- v2 ----

fn v2_span(mut map: Map<String, Value>) -> Result<Span, String> {
    let trace_id = match map.remove("traceId") {
        // zipkin-go leaves a missing trace ID at zero; the translator refuses it.
        None => [0; 16],
        Some(Value::String(text)) => v2_trace_id(text.as_bytes())
            .ok_or("traceId must be a hex string of at most 128 bits")?,
        Some(_) => return Err("traceId must be a string".into()),
    };
    let id = match map.remove("id") {
        None => 0,
        Some(Value::String(text)) if text.is_empty() => 0,
        Some(Value::String(text)) => {
            parse_hex_u64(text.as_bytes()).ok_or("id must be a hex string of at most 64 bits")?
        }
        Some(_) => return Err("id must be a string".into()),
    };
    if id == 0 {
        return Err("id is required and must not be zero".into());
    }
    let parent_id = match map.remove("parentId") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(Value::String(text)) => {
            let parent = parse_hex_u64(text.as_bytes())
                .ok_or("parentId must be a hex string of at most 64 bits")?;
            (parent != 0).then(|| parent.to_be_bytes())
        }
        Some(_) => return Err("parentId must be a string".into()),
    };
    let kind = match take_string(&mut map, "", "kind")? {
        Some(text) => Kind::from_json(&text),
        None => None,
    };
    let annotations = match map.remove("annotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| v2_annotation(item, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("annotations must be an array".into()),
    };
    let tags = match map.remove("tags") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(tags)) => tags
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key, value)),
                // Go stores a null map value as the empty string.
                Value::Null => Ok((key, String::new())),
                _ => Err(format!("tags.{key} must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("tags must be an object".into()),
    };
    Ok(Span {
        trace_id,
        id: id.to_be_bytes(),
        parent_id,
        kind,
        name: take_string(&mut map, "", "name")?.unwrap_or_default(),
        timestamp: take_u64(&mut map, "", "timestamp")?.filter(|t| *t > 0),
        duration: take_u64(&mut map, "", "duration")?.filter(|d| *d > 0),
        local_endpoint: v2_endpoint(&mut map, "localEndpoint")?,
        remote_endpoint: v2_endpoint(&mut map, "remoteEndpoint")?,
        annotations,
        tags,
        debug: take_bool(&mut map, "", "debug")?,
        shared: take_bool(&mut map, "", "shared")?,
    })
}

/// zipkin-go's `TraceIDFromHex`: the last 16 digits are the low half, the
/// rest the high half, each parsed as a hex number that must fit 64 bits.
fn v2_trace_id(hex: &[u8]) -> Option<[u8; 16]> {
    let split = hex.len().saturating_sub(16);
    let high = if split > 0 {
        parse_hex_u64(&hex[..split])?
    } else {
        0
    };
    let low = parse_hex_u64(&hex[split..])?;
    let mut id = [0; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    Some(id)
}

fn v2_endpoint(map: &mut Map<String, Value>, field: &str) -> Result<Option<Endpoint>, String> {
    let mut endpoint = match map.remove(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(endpoint)) => endpoint,
        Some(_) => return Err(format!("{field} must be an object")),
    };
    let port = match take_u64(&mut endpoint, field, "port")? {
        None => 0,
        Some(port) => u16::try_from(port).map_err(|_| format!("{field}.port must be 0-65535"))?,
    };
    let endpoint = Endpoint {
        service_name: take_string(&mut endpoint, field, "serviceName")?.unwrap_or_default(),
        ipv4: take_ip(&mut endpoint, field, "ipv4")?,
        ipv6: take_ip(&mut endpoint, field, "ipv6")?,
        port,
    };
    Ok((!endpoint.is_empty()).then_some(endpoint))
}

fn take_ip(
    map: &mut Map<String, Value>,
    parent: &str,
    field: &str,
) -> Result<Option<IpAddr>, String> {
    match take_string(map, parent, field)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => text
            .parse::<IpAddr>()
            .map(Some)
            .map_err(|_| format!("{parent}.{field} is not an IP address: {text:?}")),
    }
}

fn v2_annotation(item: Value, index: usize) -> Result<Annotation, String> {
    let Value::Object(mut map) = item else {
        return Err(format!("annotations[{index}] must be an object"));
    };
    let parent = format!("annotations[{index}]");
    let timestamp = take_u64(&mut map, &parent, "timestamp")?.unwrap_or(0);
    if timestamp == 0 {
        return Err(format!("{parent}.timestamp must be a positive integer"));
    }
    Ok(Annotation {
        timestamp,
        value: take_string(&mut map, &parent, "value")?.unwrap_or_default(),
    })
}

// ---- v1 ----

fn v1_span(mut map: Map<String, Value>) -> Result<V1Span, String> {
    let trace_hex = take_string(&mut map, "", "traceId")?.unwrap_or_default();
    let trace_id = match trace_hex.len() {
        16 => {
            let mut id = [0; 16];
            id[8..].copy_from_slice(&exact_hex::<8>(trace_hex.as_bytes(), "traceId")?);
            id
        }
        32 => exact_hex::<16>(trace_hex.as_bytes(), "traceId")?,
        _ => return Err("traceId must be 16 or 32 hex characters".into()),
    };
    if trace_id == [0; 16] {
        return Err("traceId is zero".into());
    }
    let id = v1_span_id(&take_string(&mut map, "", "id")?.unwrap_or_default(), "id")?;
    let parent_id = match take_string(&mut map, "", "parentId")? {
        Some(text) if !text.is_empty() => Some(v1_span_id(&text, "parentId")?),
        _ => None,
    };
    let annotations = match map.remove("annotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut annotations = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    // The Collector skips a null annotation.
                    Value::Null => {}
                    Value::Object(mut a) => {
                        let parent = format!("annotations[{i}]");
                        annotations.push(V1Annotation {
                            timestamp: take_i64(&mut a, &parent, "timestamp")?.unwrap_or(0),
                            value: take_string(&mut a, &parent, "value")?.unwrap_or_default(),
                            endpoint: v1_endpoint(&mut a, &parent)?,
                        });
                    }
                    _ => return Err(format!("annotations[{i}] must be an object")),
                }
            }
            annotations
        }
        Some(_) => return Err("annotations must be an array".into()),
    };
    let binary_annotations = match map.remove("binaryAnnotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut binary = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                // A null entry makes the Collector panic; refuse it instead.
                let Value::Object(mut b) = item else {
                    return Err(format!("binaryAnnotations[{i}] must be an object"));
                };
                let parent = format!("binaryAnnotations[{i}]");
                let value = match b.remove("value") {
                    None | Some(Value::Null) => V1Value::String(String::new()),
                    Some(Value::String(value)) => V1Value::String(value),
                    // Zipkin v1 clients send `true` for the address annotations
                    // (`ca`, `sa`, `ma`). The Collector's string-typed field
                    // rejects the whole payload (jaeger#5434); real clients
                    // need it accepted, so scalars keep their JSON type.
                    Some(Value::Bool(value)) => V1Value::Bool(value),
                    Some(Value::Number(n)) => match n.as_i64() {
                        Some(int) => V1Value::Int(int),
                        None => V1Value::Double(n.as_f64().unwrap_or_default()),
                    },
                    Some(_) => {
                        return Err(format!(
                            "{parent}.value must be a string, number or boolean"
                        ))
                    }
                };
                binary.push(V1BinaryAnnotation {
                    key: take_string(&mut b, &parent, "key")?.unwrap_or_default(),
                    value,
                    // Only a named endpoint matters (as the fallback service name).
                    endpoint: v1_endpoint(&mut b, &parent)?.filter(|e| !e.service_name.is_empty()),
                });
            }
            binary
        }
        Some(_) => return Err("binaryAnnotations must be an array".into()),
    };
    Ok(V1Span {
        trace_id,
        id,
        parent_id,
        name: take_string(&mut map, "", "name")?.unwrap_or_default(),
        // The Collector reads a JSON timestamp of 0 as absent.
        timestamp: take_i64(&mut map, "", "timestamp")?.filter(|t| *t != 0),
        duration: take_i64(&mut map, "", "duration")?,
        annotations,
        binary_annotations,
        debug: take_bool(&mut map, "", "debug")?,
    })
}

fn v1_span_id(text: &str, field: &str) -> Result<[u8; 8], String> {
    if text.len() != 16 {
        return Err(format!("{field} must be 16 hex characters"));
    }
    let id = exact_hex::<8>(text.as_bytes(), field)?;
    if id == [0; 8] {
        return Err(format!("{field} is zero"));
    }
    Ok(id)
}

fn v1_endpoint(map: &mut Map<String, Value>, parent: &str) -> Result<Option<V1Endpoint>, String> {
    let mut endpoint = match map.remove("endpoint") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(endpoint)) => endpoint,
        Some(_) => return Err(format!("{parent}.endpoint must be an object")),
    };
    let path = format!("{parent}.endpoint");
    let port = match take_i64(&mut endpoint, &path, "port")? {
        None => 0,
        Some(port) => i32::try_from(port).map_err(|_| format!("{path}.port is out of range"))?,
    };
    Ok(Some(V1Endpoint {
        service_name: take_string(&mut endpoint, &path, "serviceName")?.unwrap_or_default(),
        ipv4: take_string(&mut endpoint, &path, "ipv4")?.unwrap_or_default(),
        ipv6: take_string(&mut endpoint, &path, "ipv6")?.unwrap_or_default(),
        port,
    }))
}

// ---- typed field access (missing and null read as absent) ----

fn path(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

fn take_string(
    map: &mut Map<String, Value>,
    parent: &str,
    field: &str,
) -> Result<Option<String>, String> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{} must be a string", path(parent, field))),
    }
}

fn take_u64(
    map: &mut Map<String, Value>,
    parent: &str,
    field: &str,
) -> Result<Option<u64>, String> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(format!(
            "{} must be a non-negative integer",
            path(parent, field)
        )),
    }
}

fn take_i64(
    map: &mut Map<String, Value>,
    parent: &str,
    field: &str,
) -> Result<Option<i64>, String> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => Err(format!("{} must be a 64-bit integer", path(parent, field))),
    }
}

fn take_bool(map: &mut Map<String, Value>, parent: &str, field: &str) -> Result<bool, String> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(format!("{} must be a boolean", path(parent, field))),
    }
}

/// Go's `hex.Decode` into exactly `N` bytes (the caller checked the length).
fn exact_hex<const N: usize>(hex: &[u8], field: &str) -> Result<[u8; N], String> {
    decode_hex_exact(hex).ok_or_else(|| format!("{field} must be hex"))
}

// ---- v2 writer ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan<'a> {
    trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_endpoint: Option<WireEndpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_endpoint: Option<WireEndpoint<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<WireAnnotation<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    debug: bool,
    #[serde(skip_serializing_if = "is_false")]
    shared: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEndpoint<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    service_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    port: u16,
}

#[derive(Serialize)]
struct WireAnnotation<'a> {
    timestamp: u64,
    value: &'a str,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u16) -> bool {
    *value == 0
}

impl<'a> From<&'a Span> for WireSpan<'a> {
    fn from(span: &'a Span) -> Self {
        let trace_id = if span.trace_id[..8] == [0; 8] {
            to_hex_string(&span.trace_id[8..])
        } else {
            to_hex_string(&span.trace_id)
        };
        WireSpan {
            trace_id,
            parent_id: span.parent_id.map(|p| to_hex_string(&p)),
            id: to_hex_string(&span.id),
            kind: span.kind.map(Kind::as_str),
            name: &span.name,
            timestamp: span.timestamp,
            duration: span.duration,
            local_endpoint: span.local_endpoint.as_ref().map(WireEndpoint::from),
            remote_endpoint: span.remote_endpoint.as_ref().map(WireEndpoint::from),
            annotations: span
                .annotations
                .iter()
                .map(|a| WireAnnotation {
                    timestamp: a.timestamp,
                    value: &a.value,
                })
                .collect(),
            tags: &span.tags,
            debug: span.debug,
            shared: span.shared,
        }
    }
}

impl<'a> From<&'a Endpoint> for WireEndpoint<'a> {
    fn from(endpoint: &'a Endpoint) -> Self {
        WireEndpoint {
            service_name: &endpoint.service_name,
            ipv4: endpoint.ipv4.map(|ip| ip.to_string()),
            ipv6: endpoint.ipv6.map(|ip| ip.to_string()),
            port: endpoint.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample_span() -> Span {
        Span {
            trace_id: [
                0x5a, 0xf7, 0x18, 0x3f, 0xb1, 0xd4, 0xcf, 0x5f, 0x4a, 0x2b, 0x11, 0xcc, 0x83, 0x02,
                0xd3, 0xe9,
            ],
            id: [0x35, 0x2b, 0xff, 0x9a, 0x74, 0xca, 0x9a, 0xd2],
            parent_id: Some([0x6b, 0x22, 0x1d, 0x5b, 0xc9, 0xe6, 0x49, 0x6c]),
            kind: Some(Kind::Client),
            name: "get /api".into(),
            timestamp: Some(1_700_000_000_000_000),
            duration: Some(207_000),
            local_endpoint: Some(Endpoint {
                service_name: "frontend".into(),
                ipv4: Some("192.168.99.1".parse().unwrap()),
                ipv6: Some("2001:db8::c001".parse().unwrap()),
                port: 8080,
            }),
            remote_endpoint: Some(Endpoint {
                service_name: "backend".into(),
                ipv4: Some("172.19.0.2".parse().unwrap()),
                ipv6: None,
                port: 9000,
            }),
            annotations: vec![Annotation {
                timestamp: 1_700_000_000_100_000,
                value: "wr".into(),
            }],
            tags: BTreeMap::from([
                ("http.method".to_owned(), "GET".to_owned()),
                ("http.path".to_owned(), "/api".to_owned()),
            ]),
            debug: true,
            shared: false,
        }
    }

    #[test]
    fn round_trips_through_v2_json() {
        let mut minimal = Span {
            trace_id: [0; 16],
            id: [0, 0, 0, 0, 0, 0, 0, 7],
            ..Span::default()
        };
        minimal.trace_id[15] = 1;
        let spans = vec![sample_span(), minimal];
        let json = to_v2_json(&spans);
        assert_eq!(parse_v2_json(&json).unwrap(), spans);
        // A 64-bit trace ID is written as 16 digits.
        assert!(String::from_utf8(json)
            .unwrap()
            .contains(r#""traceId":"0000000000000001""#));
    }

    #[test]
    fn reads_the_zipkin_api_example() {
        let body = br#"[{
            "id": "352bff9a74ca9ad2",
            "traceId": "5af7183fb1d4cf5f",
            "parentId": "6b221d5bc9e6496c",
            "name": "get /api",
            "timestamp": 1556604172355737,
            "duration": 1431,
            "kind": "SERVER",
            "localEndpoint": {"serviceName": "backend", "ipv4": "192.168.99.1", "port": 3306},
            "remoteEndpoint": {"ipv4": "172.19.0.2", "port": 58648},
            "tags": {"http.method": "GET", "http.path": "/api"},
            "annotations": [{"timestamp": 1556604172355740, "value": "ws"}],
            "unknownField": [1, 2, 3]
        }, null]"#;
        let spans = parse_v2_json(body).unwrap();
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.trace_id[..8], [0; 8]);
        assert_eq!(
            span.trace_id[8..],
            [0x5a, 0xf7, 0x18, 0x3f, 0xb1, 0xd4, 0xcf, 0x5f]
        );
        assert_eq!(span.kind, Some(Kind::Server));
        assert_eq!(span.timestamp, Some(1556604172355737));
        assert_eq!(span.local_endpoint.as_ref().unwrap().port, 3306);
        assert_eq!(span.remote_endpoint.as_ref().unwrap().service_name, "");
        assert_eq!(span.tags["http.path"], "/api");
        assert_eq!(span.annotations[0].value, "ws");
    }

    #[test]
    fn accepts_what_zipkin_go_accepts_in_ids_and_endpoints() {
        let body = br#"[{"traceId": "ABC", "id": "1", "parentId": "", "kind": "client",
            "localEndpoint": {"serviceName": "", "ipv4": ""},
            "remoteEndpoint": {"ipv4": "::ffff:10.1.2.3"},
            "tags": {"nil": null}}]"#;
        let span = &parse_v2_json(body).unwrap()[0];
        assert_eq!(span.trace_id[14..], [0x0a, 0xbc]);
        assert_eq!(span.id, [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(span.parent_id, None);
        assert_eq!(span.kind, None);
        assert_eq!(span.local_endpoint, None, "an empty endpoint is dropped");
        assert!(span.remote_endpoint.is_some());
        assert_eq!(span.tags["nil"], "");
        // Missing trace ID: zero, left for the translator to refuse.
        let span = &parse_v2_json(br#"[{"id": "1"}]"#).unwrap()[0];
        assert_eq!(span.trace_id, [0; 16]);
        assert_eq!(parse_v2_json(b"null").unwrap(), vec![]);
    }

    #[test]
    fn refuses_wrong_types_and_bad_ids_with_the_span_position() {
        let cases: &[(&[u8], &str)] = &[
            (b"{}", "expected a JSON array of spans"),
            (b"[1", "invalid JSON"),
            (br#"[{"id":"1"}, 5]"#, "span 1: expected a JSON object"),
            (br#"[{"traceId":"xyz","id":"1"}]"#, "span 0: traceId must be a hex"),
            (
                br#"[{"traceId":"1","id":"1"},{"traceId":"ff00112233445566778899aabbccddeeff","id":"1"}]"#,
                "span 1: traceId",
            ),
            (br#"[{"traceId":1,"id":"1"}]"#, "span 0: traceId must be a string"),
            (br#"[{"traceId":null,"id":"1"}]"#, "traceId must be a string"),
            (br#"[{"traceId":"1"}]"#, "id is required"),
            (br#"[{"traceId":"1","id":"0000000000000000"}]"#, "id is required"),
            (br#"[{"traceId":"1","id":"1ffffffffffffffff"}]"#, "id must be a hex"),
            (br#"[{"traceId":"1","id":"1","timestamp":"1"}]"#, "timestamp must be"),
            (br#"[{"traceId":"1","id":"1","timestamp":-1}]"#, "timestamp must be"),
            (br#"[{"traceId":"1","id":"1","duration":1.5}]"#, "duration must be"),
            (br#"[{"traceId":"1","id":"1","tags":{"a":1}}]"#, "tags.a must be a string"),
            (br#"[{"traceId":"1","id":"1","tags":[]}]"#, "tags must be an object"),
            (br#"[{"traceId":"1","id":"1","debug":"yes"}]"#, "debug must be a boolean"),
            (br#"[{"traceId":"1","id":"1","kind":5}]"#, "kind must be a string"),
            (
                br#"[{"traceId":"1","id":"1","localEndpoint":{"port":70000}}]"#,
                "localEndpoint.port",
            ),
            (
                br#"[{"traceId":"1","id":"1","remoteEndpoint":{"ipv4":"1.2.3"}}]"#,
                "remoteEndpoint.ipv4 is not an IP address",
            ),
            (
                br#"[{"traceId":"1","id":"1","annotations":[{"value":"x"}]}]"#,
                "annotations[0].timestamp must be a positive integer",
            ),
            (
                br#"[{"traceId":"1","id":"1","annotations":[null]}]"#,
                "annotations[0] must be an object",
            ),
        ];
        for (body, expected) in cases {
            let error = parse_v2_json(body).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{}: got {error:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn reads_a_v1_span_with_its_core_annotations_and_tags() {
        let body = br#"[{
            "traceId": "5af7183fb1d4cf5f6b221d5bc9e6496c",
            "name": "get",
            "id": "352bff9a74ca9ad2",
            "parentId": "6b221d5bc9e6496c",
            "timestamp": 1500000000000000,
            "duration": 2000,
            "annotations": [
                {"timestamp": 1500000000000000, "value": "cs",
                 "endpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080}},
                null
            ],
            "binaryAnnotations": [
                {"key": "http.path", "value": "/api", "endpoint": {"serviceName": ""}},
                {"key": "lc", "value": "client", "type": "STRING"},
                {"key": "sa", "value": true, "endpoint": {"serviceName": "db", "ipv4": "10.0.0.2"}},
                {"key": "retries", "value": 3}
            ]
        }]"#;
        let span = &parse_v1_json(body).unwrap()[0];
        assert_eq!(span.trace_id[0], 0x5a);
        assert_eq!(
            span.parent_id,
            Some([0x6b, 0x22, 0x1d, 0x5b, 0xc9, 0xe6, 0x49, 0x6c])
        );
        assert_eq!(span.timestamp, Some(1500000000000000));
        assert_eq!(span.annotations.len(), 1);
        let endpoint = span.annotations[0].endpoint.as_ref().unwrap();
        assert_eq!((endpoint.ipv4.as_str(), endpoint.port), ("10.0.0.1", 8080));
        assert_eq!(
            span.binary_annotations[0].endpoint, None,
            "unnamed endpoint"
        );
        assert_eq!(
            span.binary_annotations[1].value,
            V1Value::String("client".into())
        );
        // Address annotations carry `true`, as real v1 clients send them.
        assert_eq!(span.binary_annotations[2].value, V1Value::Bool(true));
        assert_eq!(span.binary_annotations[3].value, V1Value::Int(3));
    }

    #[test]
    fn refuses_v1_spans_the_collector_refuses() {
        let ok = r#""traceId":"0000000000000001","id":"0000000000000002""#;
        let cases = [
            (
                r#"{"traceId":"1","id":"0000000000000002"}"#.to_owned(),
                "16 or 32",
            ),
            (
                r#"{"traceId":"000000000000000g","id":"0000000000000002"}"#.to_owned(),
                "hex",
            ),
            (
                r#"{"traceId":"0000000000000000","id":"0000000000000002"}"#.to_owned(),
                "traceId is zero",
            ),
            (
                r#"{"traceId":"0000000000000001","id":"2"}"#.to_owned(),
                "id must be 16",
            ),
            (
                r#"{"traceId":"0000000000000001","id":"0000000000000000"}"#.to_owned(),
                "id is zero",
            ),
            (
                format!(r#"{{{ok},"parentId":"00"}}"#),
                "parentId must be 16",
            ),
            (format!(r#"{{{ok},"timestamp":1.5}}"#), "timestamp must be"),
            (
                format!(r#"{{{ok},"binaryAnnotations":[{{"key":"sa","value":{{}}}}]}}"#),
                "binaryAnnotations[0].value must be a string, number or boolean",
            ),
            (
                format!(r#"{{{ok},"binaryAnnotations":[null]}}"#),
                "binaryAnnotations[0]",
            ),
            (
                format!(r#"{{{ok},"annotations":[{{"value":"x","endpoint":{{"port":1e3}}}}]}}"#),
                "annotations[0].endpoint.port",
            ),
            ("null".to_owned(), "span 0: expected a JSON object"),
        ];
        for (span, expected) in cases {
            let body = format!("[{span}]");
            let error = parse_v1_json(body.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{body}: got {error:?}");
        }
        assert!(parse_v1_json(format!("[{{{ok}}}]").as_bytes()).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_v2_json(&body);
            let _ = parse_v1_json(&body);
        }

        #[test]
        fn never_panics_on_json_shaped_garbage(body in r#"\[\{("(traceId|id|parentId|tags|annotations|localEndpoint|binaryAnnotations|timestamp)":(null|1|-1|"[0-9a-fé]{0,40}"|\{\}|\[\]|\[null\]|true),?){0,6}\}\]"#) {
            let _ = parse_v2_json(body.as_bytes());
            let _ = parse_v1_json(body.as_bytes());
        }
    }
}
