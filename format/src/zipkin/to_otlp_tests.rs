//! Tests of the v2 translator: each rule of the module docs on OTLP output,
//! refusals, and the Jaeger documents the ingester writes from the result.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span as OtlpSpan, Status};

use super::*;
use crate::jaeger::model as jaeger;
use crate::jaeger::SpanDocWriter;
use crate::zipkin::{parse_v1_json, parse_v2_json, v1_spans_to_otlp, Annotation, Endpoint};

const START: u64 = 1_700_000_000_000_000;

fn endpoint(service: &str) -> Endpoint {
    Endpoint {
        service_name: service.into(),
        ..Endpoint::default()
    }
}

fn span(id: u8, service: Option<&str>, tags: &[(&str, &str)]) -> Span {
    Span {
        trace_id: [0xaa; 16],
        id: [id; 8],
        name: format!("op-{id}"),
        timestamp: Some(START),
        duration: Some(250),
        local_endpoint: service.map(endpoint),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Span::default()
    }
}

fn value(attributes: &[KeyValue], key: &str) -> Option<Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn keys(attributes: &[KeyValue]) -> Vec<&str> {
    attributes.iter().map(|kv| kv.key.as_str()).collect()
}

fn all_spans(rs: &[ResourceSpans]) -> Vec<&OtlpSpan> {
    rs.iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

fn only_span(translated: &Translated) -> OtlpSpan {
    let spans = all_spans(&translated.request.resource_spans);
    assert_eq!(spans.len(), 1);
    spans[0].clone()
}

fn service_names(rs: &[ResourceSpans]) -> Vec<Option<String>> {
    rs.iter()
        .map(|r| string(&r.resource.as_ref().unwrap().attributes, "service.name"))
        .collect()
}

#[test]
fn non_span_attribute_list_is_sorted() {
    assert!(NON_SPAN_ATTRIBUTES.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn one_resource_per_local_service_sorted_by_name() {
    let translated = spans_to_otlp(vec![
        span(1, Some("web"), &[]),
        span(2, None, &[]),
        span(3, Some("Alpha"), &[]),
        span(4, Some("web"), &[]),
        span(5, Some(""), &[]),
    ]);
    assert_eq!(translated.spans, 5);
    let rs = &translated.request.resource_spans;
    // Byte order, as Go's strings.Compare: the nameless resource sorts as
    // "OTLPResourceNoServiceName", after "Alpha" and before "web".
    assert_eq!(
        service_names(rs),
        vec![Some("Alpha".into()), None, Some("web".into())]
    );
    let nameless = &rs[1];
    assert!(nameless.resource.as_ref().unwrap().attributes.is_empty());
    assert_eq!(nameless.scope_spans[0].spans.len(), 2);
    let web: Vec<_> = rs[2].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(web, ["op-1", "op-4"], "stable within a service");
    for r in rs {
        assert_eq!(r.scope_spans.len(), 1);
        assert_eq!(r.scope_spans[0].scope, None);
    }
}

#[test]
fn first_span_moves_resource_tags_and_later_spans_drop_them() {
    let translated = spans_to_otlp(vec![
        span(
            1,
            Some("svc"),
            &[("host.name", "h1"), ("process.pid", "42"), ("keep", "a")],
        ),
        span(2, Some("svc"), &[("host.name", "h2"), ("keep", "b")]),
    ]);
    let rs = &translated.request.resource_spans;
    assert_eq!(rs.len(), 1);
    let resource = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(keys(resource), ["service.name", "host.name", "process.pid"]);
    assert_eq!(string(resource, "host.name").as_deref(), Some("h1"));
    let spans = &rs[0].scope_spans[0].spans;
    assert_eq!(keys(&spans[0].attributes), ["keep"]);
    assert_eq!(
        keys(&spans[1].attributes),
        ["keep"],
        "host.name=h2 is dropped"
    );

    // A `service.name` tag overrides the endpoint's; a service-name source
    // renames the attribute that holds the endpoint's name.
    let translated = spans_to_otlp(vec![span(
        1,
        Some("svc"),
        &[
            ("otlp.service.name.source", "peer.name"),
            ("service.name", "tagged"),
        ],
    )]);
    let resource = &translated.request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(string(resource, "peer.name").as_deref(), Some("svc"));
    assert_eq!(string(resource, "service.name").as_deref(), Some("tagged"));
    // Without a local service name nothing moves, and the tags are dropped.
    let translated = spans_to_otlp(vec![span(1, None, &[("host.name", "h")])]);
    let rs = &translated.request.resource_spans[0];
    assert!(rs.resource.as_ref().unwrap().attributes.is_empty());
    assert!(rs.scope_spans[0].spans[0].attributes.is_empty());
}

#[test]
fn library_tags_become_the_instrumentation_scope() {
    fn lib<'a>(name: &'a str, version: &'a str) -> [(&'a str, &'a str); 2] {
        [
            ("otel.library.name", name),
            ("otel.library.version", version),
        ]
    }
    let translated = spans_to_otlp(vec![
        span(1, Some("svc"), &lib("io.b", "2")),
        span(2, Some("svc"), &lib("io.a", "1")),
        span(3, Some("svc"), &lib("io.b", "3")),
        span(4, Some("svc"), &[("otel.library.version", "9")]),
    ]);
    let scopes: Vec<_> = translated.request.resource_spans[0]
        .scope_spans
        .iter()
        .map(|s| {
            let scope = s
                .scope
                .as_ref()
                .map(|sc| (sc.name.clone(), sc.version.clone()));
            (scope, s.spans.len())
        })
        .collect();
    assert_eq!(
        scopes,
        vec![
            (None, 1),
            (Some(("io.a".into(), "1".into())), 1),
            (Some(("io.b".into(), "2".into())), 2),
        ]
    );
    for span in all_spans(&translated.request.resource_spans) {
        assert!(
            span.attributes.is_empty(),
            "library tags never stay: {:?}",
            span.attributes
        );
    }
}

#[test]
fn maps_kind_and_span_kind_internal() {
    let kind_of = |kind: Option<Kind>, tags: &[(&str, &str)]| {
        let mut s = span(1, Some("svc"), tags);
        s.kind = kind;
        let otlp = only_span(&spans_to_otlp(vec![s]));
        (otlp.kind, keys(&otlp.attributes).join(","))
    };
    assert_eq!(kind_of(Some(Kind::Client), &[]).0, SpanKind::Client as i32);
    assert_eq!(kind_of(Some(Kind::Server), &[]).0, SpanKind::Server as i32);
    assert_eq!(
        kind_of(Some(Kind::Producer), &[]).0,
        SpanKind::Producer as i32
    );
    assert_eq!(
        kind_of(Some(Kind::Consumer), &[]).0,
        SpanKind::Consumer as i32
    );
    assert_eq!(kind_of(None, &[]).0, SpanKind::Unspecified as i32);
    assert_eq!(
        kind_of(None, &[("span.kind", "internal")]),
        (SpanKind::Internal as i32, String::new())
    );
    assert_eq!(
        kind_of(None, &[("span.kind", "client")]),
        (SpanKind::Unspecified as i32, String::new())
    );
    assert_eq!(
        kind_of(Some(Kind::Server), &[("span.kind", "internal")]),
        (SpanKind::Server as i32, "span.kind".into())
    );
}

#[test]
fn maps_status_tags_and_the_error_tag() {
    let status_of = |tags: &[(&str, &str)]| {
        let otlp = only_span(&spans_to_otlp(vec![span(1, Some("svc"), tags)]));
        (otlp.status, keys(&otlp.attributes).join(","))
    };
    let status = |code: StatusCode, message: &str| {
        Some(Status {
            code: code as i32,
            message: message.into(),
        })
    };
    assert_eq!(status_of(&[]), (None, String::new()));
    assert_eq!(
        status_of(&[
            ("otel.status_code", "STATUS_CODE_ERROR"),
            ("otel.status_description", "boom")
        ]),
        (status(StatusCode::Error, "boom"), String::new())
    );
    assert_eq!(
        status_of(&[("otel.status_code", "Ok")]).0,
        status(StatusCode::Ok, "")
    );
    assert_eq!(
        status_of(&[("otel.status_code", "weird")]).0,
        status(StatusCode::Unset, "")
    );
    // A description without a code stays a plain attribute.
    assert_eq!(
        status_of(&[("otel.status_description", "d")]),
        (None, "otel.status_description".into())
    );
    assert_eq!(
        status_of(&[("error", "true")]),
        (status(StatusCode::Error, ""), String::new())
    );
    assert_eq!(
        status_of(&[("error", "timeout")]),
        (status(StatusCode::Error, ""), "error".into())
    );
    assert_eq!(
        status_of(&[("otel.status_code", "STATUS_CODE_OK"), ("error", "true")]).0,
        status(StatusCode::Error, "")
    );
}

#[test]
fn maps_trace_state_and_parent() {
    let mut s = span(1, Some("svc"), &[("w3c.tracestate", "vendor=x")]);
    s.parent_id = Some([9; 8]);
    let otlp = only_span(&spans_to_otlp(vec![s.clone()]));
    assert_eq!(otlp.trace_state, "vendor=x");
    assert!(otlp.attributes.is_empty());
    assert_eq!(otlp.parent_span_id, vec![9; 8]);
    assert_eq!(otlp.trace_id, vec![0xaa; 16]);
    assert_eq!(otlp.span_id, vec![1; 8]);
    assert_eq!(
        (otlp.start_time_unix_nano, otlp.end_time_unix_nano),
        (START * 1000, START * 1000 + 250_000)
    );
    s.parent_id = Some(s.id);
    assert!(only_span(&spans_to_otlp(vec![s])).parent_span_id.is_empty());
}

#[test]
fn keeps_other_tags_as_string_attributes() {
    let otlp = only_span(&spans_to_otlp(vec![span(
        1,
        Some("svc"),
        &[
            ("http.status_code", "200"),
            ("flag", "true"),
            ("ratio", "0.5"),
        ],
    )]));
    assert_eq!(
        keys(&otlp.attributes),
        ["flag", "http.status_code", "ratio"]
    );
    assert_eq!(
        value(&otlp.attributes, "http.status_code"),
        Some(Value::StringValue("200".into()))
    );
    assert_eq!(
        value(&otlp.attributes, "flag"),
        Some(Value::StringValue("true".into()))
    );
}

fn endpoints_span() -> Span {
    let mut s = span(1, Some("web"), &[("peer.service", "from-tag"), ("zz", "z")]);
    s.local_endpoint = Some(Endpoint {
        service_name: "web".into(),
        ipv4: Some("10.0.0.1".parse().unwrap()),
        ipv6: Some("::1".parse().unwrap()),
        port: 8080,
    });
    s.remote_endpoint = Some(Endpoint {
        service_name: "db".into(),
        ipv4: Some("10.0.0.2".parse().unwrap()),
        ipv6: None,
        port: 5432,
    });
    s
}

#[test]
fn maps_endpoints_to_network_attributes() {
    let otlp = only_span(&spans_to_otlp(vec![endpoints_span()]));
    // Tags first, then the local endpoint, then the remote one; a tag of the
    // same name is replaced in place.
    assert_eq!(
        keys(&otlp.attributes),
        [
            "peer.service",
            "zz",
            "net.host.ip",
            "net.host.port",
            "net.peer.ip",
            "net.peer.port"
        ]
    );
    let s = |k: &str| string(&otlp.attributes, k);
    assert_eq!(s("peer.service").as_deref(), Some("db"));
    assert_eq!(
        s("net.host.ip").as_deref(),
        Some("::1"),
        "IPv6 overrides IPv4"
    );
    assert_eq!(s("net.peer.ip").as_deref(), Some("10.0.0.2"));
    assert_eq!(
        value(&otlp.attributes, "net.host.port"),
        Some(Value::IntValue(8080))
    );
    assert_eq!(
        value(&otlp.attributes, "net.peer.port"),
        Some(Value::IntValue(5432))
    );

    let v1 = ToOtlpOptions {
        network: NetworkConventions::V1,
    };
    let otlp = only_span(&spans_to_otlp_with(vec![endpoints_span()], v1));
    assert_eq!(
        keys(&otlp.attributes),
        [
            "peer.service",
            "zz",
            "network.local.address",
            "net.host.port",
            "service.peer.name",
            "network.peer.address",
            "net.peer.port"
        ]
    );
    assert_eq!(
        string(&otlp.attributes, "peer.service").as_deref(),
        Some("from-tag")
    );
    let both = ToOtlpOptions {
        network: NetworkConventions::Both,
    };
    let otlp = only_span(&spans_to_otlp_with(vec![endpoints_span()], both));
    for key in [
        "net.host.ip",
        "network.local.address",
        "peer.service",
        "service.peer.name",
    ] {
        assert!(value(&otlp.attributes, key).is_some(), "{key}");
    }
}

#[test]
fn maps_annotations_to_events() {
    let mut s = span(1, Some("svc"), &[]);
    let annotation = |offset: u64, value: &str| Annotation {
        timestamp: START + offset,
        value: value.into(),
    };
    s.annotations = vec![
        annotation(1, "cache miss"),
        annotation(2, "a|b"),
        annotation(
            3,
            r#"retry|{"attempt":2,"ratio":0.5,"ok":true,"who":"x","nested":{}}|1"#,
        ),
        annotation(4, r#"odd|{not json}|1"#),
        annotation(5, r#"piped|{"a":"x|y"}|0"#),
    ];
    let otlp = only_span(&spans_to_otlp(vec![s]));
    let events: Vec<_> = otlp
        .events
        .iter()
        .map(|e| {
            (
                e.time_unix_nano,
                e.name.as_str(),
                keys(&e.attributes),
                e.dropped_attributes_count,
            )
        })
        .collect();
    let ns = |offset: u64| (START + offset) * 1000;
    assert_eq!(
        events,
        vec![
            (ns(1), "cache miss", vec![], 0),
            (ns(2), "a", vec![], 0),
            (ns(3), "retry", vec!["attempt", "ok", "ratio", "who"], 1),
            (ns(4), "odd|{not json}|1", vec![], 0),
            (ns(5), "piped", vec!["a"], 0),
        ]
    );
    let retry = &otlp.events[2].attributes;
    assert_eq!(value(retry, "attempt"), Some(Value::IntValue(2)));
    assert_eq!(value(retry, "ratio"), Some(Value::DoubleValue(0.5)));
    assert_eq!(value(retry, "ok"), Some(Value::BoolValue(true)));
    assert_eq!(
        string(&otlp.events[4].attributes, "a").as_deref(),
        Some("x|y")
    );
}

#[test]
fn maps_link_tags_to_links() {
    let link0 = format!("{}|{}|k=v|{{\"n\":1}}|3", "01".repeat(16), "02".repeat(8));
    let otlp = only_span(&spans_to_otlp(vec![span(
        1,
        Some("svc"),
        &[
            ("otlp.link.0", &link0),
            ("otlp.link.1", "too|few"),
            ("otlp.link.2", "zz|zz|x|{}|0"),
            ("otlp.link.4", &link0),
        ],
    )]));
    assert_eq!(otlp.links.len(), 1);
    let link = &otlp.links[0];
    assert_eq!(link.trace_id, vec![1; 16]);
    assert_eq!(link.span_id, vec![2; 8]);
    assert_eq!(link.trace_state, "k=v");
    assert_eq!(value(&link.attributes, "n"), Some(Value::IntValue(1)));
    assert_eq!(link.dropped_attributes_count, 3);
    // Links stop at the first missing index; later ones stay as attributes.
    assert_eq!(keys(&otlp.attributes), ["otlp.link.4"]);
}

#[test]
fn refuses_zero_ids_and_unusable_times_by_reason() {
    let mut zero_trace = span(1, Some("a"), &[]);
    zero_trace.trace_id = [0; 16];
    let mut zero_span = span(0, Some("a"), &[]);
    zero_span.trace_id = [0xbb; 16];
    let mut no_time = span(2, Some("b"), &[]);
    no_time.timestamp = None;
    let mut too_late = span(3, Some("b"), &[]);
    too_late.timestamp = Some(u64::MAX / 10);
    let mut long = span(4, Some("b"), &[]);
    long.duration = Some(u64::MAX);
    let mut bad_event = span(5, Some("b"), &[]);
    bad_event.annotations = vec![Annotation {
        timestamp: u64::MAX,
        value: "x".into(),
    }];
    let kept = span(6, Some("c"), &[]);
    let translated = spans_to_otlp(vec![
        zero_trace, zero_span, no_time, too_late, long, bad_event, kept,
    ]);
    assert_eq!(translated.spans, 1);
    assert_eq!(
        translated.refused.by_reason().collect::<Vec<_>>(),
        vec![
            ("zero_trace_id", 1),
            ("zero_span_id", 1),
            ("invalid_timestamp", 4)
        ]
    );
    assert_eq!(
        translated.refused.first(),
        Some("span 0 (trace 00000000000000000000000000000000): zero trace ID")
    );
    // Services whose spans were all refused leave no empty resource behind.
    assert_eq!(
        service_names(&translated.request.resource_spans),
        vec![Some("c".into())]
    );

    let mut only = span(1, Some("b"), &[]);
    only.timestamp = None;
    let translated = spans_to_otlp(vec![only]);
    assert!(translated.request.resource_spans.is_empty());
    assert_eq!(
        translated.refused.first(),
        Some(format!("span 0 (trace {}): no start timestamp", "aa".repeat(16)).as_str())
    );
}

/// A Zipkin shared RPC span: the client and server report the same span ID.
fn shared_rpc() -> Vec<Span> {
    let mut client = span(7, Some("frontend"), &[("http.path", "/api")]);
    client.kind = Some(Kind::Client);
    client.parent_id = Some([3; 8]);
    client.remote_endpoint = Some(endpoint("backend"));
    client.annotations = vec![Annotation {
        timestamp: START + 10,
        value: "ws".into(),
    }];
    let mut server = span(7, Some("backend"), &[("http.path", "/api")]);
    server.kind = Some(Kind::Server);
    server.parent_id = Some([3; 8]);
    server.shared = true;
    server.timestamp = Some(START + 20);
    server.duration = Some(100);
    vec![client, server]
}

#[test]
fn keeps_both_sides_of_a_shared_span() {
    let translated = spans_to_otlp(shared_rpc());
    assert_eq!(translated.spans, 2);
    let rs = &translated.request.resource_spans;
    assert_eq!(
        service_names(rs),
        vec![Some("backend".into()), Some("frontend".into())]
    );
    let server = &rs[0].scope_spans[0].spans[0];
    let client = &rs[1].scope_spans[0].spans[0];
    assert_eq!(server.span_id, client.span_id);
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(server.parent_span_id, vec![3; 8]);
}

fn jaeger_docs(request: &crate::translate::Translated) -> Vec<(String, jaeger::Span)> {
    let mut writer = SpanDocWriter::new();
    let mut docs = Vec::new();
    let stats = writer.write_request(&request.request, |doc| {
        let parsed: jaeger::Span = serde_json::from_slice(doc.json).unwrap();
        docs.push((doc.doc_id.to_owned(), parsed));
    });
    assert_eq!(stats.spans as u64, request.spans);
    docs
}

#[test]
fn writes_jaeger_documents_from_zipkin_v2_json() {
    let body = crate::zipkin::to_v2_json(&shared_rpc());
    let translated = spans_to_otlp(parse_v2_json(&body).unwrap());
    let docs = jaeger_docs(&translated);
    assert_eq!(docs.len(), 2);
    assert_ne!(
        docs[0].0, docs[1].0,
        "shared spans get distinct document ids"
    );
    let by_service: BTreeMap<_, _> = docs
        .iter()
        .map(|(_, d)| (d.process.service_name.as_str(), d))
        .collect();
    let client = by_service["frontend"];
    let server = by_service["backend"];
    for doc in [client, server] {
        assert_eq!(doc.operation_name, "op-7");
        assert_eq!(doc.span_id, "0707070707070707");
        assert_eq!(doc.parent_span_id(), Some("0303030303030303"));
        assert_eq!(doc.references[0].ref_type, jaeger::RefType::ChildOf);
        assert_eq!(
            doc.tag_value("http.path").map(|t| t.value.as_str()),
            Some("/api")
        );
    }
    assert_eq!(
        client.tag_value("span.kind").map(|t| t.value.as_str()),
        Some("client")
    );
    assert_eq!(
        server.tag_value("span.kind").map(|t| t.value.as_str()),
        Some("server")
    );
    assert_eq!(
        client.tag_value("peer.service").map(|t| t.value.as_str()),
        Some("backend")
    );
    assert_eq!(client.start_time, START);
    assert_eq!(client.duration, 250);
    assert_eq!(server.start_time, START + 20);
    assert_eq!(client.logs.len(), 1);
    assert_eq!(client.logs[0].timestamp, START + 10);
    assert_eq!(
        client.logs[0].fields,
        vec![jaeger::KeyValue::string("event", "ws")]
    );
}

#[test]
fn writes_jaeger_documents_from_zipkin_v1_json() {
    let body = br#"[{
        "traceId": "0000000000000001", "id": "0000000000000002", "parentId": "0000000000000003",
        "name": "get", "timestamp": 1700000000000000, "duration": 5,
        "annotations": [
            {"timestamp": 1700000000000000, "value": "sr", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.1", "port": 80}},
            {"timestamp": 1700000000000002, "value": "checked"},
            {"timestamp": 1700000000000005, "value": "ss", "endpoint": {"serviceName": "api"}}
        ],
        "binaryAnnotations": [{"key": "error", "value": "oops"}, {"key": "http.url", "value": "/x"}]
    }]"#;
    let translated = v1_spans_to_otlp(parse_v1_json(body).unwrap());
    let docs = jaeger_docs(&translated);
    let doc = &docs[0].1;
    assert_eq!(doc.process.service_name, "api");
    let process_tags: Vec<_> = doc
        .process
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(process_tags, [("ipv4", "10.0.0.1"), ("port", "80")]);
    assert_eq!(doc.parent_span_id(), Some("0000000000000003"));
    assert_eq!(
        doc.tag_value("span.kind").map(|t| t.value.as_str()),
        Some("server")
    );
    assert_eq!(
        doc.tag_value("error").map(|t| t.value.as_str()),
        Some("true")
    );
    assert_eq!(
        doc.tag_value("http.url").map(|t| t.value.as_str()),
        Some("/x")
    );
    assert_eq!(
        doc.logs[0].fields,
        vec![jaeger::KeyValue::string("event", "checked")]
    );
}
