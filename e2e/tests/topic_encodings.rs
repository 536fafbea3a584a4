//! The ingester as a drop-in consumer of topics other systems wrote: a
//! Jaeger v1 collector's `jaeger_proto` messages (one span per message, its
//! process inside) and the OpenTelemetry Collector's `otlp_json`, produced
//! straight to tansu and read back from osmem as Jaeger documents.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ferrotrace_format::jaeger::proto as jproto;
use ferrotrace_loadtest::generator::{self, Shape};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{spans, Cluster, AFTER_MIDNIGHT_NS};

fn producer(cluster: &Cluster) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .expect("producer")
}

async fn produce(producer: &FutureProducer, topic: &str, key: &str, value: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jaeger_v1_topic_is_indexed_as_jaeger_would() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&["--kafka-encoding=jaeger_proto"]);
    let producer = producer(&cluster);
    let start_micros = (AFTER_MIDNIGHT_NS / 1_000) as i64;
    let mut sent = HashSet::new();
    for trace in 1..=5u64 {
        for span in 1..=4u64 {
            let trace_id = jproto::trace_id_bytes(0, trace);
            let value = jproto::Span {
                trace_id: trace_id.clone(),
                span_id: jproto::span_id_bytes(span),
                operation_name: format!("op-{span}"),
                references: (span > 1)
                    .then(|| jproto::SpanRef {
                        trace_id,
                        span_id: jproto::span_id_bytes(span - 1),
                        ref_type: jproto::SpanRefType::ChildOf as i32,
                    })
                    .into_iter()
                    .collect(),
                start_time: Some(jproto::Timestamp {
                    seconds: start_micros / 1_000_000,
                    nanos: (start_micros % 1_000_000) as i32 * 1_000,
                }),
                duration: Some(jproto::Duration {
                    seconds: 0,
                    nanos: 250_000,
                }),
                tags: vec![
                    jproto::KeyValue::string("span.kind", "server"),
                    jproto::KeyValue::int64("http.status_code", 200),
                ],
                process: Some(jproto::Process {
                    service_name: "jaeger-v1-service".into(),
                    tags: vec![jproto::KeyValue::string("hostname", "node-7")],
                }),
                ..Default::default()
            };
            // Jaeger's Kafka writer keys each span by its trace ID in hex.
            let key = format!("{trace:016x}");
            produce(&producer, &cluster.topic, &key, &value.encode_to_vec()).await;
            sent.insert((format!("{trace:016x}"), format!("{span:016x}")));
        }
    }
    let stored = cluster
        .wait_for_spans(sent.len() as u64, Duration::from_secs(120))
        .await;
    assert_eq!(stored, sent.len() as u64);
    assert_eq!(cluster.stored_spans("2026-11-26").await, sent);

    let docs = cluster
        .osmem
        .all_docs(&format!("{}-jaeger-span-2026-11-26", cluster.prefix))
        .await
        .unwrap();
    let (_, doc) = docs
        .iter()
        .find(|(_, d)| d["spanID"] == "0000000000000002")
        .expect("span 2");
    assert_eq!(doc["process"]["serviceName"], "jaeger-v1-service");
    assert_eq!(doc["operationName"], "op-2");
    assert_eq!(doc["duration"], 250);
    assert_eq!(doc["references"][0]["spanID"], "0000000000000001");
    let tags: BTreeMap<&str, &str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["value"].as_str().unwrap()))
        .collect();
    assert_eq!(tags.get("http.status_code"), Some(&"200"));
    assert_eq!(tags.get("span.kind"), Some(&"server"));
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otel_collector_otlp_json_topic_is_indexed() {
    let cluster = Cluster::start(2).await;
    let mut ingester = cluster.ingester(&["--kafka-encoding=otlp_json"]);
    let producer = producer(&cluster);
    let mut rng = rand::rng();
    let mut sent = HashSet::new();
    for _ in 0..5 {
        let request = generator::request(&mut rng, 2, Shape::default(), AFTER_MIDNIGHT_NS);
        sent.extend(spans(&request).map(|s| (hex::encode(&s.trace_id), hex::encode(&s.span_id))));
        let json = serde_json::to_vec(&request).unwrap();
        produce(&producer, &cluster.topic, "k", &json).await;
    }
    // A message that is not OTLP JSON is passed over without blocking the partition.
    produce(&producer, &cluster.topic, "k", b"{not json").await;
    let stored = cluster
        .wait_for_spans(sent.len() as u64, Duration::from_secs(120))
        .await;
    assert_eq!(stored, sent.len() as u64);
    assert_eq!(cluster.stored_spans("2026-11-26").await, sent);
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
