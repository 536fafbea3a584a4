//! `ferrotrace-loadtest` as users run it, against a real pipeline (tansu,
//! collector, ingester, osmem): open-loop sending with `--json` output, and
//! `--verify`, which must fail when acknowledged spans never reach
//! Elasticsearch and pass once an ingester stores them. Also against a
//! secured deployment: a collector with TLS and bearer tokens, and
//! Elasticsearch behind a TLS proxy that checks basic auth.

mod support;

use std::path::Path;
use std::process::Stdio;

use clap::Parser;
use ferrotrace_common::testkit::{ProxyAuth, TestPki, TlsProxy, TlsProxyOptions};
use serde_json::Value;
use support::{terminate, workspace_binary, Cluster};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "loadtest-T0ken-4f9c2e";
const WRONG_TOKEN: &str = "not-the-T0ken-77ab";
const ES_USERNAME: &str = "elastic";
const ES_PASSWORD: &str = "loadtest-es-Pa55-81d3";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secured_collector_and_elasticsearch_take_the_token_and_refuse_a_wrong_one() {
    let cluster = Cluster::start(2).await;
    let pki = TestPki::generate().expect("pki");
    let dir = pki.dir();
    let tokens = dir
        .write(
            "tokens",
            format!("# accepted tokens\n{TOKEN}\nanother-token\n"),
        )
        .unwrap();
    let token = dir
        .write("token", format!("# the loadtest's\n\n  {TOKEN}  \n"))
        .unwrap();
    let wrong_token = dir
        .write("wrong-token", format!("{WRONG_TOKEN}\n"))
        .unwrap();
    let password = dir.write("password", format!("{ES_PASSWORD}\n")).unwrap();
    let collector = SecuredCollector::start(
        &cluster,
        &pki,
        &format!("--auth-bearer-tokens-file={}", path(&tokens)),
    )
    .await;
    let proxy = TlsProxy::start(
        cluster
            .osmem
            .url()
            .trim_start_matches("http://")
            .parse()
            .expect("osmem address"),
        &pki,
        TlsProxyOptions {
            auth: ProxyAuth::Basic {
                username: ES_USERNAME.into(),
                password: ES_PASSWORD.into(),
            },
            require_client_cert: false,
        },
    )
    .await
    .expect("tls proxy starts");
    let es_flags = [
        format!("--es-tls-ca={}", path(pki.ca_pem())),
        format!("--es-username={ES_USERNAME}"),
        format!("--es-password-file={}", path(&password)),
    ];
    let es_flags: Vec<&str> = es_flags.iter().map(String::as_str).collect();
    let mut ingester = cluster.ingester_with_es(&proxy.url(), &es_flags);
    // The loadtest's flags; with `verify`, the proxy's URL and credentials too.
    let secured = |endpoint: &str, token: &Path, protocol: &str, verify: bool| {
        let mut flags = vec![
            format!("--endpoint={endpoint}"),
            format!("--protocol={protocol}"),
            format!("--tls-ca-file={}", path(pki.ca_pem())),
            format!("--bearer-token-file={}", path(token)),
        ];
        if verify {
            flags.push(format!("--es-url={}", proxy.url()));
            flags.extend(es_flags.iter().map(|f| f.to_string()));
        }
        flags
    };

    // The right token over gRPC, verified through the authenticating proxy.
    let flags = secured(&collector.grpc, &token, "grpc", true);
    let run = loadtest_run(
        &cluster,
        30,
        &flags,
        &["--verify-idle=30s", "--verify-wait=120s"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.output);
    let report = &run.report;
    assert_eq!(report["acked_spans"], 300, "{report}");
    assert_eq!(report["refused_spans"], 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let verify = &report["verify"];
    assert_eq!(verify["expected_spans"], 300, "{report}");
    assert_eq!(verify["found_spans"], 300, "{report}");
    assert_eq!(verify["lost_spans"], 0, "{report}");
    assert_eq!(verify["duplicated_spans"], 0, "{report}");
    assert_no_secret(&run.output);
    // The verifier's calls all carried the password: none was refused.
    assert_eq!(proxy.rejected(), 0);
    terminate(&mut ingester).await;

    // The right token over OTLP/HTTP and Jaeger gRPC (no --verify: the
    // ingester is gone and the previous run's spans would count as foreign).
    for protocol in ["http-protobuf", "jaeger-grpc"] {
        let endpoint = if protocol == "http-protobuf" {
            &collector.http
        } else {
            &collector.jaeger_grpc
        };
        let flags = secured(endpoint, &token, protocol, false);
        let run = loadtest_run(&cluster, 12, &flags, &[]).await;
        assert_eq!(run.code, Some(0), "{protocol}: {}", run.output);
        assert_eq!(run.report["acked_spans"], 120, "{protocol}: {}", run.report);
        assert_eq!(
            run.report["errors"],
            serde_json::json!({}),
            "{}",
            run.report
        );
        assert_no_secret(&run.output);
    }

    // A wrong token: every payload refused once, for good, and counted by kind.
    for (protocol, endpoint, kind) in [
        (
            "grpc",
            &collector.grpc,
            "Unauthenticated (invalid bearer token)",
        ),
        ("http-protobuf", &collector.http, "HTTP 401 Unauthorized"),
        (
            "jaeger-grpc",
            &collector.jaeger_grpc,
            "Unauthenticated (invalid bearer token)",
        ),
    ] {
        let flags = secured(endpoint, &wrong_token, protocol, protocol == "grpc");
        let extra: &[&str] = if protocol == "grpc" {
            &["--verify-idle=2s", "--verify-wait=5s"]
        } else {
            &[]
        };
        let run = loadtest_run(&cluster, 12, &flags, extra).await;
        let report = &run.report;
        assert_eq!(run.code, Some(1), "{protocol}: {}", run.output);
        assert_eq!(report["acked_spans"], 0, "{protocol}: {report}");
        assert_eq!(report["retries"], 0, "{protocol}: not retryable: {report}");
        let payloads = report["payloads"].as_u64().unwrap();
        assert!(payloads >= 2, "{protocol}: {report}");
        assert_eq!(
            report["errors"],
            serde_json::json!({ kind: payloads }),
            "{protocol}: {report}"
        );
        assert_eq!(report["refused_spans"], 120, "{protocol}: {report}");
        if protocol == "grpc" {
            assert_eq!(report["verify"]["expected_spans"], 0, "{report}");
        }
        assert_no_secret(&run.output);
        assert!(
            !run.output.contains(WRONG_TOKEN),
            "{protocol}: {}",
            run.output
        );
    }
    collector.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_reaches_an_mtls_collector_and_none_is_refused() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let collector = SecuredCollector::start(
        &cluster,
        &pki,
        &format!("--tls-client-ca-file={}", path(pki.ca_pem())),
    )
    .await;
    let mtls = |endpoint: &str, protocol: &str| {
        vec![
            format!("--endpoint={endpoint}"),
            format!("--protocol={protocol}"),
            format!("--tls-ca-file={}", path(pki.ca_pem())),
            format!("--tls-cert-file={}", path(pki.client_cert_pem())),
            format!("--tls-key-file={}", path(pki.client_key_pem())),
        ]
    };
    for (protocol, endpoint) in [
        ("grpc", &collector.grpc),
        ("http-protobuf", &collector.http),
    ] {
        let run = loadtest_run(&cluster, 12, &mtls(endpoint, protocol), &[]).await;
        assert_eq!(run.code, Some(0), "{protocol}: {}", run.output);
        assert_eq!(run.report["acked_spans"], 120, "{protocol}: {}", run.report);
    }

    // Without a client certificate the handshake fails: nothing is acked.
    for (protocol, endpoint) in [
        ("grpc", &collector.grpc),
        ("http-protobuf", &collector.http),
    ] {
        let mut flags = mtls(endpoint, protocol);
        flags.truncate(3);
        let output = Command::new(workspace_binary("ferrotrace-loadtest"))
            .args(&flags)
            .args(["--traces=12", "--max-backoff=400ms", "--json"])
            .args(["--report-interval=0"])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("loadtest runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{protocol}: {stdout}\n{stderr}"
        );
        // The run fails at connect (no report) or every payload is refused.
        if let Ok(report) = serde_json::from_str::<Value>(stdout.trim()) {
            assert_eq!(report["acked_spans"], 0, "{protocol}: {report}");
            assert_eq!(report["refused_spans"], 120, "{protocol}: {report}");
        }
    }
    collector.stop.cancel();
}

/// A collector in this process with TLS on its TCP receivers and one more
/// security flag (bearer tokens or a client CA), writing to the cluster's topic.
struct SecuredCollector {
    grpc: String,
    http: String,
    jaeger_grpc: String,
    stop: CancellationToken,
}

impl SecuredCollector {
    async fn start(cluster: &Cluster, pki: &TestPki, security_flag: &str) -> Self {
        let config = ferrotrace_collector::config::Config::try_parse_from([
            "ferrotrace-collector".to_string(),
            format!("--kafka-brokers={}", cluster.tansu.brokers()),
            format!("--kafka-topic={}", cluster.topic),
            "--otlp-grpc-listen=127.0.0.1:0".into(),
            "--otlp-http-listen=127.0.0.1:0".into(),
            "--jaeger-grpc-listen=127.0.0.1:0".into(),
            "--admin-listen=".into(),
            "--jaeger-compact-listen=".into(),
            "--jaeger-binary-listen=".into(),
            "--jaeger-http-listen=".into(),
            "--zipkin-listen=".into(),
            "--sampling-http-listen=".into(),
            format!("--tls-cert-file={}", path(pki.server_cert_pem())),
            format!("--tls-key-file={}", path(pki.server_key_pem())),
            security_flag.to_string(),
        ])
        .expect("collector flags");
        config.validate().expect("valid collector flags");
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let collector = ferrotrace_collector::Collector::bind(config, metrics)
            .await
            .expect("secured collector binds");
        // The server certificate names 127.0.0.1.
        let https = |addr: Option<std::net::SocketAddr>| format!("https://{}", addr.unwrap());
        let grpc = https(collector.otlp_grpc_addr());
        let http = https(collector.otlp_http_addr());
        let jaeger_grpc = https(collector.jaeger_grpc_addr());
        let stop = CancellationToken::new();
        tokio::spawn(collector.run(stop.clone()));
        Self {
            grpc,
            http,
            jaeger_grpc,
            stop,
        }
    }
}

/// Asserts neither the token nor the Elasticsearch password (in clear or as
/// the base64 of a Basic header) is in the loadtest's output.
fn assert_no_secret(output: &str) {
    let basic = ProxyAuth::Basic {
        username: ES_USERNAME.into(),
        password: ES_PASSWORD.into(),
    }
    .header()
    .unwrap();
    let basic_b64 = basic.trim_start_matches("Basic ");
    for secret in [TOKEN, ES_PASSWORD, basic_b64] {
        assert!(
            !output.contains(secret),
            "secret {secret:?} printed:\n{output}"
        );
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Runs the loadtest binary: `traces` ten-span traces, six per request, at
/// 2,000 spans/s, verified against the cluster's Elasticsearch. Returns the
/// exit code and the JSON report.
async fn loadtest(cluster: &Cluster, traces: usize, extra: &[&str]) -> (Option<i32>, Value) {
    let flags = [
        format!("--endpoint={}", cluster.collector_grpc),
        format!("--es-url={}", cluster.osmem.url()),
    ];
    let run = loadtest_run(cluster, traces, &flags, extra).await;
    (run.code, run.report)
}

/// What a loadtest run printed.
struct Run {
    code: Option<i32>,
    report: Value,
    /// stdout and stderr, for secret checks and failure messages.
    output: String,
}

/// Runs the loadtest binary with `flags` (endpoint, ES URL and any
/// security flags): `traces` ten-span traces, six per request, at 2,000
/// spans/s, with `--json`, and `--verify` when `--es-url` is among `flags`.
async fn loadtest_run(cluster: &Cluster, traces: usize, flags: &[String], extra: &[&str]) -> Run {
    let binary = workspace_binary("ferrotrace-loadtest");
    let verify = flags.iter().any(|f| f.starts_with("--es-url="));
    let output = Command::new(&binary)
        .args(flags)
        .arg(format!("--traces={traces}"))
        .args([
            "--traces-per-request=6",
            "--spans-per-trace=10",
            "--rate=2000",
        ])
        .args(["--concurrency=2", "--report-interval=0", "--json"])
        .args(verify.then_some("--verify"))
        .arg(format!("--es-index-prefix={}", cluster.prefix))
        .args(extra)
        // Debug logs too, so a secret in any log line would be seen.
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("loadtest printed no JSON report ({e}): {stdout}\nstderr: {stderr}")
    });
    Run {
        code: output.status.code(),
        report,
        output: format!("{stdout}\n{stderr}"),
    }
}
