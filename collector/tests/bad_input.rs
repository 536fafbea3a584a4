//! Hostile and broken input against a real collector process: every
//! receiver answers with a clear error (or, for UDP, drops and counts),
//! `/metrics` counts it by receiver and reason, the process keeps serving,
//! and valid input afterwards is still accepted.

mod support;

use std::process::Stdio;
use std::time::Duration;

use ferrotrace_common::jaeger::proto as jproto;
use ferrotrace_common::jaeger::thrift::{encode_batch, encode_emit_batch, Batch, Process, Span};
use ferrotrace_common::testkit::{
    free_port, sample, scrape_metrics, unique_name, wait_until, Tansu,
};
use ferrotrace_common::thrift::ThriftProtocol;
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

/// 2026-11-26T00:00:00Z in µs.
const START_MICROS: i64 = 1_795_651_200_000_000;

struct Ports {
    compact: u16,
    binary: u16,
    jaeger_http: u16,
    jaeger_grpc: u16,
    zipkin: u16,
    admin: u16,
}

fn start_collector(brokers: &str, topic: &str, extra_env: &[(&str, &str)]) -> (Child, Ports) {
    let ports = Ports {
        compact: free_port(),
        binary: free_port(),
        jaeger_http: free_port(),
        jaeger_grpc: free_port(),
        zipkin: free_port(),
        admin: free_port(),
    };
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
        .env("FERROTRACE_KAFKA_BROKERS", brokers)
        .env("FERROTRACE_KAFKA_TOPIC", topic)
        .env("FERROTRACE_OTLP_GRPC_LISTEN", "")
        .env("FERROTRACE_OTLP_HTTP_LISTEN", "")
        .env("FERROTRACE_JAEGER_COMPACT_LISTEN", listen(ports.compact))
        .env("FERROTRACE_JAEGER_BINARY_LISTEN", listen(ports.binary))
        .env("FERROTRACE_JAEGER_HTTP_LISTEN", listen(ports.jaeger_http))
        .env("FERROTRACE_JAEGER_GRPC_LISTEN", listen(ports.jaeger_grpc))
        .env("FERROTRACE_ZIPKIN_LISTEN", listen(ports.zipkin))
        .env("FERROTRACE_SAMPLING_HTTP_LISTEN", "")
        .env("FERROTRACE_ADMIN_LISTEN", listen(ports.admin))
        // START_MICROS is a fixed date.
        .env("FERROTRACE_MAX_SPAN_AGE", "876000h")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("collector starts");
    (child, ports)
}

fn batch(service: &str, spans: Vec<Span>) -> Batch {
    Batch {
        process: Process {
            service_name: service.into(),
            tags: vec![],
        },
        spans,
        ..Default::default()
    }
}

fn span(trace_low: i64, span_id: i64, start_time: i64) -> Span {
    Span {
        trace_id_low: trace_low,
        span_id,
        operation_name: "op".into(),
        start_time,
        duration: 10,
        ..Default::default()
    }
}

/// A protobuf message whose field 1 is a varint where `PostSpansRequest` has a message.
#[derive(Clone, PartialEq, prost::Message)]
struct WrongWireType {
    #[prost(uint64, tag = "1")]
    batch: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receiver_refuses_bad_input_clearly_counts_it_and_keeps_serving() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let (mut collector, ports) = start_collector(
        &tansu.brokers(),
        &topic,
        &[
            ("FERROTRACE_MAX_REQUEST_BYTES", "65536"),
            ("FERROTRACE_MAX_INFLIGHT_BYTES", "1048576"),
            ("FERROTRACE_JAEGER_UDP_MAX_PACKET_BYTES", "1000"),
        ],
    );
    let http = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(30), || async {
        http.get(format!("http://127.0.0.1:{}/readyz", ports.admin))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "collector ready");

