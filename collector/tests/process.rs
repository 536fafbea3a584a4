//! The collector as an operator runs it: a real process with its admin
//! endpoints, answering requests until SIGTERM, then draining and exiting 0;
//! and refusing to start, with exit code 64 (EX_USAGE) and one line naming
//! the flag (or the file, when its TLS or token files do not load), for any
//! setting that cannot work.

use std::process::Stdio;
use std::time::Duration;

use ferrotrace_common::testkit::{free_port, unique_name, usage_error, wait_until, Tansu};
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
        // A host name, resolved at start (to 127.0.0.1: IPv4 first).
        .env("FERROTRACE_ADMIN_LISTEN", format!("localhost:{admin}"))
        .env("FERROTRACE_JAEGER_COMPACT_LISTEN", "")
        .env("FERROTRACE_JAEGER_BINARY_LISTEN", "")
        .env("FERROTRACE_JAEGER_HTTP_LISTEN", "")
        .env("FERROTRACE_JAEGER_GRPC_LISTEN", "")
        .env("FERROTRACE_ZIPKIN_LISTEN", "")
        .env("FERROTRACE_SAMPLING_HTTP_LISTEN", "")
        // The spans below carry a fixed date.
        .env("FERROTRACE_MAX_SPAN_AGE", "876000h")
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
                "--sampling-http-listen=",
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

/// No listener and no Kafka: validation happens before anything is bound
/// or contacted, so every case fails the same way whatever the machine.
const NOTHING_BOUND: [&str; 9] = [
    "--otlp-grpc-listen=",
    "--otlp-http-listen=",
    "--admin-listen=",
    "--jaeger-compact-listen=",
    "--jaeger-binary-listen=",
    "--jaeger-http-listen=",
    "--jaeger-grpc-listen=",
    "--zipkin-listen=",
    "--sampling-http-listen=",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_cannot_work_stop_it_with_exit_code_64_naming_the_flag() {
    const SECRET: &str = "hunter2-Secret";
    let misspelled = format!("sasl.pasword={SECRET}");
    // (arguments, the flag the one line must name)
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--kafka-brokers", ""], "--kafka-brokers"),
        (vec!["--kafka-brokers", "kafka:notaport"], "--kafka-brokers"),
        (vec!["--max-request-bytes", "0"], "--max-request-bytes"),
        (vec!["--max-request-bytes", "-1"], "--max-request-bytes"),
        (vec!["--max-connections", "-5"], "--max-connections"),
        (
            vec!["--kafka-produce-timeout", "3ms"],
            "--kafka-produce-timeout",
        ),
        (
            vec!["--kafka-produce-timeout", "1000h"],
            "--kafka-produce-timeout",
        ),
        (
            vec!["--idle-timeout", "99999999999999999999999s"],
            "--idle-timeout",
        ),
        (vec!["--read-timeout", "-5s"], "--read-timeout"),
        (vec!["--read-timeout=0s"], "--read-timeout"),
        (
            vec!["--grpc-max-connection-age", "soon"],
            "--grpc-max-connection-age",
        ),
        (
            vec!["--grpc-max-connection-age=9000h"],
            "--grpc-max-connection-age",
        ),
        (
            vec![
                "--grpc-max-connection-age=5m",
                "--grpc-max-connection-age-grace=0s",
            ],
            "--grpc-max-connection-age-grace",
        ),
        (
            vec!["--kafka-producer-config", &misspelled],
            "--kafka-producer-config",
        ),
        (
            vec!["--max-inflight-bytes", "18446744073709551615"],
            "--max-inflight-bytes",
        ),
        (
            vec!["--otlp-grpc-listen", "localhost:port"],
            "--otlp-grpc-listen",
        ),
        // A host name is a valid listen address: the line is about the other flag.
        (
            vec![
                "--otlp-http-listen",
                "localhost:0",
                "--max-request-bytes",
                "0",
            ],
            "--max-request-bytes",
        ),
    ];
    for (args, flag) in cases {
        // A listen address the case sets is not also disabled.
        let disabled = NOTHING_BOUND
            .iter()
            .filter(|flag| !args.contains(&flag.trim_end_matches('=')));
        let mut collector = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"));
        collector
            .args(disabled)
            .args(&args)
            .env_remove("FERROTRACE_KAFKA_PRODUCER_CONFIG");
        let stderr = usage_error(collector).await;
        assert!(
            stderr.starts_with(&format!("ferrotrace-collector: {flag}")),
            "{args:?}: names {flag}: {stderr}"
        );
        for hidden in [SECRET, "message.timeout.ms", "linger.ms", "panicked"] {
            assert!(!stderr.contains(hidden), "{args:?}: {hidden} in {stderr}");
        }
    }
}

