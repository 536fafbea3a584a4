//! Which partition a trace lands on. The OpenTelemetry Collector's Kafka
//! exporter (`partition_traces_by_id`, default `record_partitioner`:
//! `sticky_key` with `hasher: sarama_compat`) and Jaeger's collector
//! (Sarama's default `NewHashPartitioner`) both key a trace by its 32-char
//! hex ID and hash it the Sarama way; a ferrotrace collector writing the same
//! topic must pick the same partition for every key and partition count, or
//! one trace's spans reach several ingesters.
//!
//! The references below are written from the algorithms (FNV-1a 32-bit as
//! Go's `hash/fnv`; Sarama's int32 remainder made positive; Kafka's Java
//! `Utils.murmur2` and `toPositive`), checked against values computed
//! independently in Python and the FNV spec's test vectors; the tests then
//! compare them with what real librdkafka, configured by the collector's own
//! producer code, chose.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrotrace_collector::config::Config;
use ferrotrace_collector::producer;
use ferrotrace_format::otlp::trace_id_hex;
use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{unique_name, Tansu};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rand::Rng;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use support::{start_collector, topic_reader, unread_metrics};

/// FNV-1a, 32 bits (Go's `hash/fnv.New32a`).
fn fnv1a32(key: &[u8]) -> u32 {
    key.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// Sarama's `NewHashPartitioner` (franz-go's `SaramaCompatHasher` over
/// FNV-1a): the hash as int32, remainder with the dividend's sign (Go's and
/// Rust's `%`), negated when negative. Not Java's masking of the top bit.
fn sarama_partition(key: &[u8], partitions: i32) -> i32 {
    let remainder = (fnv1a32(key) as i32) % partitions;
    if remainder < 0 {
        -remainder
    } else {
        remainder
    }
}

/// Kafka's Java `Utils.murmur2` (MurmurHash2, seed 0x9747b28c, little-endian words).
fn murmur2(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut hash = 0x9747_b28c ^ key.len() as u32;
    let mut words = key.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M) ^ k;
    }
    let tail = words.remainder();
    if tail.len() == 3 {
        hash ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        hash ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        hash ^= u32::from(tail[0]);
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^ (hash >> 15)
}

/// The Java client's default for a keyed record: `toPositive(murmur2(key)) % partitions`.
fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions
}

#[test]
fn references_match_independently_computed_values() {
    // FNV-1a 32 test vectors from the FNV specification.
    assert_eq!(fnv1a32(b""), 0x811c_9dc5);
    assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    // Java's murmur2, as librdkafka's own unit test lists it.
    assert_eq!(murmur2(b"kafka"), 0xd067_cf64);
    assert_eq!(murmur2(b"giberish123456789"), 0x8f55_2b0c);
    assert_eq!(murmur2(b"1234"), 0x9fc9_7b14);
    assert_eq!(murmur2(b""), 0x106e_08d9);
    // Trace IDs: FNV-1a hash, Sarama's partitions and Java's for 6, 7, 10 and
    // 64 partitions, computed with a separate Python implementation of the
    // same algorithms. The first is the W3C trace-context example; the last
    // has a positive int32 hash, the others a negative one, where Sarama's
    // negation and Java's masking part ways.
    let cases: [(&str, u32, [i32; 4], [i32; 4]); 5] = [
        (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            0x8b14_acd2,
            [0, 5, 0, 46],
            [2, 4, 8, 26],
        ),
        (
            "0af7651916cd43dd8448eb211c80319c",
            0xc3ef_cb05,
            [1, 5, 9, 59],
            [1, 1, 9, 47],
        ),
        (
            "00000000000000000000000000000001",
            0xefc8_62b2,
            [0, 6, 6, 14],
            [4, 2, 8, 38],
        ),
        (
            "ffffffffffffffffffffffffffffffff",
            0xed92_8645,
            [3, 4, 5, 59],
            [5, 2, 3, 63],
        ),
        (
            "a3ce929d0e0e47364bf92f3577b34da6",
            0x422f_2646,
            [2, 4, 6, 6],
            [2, 4, 8, 26],
        ),
    ];
    for (key, hash, sarama, java) in cases {
        assert_eq!(fnv1a32(key.as_bytes()), hash, "{key}");
        for (i, partitions) in [6, 7, 10, 64].into_iter().enumerate() {
            assert_eq!(
                sarama_partition(key.as_bytes(), partitions),
                sarama[i],
                "sarama {key} / {partitions}"
            );
            assert_eq!(
                java_partition(key.as_bytes(), partitions),
                java[i],
                "java {key} / {partitions}"
            );
        }
    }
    // Masking instead of negating would put this trace on partition 18.
    assert_eq!(
        (0x8b14_acd2u32 & 0x7fff_ffff) % 64,
        18,
        "the sign handling matters"
    );
}

/// `count` random trace IDs as the collector keys them.
fn trace_keys(count: usize) -> Vec<[u8; 32]> {
    let mut rng = rand::rng();
    (0..count)
        .map(|_| trace_id_hex(&rng.random::<[u8; 16]>()))
        .collect()
}