    // Jaeger Thrift HTTP.
    let jaeger_http = format!("http://127.0.0.1:{}/api/traces", ports.jaeger_http);
    let post = |url: String, content_type: &'static str, body: Vec<u8>| {
        let http = http.clone();
        async move {
            let response = http
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("request answered");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let (status, text) = post(
        jaeger_http.clone(),
        "application/x-thrift",
        b"\x0c\x00\x01garbage".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid Thrift jaeger.Batch"), "{text}");
    let good = encode_batch(
        &batch("svc", vec![span(1, 1, START_MICROS)]),
        ThriftProtocol::Binary,
    );
    let (status, text) = post(jaeger_http.clone(), "text/plain", good.clone()).await;
    assert_eq!(status, 400, "wrong content type: {text}");
    assert!(text.contains("content type"), "{text}");
    let (status, _) = post(jaeger_http.clone(), "application/x-thrift", vec![0; 70_000]).await;
    assert_eq!(status, 413, "body over --max-request-bytes");
    // Zero trace ID next to a valid span: 400 naming the refusal, the valid span is kept.
    let mixed = encode_batch(
        &batch(
            "svc",
            vec![span(0, 1, START_MICROS), span(2, 2, START_MICROS)],
        ),
        ThriftProtocol::Binary,
    );
    let (status, text) = post(jaeger_http.clone(), "application/x-thrift", mixed).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("1 spans refused, the other 1 accepted"),
        "{text}"
    );

    // Zipkin.
    let zipkin = format!("http://127.0.0.1:{}/api/v2/spans", ports.zipkin);
    for (body, expected) in [
        (r#"{"not": "an array"}"#, "array"),
        (r#"[{"traceId": 5, "id": "0000000000000001"}]"#, "span 0"),
        (
            r#"[{"traceId": "xyz", "id": "0000000000000001"}]"#,
            "span 0",
        ),
    ] {
        let (status, text) = post(zipkin.clone(), "application/json", body.into()).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    let (status, _) = post(zipkin.clone(), "application/x-protobuf", vec![0xff; 40]).await;
    assert_eq!(status, 400, "garbage protobuf");
    let (status, _) = post(zipkin.clone(), "text/csv", b"a,b".to_vec()).await;
    assert_eq!(status, 415, "unsupported content type");
    // Nanoseconds where microseconds belong: an absurd timestamp.
    let absurd = format!(
        r#"[{{"traceId": "00000000000000000000000000000001", "id": "0000000000000001", "name": "x", "timestamp": {}, "duration": 5, "localEndpoint": {{"serviceName": "z"}}}}]"#,
        START_MICROS as u64 * 1000
    );
    let (status, text) = post(zipkin.clone(), "application/json", absurd.into_bytes()).await;
    assert_eq!(status, 400, "{text}");

    // Jaeger gRPC: a body that is not a PostSpansRequest.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", ports.jaeger_grpc))
            .unwrap()
            .connect()
            .await
            .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, jproto::PostSpansResponse, _>(
            tonic::Request::new(WrongWireType { batch: 7 }),
            tonic::codegen::http::uri::PathAndQuery::from_static(jproto::POST_SPANS_PATH),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("garbage refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("invalid PostSpansRequest"),
        "{status:?}"
    );

    // UDP: garbage, a wrong method, an oversized packet, then a valid one.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let compact = format!("127.0.0.1:{}", ports.compact);
    let binary = format!("127.0.0.1:{}", ports.binary);
    socket.send_to(b"\x82\x21garbage", &compact).await.unwrap();
    let mut wrong_method = encode_emit_batch(
        &batch("udp", vec![span(3, 3, START_MICROS)]),
        ThriftProtocol::Binary,
        1,
    );
    let at = wrong_method
        .windows(9)
        .position(|w| w == b"emitBatch")
        .unwrap();
    wrong_method[at..at + 9].copy_from_slice(b"emitBatcX");
    socket.send_to(&wrong_method, &binary).await.unwrap();
    socket.send_to(&[0u8; 1500], &compact).await.unwrap();
    let valid = encode_emit_batch(
        &batch("udp", vec![span(4, 4, START_MICROS)]),
        ThriftProtocol::Compact,
        2,
    );
    socket.send_to(&valid, &compact).await.unwrap();

    let counted = wait_until(Duration::from_secs(20), || async {
        let m = scrape_metrics(ports.admin).await;
        sample(&m, r#"ferrotrace_collector_spans_total{receiver="jaeger_compact",outcome="accepted"}"#) >= 1.0
            && sample(&m, r#"ferrotrace_collector_udp_packets_dropped_total{receiver="jaeger_binary",reason="unknown_method"}"#) >= 1.0
    })
    .await;
    let m = scrape_metrics(ports.admin).await;
    assert!(counted, "valid UDP span accepted after bad packets: {m:#?}");
    for (series, at_least) in [
        (
            r#"ferrotrace_collector_udp_packets_dropped_total{receiver="jaeger_compact",reason="malformed"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_udp_packets_dropped_total{receiver="jaeger_compact",reason="too_large"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_udp_packets_dropped_total{receiver="jaeger_binary",reason="unknown_method"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_spans_refused_total{receiver="jaeger_http",reason="zero_trace_id"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_spans_refused_total{receiver="zipkin",reason="invalid_timestamp"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_spans_total{receiver="jaeger_http",outcome="accepted"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_requests_total{receiver="zipkin",result="invalid"}"#,
            4.0,
        ),
        (
            r#"ferrotrace_collector_requests_total{receiver="zipkin",result="unsupported"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_requests_total{receiver="jaeger_grpc",result="invalid"}"#,
            1.0,
        ),
        (
            r#"ferrotrace_collector_requests_total{receiver="jaeger_http",result="too_large"}"#,
            1.0,
        ),
        // The oversized datagram is read up to the limit plus one byte.
        (
            r#"ferrotrace_collector_received_bytes_total{receiver="jaeger_compact"}"#,
            1001.0,
        ),
    ] {
        assert!(
            sample(&m, series) >= at_least,
            "{series} >= {at_least}: {m:#?}"
        );
    }

    // Still serving: a valid Jaeger HTTP batch is accepted.
    let (status, text) = post(jaeger_http, "application/x-thrift", good).await;
    assert_eq!(status, 202, "{text}");
    assert!(
        collector.try_wait().unwrap().is_none(),
        "the collector survived everything"
    );
    collector.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_udp_queue_drops_and_counts_without_blocking_the_socket() {
    // Nothing listens on the broker port: each export waits for the produce
    // timeout, so the single worker is busy and the one-slot queue fills.
    let dead_broker = format!("127.0.0.1:{}", free_port());
    let (mut collector, ports) = start_collector(
        &dead_broker,
        "spans",
        &[
            ("FERROTRACE_JAEGER_UDP_QUEUE_SIZE", "1"),
            ("FERROTRACE_JAEGER_UDP_WORKERS", "1"),
            ("FERROTRACE_KAFKA_PRODUCE_TIMEOUT", "10s"),
        ],
    );
    let up = wait_until(Duration::from_secs(30), || async {
        reqwest::get(format!("http://127.0.0.1:{}/healthz", ports.admin))
            .await
            .is_ok()
    })
    .await;
    assert!(up, "collector up");
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let packet = encode_emit_batch(
        &batch("udp", vec![span(1, 1, START_MICROS)]),
        ThriftProtocol::Compact,
        1,
    );
    for _ in 0..20 {
        socket
            .send_to(&packet, format!("127.0.0.1:{}", ports.compact))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let series = r#"ferrotrace_collector_udp_packets_dropped_total{receiver="jaeger_compact",reason="queue_full"}"#;
    let dropped = wait_until(Duration::from_secs(5), || async {
        sample(&scrape_metrics(ports.admin).await, series) >= 15.0
    })
    .await;
    assert!(
        dropped,
        "at most two packets fit (one in the worker, one queued): {:#?}",
        scrape_metrics(ports.admin).await
    );
    collector.kill().await.ok();
}

/// A change to one span's OTLP/JSON.
type SpanEdit = Box<dyn FnOnce(&mut serde_json::Value)>;

/// One OTLP/JSON request holding one span; `change` edits the span's JSON.
fn otlp_json_span(trace_id: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut span = serde_json::json!({
        "traceId": trace_id,
        "spanId": "0102030405060708",
        "name": "door",
        "kind": 2,
        "startTimeUnixNano": now.to_string(),
        "endTimeUnixNano": (now + 1_000_000).to_string(),
    });
    change(&mut span);
    serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "door"}}]},
            "scopeSpans": [{"spans": [span]}]
        }]
    })
    .to_string()
}

/// Issue 23: spans the ingester could not store (or would file under 1970
/// or 2200) were acknowledged with `{}`. Each is now refused with
/// `partial_success` naming the problem, counted by reason, and none
/// reaches Kafka; the same time window applies to Zipkin input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_the_ingester_cannot_store_get_partial_success_and_never_reach_kafka() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let otlp_http = free_port();
    let (mut collector, ports) = start_collector(
        &tansu.brokers(),
        &topic,
        &[
            (
                "FERROTRACE_OTLP_HTTP_LISTEN",
                &format!("127.0.0.1:{otlp_http}"),
            ),
            // The defaults, against the harness's allowance for fixed dates.
            ("FERROTRACE_MAX_SPAN_AGE", "72h"),
            ("FERROTRACE_MAX_SPAN_FUTURE", "24h"),
        ],
    );
    let http = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(30), || async {
        http.get(format!("http://127.0.0.1:{}/readyz", ports.admin))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(ready, "collector ready");

    let year_2200 = "7258118400000000000";
    let four_days_ago = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 96 * 3_600_000_000_000)
        .to_string();
    let cases: [(&str, SpanEdit, &str); 6] = [
        (
            "11111111111111111111111111111111",
            Box::new(|s| s["spanId"] = "abcd".into()),
            "has a span_id of 2 bytes, expected 8",
        ),
        (
            "22222222222222222222222222222222",
            Box::new(|s| s["parentSpanId"] = "abcd".into()),
            "has a parent_span_id of 2 bytes, expected 8 or none",
        ),
        (
            "33333333333333333333333333333333",
            Box::new(|s| s["spanId"] = "".into()),
            "has no span_id",
        ),
        (
            "44444444444444444444444444444444",
            Box::new(|s| s["startTimeUnixNano"] = "0".into()),
            "has no start time",
        ),
        (
            "55555555555555555555555555555555",
            Box::new(|s| {
                s["startTimeUnixNano"] = year_2200.into();
                s["endTimeUnixNano"] = year_2200.into();
            }),
            "starts at 2200-01-01T00:00:00Z, more than 24h (--max-span-future)",
        ),
        (
            "66666666666666666666666666666666",
            Box::new(move |s| s["startTimeUnixNano"] = four_days_ago.into()),
            "more than 72h (--max-span-age) before the collector's clock",
        ),
    ];
    let url = format!("http://127.0.0.1:{otlp_http}/v1/traces");
    for (trace_id, change, expected) in cases {
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(otlp_json_span(trace_id, change))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200, "{trace_id}");
        let text = response.text().await.unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).expect("a JSON answer");
        let partial = &answer["partialSuccess"];
        let rejected = &partial["rejectedSpans"];
        assert!(
            rejected == 1 || rejected == "1",
            "{trace_id}: one span rejected: {answer}"
        );
        let message = partial["errorMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains(trace_id) && message.contains(expected),
            "{trace_id}: {message:?} names the trace and {expected:?}"
        );
    }

    // Zipkin goes through the same split: a start in 2200 is refused too.
    let zipkin = r#"[{"traceId": "77777777777777777777777777777777", "id": "0000000000000001", "name": "x", "timestamp": 7258118400000000, "duration": 5, "localEndpoint": {"serviceName": "z"}}]"#;
    let response = http
        .post(format!("http://127.0.0.1:{}/api/v2/spans", ports.zipkin))
        .header("content-type", "application/json")
        .body(zipkin)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("--max-span-future"), "{text}");

    // A good span afterwards is the only message on the topic.
    let good = "88888888888888888888888888888888";
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(otlp_json_span(good, |_| {}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}");
    let reader = support::topic_reader(&tansu.brokers(), &topic);
    let mut keys = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Ok(message)) = tokio::time::timeout_at(deadline, reader.recv()).await {
        use rdkafka::Message as _;
        keys.push(String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned());
        if keys.contains(&good.to_string()) {
            // Anything produced before it is already read (one partition).
            break;
        }
    }
    assert_eq!(
        keys,
        vec![good.to_string()],
        "only the good span reached Kafka"
    );

    let m = scrape_metrics(ports.admin).await;
    for (reason, count) in [
        ("invalid_id", 3.0),
        ("invalid_timestamp", 1.0),
        ("timestamp_out_of_window", 2.0),
    ] {
        let series = format!(
            r#"ferrotrace_collector_spans_refused_total{{receiver="otlp_http",reason="{reason}"}}"#
        );
        assert_eq!(sample(&m, &series), count, "{series}: {m:#?}");
    }
    assert_eq!(
        sample(
            &m,
            r#"ferrotrace_collector_spans_refused_total{receiver="zipkin",reason="timestamp_out_of_window"}"#
        ),
        1.0
    );
    collector.kill().await.ok();
}
