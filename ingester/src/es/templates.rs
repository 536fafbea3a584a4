//! Index templates for the Jaeger indices: span, service, dependencies and
//! adaptive sampling.
//!
//! The mappings are Jaeger 1.x's (plugin/storage/es/mappings/jaeger-*-7.json
//! and -8.json in Jaeger v1.53): `keyword` (`ignore_above: 256`) for IDs,
//! names and tag keys/values, `long` for `startTime`/`duration` (µs),
//! `date`/`epoch_millis` for `startTimeMillis`, `nested` for `tags`, `logs`,
//! `logs.fields`, `references` and `process.tags`, `object` for the
//! tags-as-fields maps plus dynamic templates making `tag.*` and
//! `process.tag.*` keywords, and the same index settings. Indices created
//! from them are the ones Jaeger would create, so jaeger-query and Grafana
//! query them unchanged. Like Jaeger, the dependencies template leaves the
//! document mapping to dynamic mapping (`"mappings": {}`).
//!
//! Two API shapes:
//! - [`TemplateApi::Legacy`]: `PUT _template/<name>`, the body Jaeger sends to
//!   Elasticsearch 7 (`index_patterns`, `settings`, typeless `mappings`).
//! - [`TemplateApi::Composable`]: `PUT _index_template/<name>`, for
//!   Elasticsearch 8/9 and OpenSearch 1+ (`index_patterns`, `priority`,
//!   `template: {settings, mappings}`).
//!
//! The bodies never carry ILM (`index.lifecycle.*`) or ISM settings or
//! rollover aliases: OpenSearch rejects ILM settings, and lifecycle
//! management belongs behind the flavour detection, not in these templates.
//!
//! This file depends on `serde_json` only.

use serde_json::{json, Value};

/// Which template API a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateApi {
    /// `_template` (legacy): Elasticsearch 7.x, as Jaeger installs there.
    Legacy,
    /// `_index_template` (composable): Elasticsearch 8/9 and OpenSearch 1+.
    Composable,
}

impl TemplateApi {
    /// The API to use for a backend: composable for OpenSearch and for
    /// Elasticsearch 8 and later, legacy for Elasticsearch 7 (where Jaeger
    /// itself uses legacy templates). Elasticsearch 6 and older are not
    /// supported (their mappings need a type level).
    pub fn for_backend(is_opensearch: bool, major_version: u32) -> Self {
        if is_opensearch || major_version >= 8 {
            TemplateApi::Composable
        } else {
            TemplateApi::Legacy
        }
    }

    /// The REST path prefix of this API (`_template` / `_index_template`).
    pub fn path(self) -> &'static str {
        match self {
            TemplateApi::Legacy => "_template",
            TemplateApi::Composable => "_index_template",
        }
    }
}

/// What varies between deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Index prefix (`--index-prefix`); empty for none. `tenant` and
    /// `tenant-` both give `tenant-jaeger-span-*`.
    pub prefix: String,
    pub shards: u32,
    pub replicas: u32,
}

impl Default for TemplateOptions {
    /// Jaeger's defaults: no prefix, 5 shards, 1 replica.
    fn default() -> Self {
        TemplateOptions {
            prefix: String::new(),
            shards: 5,
            replicas: 1,
        }
    }
}

/// Priority of the composable templates. Jaeger's default is 0; we sit above
/// Elasticsearch's built-in templates (priority 100, Fleet's up to 200, and
/// the docs advise above 500 for overlapping patterns) so that a prefix such
/// as `logs` cannot let `logs-*-*` win over the Jaeger mappings.
pub const COMPOSABLE_PRIORITY: u32 = 501;

/// Jaeger's `index.mapping.nested_fields.limit`.
const NESTED_FIELDS_LIMIT: u32 = 50;

