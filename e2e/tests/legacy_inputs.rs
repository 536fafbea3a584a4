//! Every Jaeger and Zipkin input end to end: payloads encoded with real
//! encoders (the `thrift` crate's output protocols, prost, serde) go into the
//! collector's Jaeger UDP, Jaeger HTTP, Jaeger gRPC and Zipkin receivers,
//! through tansu, out of the ingester into osmem, and the stored Jaeger
//! documents are checked field by field: service, operation, parent
//! reference, tags of each type, logs and process tags.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ferrotrace_format::jaeger::thrift::{
    self as jthrift, encode_batch, encode_emit_batch, Log, Process, Tag,
};
use ferrotrace_format::jaeger::{proto as jproto, thrift::SpanRef, thrift::SpanRefType};
use ferrotrace_format::thrift::ThriftProtocol;
use ferrotrace_format::zipkin;
use serde_json::Value;
use support::{Cluster, AFTER_MIDNIGHT_NS};

/// 2026-11-26T00:00:00.5Z in µs: every span lands in the 2026-11-26 index.
const START_MICROS: i64 = (AFTER_MIDNIGHT_NS / 1_000) as i64;
const TRACE_HIGH: i64 = 0x1122_3344_5566_7788;
const ROOT_ID: i64 = 0x0a0b_0c0d_0e0f_1011;
const CHILD_ID: i64 = 0x2122_2324_2526_2728;

/// A two-span Jaeger trace: a server root and a client child with every tag
/// type, a log and process tags. `trace_low` keeps each payload's trace apart.
fn jaeger_thrift_batch(service: &str, trace_low: i64) -> jthrift::Batch {
    let root = jthrift::Span {
        trace_id_low: trace_low,
        trace_id_high: TRACE_HIGH,
        span_id: ROOT_ID,
        operation_name: "HTTP GET /dispatch".into(),
        start_time: START_MICROS,
        duration: 2_000,
        tags: vec![Tag::string("span.kind", "server")],
        ..Default::default()
    };
    let child = jthrift::Span {
        trace_id_low: trace_low,
        trace_id_high: TRACE_HIGH,
        span_id: CHILD_ID,
        parent_span_id: ROOT_ID,
        operation_name: "SQL SELECT".into(),
        references: vec![SpanRef {
            ref_type: SpanRefType::CHILD_OF,
            trace_id_low: trace_low,
            trace_id_high: TRACE_HIGH,
            span_id: ROOT_ID,
        }],
        start_time: START_MICROS + 100,
        duration: 1_500,
        tags: vec![
            Tag::string("span.kind", "client"),
            Tag::string("sql.query", "SELECT * FROM customer"),
            Tag::long("db.rows", 42),
            Tag::double("ratio", 0.25),
            Tag::bool("cache.hit", true),
            Tag::binary("payload", vec![1, 2, 255]),
        ],
        logs: vec![Log {
            timestamp: START_MICROS + 150,
            fields: vec![
                Tag::string("event", "acquired lock"),
                Tag::long("waiters", 3),
            ],
        }],
        ..Default::default()
    };
    jthrift::Batch {
        process: Process {
            service_name: service.into(),
            tags: vec![
                Tag::string("ip", "10.0.0.7"),
                Tag::string("client-uuid", "c0ffee"),
            ],
        },
        spans: vec![root, child],
        ..Default::default()
    }
}

/// The same trace in Jaeger's protobuf model, as an agent's `PostSpans` carries it.
fn jaeger_proto_batch(service: &str, trace_low: i64) -> jproto::Batch {
    let timestamp = |micros: i64| prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000) as i32 * 1_000,
    };
    let duration = |micros: i64| prost_types::Duration {
        seconds: 0,
        nanos: micros as i32 * 1_000,
    };
    let trace_id = jproto::trace_id_bytes(TRACE_HIGH as u64, trace_low as u64);
    let root = jproto::Span {
        trace_id: trace_id.clone(),
        span_id: jproto::span_id_bytes(ROOT_ID as u64),
        operation_name: "HTTP GET /dispatch".into(),
        start_time: Some(timestamp(START_MICROS)),
        duration: Some(duration(2_000)),
        tags: vec![jproto::KeyValue::string("span.kind", "server")],
        ..Default::default()
    };
    let child = jproto::Span {
        trace_id: trace_id.clone(),
        span_id: jproto::span_id_bytes(CHILD_ID as u64),
        operation_name: "SQL SELECT".into(),
        references: vec![jproto::SpanRef {
            trace_id,
            span_id: jproto::span_id_bytes(ROOT_ID as u64),
            ref_type: jproto::SpanRefType::ChildOf as i32,
        }],
        start_time: Some(timestamp(START_MICROS + 100)),
        duration: Some(duration(1_500)),
        tags: vec![
            jproto::KeyValue::string("span.kind", "client"),
            jproto::KeyValue::string("sql.query", "SELECT * FROM customer"),
            jproto::KeyValue::int64("db.rows", 42),
            jproto::KeyValue::float64("ratio", 0.25),
            jproto::KeyValue::bool("cache.hit", true),
            jproto::KeyValue::binary("payload", vec![1, 2, 255]),
        ],
        logs: vec![jproto::Log {
            timestamp: Some(timestamp(START_MICROS + 150)),
            fields: vec![
                jproto::KeyValue::string("event", "acquired lock"),
                jproto::KeyValue::int64("waiters", 3),
            ],
        }],
        ..Default::default()
    };
    jproto::Batch {
        spans: vec![root, child],
        process: Some(jproto::Process {
            service_name: service.into(),
            tags: vec![
                jproto::KeyValue::string("ip", "10.0.0.7"),
                jproto::KeyValue::string("client-uuid", "c0ffee"),
            ],
        }),
    }
}

