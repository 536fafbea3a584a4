//! The collector as an operator runs it: a real process with its admin
//! endpoints, answering requests until SIGTERM, then draining and exiting 0;
//! and refusing to start, with exit code 64 (EX_USAGE) and a message naming
//! the file, when its TLS or token files do not load.

use std::process::Stdio;
use std::time::Duration;

use ferrotrace_common::testkit::{free_port, unique_name, wait_until, Tansu};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_admin_endpoints_and_exits_zero_on_sigterm() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("spans");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let (grpc, admin) = (free_port(), free_port());
    let mut collector = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
        .env("FERROTRACE_KAFKA_BROKERS", tansu.brokers())
        .env("FERROTRACE_KAFKA_TOPIC", &topic)
        .env("FERROTRACE_OTLP_GRPC_LISTEN", format!("127.0.0.1:{grpc}"))
        .env("FERROTRACE_OTLP_HTTP_LISTEN", "")
        .env("FERROTRACE_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .env("FERROTRACE_JAEGER_COMPACT_LISTEN", "")
        .env("FERROTRACE_JAEGER_BINARY_LISTEN", "")
        .env("FERROTRACE_JAEGER_HTTP_LISTEN", "")
        .env("FERROTRACE_JAEGER_GRPC_LISTEN", "")
        .env("FERROTRACE_ZIPKIN_LISTEN", "")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("collector starts");

    let http = reqwest::Client::new();
    let admin_url = format!("http://127.0.0.1:{admin}");
    let ready = wait_until(Duration::from_secs(30), || async {
        http.get(format!("{admin_url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(
        ready,
        "/readyz turns 200 once Kafka answers (flags came from the environment)"
    );
    let health = http
        .get(format!("{admin_url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .expect("connect");
    let mut rng = rand::rng();
    let request = generator::request(&mut rng, 3, Shape::default(), 1_795_651_200_000_000_000);
    client.export(request).await.expect("export accepted");

    let metrics = http
        .get(format!("{admin_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"ferrotrace_collector_spans_total{receiver="otlp_grpc",outcome="accepted"} 30"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP ferrotrace_collector_spans_total"),
        "metrics carry HELP text"
    );
    assert!(metrics.contains(r#"ferrotrace_build_info{component="collector""#));

    let pid = collector.id().expect("running").to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(30), collector.wait())
        .await
        .expect("exits after draining")
        .unwrap();
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_tls_or_token_files_stop_it_with_exit_code_64() {
    let dir = ferrotrace_common::testkit::TempDir::new("collector-files").expect("temp dir");
    let empty = dir.write("tokens", "# no token yet\n").expect("written");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().expect("UTF-8 path");
    let cases = [
        vec!["--tls-cert-file", missing, "--tls-key-file", missing],
        vec!["--auth-bearer-tokens-file", missing],
        vec!["--auth-bearer-tokens-file", empty.to_str().unwrap()],
    ];
    for args in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
            .args(&args)
            // Nothing is bound or contacted before the files are read.
            .args([
                "--otlp-grpc-listen=",
                "--otlp-http-listen=",
                "--admin-listen=",
            ])
            .args(["--jaeger-compact-listen=", "--jaeger-binary-listen="])
            .args([
                "--jaeger-http-listen=",
                "--jaeger-grpc-listen=",
                "--zipkin-listen=",
            ])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("collector runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {stderr}");
        let named = if args[1] == missing {
            missing
        } else {
            "tokens"
        };
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_kafka_is_explained_on_readyz_and_in_a_few_log_lines_not_a_flood() {
    let (grpc, admin) = (free_port(), free_port());
    let started = std::time::Instant::now();
    let collector = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
        // Nothing listens there.
        .arg(format!("--kafka-brokers=127.0.0.1:{}", free_port()))
        .arg("--kafka-produce-timeout=1s")
        .arg(format!("--otlp-grpc-listen=127.0.0.1:{grpc}"))
        .arg(format!("--admin-listen=127.0.0.1:{admin}"))
        .args(["--otlp-http-listen=", "--zipkin-listen="])
        .args(["--jaeger-compact-listen=", "--jaeger-binary-listen="])
        .args(["--jaeger-http-listen=", "--jaeger-grpc-listen="])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("collector starts");

    let http = reqwest::Client::new();
    let readyz = format!("http://127.0.0.1:{admin}/readyz");
    let mut body = String::new();
    let mut explained = false;
    while !explained && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(response) = http.get(&readyz).send().await else {
            continue;
        };
        let status = response.status();
        body = response.text().await.unwrap_or_default();
        explained = status == 503 && body.contains("kafka: brokers unreachable");
    }
    assert!(explained, "/readyz says why: {body}");
    assert!(
        body.contains("--kafka-brokers"),
        "and what to check: {body}"
    );

    // Requests meanwhile are refused as retryable, each one without its own log line.
    let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .expect("connect");
    let mut rng = rand::rng();
    for _ in 0..4 {
        let request = generator::request(&mut rng, 1, Shape::default(), 1_795_651_200_000_000_000);
        let status = client.export(request).await.expect_err("kafka is away");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    }
    // Past one log interval (10 s), so the next line counts what it held back.
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(started.elapsed())).await;

    let pid = collector.id().expect("running").to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap()
        .success());
    let output = tokio::time::timeout(Duration::from_secs(30), collector.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .expect("output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    let refusals = log.lines().filter(|l| l.contains("spans refused")).count();
    eprintln!(
        "{} log lines in {:?}, {} at ERROR, {refusals} about refused spans",
        log.lines().count(),
        started.elapsed(),
        errors.len()
    );
    assert!(
        !errors.is_empty() && errors.len() <= 4,
        "a few error lines, not dozens a second:\n{log}"
    );
    assert!(
        errors[0].contains("kafka brokers unreachable") && errors[0].contains("--kafka-brokers"),
        "the first says what to fix:\n{log}"
    );
    let suppressed = log
        .lines()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .max();
    assert!(
        suppressed.is_some_and(|n| n > 0),
        "a later line counts the suppressed ones:\n{log}"
    );
    assert!(refusals <= 2, "refused requests are rate-limited:\n{log}");
}
