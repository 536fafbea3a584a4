//! `ferrotrace-ingester dependencies` against a real cluster: traces of a
//! known topology go through the collector, Kafka and the ingester into
//! osmem; the job reads the day back and must write exactly the expected
//! links, once, whether it runs whole, again, or as shards and a merge.

mod support;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use support::{kv, Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};
use tokio::process::Command;

const TRACES: u64 = 20;
const SPANS_PER_TRACE: u64 = 5;

/// One trace: frontend (server) → frontend client → backend (server), which
/// calls redis (a leaf client with `peer.service`, no redis spans) and does
/// internal work.
fn trace(n: u64, start_ns: u64) -> Vec<(&'static str, Span)> {
    let trace_id = {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n + 1)).to_be_bytes());
        id[8..].copy_from_slice(&(n + 1).to_be_bytes());
        id.to_vec()
    };
    let span = |id: u8, parent: u8, name: &str, kind: SpanKind| Span {
        trace_id: trace_id.clone(),
        span_id: vec![0, 0, 0, 0, 0, 0, (n % 250) as u8 + 1, id],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![0, 0, 0, 0, 0, 0, (n % 250) as u8 + 1, parent]
        },
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start_ns + u64::from(id) * 1_000,
        end_time_unix_nano: start_ns + 500_000,
        ..Default::default()
    };
    let mut redis_call = span(4, 3, "GET", SpanKind::Client);
    redis_call.attributes = vec![kv("peer.service", Value::StringValue("redis".into()))];
    vec![
        ("frontend", span(1, 0, "GET /dispatch", SpanKind::Server)),
        ("frontend", span(2, 1, "GET /customer", SpanKind::Client)),
        ("backend", span(3, 2, "GET /customer", SpanKind::Server)),
        ("backend", redis_call),
        ("backend", span(5, 3, "load", SpanKind::Internal)),
    ]
}

fn request(traces: std::ops::Range<u64>, start_ns: u64) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for n in traces {
        for (service, span) in trace(n, start_ns) {
            by_service.entry(service).or_default().push(span);
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Value::StringValue(service.into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

async fn job(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(support::workspace_binary("ferrotrace-ingester"))
        .arg("dependencies")
        .arg(format!("--es-url={}", cluster.osmem.url()))
        .arg(format!("--es-index-prefix={}", cluster.prefix))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("job runs")
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The day's dependencies documents: (timestamp, {(parent, child): count}) each.
async fn stored(cluster: &Cluster) -> Vec<(String, BTreeMap<(String, String), u64>)> {
    let index = format!("{}-jaeger-dependencies-2026-11-26", cluster.prefix);
    let docs = cluster
        .osmem
        .all_docs(&index)
        .await
        .expect("dependencies index");
    docs.into_iter()
        .map(|(_, doc)| {
            let links = doc["dependencies"]
                .as_array()
                .expect("dependencies array")
                .iter()
                .map(|l| {
                    assert_eq!(l["source"], "jaeger");
                    (
                        (
                            l["parent"].as_str().unwrap().to_owned(),
                            l["child"].as_str().unwrap().to_owned(),
                        ),
                        l["callCount"].as_u64().unwrap(),
                    )
                })
                .collect();
            (
                doc["timestamp"].as_str().unwrap_or_default().to_owned(),
                links,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_counts_the_days_links_once_whole_again_or_in_shards() {
    let cluster = Cluster::start(2).await;
    let admin = free_port();
    let mut ingester = cluster.ingester(&[
        &format!("--admin-listen=127.0.0.1:{admin}"),
        "--service-graph-wait=1s",
        // The spans are dated 2026-11-26: count them however old.
        "--metrics-max-span-age=0",
    ]);
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    grpc.export(request(0..TRACES, AFTER_MIDNIGHT_NS))
        .await
        .expect("export");
    // The day before: must not count.
    grpc.export(request(100..105, BEFORE_MIDNIGHT_NS))
        .await
        .expect("export");
    let total = (TRACES + 5) * SPANS_PER_TRACE;
    assert_eq!(
        cluster.wait_for_spans(total, Duration::from_secs(60)).await,
        total
    );

    let expected: BTreeMap<(String, String), u64> = [
        ("frontend", "frontend", TRACES),
        ("frontend", "backend", TRACES),
        ("backend", "backend", 2 * TRACES),
        ("backend", "redis", TRACES),
    ]
    .into_iter()
    .map(|(p, c, n)| ((p.to_owned(), c.to_owned()), n))
    .collect();

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
    let docs = stored(&cluster).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].0, "2026-11-26T00:00:00Z");
    assert_eq!(docs[0].1, expected);

    // A re-run replaces the document.
    ok(job(&cluster, &flags).await);
    let docs = stored(&cluster).await;
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
    let docs = stored(&cluster).await;
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