/// The stored span documents of one service, waiting until `expected` are there.
async fn docs_of(cluster: &Cluster, service: &str, expected: usize) -> Vec<Value> {
    let index = format!("{}-jaeger-span-2026-11-26", cluster.prefix);
    let mut docs = Vec::new();
    for _ in 0..240 {
        docs = cluster
            .osmem
            .all_docs(&index)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(_, doc)| doc)
            .filter(|doc| doc["process"]["serviceName"] == service)
            .collect();
        if docs.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        docs.len(),
        expected,
        "span documents of {service} (got {docs:#?})"
    );
    docs
}

fn by_operation<'a>(docs: &'a [Value], operation: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["operationName"] == operation)
        .unwrap_or_else(|| panic!("no span {operation:?} in {docs:#?}"))
}

/// `key → (type, value)` of a document's tags (or a log's fields).
fn tags(list: &Value) -> BTreeMap<String, (String, String)> {
    list.as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                    (text("key"), (text("type"), text("value")))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tag(key: &str, kind: &str, value: &str) -> (String, (String, String)) {
    (key.into(), (kind.into(), value.into()))
}

/// Checks the two documents of [`jaeger_thrift_batch`]'s trace.
fn assert_jaeger_trace(docs: &[Value], trace_low: i64) {
    let trace_id = format!("{:016x}{:016x}", TRACE_HIGH, trace_low);
    let root = by_operation(docs, "HTTP GET /dispatch");
    let child = by_operation(docs, "SQL SELECT");
    assert_eq!(root["traceID"], trace_id.as_str());
    assert_eq!(root["spanID"], format!("{ROOT_ID:016x}").as_str());
    assert_eq!(root["startTime"], START_MICROS);
    assert_eq!(root["duration"], 2_000);
    assert!(tags(&root["tags"]).contains_key("span.kind"));
    assert_eq!(
        child["references"],
        serde_json::json!([{"refType": "CHILD_OF", "traceID": trace_id, "spanID": format!("{ROOT_ID:016x}")}])
    );
    let child_tags = tags(&child["tags"]);
    for expected in [
        tag("span.kind", "string", "client"),
        tag("sql.query", "string", "SELECT * FROM customer"),
        tag("db.rows", "int64", "42"),
        tag("ratio", "float64", "0.25"),
        tag("cache.hit", "bool", "true"),
        tag("payload", "binary", "0102ff"),
    ] {
        assert_eq!(
            child_tags.get(&expected.0),
            Some(&expected.1),
            "tag {} in {child_tags:?}",
            expected.0
        );
    }
    let logs = child["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["timestamp"], START_MICROS + 150);
    let fields = tags(&logs[0]["fields"]);
    assert_eq!(
        fields.get("event"),
        Some(&("string".into(), "acquired lock".into()))
    );
    assert_eq!(fields.get("waiters"), Some(&("int64".into(), "3".into())));
    let process_tags = tags(&child["process"]["tags"]);
    assert_eq!(
        process_tags.get("ip"),
        Some(&("string".into(), "10.0.0.7".into()))
    );
    assert_eq!(
        process_tags.get("client-uuid"),
        Some(&("string".into(), "c0ffee".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_udp_compact_binary_and_zipkin_batches_are_stored() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&[]);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let compact = encode_emit_batch(
        &jaeger_thrift_batch("udp-compact", 1),
        ThriftProtocol::Compact,
        1,
    );
    socket
        .send_to(&compact, cluster.jaeger_compact)
        .await
        .unwrap();
    let binary = encode_emit_batch(
        &jaeger_thrift_batch("udp-binary", 2),
        ThriftProtocol::Binary,
        2,
    );
    socket
        .send_to(&binary, cluster.jaeger_binary)
        .await
        .unwrap();

    // emitZipkinBatch: a v1 client span, as old Zipkin-compatible Jaeger clients send it.
    let endpoint = zipkin::ThriftEndpoint {
        ipv4: 0x0a00_0008,
        port: 8080,
        service_name: "udp-zipkin".into(),
        ..Default::default()
    };
    let annotation = |timestamp: i64, value: &str| zipkin::ThriftAnnotation {
        timestamp,
        value: value.into(),
        host: Some(endpoint.clone()),
    };
    let zipkin_span = zipkin::ThriftSpan {
        trace_id: 3,
        trace_id_high: Some(TRACE_HIGH),
        name: "get customer".into(),
        id: CHILD_ID,
        parent_id: Some(ROOT_ID),
        annotations: vec![
            annotation(START_MICROS, "cs"),
            annotation(START_MICROS + 500, "cr"),
        ],
        binary_annotations: vec![zipkin::ThriftBinaryAnnotation {
            key: "http.path".into(),
            value: b"/customer".to_vec(),
            annotation_type: zipkin::ThriftAnnotationType::String,
            host: Some(endpoint.clone()),
        }],
        timestamp: Some(START_MICROS),
        duration: Some(500),
        ..Default::default()
    };
    let packet = zipkin::encode_emit_zipkin_batch(&[zipkin_span], ThriftProtocol::Compact);
    socket
        .send_to(&packet, cluster.jaeger_compact)
        .await
        .unwrap();

    assert_jaeger_trace(&docs_of(&cluster, "udp-compact", 2).await, 1);
    assert_jaeger_trace(&docs_of(&cluster, "udp-binary", 2).await, 2);
    let zipkin_docs = docs_of(&cluster, "udp-zipkin", 1).await;
    let doc = &zipkin_docs[0];
    assert_eq!(doc["operationName"], "get customer");
    assert_eq!(doc["duration"], 500);
    assert_eq!(
        doc["references"][0]["spanID"],
        format!("{ROOT_ID:016x}").as_str()
    );
    let doc_tags = tags(&doc["tags"]);
    assert_eq!(
        doc_tags.get("span.kind"),
        Some(&("string".into(), "client".into()))
    );
    assert_eq!(
        doc_tags.get("http.path"),
        Some(&("string".into(), "/customer".into()))
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_thrift_over_http_is_stored_and_answered_202() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&[]);
    let http = reqwest::Client::new();
    let url = format!("{}/api/traces", cluster.jaeger_http);

    let body = encode_batch(
        &jaeger_thrift_batch("thrift-http", 4),
        ThriftProtocol::Binary,
    );
    let response = http
        .post(&url)
        .header("content-type", "application/x-thrift")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Truncated Thrift: 400 with a message, nothing stored from it.
    let response = http
        .post(&url)
        .header("content-type", "application/vnd.apache.thrift.binary")
        .body(body[..body.len() / 2].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(message.contains("invalid Thrift"), "{message}");

    assert_jaeger_trace(&docs_of(&cluster, "thrift-http", 2).await, 4);
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_grpc_post_spans_is_stored() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&[]);
    let channel = tonic::transport::Endpoint::from_shared(cluster.jaeger_grpc.clone())
        .unwrap()
        .connect()
        .await
        .expect("connect to the Jaeger gRPC receiver");
    let mut grpc = tonic::client::Grpc::new(channel);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(jproto::POST_SPANS_PATH);

    let request = jproto::PostSpansRequest {
        batch: Some(jaeger_proto_batch("jaeger-grpc", 5)),
    };
    grpc.ready().await.unwrap();
    let response: tonic::Response<jproto::PostSpansResponse> = grpc
        .unary(
            tonic::Request::new(request),
            path.clone(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("PostSpans accepted");
    assert_eq!(response.into_inner(), jproto::PostSpansResponse {});

    // A span with a zero trace ID is refused with INVALID_ARGUMENT; its batch-mate is kept.
    let mut batch = jaeger_proto_batch("jaeger-grpc-zero", 6);
    batch.spans[0].trace_id = vec![0; 16];
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, jproto::PostSpansResponse, _>(
            tonic::Request::new(jproto::PostSpansRequest { batch: Some(batch) }),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("a zero trace ID is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("zero trace ID"), "{status:?}");

    assert_jaeger_trace(&docs_of(&cluster, "jaeger-grpc", 2).await, 5);
    let kept = docs_of(&cluster, "jaeger-grpc-zero", 1).await;
    assert_eq!(kept[0]["operationName"], "SQL SELECT");
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

/// A Zipkin v2 client span and the server span sharing its ID.
fn zipkin_shared_spans(local: &str, remote: &str, trace_low: u64) -> Vec<zipkin::Span> {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(TRACE_HIGH as u64).to_be_bytes());
    trace_id[8..].copy_from_slice(&trace_low.to_be_bytes());
    let endpoint = |service: &str| zipkin::Endpoint {
        service_name: service.into(),
        ipv4: Some("10.0.0.9".parse().unwrap()),
        port: 9000,
        ..Default::default()
    };
    let client = zipkin::Span {
        trace_id,
        id: (CHILD_ID as u64).to_be_bytes(),
        parent_id: Some((ROOT_ID as u64).to_be_bytes()),
        kind: Some(zipkin::Kind::Client),
        name: "get /route".into(),
        timestamp: Some(START_MICROS as u64),
        duration: Some(800),
        local_endpoint: Some(endpoint(local)),
        remote_endpoint: Some(endpoint(remote)),
        annotations: vec![zipkin::Annotation {
            timestamp: START_MICROS as u64 + 10,
            value: "retrying".into(),
        }],
        tags: [("http.method".to_string(), "GET".to_string())].into(),
        ..Default::default()
    };
    let server = zipkin::Span {
        kind: Some(zipkin::Kind::Server),
        shared: true,
        timestamp: Some(START_MICROS as u64 + 100),
        duration: Some(600),
        local_endpoint: Some(endpoint(remote)),
        remote_endpoint: None,
        annotations: vec![],
        ..client.clone()
    };
    vec![client, server]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipkin_v2_json_v2_protobuf_and_v1_json_are_stored() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&[]);
    let http = reqwest::Client::new();
    let v2 = format!("{}/api/v2/spans", cluster.zipkin);

    let json = zipkin::to_v2_json(&zipkin_shared_spans("zipkin-json", "route-json", 7));
    let response = http
        .post(&v2)
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Protobuf, gzip-compressed as Zipkin reporters can send it.
    let proto = zipkin::to_v2_proto(&zipkin_shared_spans("zipkin-proto", "route-proto", 8));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &proto).unwrap();
    let response = http
        .post(&v2)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gzip.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // v1 JSON: one span holding both sides (cs/sr/ss/cr), as Zipkin v1 clients report it.
    let v1 = serde_json::json!([{
        "traceId": format!("{:016x}", 9),
        "id": format!("{CHILD_ID:016x}"),
        "parentId": format!("{ROOT_ID:016x}"),
        "name": "get /v1",
        "timestamp": START_MICROS,
        "duration": 900,
        "annotations": [
            {"timestamp": START_MICROS, "value": "cs", "endpoint": {"serviceName": "zipkin-v1", "ipv4": "10.0.0.1"}},
            {"timestamp": START_MICROS + 900, "value": "cr", "endpoint": {"serviceName": "zipkin-v1", "ipv4": "10.0.0.1"}}
        ],
        "binaryAnnotations": [
            {"key": "http.url", "value": "/v1", "endpoint": {"serviceName": "zipkin-v1", "ipv4": "10.0.0.1"}},
            {"key": "sa", "value": true, "endpoint": {"serviceName": "v1-db", "ipv4": "10.0.0.2", "port": 5432}}
        ]
    }]);
    let response = http
        .post(format!("{}/api/v1/spans", cluster.zipkin))
        .json(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Wrong JSON types: 400 naming the problem.
    let response = http
        .post(&v2)
        .header("content-type", "application/json")
        .body(r#"[{"traceId": 12, "id": "0000000000000001"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(!response.text().await.unwrap().is_empty());

    for (local, remote) in [
        ("zipkin-json", "route-json"),
        ("zipkin-proto", "route-proto"),
    ] {
        let client = docs_of(&cluster, local, 1).await;
        let client = &client[0];
        assert_eq!(client["operationName"], "get /route");
        assert_eq!(client["spanID"], format!("{CHILD_ID:016x}").as_str());
        assert_eq!(
            client["references"][0]["spanID"],
            format!("{ROOT_ID:016x}").as_str()
        );
        let client_tags = tags(&client["tags"]);
        assert_eq!(
            client_tags.get("span.kind"),
            Some(&("string".into(), "client".into()))
        );
        assert_eq!(
            client_tags.get("peer.service"),
            Some(&("string".into(), remote.into()))
        );
        assert_eq!(
            client_tags.get("http.method"),
            Some(&("string".into(), "GET".into()))
        );
        let fields = tags(&client["logs"][0]["fields"]);
        assert_eq!(
            fields.get("event"),
            Some(&("string".into(), "retrying".into()))
        );
        // The shared server side: same span ID, its own document and service.
        let server = docs_of(&cluster, remote, 1).await;
        assert_eq!(server[0]["spanID"], client["spanID"]);
        assert_eq!(
            tags(&server[0]["tags"]).get("span.kind"),
            Some(&("string".into(), "server".into()))
        );
    }
    let v1_docs = docs_of(&cluster, "zipkin-v1", 1).await;
    assert_eq!(v1_docs[0]["operationName"], "get /v1");
    assert_eq!(
        tags(&v1_docs[0]["tags"]).get("http.url"),
        Some(&("string".into(), "/v1".into()))
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
