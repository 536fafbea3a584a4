//! The test cluster shared by the end-to-end tests: real tansu and osmem,
//! an in-process collector with every receiver on a free loopback port, and
//! ingesters as real child processes.

#![allow(dead_code)] // each test file uses a different part

pub mod topology;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{unique_name, Osmem, Tansu, TcpProxy};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// 2026-11-25T23:59:59.500Z and 2026-11-26T00:00:00.500Z in ns: either side of midnight.
pub const BEFORE_MIDNIGHT_NS: u64 = 1_795_651_199_500_000_000;
pub const AFTER_MIDNIGHT_NS: u64 = 1_795_651_200_500_000_000;

pub struct Cluster {
    pub tansu: Tansu,
    pub osmem: Osmem,
    pub topic: String,
    pub prefix: String,
    pub collector_grpc: String,
    pub collector_http: String,
    /// Jaeger agent UDP, compact and binary protocol.
    pub jaeger_compact: SocketAddr,
    pub jaeger_binary: SocketAddr,
    /// `http://host:port` of the Jaeger Thrift HTTP, Jaeger gRPC and Zipkin receivers.
    pub jaeger_http: String,
    pub jaeger_grpc: String,
    pub zipkin: String,
    pub collector_stop: CancellationToken,
}

impl Cluster {
    pub async fn start(partitions: i32) -> Self {
        let tansu = Tansu::start().await.expect("tansu starts");
        let osmem = Osmem::start().await.expect("osmem starts");
        let topic = unique_name("spans");
        tansu
            .create_topic(&topic, partitions)
            .await
            .expect("topic created");
        tansu
            .create_topic(&format!("{topic}_dlq"), 1)
            .await
            .expect("dead-letter topic created");
        let config = ferrotrace_collector::config::Config::try_parse_from([
            "ferrotrace-collector".to_string(),
            format!("--kafka-brokers={}", tansu.brokers()),
            format!("--kafka-topic={topic}"),
            "--otlp-grpc-listen=127.0.0.1:0".into(),
            "--otlp-http-listen=127.0.0.1:0".into(),
            "--admin-listen=".into(),
            "--jaeger-compact-listen=127.0.0.1:0".into(),
            "--jaeger-binary-listen=127.0.0.1:0".into(),
            "--jaeger-http-listen=127.0.0.1:0".into(),
            "--jaeger-grpc-listen=127.0.0.1:0".into(),
            "--zipkin-listen=127.0.0.1:0".into(),
            "--sampling-http-listen=127.0.0.1:0".into(),
            // Test spans start at AFTER_MIDNIGHT_NS, a fixed date.
            "--max-span-age=876000h".into(),
        ])
        .expect("collector flags");
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let collector = ferrotrace_collector::Collector::bind(config, metrics)
            .await
            .expect("collector binds");
        let collector_grpc = format!("http://{}", collector.otlp_grpc_addr().unwrap());
        let collector_http = format!("http://{}", collector.otlp_http_addr().unwrap());
        let jaeger_compact = collector.jaeger_compact_addr().unwrap();
        let jaeger_binary = collector.jaeger_binary_addr().unwrap();
        let jaeger_http = format!("http://{}", collector.jaeger_http_addr().unwrap());
        let jaeger_grpc = format!("http://{}", collector.jaeger_grpc_addr().unwrap());
        let zipkin = format!("http://{}", collector.zipkin_addr().unwrap());
        let collector_stop = CancellationToken::new();
        tokio::spawn(collector.run(collector_stop.clone()));
        let prefix = unique_name("t");
        Self {
            tansu,
            osmem,
            topic,
            prefix,
            collector_grpc,
            collector_http,
            jaeger_compact,
            jaeger_binary,
            jaeger_http,
            jaeger_grpc,
            zipkin,
            collector_stop,
        }
    }

    /// A proxy in front of osmem, for a test that cuts Elasticsearch off.
    pub async fn es_proxy(&self) -> TcpProxy {
        let target = self
            .osmem
            .url()
            .trim_start_matches("http://")
            .parse()
            .expect("osmem address");
        TcpProxy::start(target).await.expect("proxy starts")
    }

    pub fn ingester(&self, extra: &[&str]) -> Child {
        self.ingester_with_es(self.osmem.url(), extra)
    }

    /// An ingester writing to `es_url` (e.g. a proxy in front of osmem).
    pub fn ingester_with_es(&self, es_url: &str, extra: &[&str]) -> Child {
        self.ingester_command(es_url, extra)
            .spawn()
            .expect("ingester starts")
    }

