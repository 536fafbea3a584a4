//! Tail-based sampling against the real spine (collector, tansu, ingester
//! binary, osmem): traces are sent the way services report them, one
//! request per service with pauses between, so a trace reaches the ingester
//! as several Kafka messages and its error or its length shows only in its
//! last part. Then:
//! - every error trace and every slow trace is stored whole;
//! - the probabilistic policy keeps its share of the rest;
//! - no trace is stored in part;
//! - an ingester killed (SIGKILL) while traces wait for their decision
//!   loses none of their spans: the next ingester reads them again;
//! - a configuration it cannot honour stops it at start (exit 64).
//!
//! Every trace has five spans:
//! ```text
//! frontend  SERVER "GET /"      root (10 ms)
//! frontend  CLIENT "GET /api"   child of the root
//! backend   SERVER "GET /api"   child of the client
//! backend   CLIENT "SELECT"
//! db        SERVER "query"      ERROR in error traces; ends 1.5 s after the root starts in slow ones
//! ```

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics, usage_error, wait_until, TempDir};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use support::{resource_spans, workspace_binary, Cluster, AFTER_MIDNIGHT_NS};

const SPANS_PER_TRACE: usize = 5;
const SERVICES: [&str; 3] = ["frontend", "backend", "db"];
/// The day of AFTER_MIDNIGHT_NS, in the span index name.
const DAY: &str = "2026-11-26";
const SHARE_PERCENT: f64 = 20.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error,
    Slow,
    Normal,
}

#[derive(Debug, Clone, Copy)]
struct TestTrace {
    id: [u8; 16],
    kind: Kind,
}

impl TestTrace {
    fn hex(&self) -> String {
        hex::encode(self.id)
    }
}

/// `count` traces of `kind`, their IDs spread over the hash space (a
/// fixed mix, so the probabilistic share is the same run after run).
fn traces(kind: Kind, first: u64, count: u64) -> Vec<TestTrace> {
    (first..first + count)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&mix(i).to_be_bytes());
            id[8..].copy_from_slice(&mix(i ^ 0xA5A5).to_be_bytes());
            // No leading zero byte: Jaeger's hex trace ID keeps all 32 digits.
            id[0] |= 0x10;
            TestTrace { id, kind }
        })
        .collect()
}

/// splitmix64's finaliser.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn span(
    trace: &TestTrace,
    id: u8,
    parent: Option<u8>,
    kind: SpanKind,
    name: &str,
    ms: u64,
) -> Span {
    let span_id = |n: u8| {
        let mut s = trace.id[..8].to_vec();
        s[7] = n;
        s[0] |= 0x10;
        s
    };
    Span {
        trace_id: trace.id.to_vec(),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: AFTER_MIDNIGHT_NS,
        end_time_unix_nano: AFTER_MIDNIGHT_NS + ms * 1_000_000,
        ..Default::default()
    }
}

/// What `service` reports of `trace`.
fn service_spans(service: &str, trace: &TestTrace) -> Vec<Span> {
    use SpanKind::*;
    match service {
        "frontend" => vec![
            span(trace, 1, None, Server, "GET /", 10),
            span(trace, 2, Some(1), Client, "GET /api", 9),
        ],
        "backend" => vec![
            span(trace, 3, Some(2), Server, "GET /api", 8),
            span(trace, 4, Some(3), Client, "SELECT", 5),
        ],
        _ => {
            let ms = if trace.kind == Kind::Slow { 1_500 } else { 4 };
            let mut query = span(trace, 5, Some(4), Server, "query", ms);
            if trace.kind == Kind::Error {
                query.status = Some(Status {
                    code: StatusCode::Error as i32,
                    message: "deadlock".into(),
                });
            }
            vec![query]
        }
    }
}

/// One request from `service` with its spans of every trace: the collector
/// cuts it into one Kafka message per trace.
async fn send_part(
    grpc: &mut TraceServiceClient<tonic::transport::Channel>,
    service: &str,
    traces: &[TestTrace],
) {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            service,
            traces
                .iter()
                .flat_map(|t| service_spans(service, t))
                .collect(),
        )],
    };
    grpc.export(request).await.expect("export");
}

