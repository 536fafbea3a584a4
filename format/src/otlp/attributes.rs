//! Building and reading OTLP attributes with the semantics of the
//! OpenTelemetry Collector's pdata `Map`, which the Jaeger and Zipkin
//! translators follow: `Put*` replaces a key's value in place or appends,
//! `Remove` moves the last attribute into the removed one's place, and
//! `Str()` of a non-string value is empty.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// An attribute of any value.
pub fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// A string attribute.
pub fn kv_str(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// An integer attribute.
pub fn kv_int(key: impl Into<String>, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// A boolean attribute.
pub fn kv_bool(key: impl Into<String>, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// A floating-point attribute.
pub fn kv_double(key: impl Into<String>, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// pdata's `Put*`: replaces the value of an existing key in place, else appends.
pub fn upsert(attributes: &mut Vec<KeyValue>, attribute: KeyValue) {
    match attributes.iter_mut().find(|kv| kv.key == attribute.key) {
        Some(existing) => existing.value = attribute.value,
        None => attributes.push(attribute),
    }
}

/// The position of the first attribute named `key`.
pub fn find(attributes: &[KeyValue], key: &str) -> Option<usize> {
    attributes.iter().position(|kv| kv.key == key)
}

/// `Map.Remove`: the last attribute takes the removed one's place.
pub fn take(attributes: &mut Vec<KeyValue>, key: &str) -> Option<KeyValue> {
    find(attributes, key).map(|i| attributes.swap_remove(i))
}

/// `Map.Remove`, the removed attribute dropped.
pub fn remove(attributes: &mut Vec<KeyValue>, key: &str) {
    take(attributes, key);
}

/// The attribute's value, if it has one.
pub fn value(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

/// pdata's `Value.Str()`: the string, or empty for any other type.
pub fn str_value(kv: &KeyValue) -> &str {
    match value(kv) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

/// pdata's `Map.Get(key).Str()`: the string value of `key`, or empty.
pub fn get_str(attributes: &[KeyValue], key: &str) -> String {
    find(attributes, key).map_or_else(String::new, |i| str_value(&attributes[i]).to_owned())
}

/// The attribute's string value, moved out; empty for any other type.
pub fn into_string(kv: KeyValue) -> String {
    match kv.value.and_then(|v| v.value) {
        Some(Value::StringValue(s)) => s,
        _ => String::new(),
    }
}
