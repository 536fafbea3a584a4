//! `ferrotrace-loadtest` as users run it, against a real pipeline (tansu,
//! collector, ingester, osmem): open-loop sending with `--json` output, and
//! `--verify`, which must fail when acknowledged spans never reach
//! Elasticsearch and pass once an ingester stores them.

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::{terminate, workspace_binary, Cluster};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_without_an_ingester_and_passes_with_one() {
    let cluster = Cluster::start(2).await;

    // No ingester yet: the spans are in Kafka, acknowledged, but not stored.
    let (code, missing) = loadtest(&cluster, 20, &["--verify-idle=2s", "--verify-wait=5s"]).await;
    assert_eq!(code, Some(1), "lost spans must fail the run: {missing}");
    assert_eq!(missing["acked_spans"], 200);
    assert_eq!(missing["verify"]["expected_spans"], 200);
    assert_eq!(missing["verify"]["lost_spans"], 200, "{missing}");
    assert_eq!(missing["verify"]["lost_trace_count"], 20, "{missing}");

    let mut ingester = cluster.ingester(&[]);
    let (code, report) = loadtest(&cluster, 30, &["--verify-idle=30s", "--verify-wait=120s"]).await;
    terminate(&mut ingester).await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["acked_spans"], 300);
    assert_eq!(report["refused_spans"], 0);
    let verify = &report["verify"];
    assert_eq!(verify["expected_spans"], 300, "{report}");
    assert_eq!(verify["found_spans"], 300, "{report}");
    assert_eq!(verify["lost_spans"], 0, "{report}");
    assert_eq!(verify["duplicated_spans"], 0, "{report}");
    // The first run's spans were stored too once the ingester came: other
    // traffic in the time range, counted but not an error.
    assert_eq!(verify["foreign_spans"], 200, "{report}");
    // Open loop at 2,000 spans/s: 5 requests of 60 spans, each latency measured.
    assert_eq!(report["requests"], 5);
    let latency = &report["latency_ms"];
    let (p50, p99, max) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{latency}");
    assert!(report["seconds"].as_f64().unwrap() >= 0.1, "{report}");
}

/// Runs the loadtest binary: `traces` ten-span traces, six per request, at
/// 2,000 spans/s, verified against the cluster's Elasticsearch. Returns the
/// exit code and the JSON report.
async fn loadtest(cluster: &Cluster, traces: usize, extra: &[&str]) -> (Option<i32>, Value) {
    let binary = workspace_binary("ferrotrace-loadtest");
    let output = Command::new(&binary)
        .arg(format!("--endpoint={}", cluster.collector_grpc))
        .arg(format!("--traces={traces}"))
        .args([
            "--traces-per-request=6",
            "--spans-per-trace=10",
            "--rate=2000",
        ])
        .args([
            "--concurrency=2",
            "--report-interval=0",
            "--json",
            "--verify",
        ])
        .arg(format!("--es-url={}", cluster.osmem.url()))
        .arg(format!("--es-index-prefix={}", cluster.prefix))
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "loadtest printed no JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}