fn config(decision_wait: &str) -> String {
    format!(
        r#"
decision_wait: {decision_wait}
policies:
  - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
  - {{name: slow, type: latency, latency: {{threshold_ms: 1000}}}}
  - {{name: share, type: probabilistic, probabilistic: {{sampling_percentage: {SHARE_PERCENT}}}}}
"#
    )
}

/// Spans stored per trace ID (hex).
async fn stored_by_trace(cluster: &Cluster) -> HashMap<String, usize> {
    let mut by_trace = HashMap::new();
    for (trace, _) in cluster.stored_spans(DAY).await {
        *by_trace.entry(trace).or_default() += 1;
    }
    by_trace
}

/// Sum of a tail-sampling counter over its series with `decision`.
fn decided(metrics: &HashMap<String, f64>, counter: &str, decision: &str) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.starts_with(&format!("{counter}{{"))
                && series.contains(&format!("decision=\"{decision}\""))
        })
        .map(|(_, v)| v)
        .sum()
}

const TRACES_TOTAL: &str = "ferrotrace_ingester_tail_sampling_traces_total";
const SPANS_TOTAL: &str = "ferrotrace_ingester_tail_sampling_spans_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_error_and_slow_traces_whole_and_a_share_of_the_rest() {
    let cluster = Cluster::start(2).await;
    let dir = TempDir::new("tail-sampling").expect("temp dir");
    let file = dir
        .write("tail.yaml", config("5s"))
        .expect("config written");
    let admin = free_port();
    let mut ingester = cluster.ingester(&[
        &format!("--tail-sampling-config={}", file.display()),
        &format!("--admin-listen=127.0.0.1:{admin}"),
    ]);

    let errors = traces(Kind::Error, 0, 10);
    let slow = traces(Kind::Slow, 100, 10);
    let normal = traces(Kind::Normal, 1_000, 200);
    let all: Vec<TestTrace> = [&errors[..], &slow[..], &normal[..]].concat();
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    for (i, service) in SERVICES.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        send_part(&mut grpc, service, &all).await;
    }

    // Every trace decided, then every kept span stored.
    let total = all.len() as f64;
    let all_decided = wait_until(Duration::from_secs(120), || async {
        let m = scrape_metrics(admin).await;
        decided(&m, TRACES_TOTAL, "kept") + decided(&m, TRACES_TOTAL, "dropped") >= total
    })
    .await;
    let metrics = scrape_metrics(admin).await;
    assert!(all_decided, "not every trace was decided: {metrics:?}");
    let kept = decided(&metrics, TRACES_TOTAL, "kept") as u64;
    let stored_count = cluster
        .wait_for_spans(kept * SPANS_PER_TRACE as u64, Duration::from_secs(60))
        .await;
    let stored = stored_by_trace(&cluster).await;

    let partial: Vec<_> = stored
        .iter()
        .filter(|(_, &n)| n != SPANS_PER_TRACE)
        .collect();
    assert!(partial.is_empty(), "traces stored in part: {partial:?}");
    for t in errors.iter().chain(&slow) {
        assert_eq!(
            stored.get(&t.hex()),
            Some(&SPANS_PER_TRACE),
            "{:?} trace {} not stored whole",
            t.kind,
            t.hex()
        );
    }
    let normal_kept = normal
        .iter()
        .filter(|t| stored.contains_key(&t.hex()))
        .count();
    // 20 % of 200 is 40; the binomial's standard deviation is about 5.7.
    assert!(
        (20..=60).contains(&normal_kept),
        "probabilistic kept {normal_kept} of 200 normal traces, wanted about {SHARE_PERCENT} %"
    );
    assert_eq!(
        stored.len() as u64,
        kept,
        "the stored traces are the kept ones"
    );
    assert_eq!(stored_count, kept * SPANS_PER_TRACE as u64);

    // The metrics say which policy kept what.
    let series = |policy: &str, decision: &str| {
        sample(
            &metrics,
            &format!("{TRACES_TOTAL}{{policy=\"{policy}\",decision=\"{decision}\"}}"),
        )
    };
    assert_eq!(series("errors", "kept"), 10.0);
    assert_eq!(series("slow", "kept"), 10.0);
    assert_eq!(series("share", "kept"), normal_kept as f64);
    assert_eq!(series("none", "dropped"), (200 - normal_kept) as f64);
    assert_eq!(
        decided(&metrics, SPANS_TOTAL, "dropped"),
        ((200 - normal_kept) * SPANS_PER_TRACE) as f64
    );
    let _ = ingester.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_decision_window_loses_no_kept_span() {
    let cluster = Cluster::start(1).await;
    let dir = TempDir::new("tail-sampling-kill").expect("temp dir");
    let long = dir
        .write("long.yaml", config("10m"))
        .expect("config written");
    let short = dir
        .write("short.yaml", config("2s"))
        .expect("config written");
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut first = cluster.ingester(&[
        &format!("--tail-sampling-config={}", long.display()),
        &admin_flag,
    ]);

    let errors = traces(Kind::Error, 0, 20);
    let normal = traces(Kind::Normal, 1_000, 20);
    let all: Vec<TestTrace> = [&errors[..], &normal[..]].concat();
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    // The frontend's and the backend's parts reach the first ingester,
    // which holds them: their decision is ten minutes away.
    send_part(&mut grpc, "frontend", &all).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_part(&mut grpc, "backend", &all).await;
    let held = wait_until(Duration::from_secs(60), || async {
        let m = scrape_metrics(admin).await;
        sample(&m, "ferrotrace_ingester_messages_total{result=\"ok\"}") >= (2 * all.len()) as f64
    })
    .await;
    assert!(held, "the first ingester did not read both parts");
    let m = scrape_metrics(admin).await;
    assert_eq!(
        sample(&m, "ferrotrace_ingester_tail_sampling_buffer_traces"),
        all.len() as f64,
        "every trace waits for its decision"
    );
    assert_eq!(
        cluster.span_count().await,
        0,
        "nothing stored before a decision"
    );

    // SIGKILL: no drain, no commit.
    first.kill().await.expect("SIGKILL");
    let _ = first.wait().await;

    // The next ingester reads the held messages again; the db's part, with
    // the errors, reaches it only now.
    let mut second = cluster.ingester(&[
        &format!("--tail-sampling-config={}", short.display()),
        &admin_flag,
    ]);
    send_part(&mut grpc, "db", &all).await;
    let decided_all = wait_until(Duration::from_secs(120), || async {
        let m = scrape_metrics(admin).await;
        decided(&m, TRACES_TOTAL, "kept") + decided(&m, TRACES_TOTAL, "dropped") >= all.len() as f64
    })
    .await;
    assert!(
        decided_all,
        "the second ingester did not decide every trace"
    );
    let m = scrape_metrics(admin).await;
    let kept = decided(&m, TRACES_TOTAL, "kept") as u64;
    cluster
        .wait_for_spans(kept * SPANS_PER_TRACE as u64, Duration::from_secs(60))
        .await;
    let stored = stored_by_trace(&cluster).await;
    for t in &errors {
        assert_eq!(
            stored.get(&t.hex()),
            Some(&SPANS_PER_TRACE),
            "error trace {} lost spans across the kill",
            t.hex()
        );
    }
    let partial: Vec<_> = stored
        .iter()
        .filter(|(_, &n)| n != SPANS_PER_TRACE)
        .collect();
    assert!(partial.is_empty(), "traces stored in part: {partial:?}");
    let sent: HashSet<String> = all.iter().map(TestTrace::hex).collect();
    assert!(stored.keys().all(|t| sent.contains(t)));
    let _ = second.kill().await;
}

#[tokio::test]
async fn a_configuration_it_cannot_honour_exits_64_naming_it() {
    let dir = TempDir::new("tail-sampling-bad").expect("temp dir");
    let cases = [
        (
            "policies: [{name: keep-errors, type: status_code, status_code: {status_codes: [ERROR]}}, {name: mixed, type: composite}]",
            "policies[1] (\"mixed\"): policy type \"composite\" is not supported",
        ),
        (
            "policies: [{name: slow, type: latency, latency: {threshold_ms: 100, lower_ms: 5}}]",
            "unknown field `lower_ms`",
        ),
    ];
    for (i, (yaml, expected)) in cases.into_iter().enumerate() {
        let file = dir
            .write(&format!("bad{i}.yaml"), yaml)
            .expect("config written");
        let mut command = tokio::process::Command::new(workspace_binary("ferrotrace-ingester"));
        command.arg(format!("--tail-sampling-config={}", file.display()));
        let stderr = usage_error(command).await;
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}