/// The templates, `(name, body)`, in install order: span, service,
/// dependencies, sampling. Install each with `PUT /<api.path()>/<name>`.
pub fn templates(api: TemplateApi, opts: &TemplateOptions) -> Vec<(String, Value)> {
    let prefix = normalized_prefix(&opts.prefix);
    [
        ("jaeger-span", Some(span_mappings())),
        ("jaeger-service", Some(service_mappings())),
        ("jaeger-dependencies", None),
        ("jaeger-sampling", Some(sampling_mappings())),
    ]
    .into_iter()
    .map(|(base, mappings)| {
        let name = format!("{prefix}{base}");
        let mappings = mappings.unwrap_or_else(|| json!({}));
        let body = template_body(api, &name, opts, mappings);
        (name, body)
    })
    .collect()
}

/// `prefix-` (one dash, none for an empty prefix); the same rule as the
/// index names in ferrotrace-format's `jaeger::index`.
fn normalized_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('-') {
        prefix.to_owned()
    } else {
        format!("{prefix}-")
    }
}

/// Jaeger leaves the sampling documents to dynamic mapping; the maps keyed
/// by probability, service or operation are not indexed here (they stay in
/// `_source`), so that their keys do not become fields: a dotted key such as
/// `0.001000` would be an object path, and new names would grow the mapping
/// without bound.
fn sampling_mappings() -> Value {
    let unindexed = json!({"type": "object", "enabled": false});
    json!({
        "properties": {
            "timestamp": {"type": "date"},
            "throughputs": {"properties": {"Probabilities": unindexed}},
            "probabilitiesandqps": {"properties": {
                "Probabilities": unindexed,
                "QPS": unindexed,
            }},
        }
    })
}

fn template_body(api: TemplateApi, name: &str, opts: &TemplateOptions, mappings: Value) -> Value {
    let settings = json!({
        "index.number_of_shards": opts.shards,
        "index.number_of_replicas": opts.replicas,
        "index.mapping.nested_fields.limit": NESTED_FIELDS_LIMIT,
        "index.requests.cache.enable": true,
    });
    match api {
        // Jaeger's ES 7 patterns start with `*` (`*prefix-jaeger-span-*`).
        TemplateApi::Legacy => json!({
            "index_patterns": [format!("*{name}-*")],
            "settings": settings,
            "mappings": mappings,
        }),
        TemplateApi::Composable => json!({
            "index_patterns": [format!("{name}-*")],
            "priority": COMPOSABLE_PRIORITY,
            "template": {
                "settings": settings,
                "mappings": mappings,
            },
        }),
    }
}

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": 256})
}

/// Jaeger's mapping of a tag list: nested `{key, value, tagType}` keywords.
/// (`tagType` is in Jaeger's mapping although documents carry `type`;
/// `dynamic: false` leaves `type` stored but unindexed, as in Jaeger.)
fn nested_key_values() -> Value {
    json!({
        "type": "nested",
        "dynamic": false,
        "properties": {
            "key": keyword(),
            "value": keyword(),
            "tagType": keyword(),
        },
    })
}

/// `tag.*` and `process.tag.*` (tags-as-fields) become keywords.
fn tag_dynamic_templates() -> Value {
    json!([
        {"span_tags_map": {"mapping": keyword(), "path_match": "tag.*"}},
        {"process_tags_map": {"mapping": keyword(), "path_match": "process.tag.*"}},
    ])
}

fn span_mappings() -> Value {
    json!({
        "dynamic_templates": tag_dynamic_templates(),
        "properties": {
            "traceID": keyword(),
            "parentSpanID": keyword(),
            "spanID": keyword(),
            "operationName": keyword(),
            "startTime": {"type": "long"},
            "startTimeMillis": {"type": "date", "format": "epoch_millis"},
            "duration": {"type": "long"},
            "flags": {"type": "integer"},
            "logs": {
                "type": "nested",
                "dynamic": false,
                "properties": {
                    "timestamp": {"type": "long"},
                    "fields": nested_key_values(),
                },
            },
            "process": {
                "properties": {
                    "serviceName": keyword(),
                    "tag": {"type": "object"},
                    "tags": nested_key_values(),
                },
            },
            "references": {
                "type": "nested",
                "dynamic": false,
                "properties": {
                    "refType": keyword(),
                    "traceID": keyword(),
                    "spanID": keyword(),
                },
            },
            "tag": {"type": "object"},
            "tags": nested_key_values(),
        },
    })
}

