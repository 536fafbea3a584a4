//! What can never be stored goes to the dead-letter topic, with headers
//! saying why and where from, instead of blocking the partition or being
//! dropped: a poison message, a message with a span the writer cannot
//! store, and documents Elasticsearch refuses for good; it is reported only
//! once the topic has it, and a wrong `--kafka-encoding` pauses the
//! partition rather than moving it all there.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics, wait_until, TempDir};
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
    let admin = free_port();
    let mut ingester = cluster.ingester(&[&format!("--admin-listen=127.0.0.1:{admin}")]);

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

    // The poison is counted as dead-lettered, not as stored (one message per trace).
    let counted = wait_until(Duration::from_secs(20), || async {
        let metrics = scrape_metrics(admin).await;
        sample(&metrics, "ferrotrace_ingester_messages_stored_total") == 40.0
            && sample(
                &metrics,
                r#"ferrotrace_ingester_messages_dead_lettered_total{reason="undecodable"}"#,
            ) == 1.0
    })
    .await;
    assert!(counted, "{:#?}", scrape_metrics(admin).await);

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

/// An ingester whose log (stdout) goes to a file of `dir`; returns it and
/// the file's path.
fn ingester_logging_to(
    cluster: &Cluster,
    dir: &TempDir,
    extra: &[&str],
) -> (tokio::process::Child, std::path::PathBuf) {
    let path = dir.path().join("ingester.log");
    let log = std::fs::File::create(&path).expect("log file");
    let child = cluster
        .ingester_command(cluster.osmem.url(), extra)
        .stdout(log)
        .spawn()
        .expect("ingester starts");
    (child, path)
}

fn read_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The group's committed offset of partition 0 (`Offset::Invalid` when none).
async fn committed_offset(cluster: &Cluster) -> Offset {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .set("group.id", format!("{}-group", cluster.topic))
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition(&cluster.topic, 0);
    let committed = tokio::task::spawn_blocking(move || {
        reader
            .committed_offsets(list, Duration::from_secs(10))
            .expect("offset fetch")
    })
    .await
    .unwrap();
    let topic = cluster.topic.clone();
    committed
        .find_partition(&topic, 0)
        .expect("partition listed")
        .offset()
}

/// Issue 23: a span the writer cannot store (a 3-byte span ID) was skipped
/// with a warning that did not name its trace, and nothing reached the
/// dead-letter topic. Produced straight to Kafka (the collector refuses it),
/// its message now goes there with the reason, and the log names the trace;
/// the message's other span is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_a_span_the_writer_cannot_store_is_dead_lettered_naming_the_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    let cluster = Cluster::start(1).await;
    let dir = TempDir::new("invalid-span").expect("temp dir");
    let admin = free_port();
    let (mut ingester, log) = ingester_logging_to(
        &cluster,
        &dir,
        &[&format!("--admin-listen=127.0.0.1:{admin}")],
    );

    let trace = [0x2a; 16];
    let span = |span_id: Vec<u8>| Span {
        trace_id: trace.to_vec(),
        span_id,
        name: "door".into(),
        start_time_unix_nano: support::AFTER_MIDNIGHT_NS,
        end_time_unix_nano: support::AFTER_MIDNIGHT_NS + 1_000,
        ..Span::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                spans: vec![span(vec![1; 8]), span(vec![1, 2, 3])],
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    };
    let value = request.encode_to_vec();
    let trace_hex = hex::encode(trace);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&cluster.topic)
                .key(&trace_hex)
                .payload(&value),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produced");

    assert_eq!(
        cluster.wait_for_spans(1, Duration::from_secs(60)).await,
        1,
        "the valid span is stored"
    );
    let dlq = format!("{}_dlq", cluster.topic);
    let mut letters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while letters.is_empty() && std::time::Instant::now() < deadline {
        letters = read_topic(&cluster.tansu.brokers(), &dlq);
    }
    assert_eq!(letters.len(), 1, "one dead letter for the message");
    let letter = &letters[0];
    assert_eq!(letter.payload(), Some(&value[..]), "the message as read");
    assert_eq!(letter.key(), Some(trace_hex.as_bytes()));
    let headers = headers_of(letter);
    assert_eq!(headers["ferrotrace.reason"], "invalid_span");
    assert_eq!(
        headers["ferrotrace.error"],
        format!(
            "1 of 2 spans not stored: span 1 (trace {trace_hex}): span_id of 3 bytes, expected 8 or none"
        )
    );

    let metrics = scrape_metrics(admin).await;
    for (series, value) in [
        (
            r#"ferrotrace_ingester_dead_letters_total{reason="invalid_span"}"#,
            1.0,
        ),
        ("ferrotrace_ingester_spans_skipped_total", 1.0),
        ("ferrotrace_ingester_messages_stored_total", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), value, "{series}: {metrics:#?}");
    }
    let text = read_log(&log);
    let sent = text
        .lines()
        .find(|l| l.contains("sent to the dead-letter topic"))
        .unwrap_or_else(|| panic!("no dead-letter log line: {text}"));
    assert!(sent.contains(&trace_hex), "{sent}");
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

