//! Tags as fields: Jaeger's alternative document shape in which chosen tags
//! are also, instead of entries of the `tags` array, keys of an object `tag`
//! (`process.tag` for process tags), e.g. `"tag":{"http@method":"GET"}`.
//! Kibana and simple term queries can then read them without nested queries.
//!
//! The rules are Jaeger 1.x's `FromDomain` (`es.tags-as-fields.*`):
//! - a tag goes to the object when `all` is set and it is not binary, or when
//!   its key (before any replacement) is in `include`;
//! - the field name is the key with every `.` replaced by the dot
//!   replacement (`@` by default), because Elasticsearch reads a dot in a
//!   field name as an object path;
//! - the value keeps its type: a JSON string, boolean or number (Go's
//!   `encoding/json` float text), binary as base64;
//! - keys are written sorted and a repeated key keeps its last value, as Go
//!   encodes a map; the object is left out when no tag went to it;
//! - log fields are never affected.
//!
//! One deviation: a NaN or infinite float stays in the `tags` array (as its
//! text), since JSON has no such number; Jaeger's `json.Marshal` fails on it
//! and the whole span is lost.

use std::collections::HashSet;
use std::ops::Range;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::go_json::{
    push_base64, push_go_json_float, push_i64, push_json_bytes, push_json_str, push_raw_json,
    Scratch,
};

/// Which tags are also written as fields, and how their keys are rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagsAsFields {
    /// Every non-binary tag (`es.tags-as-fields.all`).
    pub all: bool,
    /// These keys, binary or not (`es.tags-as-fields.include` and the keys of
    /// `es.tags-as-fields.config-file`).
    pub include: HashSet<String>,
    /// Replaces each `.` of a key (`es.tags-as-fields.dot-replacement`).
    pub dot_replacement: String,
}

impl Default for TagsAsFields {
    fn default() -> Self {
        TagsAsFields {
            all: false,
            include: HashSet::new(),
            dot_replacement: "@".to_owned(),
        }
    }
}

impl TagsAsFields {
    /// True when some tag can become a field.
    pub fn is_enabled(&self) -> bool {
        self.all || !self.include.is_empty()
    }

    fn takes(&self, key: &str, binary: bool) -> bool {
        (self.all && !binary) || self.include.contains(key)
    }
}

/// The `tag` object of one span or process while its tags are written.
#[derive(Debug)]
pub(crate) struct FieldMap {
    config: TagsAsFields,
    /// Field name (already rewritten, unescaped) and JSON value, as ranges of
    /// `buf`, in tag order.
    entries: Vec<(Range<usize>, Range<usize>)>,
    buf: Vec<u8>,
}

