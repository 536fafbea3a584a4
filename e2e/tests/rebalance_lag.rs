//! The lag gauges of two real ingesters across a rebalance add up to the
//! consumer group's lag as Kafka reports it: a partition's series leaves the
//! ingester it is revoked from, so dashboards and the lag alert, which sum
//! the gauges over every ingester, see neither a stale value nor a partition
//! counted twice.
//!
//! Ingester A builds lag while its Elasticsearch is cut; ingester B joins
//! and takes some partitions (its Elasticsearch answers, so it drains them);
//! then A's returns and A drains the rest. Kafka's lag is the committed
//! offsets against the high watermarks, the same arithmetic the gauges use
//! (tansu's watermark counts record batches, so every message is produced as
//! a batch of its own and the watermark is exact).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{free_port, scrape_metrics, wait_until};
use prost::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use support::{terminate, Cluster, AFTER_MIDNIGHT_NS};

const PARTITIONS: i32 = 4;
const LAG: &str = "ferrotrace_ingester_consumer_lag_messages";
const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_gauges_add_up_to_kafkas_lag_across_a_rebalance() {
    let cluster = Cluster::start(PARTITIONS).await;
    let proxy = cluster.es_proxy().await;
    let group = format!("{}-group", cluster.topic);
    let flags = |admin: u16| {
        vec![
            format!("--admin-listen=127.0.0.1:{admin}"),
            // Quick statistics and rebalances keep the test short.
            "--kafka-consumer-config=statistics.interval.ms=1000".to_string(),
            "--kafka-consumer-config=session.timeout.ms=6000".to_string(),
            "--kafka-consumer-config=heartbeat.interval.ms=500".to_string(),
        ]
    };
    let (admin_a, admin_b) = (free_port(), free_port());
    let flags_a = flags(admin_a);
    let flags_a: Vec<&str> = flags_a.iter().map(String::as_str).collect();
    let mut ingester_a = cluster.ingester_with_es(&proxy.url(), &flags_a);
    let kafka = Kafka::new(&cluster, &group);

    // Every partition gets a committed offset first.
    kafka.produce(10).await;
    let settled = wait_until(TIMEOUT, || async {
        kafka.committed_everywhere() && kafka.lag() == 0
    })
    .await;
    assert!(settled, "ingester A stores and commits the first messages");

    proxy.cut();
    kafka.produce(25).await;
    let backlog = PARTITIONS as i64 * 25;
    let lagging = wait_until(TIMEOUT, || async {
        let a = lag_series(admin_a).await;
        kafka.lag() == backlog && a.values().sum::<i64>() == backlog
    })
    .await;
    assert!(
        lagging,
        "A's gauges show the backlog: Kafka {}, A {:?}",
        kafka.lag(),
        lag_series(admin_a).await
    );

    let flags_b = flags(admin_b);
    let flags_b: Vec<&str> = flags_b.iter().map(String::as_str).collect();
    let mut ingester_b = cluster.ingester(&flags_b);
    let rebalanced = wait_until(TIMEOUT, || async {
        !lag_series(admin_b).await.is_empty() && lag_series(admin_a).await.len() < 4
    })
    .await;
    assert!(
        rebalanced,
        "B takes partitions from A: A {:?}, B {:?}",
        lag_series(admin_a).await,
        lag_series(admin_b).await
    );

    // B drains what it took; A's partitions keep their lag.
    let (agreed, last) = agree(&kafka, admin_a, admin_b, |lag| lag > 0).await;
    assert!(
        agreed,
        "while lag is non-zero, every partition is exported by exactly one ingester and the gauges add up to Kafka's lag: {last}"
    );

    proxy.restore();
    let (agreed, last) = agree(&kafka, admin_a, admin_b, |lag| lag == 0).await;
    assert!(
        agreed,
        "after both drained, the gauges add up to Kafka's lag of 0: {last}"
    );

    // B leaves: its series go with it, and A exports every partition again.
    let assigned_before_b_left = assigned(admin_a).await;
    terminate(&mut ingester_b).await;
    let back = wait_until(TIMEOUT, || async {
        let a = lag_series(admin_a).await;
        a.len() == PARTITIONS as usize && a.values().sum::<i64>() == kafka.lag()
    })
    .await;
    assert!(
        back,
        "A exports all partitions again after B left: {:?}",
        lag_series(admin_a).await
    );
    // No message has arrived since both drained, and A's assignment when B
    // left is counted all the same.
    let counted = wait_until(TIMEOUT, || async {
        assigned(admin_a).await > assigned_before_b_left
    })
    .await;
    assert!(
        counted,
        "A counts the assignment it got, idle, when B left: {} before, {} after",
        assigned_before_b_left,
        assigned(admin_a).await
    );
    ingester_a.kill().await.ok();
    cluster.collector_stop.cancel();
}