fn service_mappings() -> Value {
    json!({
        "dynamic_templates": tag_dynamic_templates(),
        "properties": {
            "serviceName": keyword(),
            "operationName": keyword(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(prefix: &str) -> TemplateOptions {
        TemplateOptions {
            prefix: prefix.into(),
            shards: 3,
            replicas: 2,
        }
    }

    fn mappings(api: TemplateApi, body: &Value) -> &Value {
        match api {
            TemplateApi::Legacy => &body["mappings"],
            TemplateApi::Composable => &body["template"]["mappings"],
        }
    }

    fn settings(api: TemplateApi, body: &Value) -> &Value {
        match api {
            TemplateApi::Legacy => &body["settings"],
            TemplateApi::Composable => &body["template"]["settings"],
        }
    }

    const APIS: [TemplateApi; 2] = [TemplateApi::Legacy, TemplateApi::Composable];

    #[test]
    fn span_template_has_jaeger_mapping_types() {
        for api in APIS {
            let all = templates(api, &opts(""));
            let props = &mappings(api, &all[0].1)["properties"];
            for id in ["traceID", "spanID", "parentSpanID", "operationName"] {
                assert_eq!(
                    props[id],
                    json!({"type": "keyword", "ignore_above": 256}),
                    "{id}"
                );
            }
            assert_eq!(props["startTime"]["type"], "long");
            assert_eq!(props["duration"]["type"], "long");
            assert_eq!(props["flags"]["type"], "integer");
            assert_eq!(
                props["startTimeMillis"],
                json!({"type": "date", "format": "epoch_millis"})
            );
            for nested in [
                &props["tags"],
                &props["logs"],
                &props["logs"]["properties"]["fields"],
                &props["references"],
                &props["process"]["properties"]["tags"],
            ] {
                assert_eq!(nested["type"], "nested");
                assert_eq!(nested["dynamic"], false);
            }
            assert_eq!(props["tags"]["properties"]["key"]["type"], "keyword");
            assert_eq!(props["tags"]["properties"]["value"]["type"], "keyword");
            assert_eq!(props["logs"]["properties"]["timestamp"]["type"], "long");
            assert_eq!(
                props["process"]["properties"]["serviceName"]["type"],
                "keyword"
            );
            assert_eq!(
                props["references"]["properties"]["refType"]["type"],
                "keyword"
            );
            assert_eq!(props["tag"]["type"], "object");
            assert_eq!(props["process"]["properties"]["tag"]["type"], "object");
        }
    }

    #[test]
    fn maps_tags_as_fields_with_dynamic_templates() {
        for api in APIS {
            for (_, body) in templates(api, &opts("")).iter().take(2) {
                let dynamic = &mappings(api, body)["dynamic_templates"];
                assert_eq!(dynamic[0]["span_tags_map"]["path_match"], "tag.*");
                assert_eq!(dynamic[0]["span_tags_map"]["mapping"]["type"], "keyword");
                assert_eq!(
                    dynamic[1]["process_tags_map"]["path_match"],
                    "process.tag.*"
                );
                assert_eq!(
                    dynamic[1]["process_tags_map"]["mapping"]["ignore_above"],
                    256
                );
            }
        }
    }

    #[test]
    fn service_and_dependencies_templates_match_jaeger() {
        for api in APIS {
            let all = templates(api, &opts(""));
            let service = &mappings(api, &all[1].1)["properties"];
            assert_eq!(service["serviceName"]["type"], "keyword");
            assert_eq!(service["operationName"]["type"], "keyword");
            assert_eq!(mappings(api, &all[2].1), &json!({}));
        }
    }

    #[test]
    fn sampling_template_leaves_the_keyed_maps_unindexed() {
        for api in APIS {
            let all = templates(api, &opts(""));
            let props = &mappings(api, &all[3].1)["properties"];
            assert_eq!(props["timestamp"]["type"], "date");
            let off = json!({"type": "object", "enabled": false});
            assert_eq!(props["throughputs"]["properties"]["Probabilities"], off);
            let calculation = &props["probabilitiesandqps"]["properties"];
            assert_eq!(calculation["Probabilities"], off);
            assert_eq!(calculation["QPS"], off);
        }
    }

    #[test]
    fn names_and_patterns_carry_the_prefix() {
        let names = |prefix: &str| -> Vec<String> {
            templates(TemplateApi::Composable, &opts(prefix))
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(
            names(""),
            [
                "jaeger-span",
                "jaeger-service",
                "jaeger-dependencies",
                "jaeger-sampling"
            ]
        );
        assert_eq!(
            names("t1"),
            [
                "t1-jaeger-span",
                "t1-jaeger-service",
                "t1-jaeger-dependencies",
                "t1-jaeger-sampling"
            ]
        );
        assert_eq!(names("t1-"), names("t1"));

        let composable = templates(TemplateApi::Composable, &opts("t1"));
        assert_eq!(
            composable[0].1["index_patterns"],
            json!(["t1-jaeger-span-*"])
        );
        assert_eq!(
            composable[2].1["index_patterns"],
            json!(["t1-jaeger-dependencies-*"])
        );
        let legacy = templates(TemplateApi::Legacy, &opts("t1"));
        assert_eq!(
            legacy[1].1["index_patterns"],
            json!(["*t1-jaeger-service-*"])
        );
        let legacy = templates(TemplateApi::Legacy, &opts(""));
        assert_eq!(legacy[0].1["index_patterns"], json!(["*jaeger-span-*"]));
    }

    #[test]
    fn shapes_bodies_per_api() {
        for (_, body) in templates(TemplateApi::Legacy, &opts("")) {
            assert!(body.get("template").is_none());
            assert!(body.get("priority").is_none());
            assert!(body["mappings"].is_object());
        }
        for (_, body) in templates(TemplateApi::Composable, &opts("")) {
            assert_eq!(body["priority"], COMPOSABLE_PRIORITY);
            assert!(body.get("settings").is_none());
            assert!(body.get("mappings").is_none());
            assert!(body["template"]["mappings"].is_object());
        }
        for api in APIS {
            for (_, body) in templates(api, &opts("")) {
                let s = settings(api, &body);
                assert_eq!(s["index.number_of_shards"], 3);
                assert_eq!(s["index.number_of_replicas"], 2);
                assert_eq!(s["index.mapping.nested_fields.limit"], 50);
                assert_eq!(s["index.requests.cache.enable"], true);
                // Typeless mappings: no `_doc`/`span` level.
                let m = mappings(api, &body);
                assert!(m.get("_doc").is_none() && m.get("span").is_none());
            }
        }
    }

    fn has_key_containing(value: &Value, needle: &str) -> bool {
        match value {
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| k.contains(needle) || has_key_containing(v, needle)),
            Value::Array(items) => items.iter().any(|v| has_key_containing(v, needle)),
            _ => false,
        }
    }

    #[test]
    fn never_sends_lifecycle_settings() {
        for api in APIS {
            for (_, body) in templates(api, &TemplateOptions::default()) {
                assert!(!has_key_containing(&body, "lifecycle"));
                assert!(!has_key_containing(&body, "index_state_management"));
                assert!(!has_key_containing(&body, "aliases"));
            }
        }
    }

    #[test]
    fn picks_api_by_backend() {
        assert_eq!(TemplateApi::for_backend(false, 7), TemplateApi::Legacy);
        assert_eq!(TemplateApi::for_backend(false, 8), TemplateApi::Composable);
        assert_eq!(TemplateApi::for_backend(false, 9), TemplateApi::Composable);
        assert_eq!(TemplateApi::for_backend(true, 1), TemplateApi::Composable);
        assert_eq!(TemplateApi::for_backend(true, 3), TemplateApi::Composable);
        assert_eq!(TemplateApi::Legacy.path(), "_template");
        assert_eq!(TemplateApi::Composable.path(), "_index_template");
    }

    #[test]
    fn defaults_match_jaeger() {
        let defaults = TemplateOptions::default();
        assert_eq!((defaults.shards, defaults.replicas), (5, 1));
        assert!(defaults.prefix.is_empty());
    }
}
