//! `ferrotrace-ingester dependencies` against a real cluster: traces of a
//! known topology go through the collector, Kafka and the ingester into
//! osmem; the job reads the day back and must write exactly the expected
//! links, once, whether it runs whole, again, or as shards and a merge.

mod support;

use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use support::topology::{self, dependency_docs, job, ok, request, SPANS_PER_TRACE};
use support::{Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};

const TRACES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_counts_the_days_links_once_whole_again_or_in_shards() {
    let cluster = Cluster::start(2).await;
    let admin = free_port();
    let mut ingester = cluster.ingester(&[
        &format!("--admin-listen=127.0.0.1:{admin}"),
        "--service-graph-wait=1s",
        // The spans are dated 2026-11-26: count them however old.
        "--metrics-max-span-age=0",
        // This test is about the job alone.
        "--dependencies-live=false",
    ]);
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    grpc.export(request(0..TRACES, AFTER_MIDNIGHT_NS, None))
        .await
        .expect("export");
    // The day before: must not count.
    grpc.export(request(100..105, BEFORE_MIDNIGHT_NS, None))
        .await
        .expect("export");
    let total = (TRACES + 5) * SPANS_PER_TRACE;
    assert_eq!(
        cluster.wait_for_spans(total, Duration::from_secs(60)).await,
        total
    );

    let expected = topology::expected(TRACES);

    // Small pages and several ranges: traces cross page boundaries.
    let flags = ["--date=2026-11-26", "--parallelism=3", "--page-size=7"];
    let report = ok(job(&cluster, &flags).await);
    assert!(
        report.contains(&format!(
            "summary: 4 links, {TRACES} traces, {} spans",
            TRACES * SPANS_PER_TRACE
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("frontend -> backend: {TRACES}\n")),
        "{report}"
    );
    let docs = dependency_docs(&cluster, "2026-11-26").await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].0, "2026-11-26T00:00:00Z");
    assert_eq!(docs[0].1, expected);

    // A re-run replaces the document.
    ok(job(&cluster, &flags).await);
    let docs = dependency_docs(&cluster, "2026-11-26").await;
    assert_eq!(docs.len(), 1, "re-run replaced, not added");
    assert_eq!(docs[0].1, expected);

    // Two shards and a merge give the same document; a merge with a shard
    // missing refuses.
    ok(job(&cluster, &["--date=2026-11-26", "--shard=0/2"]).await);
    let early = job(&cluster, &["--date=2026-11-26", "--merge", "--shards=2"]).await;
    assert_eq!(early.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(stderr.contains("shards 1/2 have not stored"), "{stderr}");
    ok(job(&cluster, &["--date=2026-11-26", "--shard=1/2"]).await);
    let merged = ok(job(&cluster, &["--date=2026-11-26", "--merge", "--shards=2"]).await);
    assert!(merged.contains(&format!("{TRACES} traces")), "{merged}");
    let docs = dependency_docs(&cluster, "2026-11-26").await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].1, expected);

    // The previous day has its own five traces.
    let report = ok(job(&cluster, &["--date=2026-11-25"]).await);
    assert!(report.contains("frontend -> backend: 5\n"), "{report}");

    // The ingester's live service graph saw the same traffic (both days):
    // each frontend client span paired with its backend server span, and
    // each redis call expired unpaired into a peer.service virtual node.
    let all_traces = (TRACES + 5) as f64;
    let mut metrics = scrape_metrics(admin).await;
    let to_redis = r#"traces_service_graph_request_total{client="backend",server="redis",connection_type="virtual_node"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sample(&metrics, to_redis) < all_traces && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        metrics = scrape_metrics(admin).await;
    }
    assert_eq!(
        sample(
            &metrics,
            r#"traces_service_graph_request_total{client="frontend",server="backend"}"#
        ),
        all_traces
    );
    assert_eq!(sample(&metrics, to_redis), all_traces);

    // Bad flags: one line, exit 64.
    let bad = job(&cluster, &["--date=26-11-2026"]).await;
    assert_eq!(bad.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--date"));
    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
