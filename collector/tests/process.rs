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