/// Waits until Kafka's lag satisfies `wanted`, each partition's lag series
/// is exported by exactly one of the two ingesters, and the series add up to
/// Kafka's lag; returns whether it happened and the last observation.
async fn agree(
    kafka: &Kafka,
    admin_a: u16,
    admin_b: u16,
    wanted: impl Fn(i64) -> bool,
) -> (bool, String) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let (a, b) = (lag_series(admin_a).await, lag_series(admin_b).await);
        let lag = kafka.lag();
        let mut owners: BTreeMap<i32, usize> = BTreeMap::new();
        for partition in a.keys().chain(b.keys()) {
            *owners.entry(*partition).or_default() += 1;
        }
        let once = owners.len() == PARTITIONS as usize && owners.values().all(|&n| n == 1);
        let sum = a.values().sum::<i64>() + b.values().sum::<i64>();
        let last = format!("Kafka lag {lag}, A {a:?}, B {b:?}");
        if wanted(lag) && once && sum == lag {
            return (true, last);
        }
        if std::time::Instant::now() > deadline {
            return (false, last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many assignments an ingester has counted.
async fn assigned(admin: u16) -> f64 {
    let metrics = scrape_metrics(admin).await;
    metrics
        .get(r#"ferrotrace_ingester_rebalances_total{event="assigned"}"#)
        .copied()
        .unwrap_or(0.0)
}

/// Partition → value of the lag series an ingester exports.
async fn lag_series(admin: u16) -> BTreeMap<i32, i64> {
    partition_values(&scrape_metrics(admin).await)
}

fn partition_values(metrics: &HashMap<String, f64>) -> BTreeMap<i32, i64> {
    metrics
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{LAG}{{")))
        .filter_map(|(series, value)| {
            let partition = series.split("partition=\"").nth(1)?.split('"').next()?;
            Some((partition.parse().ok()?, *value as i64))
        })
        .collect()
}

/// The topic as Kafka sees it: a producer and the group's committed offsets.
struct Kafka {
    topic: String,
    producer: FutureProducer,
    /// Never subscribes: it only reads the group's offsets and watermarks.
    reader: BaseConsumer,
}

impl Kafka {
    fn new(cluster: &Cluster, group: &str) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", cluster.tansu.brokers())
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .create()
            .expect("producer");
        let reader = ClientConfig::new()
            .set("bootstrap.servers", cluster.tansu.brokers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset reader");
        Self {
            topic: cluster.topic.clone(),
            producer,
            reader,
        }
    }

    /// `per_partition` messages of one small trace each to every partition,
    /// one batch per message.
    async fn produce(&self, per_partition: usize) {
        let mut rng = rand::rng();
        let shape = Shape {
            spans_per_trace: 3,
            attributes_per_span: 2,
            ..Default::default()
        };
        for partition in 0..PARTITIONS {
            for _ in 0..per_partition {
                let value =
                    generator::request(&mut rng, 1, shape, AFTER_MIDNIGHT_NS).encode_to_vec();
                self.producer
                    .send(
                        FutureRecord::<(), _>::to(&self.topic)
                            .partition(partition)
                            .payload(&value),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| e)
                    .expect("message produced");
            }
        }
    }

    /// Committed offset per partition (absent when none).
    fn committed(&self) -> BTreeMap<i32, i64> {
        let mut list = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            list.add_partition(&self.topic, partition);
        }
        let committed = self
            .reader
            .committed_offsets(list, Duration::from_secs(10))
            .expect("committed offsets");
        committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }

    fn committed_everywhere(&self) -> bool {
        let partitions: BTreeSet<i32> = self.committed().into_keys().collect();
        partitions.len() == PARTITIONS as usize
    }

    /// The group's lag: high watermark minus committed offset (the log start
    /// when nothing is committed), summed over the partitions.
    fn lag(&self) -> i64 {
        let committed = self.committed();
        (0..PARTITIONS)
            .map(|partition| {
                let (low, high) = self
                    .reader
                    .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))
                    .expect("watermarks");
                let next = committed.get(&partition).copied().unwrap_or(low);
                (high - next).max(0)
            })
            .sum()
    }
}
