//! Owned serde types of the Jaeger v1 Elasticsearch documents: span, service
//! (service:operation pair) and dependencies.
//!
//! These are for *reading* documents (tests, the end-to-end verifier, the
//! dependencies job); the ingester writes spans with the direct writer in
//! [`super::writer`], which produces the same JSON without serde.
//!
//! Field names, order and omission rules follow Jaeger 1.x's `dbmodel`
//! structs (plugin/storage/es/spanstore/dbmodel/model.go and
//! plugin/storage/es/dependencystore/dbmodel/model.go), so serialising one of
//! these gives the JSON Jaeger would write: `parentSpanID` and `flags` are
//! left out when empty/zero, `tag` maps only appear when set, and every tag
//! value is a string whose real type is in `type`. Deserialising is lenient
//! where Jaeger itself writes `null` (a log with no fields).

use serde::{Deserialize, Deserializer, Serialize};

/// `refType` of a [`Reference`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefType {
    #[serde(rename = "CHILD_OF")]
    ChildOf,
    #[serde(rename = "FOLLOWS_FROM")]
    FollowsFrom,
}

/// `type` of a [`KeyValue`]: the real type of the (always string) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    String,
    Bool,
    Int64,
    Float64,
    Binary,
}

impl ValueType {
    /// The exact text Jaeger writes for this type.
    pub const fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Bool => "bool",
            ValueType::Int64 => "int64",
            ValueType::Float64 => "float64",
            ValueType::Binary => "binary",
        }
    }
}

/// One span document in a `jaeger-span-*` index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    /// Deprecated in Jaeger and never written by its 1.x collector; kept so
    /// documents from older writers still read.
    #[serde(
        rename = "parentSpanID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_span_id: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub flags: u32,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub references: Vec<Reference>,
    /// Microseconds since the Unix epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// `startTime / 1000`, mapped as an ES `date` so range queries work.
    #[serde(rename = "startTimeMillis")]
    pub start_time_millis: u64,
    /// Microseconds.
    pub duration: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
    /// Tags stored as fields (Jaeger's `--es.tags-as-fields.*`), keys with
    /// dots replaced. Not written by ferrotrace; read when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub logs: Vec<Log>,
    pub process: Process,
}

/// A reference from a span to another span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: RefType,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// The process (OTLP resource) that emitted a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A span log (OTLP event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    /// Jaeger writes `null` for a log without fields; that reads as empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fields: Vec<KeyValue>,
}

/// A typed key/value pair: a span tag, process tag or log field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Always a string in Jaeger's ES schema: `"23456"`, `"true"`, `"72.5"`,
    /// binary as lowercase hex.
    pub value: String,
}

impl KeyValue {
    /// A `string` tag.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value_type: ValueType::String,
            value: value.into(),
        }
    }
}

impl Span {
    /// The first tag with this key, if any.
    pub fn tag_value(&self, key: &str) -> Option<&KeyValue> {
        self.tags.iter().find(|kv| kv.key == key)
    }

    /// The span this one is a child of: the first `CHILD_OF` reference, as
    /// Jaeger's readers take it.
    pub fn parent_span_id(&self) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.ref_type == RefType::ChildOf)
            .map(|r| r.span_id.as_str())
            .or(self.parent_span_id.as_deref())
    }
}

/// One document in a `jaeger-service-*` index: a service:operation pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
}

/// One document in a `jaeger-dependencies-*` index: all links of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependencies {
    /// RFC 3339 time the links were computed for (Go's `time.Time` JSON,
    /// e.g. `2024-03-01T00:00:00Z`); kept as text so no date crate is needed.
    pub timestamp: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub dependencies: Vec<DependencyLink>,
}

/// A parent service → child service edge with its call count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    #[serde(rename = "callCount")]
    pub call_count: u64,
    /// Jaeger 1.x's ES model has no `source`; other writers (and Jaeger's
    /// domain model) carry one. Written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

/// Reads a JSON `null` (what Go writes for a nil slice) as an empty vector.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jaeger's own dbmodel fixture es_01.json, abridged: the shape every
    /// reader of ours must accept.
    const JAEGER_DOC: &str = r#"{
        "traceID": "0000000000000001", "spanID": "0000000000000002", "flags": 1,
        "operationName": "test-general-conversion",
        "references": [
            {"refType": "CHILD_OF", "traceID": "0000000000000001", "spanID": "0000000000000003"},
            {"refType": "FOLLOWS_FROM", "traceID": "0000000000000001", "spanID": "0000000000000004"}
        ],
        "startTime": 1485467191639875, "startTimeMillis": 1485467191639, "duration": 5,
        "tags": [
            {"key": "peer.ipv4", "type": "int64", "value": "23456"},
            {"key": "temperature", "type": "float64", "value": "72.5"},
            {"key": "blob", "type": "binary", "value": "00003039"}
        ],
        "logs": [{"timestamp": 1485467191639875, "fields": null}],
        "process": {"serviceName": "service-x", "tags": [{"key": "error", "type": "bool", "value": "true"}]}
    }"#;

    #[test]
    fn reads_jaeger_span_document() {
        let span: Span = serde_json::from_str(JAEGER_DOC).expect("valid doc");
        assert_eq!(span.trace_id, "0000000000000001");
        assert_eq!(span.flags, 1);
        assert_eq!(span.parent_span_id(), Some("0000000000000003"));
        assert_eq!(span.references[1].ref_type, RefType::FollowsFrom);
        assert_eq!(span.tags[1].value_type, ValueType::Float64);
        assert_eq!(
            span.tag_value("blob").map(|t| t.value.as_str()),
            Some("00003039")
        );
        assert!(span.logs[0].fields.is_empty());
        assert_eq!(span.process.service_name, "service-x");
    }

    #[test]
    fn omits_zero_flags_and_missing_parent_when_written() {
        let span = Span {
            trace_id: "01".into(),
            span_id: "02".into(),
            parent_span_id: None,
            flags: 0,
            operation_name: "op".into(),
            references: vec![],
            start_time: 1,
            start_time_millis: 0,
            duration: 2,
            tags: vec![KeyValue::string("k", "v")],
            tag: None,
            logs: vec![],
            process: Process {
                service_name: "svc".into(),
                tags: vec![],
                tag: None,
            },
        };
        let json = serde_json::to_string(&span).expect("serialises");
        assert_eq!(
            json,
            r#"{"traceID":"01","spanID":"02","operationName":"op","references":[],"startTime":1,"startTimeMillis":0,"duration":2,"tags":[{"key":"k","type":"string","value":"v"}],"logs":[],"process":{"serviceName":"svc","tags":[]}}"#
        );
    }

    #[test]
    fn round_trips_service_and_dependencies_documents() {
        let service: Service =
            serde_json::from_str(r#"{"serviceName":"a","operationName":"b"}"#).expect("valid");
        assert_eq!(service.operation_name, "b");
        let deps: Dependencies = serde_json::from_str(
            r#"{"timestamp":"2024-03-01T00:00:00Z","dependencies":[{"parent":"a","child":"b","callCount":3}]}"#,
        )
        .expect("valid");
        assert_eq!(deps.dependencies[0].call_count, 3);
        assert_eq!(deps.dependencies[0].source, None);
        let json = serde_json::to_string(&deps).expect("serialises");
        assert!(!json.contains("source"));
    }
}