/// Issue 23: with the wrong `--kafka-encoding`, every message went to the
/// dead-letter topic and was committed. Now the first
/// `--kafka-encoding-check` failures pause the partition with one clear
/// log line; nothing is dead-lettered or committed, and an ingester with
/// the right flag then stores everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_kafka_encoding_pauses_the_partition_instead_of_emptying_it() {
    let cluster = Cluster::start(1).await;
    let sent = cluster.send_traces(30).await; // 30 messages, one per trace
    let dir = TempDir::new("wrong-encoding").expect("temp dir");
    let admin = free_port();
    let (mut ingester, log) = ingester_logging_to(
        &cluster,
        &dir,
        &[
            &format!("--admin-listen=127.0.0.1:{admin}"),
            "--kafka-encoding=otlp_json",
            "--kafka-encoding-check=10",
            // It is killed below: the next ingester gets the partition once
            // the group sees it gone, 6 s instead of librdkafka's 45 s.
            "--kafka-consumer-config=session.timeout.ms=6000",
            "--kafka-consumer-config=heartbeat.interval.ms=500",
        ],
    );
    let paused = wait_until(Duration::from_secs(60), || async {
        sample(
            &scrape_metrics(admin).await,
            "ferrotrace_ingester_undecodable_paused_partitions",
        ) == 1.0
    })
    .await;
    assert!(paused, "partition paused: {}", read_log(&log));
    // Auto-commit runs every second: give it time to commit anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &metrics,
            r#"ferrotrace_ingester_messages_total{result="undecodable"}"#
        ),
        10.0,
        "{metrics:#?}"
    );
    for name in [
        "ferrotrace_ingester_dead_letters_total",
        "ferrotrace_ingester_messages_dead_lettered_total",
        "ferrotrace_ingester_messages_stored_total",
    ] {
        let total: f64 = metrics
            .iter()
            .filter(|(series, _)| series.starts_with(name))
            .map(|(_, value)| value)
            .sum();
        assert_eq!(total, 0.0, "{name}: {metrics:#?}");
    }
    let dlq = format!("{}_dlq", cluster.topic);
    assert!(
        read_topic(&cluster.tansu.brokers(), &dlq).is_empty(),
        "nothing dead-lettered"
    );
    assert_eq!(
        committed_offset(&cluster).await,
        Offset::Invalid,
        "nothing committed"
    );
    let text = read_log(&log);
    assert_eq!(
        text.matches("--kafka-encoding is probably wrong").count(),
        1,
        "said once: {text}"
    );
    ingester.kill().await.ok();

    let mut ingester = cluster.ingester(&[]);
    assert_eq!(
        cluster
            .wait_for_spans(sent.len() as u64, Duration::from_secs(120))
            .await,
        sent.len() as u64,
        "with the right flag every span is stored"
    );
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

/// Issue 23: "undecodable message sent to the dead-letter topic" was logged
/// before the send, so also when it failed. A dead-letter producer that
/// cannot send (the letter exceeds its message.max.bytes) now leaves no
/// such line, no count and no commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_reported_only_once_the_topic_acknowledged_it() {
    let cluster = Cluster::start(1).await;
    let dir = TempDir::new("unsent-letter").expect("temp dir");
    let admin = free_port();
    let (mut ingester, log) = ingester_logging_to(
        &cluster,
        &dir,
        &[
            &format!("--admin-listen=127.0.0.1:{admin}"),
            "--kafka-producer-config=message.max.bytes=1000",
        ],
    );
    // A decodable message first: the partition's encoding is proven.
    let sent = cluster.send_traces(1).await;
    assert_eq!(
        cluster
            .wait_for_spans(sent.len() as u64, Duration::from_secs(60))
            .await,
        sent.len() as u64
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .unwrap();
    let poison = vec![0xff; 2_000];
    producer
        .send(
            FutureRecord::to(&cluster.topic)
                .key("poison")
                .payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("poison produced");
    let seen = wait_until(Duration::from_secs(30), || async {
        sample(
            &scrape_metrics(admin).await,
            r#"ferrotrace_ingester_messages_total{result="undecodable"}"#,
        ) == 1.0
    })
    .await;
    assert!(seen, "the poison was read");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = read_log(&log);
    assert!(
        !text.contains("sent to the dead-letter topic"),
        "reported as sent though the send fails: {text}"
    );
    let metrics = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &metrics,
            r#"ferrotrace_ingester_dead_letters_total{reason="undecodable"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(
            &metrics,
            r#"ferrotrace_ingester_messages_dead_lettered_total{reason="undecodable"}"#
        ),
        0.0
    );
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