/// Produces every key to a fresh topic of `partitions` partitions through a
/// librdkafka producer made from the collector's own configuration
/// (`producer::client_config`), and returns the partition of each delivery.
async fn delivered_partitions(
    cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    flags: &[&str],
    partitions: i32,
    keys: &[[u8; 32]],
) -> Vec<i32> {
    let topic = unique_name("partitions");
    cluster.create_topic(&topic, partitions, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let mut args = vec!["ferrotrace-collector", "--kafka-brokers", &brokers];
    args.extend_from_slice(flags);
    let config = Config::try_parse_from(args).expect("valid flags");
    config.validate().expect("valid configuration");
    let producer: FutureProducer = producer::client_config(&config.producer_options())
        .expect("producer configuration")
        .create()
        .expect("producer");
    let deliveries: Vec<_> = keys
        .iter()
        .map(|key| {
            producer
                .send_result(
                    FutureRecord::<[u8], [u8]>::to(&topic)
                        .key(&key[..])
                        .payload(b"spans"),
                )
                .expect("queued")
        })
        .collect();
    let mut chosen = Vec::with_capacity(keys.len());
    for delivery in deliveries {
        let delivery = tokio::time::timeout(Duration::from_secs(30), delivery)
            .await
            .expect("delivered in time")
            .expect("delivery report")
            .expect("delivered");
        chosen.push(delivery.partition);
    }
    chosen
}

/// Partition counts: every count up to 64, and some larger odd and even ones.
fn partition_counts() -> impl Iterator<Item = i32> {
    (1..=64).chain([97, 100, 127, 128, 255, 1000])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_each_trace_goes_to_the_partition_sarama_picks() {
    let cluster = MockCluster::new(1).expect("librdkafka mock cluster");
    let keys = trace_keys(300);
    for partitions in partition_counts() {
        let chosen = delivered_partitions(&cluster, &[], partitions, &keys).await;
        for (key, partition) in keys.iter().zip(chosen) {
            assert_eq!(
                partition,
                sarama_partition(key, partitions),
                "key {} on {partitions} partitions",
                String::from_utf8_lossy(key)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn murmur2_random_puts_each_trace_where_the_java_client_does() {
    let cluster = MockCluster::new(1).expect("librdkafka mock cluster");
    let keys = trace_keys(200);
    for partitions in [2, 3, 6, 7, 12, 64, 100] {
        let flags = ["--kafka-partitioner", "murmur2_random"];
        let chosen = delivered_partitions(&cluster, &flags, partitions, &keys).await;
        for (key, partition) in keys.iter().zip(chosen) {
            assert_eq!(
                partition,
                java_partition(key, partitions),
                "key {} on {partitions} partitions",
                String::from_utf8_lossy(key)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_writes_each_trace_to_saramas_partition_on_a_real_broker() {
    let tansu = Tansu::start().await.expect("tansu starts");
    for partitions in [2, 7, 24] {
        let topic = unique_name("spans");
        tansu.create_topic(&topic, partitions).await.expect("topic");
        let collector =
            start_collector(&tansu.brokers(), &topic, &[] as &[&str], unread_metrics()).await;
        let mut client = TraceServiceClient::connect(collector.grpc_url())
            .await
            .expect("connect");
        let mut rng = rand::rng();
        let traces = 120;
        let shape = Shape {
            spans_per_trace: 2,
            ..Default::default()
        };
        let request = generator::request(&mut rng, traces, shape, 1_795_651_200_000_000_000);
        client.export(request).await.expect("export accepted");
        collector.stop().await;

        let landed = read_partitions(&tansu.brokers(), &topic, traces).await;
        assert_eq!(landed.len(), traces, "one message per trace");
        let mut used = std::collections::HashSet::new();
        for (key, partition) in landed {
            assert_eq!(
                partition,
                sarama_partition(&key, partitions),
                "trace {} on {partitions} partitions",
                String::from_utf8_lossy(&key)
            );
            used.insert(partition);
        }
        assert!(used.len() > 1, "{traces} traces on more than one partition");
    }
}

/// The partition each key of `topic` landed on, read back from the broker.
async fn read_partitions(brokers: &str, topic: &str, expected: usize) -> HashMap<Vec<u8>, i32> {
    let consumer = topic_reader(brokers, topic);
    let mut landed = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while landed.len() < expected && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(20), consumer.recv()).await {
            Ok(Ok(message)) => {
                let key = message.key().expect("keyed").to_vec();
                let earlier = landed.insert(key, message.partition());
                assert!(earlier.is_none(), "one message per trace");
            }
            Ok(Err(error)) => panic!("consume error: {error}"),
            Err(_) => break,
        }
    }
    landed
}

#[tokio::test]
async fn an_unknown_partitioner_stops_it_with_exit_code_64() {
    let mut collector = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"));
    collector.env("FERROTRACE_KAFKA_PARTITIONER", "consistent");
    let stderr = ferrotrace_testkit::usage_error(collector).await;
    assert!(stderr.contains("--kafka-partitioner"), "{stderr}");
}
