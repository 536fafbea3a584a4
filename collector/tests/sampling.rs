//! Jaeger remote sampling as real clients see it, from the collector
//! binary: jaeger-client's remote sampler (PyPI `jaeger-client`) over HTTP,
//! a gRPC client generated from jaeger-idl's sampling.proto, Jaeger's
//! status codes and messages, and the strategies file's reloads and
//! refusals. The Python clients run in the venv `scripts/install-tools.sh`
//! installs (see `sampling_clients.py`).
//!
//! No Kafka is needed: strategies are served whatever the brokers do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use ferrotrace_collector::receivers::grpc_raw::RawCodec;
use ferrotrace_common::jaeger::sampling::GET_SAMPLING_STRATEGY_PATH;
use ferrotrace_common::testkit::{
    free_port, sample, scrape_metrics, tool_path, usage_error, wait_until, TempDir,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const STRATEGIES: &str = "strategies.json";

/// Replaces the strategies file at once (a rename), as a ConfigMap update
/// does, so the collector never reads half a file.
fn replace(dir: &TempDir, contents: &str) {
    let next = dir.write("next.json", contents).unwrap();
    std::fs::rename(next, dir.path().join(STRATEGIES)).unwrap();
}

/// The collector binary with every receiver but the sampling ones off.
struct Collector {
    _process: Child,
    sampling_http: u16,
    jaeger_http: u16,
    jaeger_grpc: u16,
    admin: u16,
}

impl Collector {
    async fn start(strategies: &Path) -> Self {
        let [sampling_http, jaeger_http, jaeger_grpc, admin] =
            [free_port(), free_port(), free_port(), free_port()];
        let process = collector_command()
            .arg(format!(
                "--sampling-strategies-file={}",
                strategies.display()
            ))
            .arg(format!("--sampling-http-listen=127.0.0.1:{sampling_http}"))
            .arg(format!("--jaeger-http-listen=127.0.0.1:{jaeger_http}"))
            .arg(format!("--jaeger-grpc-listen=127.0.0.1:{jaeger_grpc}"))
            .arg(format!("--admin-listen=127.0.0.1:{admin}"))
            .arg("--reload-interval=100ms")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("collector starts");
        let collector = Self {
            _process: process,
            sampling_http,
            jaeger_http,
            jaeger_grpc,
            admin,
        };
        let url = collector.url(sampling_http, "/sampling?service=x");
        let up = wait_until(Duration::from_secs(30), || async {
            reqwest::get(&url).await.is_ok()
        })
        .await;
        assert!(up, "the collector serves {url}");
        collector
    }

    fn url(&self, port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{port}{path}")
    }

    async fn get(&self, port: u16, path: &str) -> (u16, String, String) {
        let response = reqwest::get(self.url(port, path)).await.expect("answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }

    async fn requests(&self, receiver: &str, result: &str) -> f64 {
        sample(
            &scrape_metrics(self.admin).await,
            &format!("ferrotrace_collector_sampling_requests_total{{receiver=\"{receiver}\",result=\"{result}\"}}"),
        )
    }
}

/// The collector with no receiver of spans and an unused Kafka port.
fn collector_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"));
    command
        .arg(format!("--kafka-brokers=127.0.0.1:{}", free_port()))
        .args([
            "--otlp-grpc-listen=",
            "--otlp-http-listen=",
            "--zipkin-listen=",
        ])
        .args(["--jaeger-compact-listen=", "--jaeger-binary-listen="]);
    command
}

fn clients_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sampling_clients.py")
}

fn python() -> PathBuf {
    tool_path(
        "sampling-clients-python",
        "FERROTRACE_SAMPLING_CLIENTS_PYTHON",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// jaeger-client's remote sampler, printing each sampler it switches to.
struct RemoteSampler {
    _process: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl RemoteSampler {
    fn start(port: u16, service: &str) -> Self {
        let mut process = Command::new(python())
            .arg(clients_script())
            .args(["remote-sampler", "127.0.0.1", &port.to_string(), service])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python starts");
        let stdout = process.stdout.take().expect("stdout");
        Self {
            _process: process,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next sampler it switched to.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("the sampler changes within 30 s")
            .expect("reads")
            .expect("the client runs");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_clients_remote_sampler_moves_to_the_served_strategy_and_follows_the_file() {
    let dir = TempDir::new("sampling-client").unwrap();
    let file = dir
        .write(
            STRATEGIES,
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.2},
                "service_strategies": [{"service": "checkout", "type": "probabilistic", "param": 0.5}]}"#,
        )
        .unwrap();
    let collector = Collector::start(&file).await;
    let mut client = RemoteSampler::start(collector.sampling_http, "checkout");

    assert_eq!(
        client.next().await,
        json!({"sampler": "probabilistic", "rate": 0.001}),
        "jaeger-client starts on its own default"
    );
    assert_eq!(
        client.next().await,
        json!({"sampler": "probabilistic", "rate": 0.5})
    );

    replace(
        &dir,
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.2,
              "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0}]},
            "service_strategies": [{"service": "checkout", "type": "probabilistic", "param": 0.4,
              "operation_strategies": [{"operation": "pay", "type": "probabilistic", "param": 1.0}]}]}"#,
    );
    assert_eq!(
        client.next().await,
        json!({
            "sampler": "per_operation",
            // Integers where Go writes `0` and `1`.
            "default_rate": 0.4,
            "lower_bound": 0,
            "operations": {"/health": 0, "pay": 1},
        }),
        "its own operation and the inherited default one"
    );

    replace(
        &dir,
        r#"{"service_strategies": [{"service": "checkout", "type": "ratelimiting", "param": 3}]}"#,
    );
    assert_eq!(
        client.next().await,
        json!({"sampler": "ratelimiting", "max_traces_per_second": 3})
    );
    assert!(collector.requests("sampling_http", "ok").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_client_generated_from_jaegers_proto_gets_the_strategy() {
    let dir = TempDir::new("sampling-grpc").unwrap();
    let file = dir
        .write(
            STRATEGIES,
            r#"{"default_strategy": {"type": "ratelimiting", "param": 7},
                "service_strategies": [{"service": "checkout", "type": "probabilistic", "param": 0.25,
                  "operation_strategies": [{"operation": "pay", "type": "probabilistic", "param": 1}]}]}"#,
        )
        .unwrap();
    let collector = Collector::start(&file).await;
    let call = |service: &'static str| {
        let port = collector.jaeger_grpc.to_string();
        async move {
            let output = Command::new(python())
                .arg(clients_script())
                .args(["grpc", "127.0.0.1", &port, service])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .expect("python runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{stderr}");
            serde_json::from_slice::<Value>(&output.stdout).expect("one JSON line")
        }
    };
    // protobuf's JSON mapping leaves out zero values, PROBABILISTIC (0) among them.
    assert_eq!(
        call("checkout").await,
        json!({
            "probabilisticSampling": {"samplingRate": 0.25},
            "operationSampling": {
                "defaultSamplingProbability": 0.25,
                "perOperationStrategies": [
                    {"operation": "pay", "probabilisticSampling": {"samplingRate": 1.0}}
                ]
            }
        })
    );
    assert_eq!(
        call("unknown").await,
        json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 7}})
    );
    assert_eq!(collector.requests("jaeger_grpc", "ok").await, 2.0);

    // A request that is not a SamplingStrategyParameters: field 1 of the wrong wire type.
    let channel = tonic::transport::Channel::from_shared(format!(
        "http://127.0.0.1:{}",
        collector.jaeger_grpc
    ))
    .unwrap()
    .connect()
    .await
    .expect("gRPC connects");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("gRPC ready");
    let status = client
        .unary::<Bytes, Bytes, _>(
            tonic::Request::new(Bytes::from_static(&[0x08, 0x01])),
            tonic::codegen::http::uri::PathAndQuery::from_static(GET_SAMPLING_STRATEGY_PATH),
            RawCodec,
        )
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("invalid SamplingStrategyParameters"),
        "{status:?}"
    );
    assert_eq!(collector.requests("jaeger_grpc", "bad_request").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_answer_with_jaegers_bodies_and_status_codes() {
    let dir = TempDir::new("sampling-http").unwrap();
    let file = dir
        .write(
            STRATEGIES,
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
                "service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 42}]}"#,
        )
        .unwrap();
    let collector = Collector::start(&file).await;
    let port = collector.sampling_http;
    let rate_limited =
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#;
    for path in ["/sampling?service=bar", "/api/sampling?service=bar"] {
        let answer = collector.get(port, path).await;
        assert_eq!(
            answer,
            (200, "application/json".into(), rate_limited.into()),
            "{path}"
        );
    }
    assert_eq!(
        collector.get(port, "/?service=bar").await,
        (
            200,
            "application/json".into(),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}"#.into()
        ),
        "the legacy endpoint's integer strategyType"
    );
    assert_eq!(
        collector
            .get(collector.jaeger_http, "/api/sampling?service=bar")
            .await,
        (200, "application/json".into(), rate_limited.into()),
        "the Jaeger HTTP receiver serves /api/sampling too"
    );
    assert_eq!(
        collector.get(port, "/sampling?service=nobody").await.2,
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#,
        "an unknown service gets the default"
    );
    assert_eq!(
        collector.get(port, "/?service=nobody").await.2,
        r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#,
    );

    let refused = (
        400,
        "text/plain; charset=utf-8".into(),
        "'service' parameter must be provided once\n".into(),
    );
    for path in ["/sampling", "/sampling?service=a&service=a", "/", "/?x=1"] {
        assert_eq!(collector.get(port, path).await, refused, "{path}");
    }
    assert_eq!(
        collector
            .get(collector.jaeger_http, "/api/sampling?service=a&service=b")
            .await,
        refused
    );
    assert_eq!(collector.get(port, "/elsewhere?service=a").await.0, 404);

    assert_eq!(
        collector.requests("sampling_http", "bad_request").await,
        4.0
    );
    assert_eq!(collector.requests("jaeger_http", "bad_request").await, 1.0);
    assert_eq!(collector.requests("jaeger_http", "ok").await, 1.0);
    // Collector::start's readiness probes count too.
    assert!(collector.requests("sampling_http", "ok").await >= 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_keeps_the_last_good_strategies_and_is_counted() {
    let dir = TempDir::new("sampling-reload").unwrap();
    let file = dir
        .write(
            STRATEGIES,
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.5}}"#,
        )
        .unwrap();
    let collector = Collector::start(&file).await;
    let reloads = |result: &'static str| {
        let admin = collector.admin;
        async move {
            sample(
                &scrape_metrics(admin).await,
                &format!(
                    "ferrotrace_collector_sampling_strategies_reloads_total{{result=\"{result}\"}}"
                ),
            )
        }
    };
    assert_eq!(reloads("failed").await, 0.0, "registered at 0");
    replace(
        &dir,
        r#"{"default_strategy": {"type": "probabilistic", "param": 7}}"#,
    );
    let counted = wait_until(Duration::from_secs(30), || async {
        reloads("failed").await == 1.0
    })
    .await;
    assert!(counted, "the failed reload is counted");
    let served = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#;
    let path = "/sampling?service=x";
    assert_eq!(collector.get(collector.sampling_http, path).await.2, served);

    replace(
        &dir,
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.75}}"#,
    );
    let reloaded = wait_until(Duration::from_secs(30), || async {
        collector
            .get(collector.sampling_http, path)
            .await
            .2
            .contains("0.75")
    })
    .await;
    assert!(reloaded, "a good file is served again");
    assert_eq!(reloads("ok").await, 1.0);
    assert_eq!(reloads("failed").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_strategies_file_at_start_exits_64_naming_the_problem() {
    let dir = TempDir::new("sampling-bad").unwrap();
    let misspelt = dir
        .write(
            STRATEGIES,
            r#"{"service_strategies": [{"service": "a", "type": "probabalistic", "param": 0.5}]}"#,
        )
        .unwrap();
    let missing = dir.path().join("missing.json");
    for (file, named) in [
        (&misspelt, "unknown type \"probabalistic\""),
        (&missing, "missing.json"),
    ] {
        let mut command = collector_command();
        command
            .arg(format!("--sampling-strategies-file={}", file.display()))
            .args(["--sampling-http-listen=", "--admin-listen="])
            .args(["--jaeger-http-listen=", "--jaeger-grpc-listen="]);
        let stderr = usage_error(command).await;
        assert!(
            stderr.starts_with("ferrotrace-collector: ") && stderr.contains(named),
            "{stderr}"
        );
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    }
}
