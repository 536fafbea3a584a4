//! What can never be stored goes to the dead-letter topic, with headers
//! saying why and where from, instead of blocking the partition or being
//! dropped: a poison message, and documents Elasticsearch refuses for good.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferrotrace_common::testkit::{free_port, sample, scrape_metrics};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dead_letter_topic_and_the_partition_moves_on() {
    let cluster = Cluster::start(1).await;
    let dlq = format!("{}_dlq", cluster.topic);
    let mut ingester = cluster.ingester(&[]);

    let mut expected = cluster.send_traces(20).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .unwrap();
    let poison = b"\xff\xff not an ExportTraceServiceRequest".to_vec();
    let poison_offset = producer
        .send(
            FutureRecord::to(&cluster.topic)
                .key("poison-key")
                .payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("poison produced")
        .offset;
    expected.extend(cluster.send_traces(20).await);

    let stored = cluster
        .wait_for_spans(expected.len() as u64, Duration::from_secs(120))
        .await;
    assert_eq!(
        stored,
        expected.len() as u64,
        "spans after the poison are indexed"
    );
    assert_eq!(cluster.stored_spans("2026-11-26").await, expected);

    // The dead letter: same key and value, headers naming the reason and the source.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .set("group.id", format!("{dlq}-reader"))
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&dlq, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let letter = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter on {dlq}"
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            break message.detach();
        }
    };
    assert_eq!(letter.key(), Some(&b"poison-key"[..]));
    assert_eq!(letter.payload(), Some(&poison[..]));
    let headers = headers_of(&letter);
    assert_eq!(headers["ferrotrace.reason"], "undecodable");
    assert!(
        headers["ferrotrace.error"].contains("ExportTraceServiceRequest"),
        "{headers:?}"
    );
    assert_eq!(headers["ferrotrace.source.topic"], cluster.topic);
    assert_eq!(headers["ferrotrace.source.partition"], "0");
    assert_eq!(
        headers["ferrotrace.source.offset"],
        poison_offset.to_string()
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

/// A message's headers as text.
fn headers_of(message: &rdkafka::message::OwnedMessage) -> HashMap<String, String> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every message of the dead-letter topic, read from the beginning until quiet.
fn read_topic(brokers: &str, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut messages = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(5) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push(message.detach());
            quiet_since = std::time::Instant::now();
        }
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_elasticsearch_refuses_for_good_go_to_the_dead_letter_topic() {
    let cluster = Cluster::start(1).await;
    // The day's span index exists with a mapping no span can satisfy: every
    // span document gets a 400 mapper_parsing_exception.
    let index = format!("{}-jaeger-span-2026-11-26", cluster.prefix);
    cluster
        .osmem
        .create_index(
            &index,
            serde_json::json!({"mappings": {"properties": {"operationName": {"type": "long"}}}}),
        )
        .await
        .expect("index created");
    let admin = free_port();
    let mut ingester = cluster.ingester(&[&format!("--admin-listen=127.0.0.1:{admin}")]);
    let sent = cluster.send_traces(5).await;

    let dlq = format!("{}_dlq", cluster.topic);
    let mut letters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while letters.len() < sent.len() && std::time::Instant::now() < deadline {
        letters = read_topic(&cluster.tansu.brokers(), &dlq);
    }
    assert_eq!(
        letters.len(),
        sent.len(),
        "one dead letter per refused span document"
    );
    for letter in &letters {
        let headers = headers_of(letter);
        assert_eq!(headers["ferrotrace.reason"], "rejected_by_elasticsearch");
        assert!(
            headers["ferrotrace.error"].contains("mapper_parsing_exception"),
            "{headers:?}"
        );
        assert_eq!(headers["ferrotrace.source.topic"], cluster.topic);
        let doc = String::from_utf8_lossy(letter.payload().unwrap_or_default());
        assert!(
            doc.contains(&index) && doc.contains("operationName"),
            "{doc}"
        );
    }
    assert_eq!(cluster.span_count().await, 0, "no span document was stored");
    let metrics = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &metrics,
            r#"ferrotrace_ingester_bulk_item_failures_total{status="400"}"#
        ),
        sent.len() as f64
    );
    assert_eq!(
        sample(
            &metrics,
            r#"ferrotrace_ingester_dead_letters_total{reason="rejected_by_elasticsearch"}"#
        ),
        sent.len() as f64
    );
    // Process metrics come with every scrape (issue 6's dashboards use them).
    for series in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(sample(&metrics, series) > 0.0, "{series}");
    }
    assert!(metrics.contains_key("process_cpu_seconds_total"));
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