impl FieldMap {
    pub(crate) fn new(config: TagsAsFields) -> Self {
        FieldMap {
            config,
            entries: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Takes a string tag when the configuration says so.
    pub(crate) fn take_string(&mut self, key: &str, value: &[u8]) -> bool {
        if !self.config.takes(key, false) {
            return false;
        }
        let name = self.push_name(key);
        let start = self.buf.len();
        push_json_bytes(&mut self.buf, value);
        self.entries.push((name, start..self.buf.len()));
        true
    }

    /// Takes a boolean tag when the configuration says so.
    pub(crate) fn take_bool(&mut self, key: &str, value: bool) -> bool {
        if !self.config.takes(key, false) {
            return false;
        }
        let name = self.push_name(key);
        let start = self.buf.len();
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
        self.entries.push((name, start..self.buf.len()));
        true
    }

    /// Takes an OTLP attribute when the configuration says so and its value
    /// has a JSON form; the value is typed as the Jaeger tag would be
    /// (arrays and key-value lists are strings holding their JSON text).
    pub(crate) fn take_attribute(&mut self, scratch: &mut Scratch, kv: &KeyValue) -> bool {
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        let binary = matches!(value, Some(Value::BytesValue(_)));
        if !self.config.takes(&kv.key, binary) {
            return false;
        }
        let mark = self.buf.len();
        let name = self.push_name(&kv.key);
        let start = self.buf.len();
        let out = &mut self.buf;
        match value {
            Some(Value::StringValue(s)) => push_json_str(out, s),
            Some(Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Some(Value::IntValue(i)) => push_i64(out, *i),
            Some(Value::DoubleValue(f)) => {
                if !push_go_json_float(out, *f) {
                    out.truncate(mark);
                    return false;
                }
            }
            Some(Value::BytesValue(b)) if b.is_empty() => out.extend_from_slice(b"null"),
            Some(Value::BytesValue(b)) => {
                out.push(b'"');
                push_base64(out, b);
                out.push(b'"');
            }
            Some(value @ (Value::ArrayValue(_) | Value::KvlistValue(_))) => {
                scratch.text.clear();
                if !push_raw_json(&mut scratch.text, &mut scratch.key_order, Some(value), 0) {
                    scratch.text.clear();
                }
                push_json_bytes(out, &scratch.text);
            }
            Some(Value::StringValueStrindex(_)) | None => out.extend_from_slice(b"\"\""),
        }
        self.entries.push((name, start..self.buf.len()));
        true
    }

    /// Takes a tag when the configuration says so and `write` gives its
    /// value a JSON form (it returns false, and writes nothing that stays,
    /// when there is none): the entry point of a writer that holds no
    /// `KeyValue`, such as the wire writer.
    pub(crate) fn take_with(
        &mut self,
        key: &str,
        binary: bool,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        if !self.config.takes(key, binary) {
            return false;
        }
        let mark = self.buf.len();
        let name = self.push_name(key);
        let start = self.buf.len();
        if !write(&mut self.buf) {
            self.buf.truncate(mark);
            return false;
        }
        self.entries.push((name, start..self.buf.len()));
        true
    }

    /// Writes `,"tag":{…}` when some tag was taken, and forgets the entries.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.entries.is_empty() {
            return;
        }
        let buf = &self.buf;
        // Equal names keep the order they were taken in (their position in
        // `buf` grows with it), so the last one ends its run. Unstable sort
        // with that tie-break: no allocation, unlike the stable sort.
        self.entries.sort_unstable_by(|a, b| {
            buf[a.0.clone()]
                .cmp(&buf[b.0.clone()])
                .then(a.0.start.cmp(&b.0.start))
        });
        out.extend_from_slice(b",\"tag\":{");
        let mut first = true;
        for (i, (name, value)) in self.entries.iter().enumerate() {
            let name = &buf[name.clone()];
            if let Some((next, _)) = self.entries.get(i + 1) {
                if &buf[next.clone()] == name {
                    continue;
                }
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_json_bytes(out, name);
            out.push(b':');
            out.extend_from_slice(&buf[value.clone()]);
        }
        out.push(b'}');
        self.entries.clear();
        self.buf.clear();
    }

    /// Appends the field name for `key` to `buf` and returns its range.
    fn push_name(&mut self, key: &str) -> Range<usize> {
        let start = self.buf.len();
        for (i, part) in key.split('.').enumerate() {
            if i > 0 {
                self.buf
                    .extend_from_slice(self.config.dot_replacement.as_bytes());
            }
            self.buf.extend_from_slice(part.as_bytes());
        }
        start..self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger::model;
    use crate::jaeger::SpanDocWriter;
    use crate::otlp::attributes::kv;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use serde_json::json;

    fn s(text: &str) -> Value {
        Value::StringValue(text.to_owned())
    }

    fn request(resource: Vec<KeyValue>, span: Span) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn span(attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /users".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes,
            status: Some(Status {
                code: 2,
                message: String::new(),
            }),
            events: vec![Event {
                time_unix_nano: 1_700_000_000_000_500_000,
                name: "retry".into(),
                attributes: vec![kv("http.method", s("GET"))],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn write(config: TagsAsFields, req: &ExportTraceServiceRequest) -> String {
        let mut writer = SpanDocWriter::with_tags_as_fields(config);
        let mut json = String::new();
        writer.write_request(req, |doc| {
            json = String::from_utf8(doc.json.to_vec()).expect("utf-8");
        });
        json
    }

    fn all() -> TagsAsFields {
        TagsAsFields {
            all: true,
            ..TagsAsFields::default()
        }
    }

    fn sample() -> ExportTraceServiceRequest {
        request(
            vec![
                kv("service.name", s("api")),
                kv("host.name", s("pod-1")),
                kv("k8s.pod.uid", Value::BytesValue(vec![0xde, 0xad])),
            ],
            span(vec![
                kv("http.method", s("GET")),
                kv("http.status_code", Value::IntValue(503)),
                kv("retry", Value::BoolValue(false)),
                kv("ratio", Value::DoubleValue(0.25)),
                kv("payload", Value::BytesValue(vec![1, 2, 3])),
                kv(
                    "list",
                    Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(Value::IntValue(1)),
                        }],
                    }),
                ),
            ]),
        )
    }

    #[test]
    fn all_moves_every_non_binary_tag_to_typed_sorted_fields() {
        let json = write(all(), &sample());
        let doc: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(
            doc["tag"],
            json!({
                "error": true,
                "http@method": "GET",
                "http@status_code": 503,
                "list": "[1]",
                "otel@scope@name": "lib",
                "otel@status_code": "ERROR",
                "ratio": 0.25,
                "retry": false,
                "span@kind": "server",
            })
        );
        // Binary tags stay in the array; so do log fields.
        assert_eq!(
            doc["tags"],
            json!([{"key": "payload", "type": "binary", "value": "010203"}])
        );
        assert_eq!(doc["logs"][0]["fields"][1]["key"], "http.method");
        assert_eq!(doc["process"]["tag"], json!({"host@name": "pod-1"}));
        assert_eq!(doc["process"]["tags"][0]["key"], "k8s.pod.uid");
        // Go writes map keys in byte order, and the object right after `tags`.
        assert!(
            json.contains(r#"],"tag":{"error":true,"http@method":"GET","#),
            "{json}"
        );
        assert!(
            json.contains(r#""value":"010203"}],"tag":{"error""#),
            "{json}"
        );
        // The documents stay readable as Jaeger's model.
        let span: model::Span = serde_json::from_str(&json).expect("model");
        assert_eq!(span.tag.expect("tag").len(), 9);
    }

    #[test]
    fn include_takes_exactly_the_listed_keys_binary_ones_too() {
        let config = TagsAsFields {
            include: ["http.method", "k8s.pod.uid", "payload"]
                .map(String::from)
                .into(),
            dot_replacement: "_".into(),
            ..TagsAsFields::default()
        };
        let doc: serde_json::Value = serde_json::from_str(&write(config, &sample())).expect("json");
        assert_eq!(doc["tag"], json!({"http_method": "GET", "payload": "AQID"}));
        assert_eq!(doc["process"]["tag"], json!({"k8s_pod_uid": "3q0="}));
        assert_eq!(doc["process"]["tags"][0]["key"], "host.name");
        let keys: Vec<_> = doc["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["key"].as_str().expect("key").to_owned())
            .collect();
        assert!(!keys.contains(&"http.method".to_owned()), "{keys:?}");
        assert!(keys.contains(&"http.status_code".to_owned()), "{keys:?}");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_non_finite_floats_stay_tags() {
        let req = request(
            vec![kv("service.name", s("api"))],
            span(vec![
                kv("a.b", s("first")),
                kv("a.b", s("second")),
                kv("nan", Value::DoubleValue(f64::NAN)),
                kv("tiny", Value::DoubleValue(1e-7)),
            ]),
        );
        let json = write(all(), &req);
        let doc: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(doc["tag"]["a@b"], "second");
        assert!(json.contains(r#""tiny":1e-7"#), "{json}");
        assert!(doc["tag"].get("nan").is_none());
        assert_eq!(
            doc["tags"],
            json!([{"key": "nan", "type": "float64", "value": "NaN"}])
        );
        // A process without other attributes gets no `tag` object.
        assert!(doc["process"].get("tag").is_none(), "{json}");
    }

    #[test]
    fn disabled_config_writes_the_plain_document() {
        let req = sample();
        let plain = {
            let mut writer = SpanDocWriter::new();
            let mut json = Vec::new();
            writer.write_request(&req, |doc| json = doc.json.to_vec());
            String::from_utf8(json).expect("utf-8")
        };
        assert!(!TagsAsFields::default().is_enabled());
        assert_eq!(write(TagsAsFields::default(), &req), plain);
        assert!(!plain.contains(r#""tag":"#));
    }
}
