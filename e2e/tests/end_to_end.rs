//! The whole spine against real servers: OTLP into the collector, through a
//! tansu broker, out of the ingester (a real child process) into osmem in
//! Jaeger's schema, exactly once, even when the ingester is killed mid-stream.
//!
//! Not here: one of two ingesters killed with -9. tansu 0.6.0's group
//! coordinator keeps a killed member that was the group leader past its
//! session timeout, so the survivor loops on JoinGroup / SyncGroup
//! ("rebalance in progress", "unknown member") and is never assigned the
//! orphaned partitions; the outcome would test tansu, not the ingester.
//! Apache Kafka expires the member and rebalances.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::unique_name;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

mod support;

use support::{kv, spans, Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_over_grpc_and_http_arrive_once_in_the_right_daily_index() {
    let cluster = Cluster::start(3).await;
    let mut ingester = cluster.ingester(&[]);
    let mut rng = rand::rng();
    let shape = Shape {
        spans_per_trace: 5,
        attributes_per_span: 8,
        error_rate: 0.0,
        ..Default::default()
    };

    // gRPC: traces whose spans fall either side of midnight UTC.
    let mut grpc_request = generator::request(&mut rng, 20, shape, AFTER_MIDNIGHT_NS);
    let mut before = 0;
    for (i, span) in grpc_request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
        .enumerate()
    {
        if i % 2 == 0 {
            span.start_time_unix_nano = BEFORE_MIDNIGHT_NS;
            span.end_time_unix_nano = BEFORE_MIDNIGHT_NS + 2_000_000;
            before += 1;
        } else {
            span.start_time_unix_nano = AFTER_MIDNIGHT_NS;
            span.end_time_unix_nano = AFTER_MIDNIGHT_NS + 2_000_000;
        }
    }
    // One span with a known shape to check fields end to end.
    let probe = &mut grpc_request.resource_spans[0].scope_spans[0].spans[0];
    probe.name = "probe-operation".into();
    probe.attributes = vec![
        kv("s", any_value::Value::StringValue("text".into())),
        kv("i", any_value::Value::IntValue(23456)),
        kv("b", any_value::Value::BoolValue(true)),
        kv("d", any_value::Value::DoubleValue(72.5)),
    ];
    let probe = probe.clone();
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    grpc.export(grpc_request.clone())
        .await
        .expect("grpc export");

    // HTTP protobuf and JSON.
    let http_request = generator::request(&mut rng, 10, shape, AFTER_MIDNIGHT_NS);
    let client = reqwest::Client::new();
    let url = format!("{}/v1/traces", cluster.collector_http);
    let response = client
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(http_request.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let json_request = generator::request(&mut rng, 10, shape, AFTER_MIDNIGHT_NS);
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json_request).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    let sent: Vec<&Span> = spans(&grpc_request)
        .chain(spans(&http_request))
        .chain(spans(&json_request))
        .collect();
    let total = sent.len() as u64;
    let count = cluster
        .wait_for_spans(total, Duration::from_secs(120))
        .await;
    assert_eq!(count, total, "every span exactly once");

    let day_before = format!("{}-jaeger-span-2026-11-25", cluster.prefix);
    let day_after = format!("{}-jaeger-span-2026-11-26", cluster.prefix);
    let docs_before = cluster
        .osmem
        .all_docs(&day_before)
        .await
        .expect("index of the day before midnight");
    let docs_after = cluster
        .osmem
        .all_docs(&day_after)
        .await
        .expect("index of the day after midnight");
    assert_eq!(
        docs_before.len() as u64,
        before,
        "spans starting before midnight are in that day's index"
    );
    assert_eq!((docs_before.len() + docs_after.len()) as u64, total);

    let mut seen = HashSet::new();
    for (_, doc) in docs_before.iter().chain(&docs_after) {
        let key = (
            doc["traceID"].as_str().unwrap().to_string(),
            doc["spanID"].as_str().unwrap().to_string(),
        );
        assert!(seen.insert(key), "duplicate span document {doc}");
    }
    let expected: HashSet<_> = sent
        .iter()
        .map(|s| (hex::encode(&s.trace_id), hex::encode(&s.span_id)))
        .collect();
    assert_eq!(seen, expected, "exactly the spans that were sent");

    let (_, doc) = docs_before
        .iter()
        .chain(&docs_after)
        .find(|(_, d)| d["spanID"] == hex::encode(&probe.span_id))
        .expect("probe span stored");
    assert_eq!(doc["operationName"], "probe-operation");
    assert_eq!(doc["startTime"], probe.start_time_unix_nano / 1000);
    assert_eq!(
        doc["startTimeMillis"],
        probe.start_time_unix_nano / 1_000_000
    );
    assert_eq!(doc["duration"], 2000);
    assert_eq!(doc["process"]["serviceName"], "frontend");
    let tags: HashMap<&str, (&str, &str)> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap(),
                (t["type"].as_str().unwrap(), t["value"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(tags["s"], ("string", "text"));
    assert_eq!(tags["i"], ("int64", "23456"));
    assert_eq!(tags["b"], ("bool", "true"));
    assert_eq!(tags["d"], ("float64", "72.5"));
    assert_eq!(tags["span.kind"], ("string", "server"));

    let services = cluster
        .osmem
        .all_docs(&format!("{}-jaeger-service-2026-11-26", cluster.prefix))
        .await
        .expect("service index");
    let pairs: HashSet<_> = services
        .iter()
        .map(|(_, d)| {
            (
                d["serviceName"].as_str().unwrap().to_string(),
                d["operationName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        pairs.contains(&("frontend".to_string(), "HTTP GET /dispatch".to_string())),
        "{pairs:?}"
    );
    assert_eq!(
        pairs.len(),
        services.len(),
        "one service document per service and operation"
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_ingester_mid_stream_loses_and_duplicates_nothing() {
    let cluster = Cluster::start(2).await;
    let expected = cluster.send_traces(200).await;
    let total = expected.len() as u64;
    assert_eq!(total, 2000);

    // Small bulks so that the kill lands between commits; a short session
    // timeout so the restarted member does not wait 45 s for the dead one.
    // The single-threaded runtime the k8s manifests run.
    let small = [
        "--es-bulk-actions=100",
        "--es-bulk-workers=2",
        "--kafka-consumer-config=session.timeout.ms=6000;heartbeat.interval.ms=1000",
        "--runtime-threads=1",
    ];
    let mut ingester = cluster.ingester(&small);
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.span_count().await < 300 {
        assert!(Instant::now() < deadline, "the ingester made no progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ingester.start_kill().expect("kill -9");
    ingester.wait().await.expect("reaped");
    let at_kill = cluster.span_count().await;
    assert!(
        at_kill < total,
        "the kill must land mid-stream (had {at_kill} of {total})"
    );

    let mut restarted = cluster.ingester(&small);
    let count = cluster
        .wait_for_spans(total, Duration::from_secs(180))
        .await;
    assert_eq!(
        count, total,
        "no span lost and none duplicated across the crash"
    );
    let seen = cluster.stored_spans("2026-11-26").await;
    assert_eq!(seen, expected);
    restarted.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_and_exits_zero() {
    let cluster = Cluster::start(1).await;
    let mut rng = rand::rng();
    let shape = Shape {
        spans_per_trace: 4,
        attributes_per_span: 4,
        error_rate: 0.0,
        ..Default::default()
    };
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    let request = generator::request(&mut rng, 25, shape, AFTER_MIDNIGHT_NS);
    grpc.export(request).await.expect("export");

    // The single-threaded runtime the k8s manifests run drains as well.
    let mut ingester = cluster.ingester(&["--runtime-threads=1"]);
    assert_eq!(
        cluster.wait_for_spans(100, Duration::from_secs(120)).await,
        100
    );
    support::terminate(&mut ingester).await;

    // Every message was stored, so the group's committed offset is past the last one.
    let reader: rdkafka::consumer::BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .set("group.id", format!("{}-group", cluster.topic))
        .create()
        .expect("consumer");
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition(&cluster.topic, 0);
    let committed = tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::Consumer;
        reader
            .committed_offsets(list, Duration::from_secs(10))
            .expect("offset fetch")
    })
    .await
    .unwrap();
    let offset = committed
        .find_partition(&cluster.topic, 0)
        .expect("partition listed")
        .offset();
    let (records, last) = last_offset(&cluster.tansu.brokers(), &cluster.topic).await;
    assert_eq!(records, 25, "one message per trace");
    assert_eq!(
        offset,
        rdkafka::Offset::Offset(last + 1),
        "committed right after the last message at shutdown"
    );
    cluster.collector_stop.cancel();
}

/// Reads partition 0 from the start until it is quiet: (records, last offset).
async fn last_offset(brokers: &str, topic: &str) -> (usize, i64) {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::Message;
    let consumer: StreamConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&list).expect("assign");
    let (mut records, mut last) = (0, -1);
    while let Ok(Ok(message)) = tokio::time::timeout(
        Duration::from_secs(if records == 0 { 20 } else { 3 }),
        consumer.recv(),
    )
    .await
    {
        records += 1;
        last = last.max(message.offset());
    }
    (records, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ingester_joining_mid_stream_loses_and_duplicates_nothing() {
    let cluster = Cluster::start(4).await;
    let expected = cluster.send_traces(200).await;
    let total = expected.len() as u64;

    // The first ingester takes all four partitions; the second joins while
    // spans are still flowing, so partitions move with work in flight.
    let (admin_a, admin_b) = (
        ferrotrace_testkit::free_port(),
        ferrotrace_testkit::free_port(),
    );
    let small = ["--es-bulk-actions=100", "--es-bulk-workers=2"];
    let mut first = cluster.ingester(
        &[
            &small[..],
            &[&format!("--admin-listen=127.0.0.1:{admin_a}")],
        ]
        .concat(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.span_count().await < 200 {
        assert!(
            Instant::now() < deadline,
            "the first ingester made no progress"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first ingester exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at_join = cluster.span_count().await;
    let mut second = cluster.ingester(
        &[
            &small[..],
            &[&format!("--admin-listen=127.0.0.1:{admin_b}")],
        ]
        .concat(),
    );

    let count = cluster
        .wait_for_spans(total, Duration::from_secs(180))
        .await;
    assert_eq!(
        count, total,
        "no span lost and none duplicated across the rebalance (joined at {at_join})"
    );
    let seen = cluster.stored_spans("2026-11-26").await;
    assert_eq!(seen, expected);

    // Both members are alive and healthy after the rebalance.
    let http = reqwest::Client::new();
    for port in [admin_a, admin_b] {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .expect("admin answers");
        assert_eq!(health.status(), 200);
    }
    first.kill().await.ok();
    second.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_ingesters_leaving_mid_stream_loses_and_duplicates_nothing() {
    let cluster = Cluster::start(4).await;
    let expected = cluster.send_traces(200).await;
    let total = expected.len() as u64;
    let small = [
        "--es-bulk-actions=100",
        "--es-bulk-workers=2",
        "--kafka-consumer-config=session.timeout.ms=6000",
    ];
    let mut leaving = cluster.ingester(&small);
    let mut staying = cluster.ingester(&small);
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.span_count().await < 300 {
        assert!(Instant::now() < deadline, "the ingesters made no progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A graceful leave with work in flight: its partitions move to the other member.
    let at_leave = cluster.span_count().await;
    support::terminate(&mut leaving).await;

    let count = cluster
        .wait_for_spans(total, Duration::from_secs(180))
        .await;
    assert_eq!(
        count, total,
        "no span lost and none duplicated when a member left (at {at_leave})"
    );
    assert_eq!(cluster.stored_spans("2026-11-26").await, expected);
    assert!(
        staying.try_wait().unwrap().is_none(),
        "the remaining ingester is still running"
    );
    staying.kill().await.ok();
    cluster.collector_stop.cancel();
}
