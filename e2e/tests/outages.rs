//! Elasticsearch going away for real, through a TCP proxy the test cuts:
//! the ingester pauses its partitions instead of blocking the poll loop, so
//! it stays in the consumer group past `max.poll.interval.ms`; when
//! Elasticsearch returns, every span is indexed exactly once (with every
//! batch split into requests under `--es-bulk-max-bytes`).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics, wait_until};
use support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elasticsearch_outage_pauses_consumption_and_loses_nothing() {
    let cluster = Cluster::start(2).await;
    let proxy = cluster.es_proxy().await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut ingester = cluster.ingester_with_es(
        &proxy.url(),
        &[
            &admin_flag,
            "--es-bulk-workers=1",
            "--es-bulk-actions=200",
            // Far under one batch: every batch leaves as several capped requests.
            "--es-bulk-max-bytes=20000",
            // A short poll interval: blocking the poll loop for the outage would exceed it.
            "--kafka-consumer-config=session.timeout.ms=6000",
            "--kafka-consumer-config=max.poll.interval.ms=8000",
        ],
    );

    let mut expected = cluster.send_traces(50).await;
    let first = cluster
        .wait_for_spans(expected.len() as u64, Duration::from_secs(120))
        .await;
    assert_eq!(first, expected.len() as u64, "spans before the outage");

    proxy.cut();
    expected.extend(cluster.send_traces(150).await);
    let paused = wait_until(Duration::from_secs(60), || async {
        sample(
            &scrape_metrics(admin).await,
            "ferrotrace_ingester_paused_partitions",
        ) > 0.0
    })
    .await;
    assert!(
        paused,
        "partitions paused while Elasticsearch is away: {:#?}",
        scrape_metrics(admin).await
    );
    // Longer than max.poll.interval.ms: a blocked poll loop would be expelled from the group.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let during = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &during,
            r#"ferrotrace_ingester_rebalances_total{event="revoked"}"#
        ),
        0.0,
        "the ingester stayed in the group: {during:#?}"
    );

    let lag = |m: &HashMap<String, f64>| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with("ferrotrace_ingester_consumer_lag_messages{"))
            .map(|(_, v)| v)
            .sum()
    };
    assert!(
        lag(&during) > 0.0,
        "the lag gauge shows the backlog: {during:#?}"
    );
    assert!(
        sample(
            &during,
            r#"ferrotrace_ingester_bulk_requests_total{result="retry"}"#
        ) > 0.0,
        "failed bulk requests are counted as retries: {during:#?}"
    );
    let readyz = reqwest::get(format!("http://127.0.0.1:{admin}/readyz"))
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(
        readyz.ok(),
        Some(503),
        "not ready while Elasticsearch is away"
    );

    proxy.restore();
    let restored = std::time::Instant::now();
    let stored = cluster
        .wait_for_spans(expected.len() as u64, Duration::from_secs(180))
        .await;
    eprintln!(
        "outage recovery: {} spans indexed {:?} after Elasticsearch returned",
        expected.len(),
        restored.elapsed()
    );
    assert_eq!(stored, expected.len() as u64, "every span indexed once");
    let seen = cluster.stored_spans("2026-11-26").await;
    assert_eq!(seen, expected, "exactly the spans sent");
    let after = wait_until(Duration::from_secs(30), || async {
        sample(
            &scrape_metrics(admin).await,
            "ferrotrace_ingester_paused_partitions",
        ) == 0.0
    })
    .await;
    assert!(after, "consumption resumed");
    let drained = wait_until(Duration::from_secs(30), || async {
        lag(&scrape_metrics(admin).await) == 0.0
    })
    .await;
    assert!(
        drained,
        "lag back to zero: {:#?}",
        scrape_metrics(admin).await
    );
    let end = scrape_metrics(admin).await;
    assert!(sample(&end, "ferrotrace_ingester_bulk_bytes_total") > 0.0);
    assert_eq!(
        sample(&end, "ferrotrace_ingester_inflight_bytes"),
        0.0,
        "{end:#?}"
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
