//! `ferrotrace-loadtest` against a broken target, as a user runs it: a dead
//! endpoint must end a `--duration` run near its duration with readable
//! error kinds and progress lines that show the refusals, and `--verify`
//! against an Elasticsearch without the prefix's indices must say so and
//! report progress while it waits. The runs are short; the time bounds are
//! generous on purpose (this is no performance test).

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ferrotrace_testkit::{free_port, Osmem};
use tokio::process::Command;

async fn loadtest(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ferrotrace-loadtest"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .unwrap_or_else(|_| panic!("{args:?}: still running after 60 s"))
        .expect("loadtest runs");
    (output, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_ends_the_run_near_its_duration_with_readable_errors() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let (output, took) = loadtest(&[
        "--protocol=http-protobuf",
        &format!("--endpoint={endpoint}"),
        "--duration=2s",
        "--report-interval=500ms",
        "--concurrency=2",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    // 2 s of sending and at most 5 s of draining; 20 s is room for a slow machine.
    assert!(took < Duration::from_secs(20), "took {took:?}: {all}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "refused spans fail the run: {all}"
    );
    // Every progress line while refusals go on says so, with the kind.
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!progress.is_empty(), "{all}");
    assert!(
        progress
            .iter()
            .all(|line| line.contains("retries") && line.contains("refused")),
        "{all}"
    );
    assert!(
        progress[0].contains("(errors: connect refused "),
        "the first progress line shows the refusals: {all}"
    );
    assert!(stdout.contains("errors by kind: connect refused "), "{all}");
    for unreadable in ["Unknown", "{\""] {
        assert!(!stdout.contains(unreadable), "{unreadable}: {all}");
    }
}

/// A collector that acknowledges every OTLP/HTTP request (an empty
/// protobuf `ExportTraceServiceResponse`) and stores nothing.
async fn acknowledging_collector() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|| async { ([("content-type", "application/x-protobuf")], "") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_a_wrong_prefix_says_no_such_index_and_reports_progress() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let endpoint = acknowledging_collector().await;
    let (output, _) = loadtest(&[
        "--protocol=http-protobuf",
        &format!("--endpoint={endpoint}"),
        "--traces=20",
        "--report-interval=300ms",
        "--verify",
        &format!("--es-url={}", osmem.url()),
        "--es-index-prefix=wrong",
        "--verify-idle=2s",
        "--verify-wait=10s",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        stdout.contains("verify: no such index: nothing matches wrong-jaeger-span-*"),
        "{all}"
    );
    assert!(!stdout.contains("lost:"), "no list of lost traces: {all}");
    assert!(
        stderr.contains("] no index matches wrong-jaeger-span-* yet"),
        "progress while waiting: {all}"
    );
}
