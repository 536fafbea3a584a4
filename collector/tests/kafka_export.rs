//! The collector against a real Kafka-compatible broker (tansu): what lands
//! on the topic, and what clients are told when Kafka cannot take the data.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{unique_name, Tansu};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use rdkafka::Message;
use support::{start_collector, topic_reader, unread_metrics, Running};

fn spans(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// Reads the whole topic: until no new record arrived for `quiet` (tansu's
/// high watermark undercounts batched records, so it cannot be the stop rule).
async fn read_topic(brokers: &str, topic: &str, quiet: Duration) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer = topic_reader(brokers, topic);
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match tokio::time::timeout(
            if records.is_empty() {
                Duration::from_secs(20)
            } else {
                quiet
            },
            consumer.recv(),
        )
        .await
        {
            Ok(Ok(m)) => records.push((
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Ok(Err(e)) => panic!("consume error: {e}"),
            Err(_) => break,
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_produces_one_message_per_trace_keyed_by_hex_trace_id() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 3).await.expect("topic");
    let collector =
        start_collector(&tansu.brokers(), &topic, &[] as &[&str], unread_metrics()).await;

    let mut rng = rand::rng();
    let shape = Shape {
        spans_per_trace: 7,
        attributes_per_span: 5,
        error_rate: 0.2,
        ..Default::default()
    };
    let request = generator::request(&mut rng, 25, shape, 1_764_115_200_000_000_000);
    // gzip-compressed, as OTel SDKs send by default.
    let mut client = TraceServiceClient::connect(collector.grpc_url())
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let response = client
        .export(request.clone())
        .await
        .expect("export accepted")
        .into_inner();
    assert_eq!(response.partial_success, None, "nothing rejected");

    let records = read_topic(&tansu.brokers(), &topic, Duration::from_secs(3)).await;
    assert_eq!(records.len(), 25, "one message per trace");
    let mut sent: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
    for span in spans(&request) {
        sent.entry(span.trace_id.clone())
            .or_default()
            .insert(span.span_id.clone());
    }
    for (key, value) in records {
        let message = ExportTraceServiceRequest::decode(&value[..])
            .expect("value is an ExportTraceServiceRequest");
        let trace_ids: HashSet<_> = spans(&message).map(|s| s.trace_id.clone()).collect();
        assert_eq!(trace_ids.len(), 1, "exactly one trace per message");
        let trace_id = trace_ids.into_iter().next().unwrap();
        assert_eq!(
            key,
            hex::encode(&trace_id).into_bytes(),
            "key is 32 lowercase hex chars of the trace id"
        );
        let span_ids: HashSet<_> = spans(&message).map(|s| s.span_id.clone()).collect();
        assert_eq!(
            Some(&span_ids),
            sent.get(&trace_id),
            "the message holds the whole trace"
        );
        for resource in &message.resource_spans {
            let attrs = &resource
                .resource
                .as_ref()
                .expect("resource kept")
                .attributes;
            assert!(
                attrs.iter().any(|kv| kv.key == "service.name"),
                "resource attributes kept"
            );
            assert!(resource.scope_spans.iter().all(|s| s
                .scope
                .as_ref()
                .is_some_and(|sc| sc.name == "ferrotrace-loadtest")));
        }
    }
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_and_json_are_accepted_and_empty_trace_ids_rejected_in_partial_success() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 2).await.expect("topic");
    let collector =
        start_collector(&tansu.brokers(), &topic, &[] as &[&str], unread_metrics()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/traces", collector.http_url());

    let mut rng = rand::rng();
    let mut request = generator::request(
        &mut rng,
        4,
        Shape {
            spans_per_trace: 3,
            ..Default::default()
        },
        1_764_115_200_000_000_000,
    );
    // One span without a trace id: it is rejected, the rest accepted.
    request.resource_spans[0].scope_spans[0].spans[0]
        .trace_id
        .clear();

    let response = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("http");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let body = response.bytes().await.unwrap();
    let answer =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            &body[..],
        )
        .unwrap();
    let partial = answer.partial_success.expect("partial success reported");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace"),
        "{}",
        partial.error_message
    );

    // A gzip body is inflated before the split.
    let gzipped_request = generator::request(
        &mut rng,
        2,
        Shape {
            spans_per_trace: 2,
            ..Default::default()
        },
        1_764_115_200_000_000_000,
    );
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &gzipped_request.encode_to_vec()).unwrap();
    let response = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .expect("http");
    assert_eq!(response.status(), 200);

    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
        "scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "name":"json-op","kind":2,"startTimeUnixNano":"1764115200000000000","endTimeUnixNano":"1764115200001000000",
        "attributes":[{"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .expect("http");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    let records = read_topic(&tansu.brokers(), &topic, Duration::from_secs(3)).await;
    let keys: HashSet<_> = records
        .iter()
        .map(|(k, _)| String::from_utf8(k.clone()).unwrap())
        .collect();
    assert!(
        keys.contains("5b8efff798038103d269b633813fc60c"),
        "the JSON trace arrived under its hex key"
    );
    let json_message = records
        .iter()
        .find(|(k, _)| k == b"5b8efff798038103d269b633813fc60c")
        .unwrap();
    let decoded = ExportTraceServiceRequest::decode(&json_message.1[..]).unwrap();
    let span = spans(&decoded).next().unwrap();
    assert_eq!(span.name, "json-op");
    assert_eq!(span.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
    assert_eq!(span.start_time_unix_nano, 1_764_115_200_000_000_000);
    let total: usize = records
        .iter()
        .map(|(_, v)| spans(&ExportTraceServiceRequest::decode(&v[..]).unwrap()).count())
        .sum();
    assert_eq!(
        total,
        4 * 3 - 1 + 2 * 2 + 1,
        "every accepted span is on the topic, the rejected one is not"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_get_invalid_argument_and_400() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let collector =
        start_collector(&tansu.brokers(), &topic, &[] as &[&str], unread_metrics()).await;

    // A gRPC frame whose body is not a protobuf message: length runs past the end.
    let channel = tonic::transport::Channel::from_shared(collector.grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let garbage = tonic::Request::new(vec![0x0a, 0xff, 0x01, 0x02]);
    let status = grpc
        .unary::<Vec<u8>, Vec<u8>, _>(garbage, path, RawBytes)
        .await
        .expect_err("garbage is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let http = reqwest::Client::new();
    let url = format!("{}/v1/traces", collector.http_url());
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP JSON"),
        "{body}"
    );
    let response = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_gives_retryable_errors_not_success() {
    let BrokerLost {
        tansu: _tansu,
        collector,
        request,
        ..
    } = lose_the_broker(&[]).await;

    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", collector.http_url()))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");

    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_recovers_by_itself_when_the_broker_returns() {
    // Idempotence is off here only: tansu's memory storage restarts as an
    // empty cluster that has forgotten the idempotent producer's ID (and
    // tansu 0.6.0's sqlite storage panics on idempotent produce after a
    // restart), so this checks the collector's own recovery, not librdkafka's
    // producer-ID handling, which needs a real Kafka broker to test.
    let BrokerLost {
        mut tansu,
        topic,
        collector,
        mut client,
        request,
    } = lose_the_broker(&["--kafka-producer-config=enable.idempotence=false"]).await;

    // The broker comes back and the same collector takes spans again
    // without a restart of its own.
    tansu.restart().await.expect("tansu restarts");
    tansu.create_topic(&topic, 1).await.expect("topic again");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match client.export(request.clone()).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "collector did not recover: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let records = read_topic(&tansu.brokers(), &topic, Duration::from_secs(3)).await;
    assert!(
        !records.is_empty(),
        "spans accepted after recovery are on the topic"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inflight_budget_gives_resource_exhausted_with_retry_info() {
    use tonic_types::StatusExt;
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    // A budget smaller than one request: every request finds it used up.
    let collector = start_collector(
        &tansu.brokers(),
        &topic,
        &["--max-inflight-bytes=1000"],
        unread_metrics(),
    )
    .await;
    let mut rng = rand::rng();
    let request = generator::request(&mut rng, 5, Shape::default(), 1_764_115_200_000_000_000);
    assert!(request.encoded_len() > 1000);
    let mut client = TraceServiceClient::connect(collector.grpc_url())
        .await
        .expect("connect");
    let status = client
        .export(request.clone())
        .await
        .expect_err("over budget");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status.get_details_retry_info().is_some(),
        "RetryInfo lets SDKs retry RESOURCE_EXHAUSTED"
    );

    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", collector.http_url()))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    collector.stop().await;
}

/// A collector whose broker took one request and then went away; the next
/// export was refused with UNAVAILABLE.
struct BrokerLost {
    tansu: Tansu,
    topic: String,
    collector: Running,
    client: TraceServiceClient<tonic::transport::Channel>,
    request: ExportTraceServiceRequest,
}

async fn lose_the_broker(extra: &[&str]) -> BrokerLost {
    // Memory storage: the recovery test brings back an empty broker.
    let mut tansu = Tansu::start_in_memory().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let flags: Vec<&str> = ["--kafka-produce-timeout=2s"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let collector = start_collector(&tansu.brokers(), &topic, &flags, unread_metrics()).await;
    let mut rng = rand::rng();
    let request = generator::request(&mut rng, 2, Shape::default(), 1_764_115_200_000_000_000);
    let mut client = TraceServiceClient::connect(collector.grpc_url())
        .await
        .expect("connect");
    client
        .export(request.clone())
        .await
        .expect("accepted while the broker is up");
    tansu.stop().await;
    let status = client
        .export(request.clone())
        .await
        .expect_err("must not succeed without kafka");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    BrokerLost {
        tansu,
        topic,
        collector,
        client,
        request,
    }
}

/// Sends and receives raw bytes, to put invalid protobuf on the wire.
#[derive(Clone, Copy)]
struct RawBytes;

impl tonic::codec::Codec for RawBytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;
    fn encoder(&mut self) -> Self {
        RawBytes
    }
    fn decoder(&mut self) -> Self {
        RawBytes
    }
}

impl tonic::codec::Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}