    /// The command [`Cluster::ingester_with_es`] runs, for a test that
    /// captures the output or changes `RUST_LOG`. A `--flag=value` in
    /// `extra` replaces the cluster's value of that flag.
    pub fn ingester_command(&self, es_url: &str, extra: &[&str]) -> Command {
        let defaults = [
            format!("--kafka-brokers={}", self.tansu.brokers()),
            format!("--kafka-topic={}", self.topic),
            format!("--kafka-group={}-group", self.topic),
            format!("--es-url={es_url}"),
            format!("--es-index-prefix={}", self.prefix),
            "--es-num-replicas=0".into(),
            "--es-num-shards=1".into(),
        ];
        let flag = |arg: &str| arg.split('=').next().unwrap_or_default().to_owned();
        let mut cmd = Command::new(workspace_binary("ferrotrace-ingester"));
        cmd.args(
            defaults
                .iter()
                .filter(|default| !extra.iter().any(|e| flag(e) == flag(default))),
        )
        // An environment default, so a test can still pass --admin-listen.
        .env("FERROTRACE_ADMIN_LISTEN", "")
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("INGESTER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true);
        cmd
    }

    /// Sends `traces` ten-span traces over gRPC, ten per request; returns the
    /// (trace ID, span ID) hex pairs sent.
    pub async fn send_traces(&self, traces: usize) -> HashSet<(String, String)> {
        let mut grpc = TraceServiceClient::connect(self.collector_grpc.clone())
            .await
            .expect("connect");
        send_traces(&mut grpc, traces).await
    }

    /// (traceID, spanID) of every span document in the given day's index.
    pub async fn stored_spans(&self, day: &str) -> HashSet<(String, String)> {
        stored_spans(&self.osmem, &self.prefix, day).await
    }

    /// Counts span documents in all of this test's span indices.
    pub async fn span_count(&self) -> u64 {
        let index = format!("{}-jaeger-span-*", self.prefix);
        match self
            .osmem
            .search(
                &index,
                serde_json::json!({"size": 0, "track_total_hits": true}),
            )
            .await
        {
            Ok(json) => json["hits"]["total"]["value"].as_u64().unwrap_or(0),
            Err(_) => 0,
        }
    }

    pub async fn wait_for_spans(&self, expected: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut count = 0;
        while Instant::now() < deadline {
            count = self.span_count().await;
            if count >= expected {
                // Give late duplicates a chance to show up before judging.
                tokio::time::sleep(Duration::from_secs(1)).await;
                return self.span_count().await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        count
    }

    /// Runs an ingester with `extra` flags that must refuse to start:
    /// waits up to 30 s for it to exit, checks that it failed, and returns
    /// what it wrote to stderr.
    pub async fn refused_ingester(&self, extra: &[&str]) -> String {
        let mut command = self.ingester_command(self.osmem.url(), extra);
        command
            .arg("--admin-listen=")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .expect("exits")
            .expect("runs");
        assert!(!output.status.success(), "started: {output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Creates the first index of `kind`'s set (`span`, `service`,
    /// `dependencies`) behind its write and read aliases, as `rollover init`
    /// does.
    pub async fn first_rollover_index(&self, kind: &str) {
        let prefix = &self.prefix;
        let aliases = serde_json::json!({"aliases": {
            format!("{prefix}-jaeger-{kind}-write"): {},
            format!("{prefix}-jaeger-{kind}-read"): {},
        }});
        self.osmem
            .create_index(&format!("{prefix}-jaeger-{kind}-000001"), aliases)
            .await
            .expect("first index created");
    }

    /// The names of the indices matching `pattern` (`_cat/indices`).
    pub async fn index_names(&self, pattern: &str) -> Vec<String> {
        let (_, indices) = self
            .osmem
            .get(&format!("/_cat/indices/{pattern}?format=json"))
            .await
            .expect("indices");
        indices
            .as_array()
            .expect("index list")
            .iter()
            .map(|i| i["index"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Sends `traces` ten-span traces (dated [`AFTER_MIDNIGHT_NS`]) over `grpc`,
/// ten per request; returns the (trace ID, span ID) hex pairs sent.
pub async fn send_traces(
    grpc: &mut TraceServiceClient<tonic::transport::Channel>,
    traces: usize,
) -> HashSet<(String, String)> {
    let mut rng = rand::rng();
    let shape = Shape {
        spans_per_trace: 10,
        attributes_per_span: 10,
        error_rate: 0.0,
        ..Default::default()
    };
    let mut sent = HashSet::new();
    for _ in 0..traces.div_ceil(10) {
        let request = generator::request(&mut rng, 10, shape, AFTER_MIDNIGHT_NS);
        sent.extend(spans(&request).map(|s| (hex::encode(&s.trace_id), hex::encode(&s.span_id))));
        grpc.export(request).await.expect("export");
    }
    sent
}

/// (traceID, spanID) of every span document in `<prefix>-jaeger-span-<day>`.
pub async fn stored_spans(osmem: &Osmem, prefix: &str, day: &str) -> HashSet<(String, String)> {
    let index = format!("{prefix}-jaeger-span-{day}");
    let docs = osmem.all_docs(&index).await.expect("span index");
    docs.iter()
        .map(|(_, doc)| {
            let field = |name: &str| doc[name].as_str().unwrap_or_default().to_string();
            (field("traceID"), field("spanID"))
        })
        .collect()
}

/// SIGTERM, then asserts the process exits 0 within 40 s (a graceful drain).
pub async fn terminate(child: &mut Child) {
    let pid = child.id().expect("running");
    let signalled = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("exits in time after SIGTERM")
        .expect("exit status");
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");
}

/// Another binary of the workspace, built next to the test binary
/// (`cargo test --workspace` builds every binary first).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("test binary in <target>/<profile>/deps");
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (cargo test --workspace builds it)",
        binary.display()
    );
    binary
}

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// `spans` as reported by `service`: one resource, one scope.
pub fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv(
                "service.name",
                any_value::Value::StringValue(service.into()),
            )],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn spans(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}
