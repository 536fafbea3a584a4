//! Live dependency links (`--dependencies-live`) against a real cluster:
//! traces of a known topology, each trace's services sent in separate
//! requests (so its spans reach the ingester in separate Kafka messages),
//! go through the collector, tansu and the ingester into osmem, and the
//! ingester writes the links itself every flush interval.
//! - after a flush the live links equal the daily job's for the same day,
//!   and the job's recount (or `--from-live`) replaces them, so the day
//!   still shows each call once;
//! - an ingester killed with SIGKILL and a successor reading the whole
//!   topic again (from the protobuf wire, where the first read decoded
//!   requests) leave the counts as they were;
//! - two ingesters sharing the partitions count what one ingester counts;
//! - in rollover mode (`--es-use-aliases`) the links go through the
//!   dependencies' write alias, and an ingester refuses to start while that
//!   alias is missing.

mod support;

use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics, wait_until};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use support::topology::{
    expected, job, ok, request, stored_docs, ui_links, Links, SPANS_PER_TRACE,
};
use support::{Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};

const DAY: &str = "2026-11-26";
const WAIT: Duration = Duration::from_secs(90);

/// Flags of an ingester writing its links every second.
const LIVE: [&str; 4] = [
    "--dependencies-live=true",
    "--dependencies-flush-interval=1s",
    "--dependencies-trace-wait=1s",
    "--metrics-max-span-age=0",
];

/// Sends traces `traces` dated `start_ns`, frontend and backend spans in
/// separate requests.
async fn send(cluster: &Cluster, traces: std::ops::Range<u64>, start_ns: u64) {
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    for service in ["frontend", "backend"] {
        grpc.export(request(traces.clone(), start_ns, Some(service)))
            .await
            .expect("export");
    }
}

