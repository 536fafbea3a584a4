//! An ingester stays operable through outages and mistakes: it serves its
//! admin endpoints from the start, says on `/readyz` why it is not ready
//! (Elasticsearch unreachable, topic missing, brokers unreachable), and
//! starts consuming by itself once the cause is gone: Elasticsearch back,
//! the topic created (within seconds, through the metadata refresh).

mod support;

use std::time::{Duration, Instant};

use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{free_port, unique_name};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{Cluster, AFTER_MIDNIGHT_NS};

/// Status and body of `GET /<path>` on the admin port; `None` while it is closed.
async fn admin_get(admin: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{admin}/{path}"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Waits until `/readyz` answers `status` with a body containing `needle`;
/// returns the last answer.
async fn wait_for_readyz(
    admin: u16,
    status: u16,
    needle: &str,
    timeout: Duration,
) -> Option<(u16, String)> {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = admin_get(admin, "readyz").await;
        if last
            .as_ref()
            .is_some_and(|(s, body)| *s == status && body.contains(needle))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_during_an_elasticsearch_outage_then_consumes_when_it_returns() {
    let cluster = Cluster::start(1).await;
    let proxy = cluster.es_proxy().await;
    proxy.cut();
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let started = Instant::now();
    let mut ingester = cluster.ingester_with_es(&proxy.url(), &[&admin_flag]);

    // Alive and saying why it is not ready within a couple of seconds, while
    // Elasticsearch stays away.
    let readyz = wait_for_readyz(
        admin,
        503,
        "elasticsearch: unreachable",
        Duration::from_secs(5),
    )
    .await;
    let (status, body) = readyz.expect("admin server answers during the outage");
    assert!(
        status == 503 && body.starts_with("not ready\n"),
        "{status} {body}"
    );
    assert!(
        body.contains("elasticsearch: unreachable"),
        "the reason is on /readyz: {body}"
    );
    eprintln!("/readyz after {:?}:\n{body}", started.elapsed());
    assert_eq!(
        admin_get(admin, "healthz").await.map(|(s, _)| s),
        Some(200),
        "liveness is about the process"
    );
    let metrics = admin_get(admin, "metrics").await.expect("metrics served");
    assert_eq!(metrics.0, 200);
    assert!(metrics.1.contains("ferrotrace_build_info"), "{}", metrics.1);

    let expected = cluster.send_traces(20).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        admin_get(admin, "healthz").await.map(|(s, _)| s),
        Some(200),
        "still alive after seconds of outage"
    );
    proxy.restore();
    let ready = wait_for_readyz(admin, 200, "ready", Duration::from_secs(60)).await;
    assert_eq!(
        ready.as_ref().map(|(s, _)| *s),
        Some(200),
        "ready once Elasticsearch returned: {ready:?}"
    );
    let stored = cluster
        .wait_for_spans(expected.len() as u64, Duration::from_secs(60))
        .await;
    assert_eq!(stored, expected.len() as u64, "consumes once it returned");
    assert_eq!(cluster.stored_spans("2026-11-26").await, expected);
    support::terminate(&mut ingester).await;
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_not_ready_and_is_consumed_within_seconds_of_its_creation() {
    let cluster = Cluster::start(1).await;
    let topic = unique_name("created-later");
    let admin = free_port();
    let (admin_flag, topic_flag) = (
        format!("--admin-listen=127.0.0.1:{admin}"),
        format!("--kafka-topic={topic}"),
    );
    let mut ingester = cluster.ingester(&[&admin_flag, &topic_flag]);

    let needle = format!("kafka: topic {topic:?} does not exist");
    let readyz = wait_for_readyz(admin, 503, &needle, Duration::from_secs(15)).await;
    assert!(
        readyz
            .as_ref()
            .is_some_and(|(s, body)| *s == 503 && body.contains(&needle)),
        "{readyz:?}"
    );
    // Long enough for the consumer to have subscribed and looked for it.
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster
        .tansu
        .create_topic(&topic, 1)
        .await
        .expect("topic created");
    let created = Instant::now();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .expect("producer");
    let request = generator::request(
        &mut rand::rng(),
        3,
        Shape {
            spans_per_trace: 5,
            ..Default::default()
        },
        AFTER_MIDNIGHT_NS,
    );
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&topic).payload(&request.encode_to_vec()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .expect("produced to the new topic");

    let stored = cluster.wait_for_spans(15, Duration::from_secs(60)).await;
    let took = created.elapsed();
    eprintln!("spans of a topic created after start stored {took:?} after its creation");
    assert_eq!(stored, 15, "the new topic's spans are stored");
    assert!(
        took < Duration::from_secs(20),
        "a topic created after start is picked up within seconds, took {took:?}"
    );
    let ready = wait_for_readyz(admin, 200, "ready", Duration::from_secs(15)).await;
    assert_eq!(ready.map(|(s, _)| s), Some(200));
    support::terminate(&mut ingester).await;
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_are_not_ready() {
    let cluster = Cluster::start(1).await;
    let admin = free_port();
    let (admin_flag, brokers_flag) = (
        format!("--admin-listen=127.0.0.1:{admin}"),
        // Nothing listens there.
        format!("--kafka-brokers=127.0.0.1:{}", free_port()),
    );
    let mut ingester = cluster.ingester(&[&admin_flag, &brokers_flag]);
    let needle = "kafka: brokers unreachable";
    let readyz = wait_for_readyz(admin, 503, needle, Duration::from_secs(20)).await;
    assert!(
        readyz
            .as_ref()
            .is_some_and(|(s, body)| *s == 503 && body.contains(needle)),
        "{readyz:?}"
    );
    let (_, body) = readyz.unwrap_or_default();
    assert!(
        body.contains("--kafka-brokers"),
        "says what to check: {body}"
    );
    assert!(
        !body.contains("elasticsearch"),
        "Elasticsearch is fine: {body}"
    );
    support::terminate(&mut ingester).await;
    cluster.collector_stop.cancel();
}