/// Lines a child process writes to `stream`, collected as they come.
fn collect_lines<R>(stream: R) -> std::sync::Arc<std::sync::Mutex<Vec<String>>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    use tokio::io::AsyncBufReadExt;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The first JSON log line with `message` and `receiver`, waiting up to 10 s.
async fn log_line(
    lines: &std::sync::Mutex<Vec<String>>,
    message: &str,
    receiver: &str,
) -> Option<serde_json::Value> {
    let find = || {
        lines.lock().unwrap().iter().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            (value["message"] == message && value["receiver"] == receiver).then_some(value)
        })
    };
    wait_until(Duration::from_secs(10), || async { find().is_some() }).await;
    find()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_logged_with_peer_receiver_reason_and_service() {
    let (grpc, http) = (free_port(), free_port());
    // Nothing answers on the Kafka port: these requests are refused before Kafka.
    let mut collector = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
        .args(&NOTHING_BOUND[2..])
        .arg(format!("--kafka-brokers=127.0.0.1:{}", free_port()))
        .arg(format!("--otlp-grpc-listen=127.0.0.1:{grpc}"))
        .arg(format!("--otlp-http-listen=127.0.0.1:{http}"))
        .args(["--max-spans-per-request=1", "--log-format=json"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("collector starts");
    let stdout = collect_lines(collector.stdout.take().unwrap());
    let stderr = collect_lines(collector.stderr.take().unwrap());
    let output = || {
        let mut all = stdout.lock().unwrap().clone();
        all.extend(stderr.lock().unwrap().iter().cloned());
        all
    };

    // OTLP/HTTP: two spans of service "checkout", one more than allowed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let span = |id: &str| {
        serde_json::json!({
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": id, "name": "pay",
            "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 1_000_000).to_string(),
        })
    };
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"spans": [span("eee19b7ec3c1b174"), span("eee19b7ec3c1b175")]}],
    }]});
    let http_client = reqwest::Client::new();
    let sent = wait_until(Duration::from_secs(30), || async {
        http_client
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .is_ok_and(|r| r.status() == 413)
    })
    .await;
    assert!(sent, "the request is refused 413: {:#?}", output());
    let line = log_line(&stdout, "request refused", "otlp_http").await;
    let line = line.unwrap_or_else(|| panic!("no refusal logged: {:#?}", output()));
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["reason"], "too_large", "{line}");
    assert_eq!(line["service"], "checkout", "{line}");
    let peer = line["peer"].as_str().unwrap_or_default();
    assert!(peer.starts_with("127.0.0.1:"), "{line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-spans-per-request")),
        "{line}"
    );

    // OTLP/gRPC: bytes that are no ExportTraceServiceRequest. The log lets
    // one refusal a second through.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let status = client
        .unary(
            tonic::Request::new(bytes::Bytes::from_static(b"\x0a\xff\xff")),
            path,
            ferrotrace_loadtest::senders::RawRequestCodec,
        )
        .await
        .expect_err("garbage is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let line = log_line(&stdout, "request refused", "otlp_grpc").await;
    let line = line.unwrap_or_else(|| panic!("no gRPC refusal logged: {:#?}", output()));
    assert_eq!(line["reason"], "invalid", "{line}");
    assert!(
        line["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{line}"
    );
    collector.kill().await.ok();
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
        .arg("--sampling-http-listen=")
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
    // Spans of now: the collector's --max-span-age would refuse older ones
    // before they reach the producer.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    for _ in 0..4 {
        let request = generator::request(&mut rng, 1, Shape::default(), now);
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