/// The next offset of each partition of the cluster's topic.
fn high_watermarks(cluster: &Cluster, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .set("group.id", "watermarks")
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(&cluster.topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// Waits until the live documents count every message of the topic (for
/// each partition, the latest `through` is its last offset); returns
/// [`DAY`]'s links as jaeger-query sums them.
async fn counted_through_the_end(cluster: &Cluster, partitions: i32) -> Links {
    let ends = high_watermarks(cluster, partitions);
    let done = wait_until(WAIT, || async {
        let docs = stored_docs(cluster, "*").await;
        (0..partitions).all(|p| {
            let through = docs
                .iter()
                .filter(|(_, doc)| doc["ferrotrace"]["partition"] == p)
                .filter_map(|(_, doc)| doc["ferrotrace"]["through"].as_i64())
                .max()
                .unwrap_or(-1);
            through == ends[p as usize] - 1
        })
    })
    .await;
    assert!(
        done,
        "the live documents never counted through {ends:?}: {:?}",
        stored_docs(cluster, "*").await
    );
    ui_links(cluster, DAY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flush_the_live_links_equal_the_jobs() {
    let cluster = Cluster::start(2).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut flags = LIVE.to_vec();
    flags.push(&admin_flag);
    let mut ingester = cluster.ingester(&flags);
    // Registered at start, before any span.
    let metrics_at_start =
        wait_until(WAIT, || async { !scrape_metrics(admin).await.is_empty() }).await;
    assert!(metrics_at_start);
    let metrics = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &metrics,
            "ferrotrace_ingester_dependencies_window_overflows_total"
        ),
        0.0
    );
    assert_eq!(
        sample(
            &metrics,
            "ferrotrace_ingester_dependencies_links_written_total"
        ),
        0.0
    );

    send(&cluster, 0..20, AFTER_MIDNIGHT_NS).await;
    send(&cluster, 100..105, BEFORE_MIDNIGHT_NS).await;
    let spans = 25 * SPANS_PER_TRACE;
    assert_eq!(cluster.wait_for_spans(spans, WAIT).await, spans);
    let live = counted_through_the_end(&cluster, 2).await;
    assert_eq!(live, expected(20));
    assert!(
        sample(
            &scrape_metrics(admin).await,
            "ferrotrace_ingester_dependencies_links_written_total"
        ) >= 4.0
    );

    // The job reads the same spans back and counts the same links; its
    // document replaces the live ones, so the day shows each call once.
    let report = ok(job(&cluster, &[&format!("--date={DAY}")]).await);
    let docs = stored_docs(&cluster, DAY).await;
    let (_, day_doc) = docs
        .iter()
        .find(|(id, _)| id == DAY)
        .expect("the job's document");
    assert_eq!(support::topology::links_of(day_doc), live, "{report}");
    assert_eq!(ui_links(&cluster, DAY).await, live);

    // The cheap compaction moves the day before's live counts into its own
    // document; a second run moves nothing more.
    let before = "2026-11-25";
    assert_eq!(ui_links(&cluster, before).await, expected(5));
    for _ in 0..2 {
        ok(job(&cluster, &[&format!("--date={before}"), "--from-live"]).await);
        let docs = stored_docs(&cluster, before).await;
        let compacted: Vec<_> = docs
            .iter()
            .filter(|(_, doc)| !support::topology::links_of(doc).is_empty())
            .collect();
        assert_eq!(compacted.len(), 1, "one document holds the day: {docs:?}");
        assert_eq!(compacted[0].0, before);
        assert_eq!(ui_links(&cluster, before).await, expected(5));
    }

    // Today, while the ingesters count it, a recount is not stored: it
    // would count twice the traces they hold but have not written yet.
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let today =
        ferrotrace_format::civil_date::date_string((now_ns / 86_400_000_000_000) as i64, "-");
    send(&cluster, 200..203, now_ns).await;
    let counted_today = wait_until(WAIT, || async {
        ui_links(&cluster, &today).await == expected(3)
    })
    .await;
    assert!(counted_today, "{:?}", stored_docs(&cluster, &today).await);
    let report = ok(job(&cluster, &[]).await);
    assert!(report.contains("the recount is not stored"), "{report}");
    assert!(stored_docs(&cluster, &today)
        .await
        .iter()
        .all(|(id, _)| *id != today));
    assert_eq!(ui_links(&cluster, &today).await, expected(3));
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_and_a_full_replay_do_not_double_the_counts() {
    let cluster = Cluster::start(2).await;
    let mut first = cluster.ingester(&LIVE);
    send(&cluster, 0..10, AFTER_MIDNIGHT_NS).await;
    assert_eq!(counted_through_the_end(&cluster, 2).await, expected(10));
    first.kill().await.expect("SIGKILL");

    // A successor in a new consumer group reads every message again, this
    // time from the wire (no metrics generator: no message is decoded).
    let mut flags = LIVE.to_vec();
    let group = format!("--kafka-group={}-replay", cluster.topic);
    flags.extend([
        group.as_str(),
        "--service-graph=false",
        "--span-metrics=false",
    ]);
    let mut next = cluster.ingester(&flags);
    send(&cluster, 10..15, AFTER_MIDNIGHT_NS).await;
    assert_eq!(counted_through_the_end(&cluster, 2).await, expected(15));
    next.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingesters_count_what_one_counts() {
    let cluster = Cluster::start(4).await;
    let mut pair = [cluster.ingester(&LIVE), cluster.ingester(&LIVE)];
    send(&cluster, 0..30, AFTER_MIDNIGHT_NS).await;
    let two = counted_through_the_end(&cluster, 4).await;
    for ingester in &mut pair {
        ingester.kill().await.ok();
    }
    // One ingester reading the same topic into an index set of its own.
    let prefix = format!("--es-index-prefix={}-one", cluster.prefix);
    let group = format!("--kafka-group={}-one", cluster.topic);
    let mut flags = LIVE.to_vec();
    flags.extend([prefix.as_str(), group.as_str()]);
    let mut one = cluster.ingester(&flags);
    let single = Cluster {
        prefix: format!("{}-one", cluster.prefix),
        ..cluster
    };
    let one_counted = counted_through_the_end(&single, 4).await;
    assert_eq!(two, one_counted);
    assert_eq!(two, expected(30));
    one.kill().await.ok();
    single.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_rollover_mode_the_links_go_through_the_dependencies_alias() {
    let cluster = Cluster::start(2).await;
    let prefix = cluster.prefix.clone();
    cluster.first_rollover_index("span").await;
    cluster.first_rollover_index("service").await;
    let mut flags = LIVE.to_vec();
    flags.push("--es-use-aliases");

    // As after `rollover init --skip-dependencies`: a live link written to
    // the missing alias would create a plain index by its name and block the
    // alias for good, so the ingester stops first and says why.
    let stderr = cluster.refused_ingester(&flags).await;
    assert!(
        stderr.contains(&format!(
            "{prefix}-jaeger-dependencies-write does not exist"
        )) && stderr.contains("--skip-dependencies"),
        "{stderr}"
    );

    cluster.first_rollover_index("dependencies").await;
    let mut ingester = cluster.ingester(&flags);
    send(&cluster, 0..20, AFTER_MIDNIGHT_NS).await;
    let spans = 20 * SPANS_PER_TRACE;
    assert_eq!(cluster.wait_for_spans(spans, WAIT).await, spans);
    // The day's links, summed over the documents the read alias shows (one
    // per partition), as jaeger-query reads them in rollover mode.
    let read_alias = format!("{prefix}-jaeger-dependencies-read");
    let links = || async {
        let docs = cluster
            .osmem
            .all_docs(&read_alias)
            .await
            .unwrap_or_default();
        let mut total = Links::new();
        for (_, doc) in docs.iter().filter(|(_, doc)| {
            doc["timestamp"]
                .as_str()
                .unwrap_or_default()
                .starts_with(DAY)
        }) {
            for (pair, count) in support::topology::links_of(doc) {
                *total.entry(pair).or_default() += count;
            }
        }
        total
    };
    let counted = wait_until(WAIT, || async { links().await == expected(20) }).await;
    assert!(counted, "{:?}", links().await);
    let stored = cluster
        .osmem
        .all_docs(&format!("{prefix}-jaeger-dependencies-000001"))
        .await
        .expect("the set's first index");
    assert!(!stored.is_empty(), "written through the write alias");
    let names = cluster
        .index_names(&format!("{prefix}-jaeger-dependencies*"))
        .await;
    assert_eq!(
        names,
        [format!("{prefix}-jaeger-dependencies-000001")],
        "no daily index and no index named like an alias"
    );
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
