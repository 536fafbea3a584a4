//! The collector started in-process for integration tests: every TCP
//! receiver on an ephemeral loopback port unless a test's flags say otherwise.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;

use clap::Parser;
use ferrotrace_collector::{config::Config, Collector};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

pub struct Running {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// Jaeger gRPC, Jaeger HTTP, Zipkin, when enabled.
    pub others: [Option<SocketAddr>; 3],
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `http://` URL of the OTLP/gRPC receiver.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// `http://` URL of the OTLP/HTTP receiver.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Stops the collector and waits until it drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("collector task")
            .expect("collector ran");
    }
}

/// Binds and runs a collector producing to `topic`; a flag in `extra`
/// replaces the default of the same name (clap refuses repeats).
pub async fn start_collector(
    brokers: &str,
    topic: &str,
    extra: &[impl AsRef<str>],
    metrics: PrometheusHandle,
) -> Running {
    let mut args = vec![
        "ferrotrace-collector".to_string(),
        format!("--kafka-brokers={brokers}"),
        format!("--kafka-topic={topic}"),
        "--otlp-grpc-listen=127.0.0.1:0".into(),
        "--otlp-http-listen=127.0.0.1:0".into(),
        "--admin-listen=127.0.0.1:0".into(),
        "--jaeger-compact-listen=".into(),
        "--jaeger-binary-listen=".into(),
        "--jaeger-http-listen=".into(),
        "--jaeger-grpc-listen=".into(),
        "--zipkin-listen=".into(),
        "--sampling-http-listen=".into(),
        "--reload-interval=200ms".into(),
        // Test spans carry fixed dates, days or years old.
        "--max-span-age=876000h".into(),
    ];
    let flag = |arg: &str| arg.split('=').next().unwrap_or_default().to_string();
    args.retain(|arg| !extra.iter().any(|e| flag(e.as_ref()) == flag(arg)));
    args.extend(extra.iter().map(|e| e.as_ref().to_string()));
    // No `validate()`: some tests need combinations it refuses (an in-flight
    // budget below the request limit).
    let config = Config::try_parse_from(args).expect("valid flags");
    let collector = Collector::bind(config, metrics)
        .await
        .expect("collector binds");
    let grpc = collector.otlp_grpc_addr().expect("OTLP/gRPC enabled");
    let http = collector.otlp_http_addr().expect("OTLP/HTTP enabled");
    let others = [
        collector.jaeger_grpc_addr(),
        collector.jaeger_http_addr(),
        collector.zipkin_addr(),
    ];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(collector.run(shutdown.clone()));
    Running {
        grpc,
        http,
        others,
        shutdown,
        task,
    }
}

/// A consumer in a group of its own, reading `topic` from the start.
pub fn topic_reader(brokers: &str, topic: &str) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            ferrotrace_common::testkit::unique_name("reader"),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// The keys (hex trace IDs) of the records in `topic`, read until there are
/// `expected` of them or nothing new arrives for a while.
pub async fn topic_keys(
    brokers: &str,
    topic: &str,
    expected: usize,
) -> std::collections::BTreeSet<String> {
    use rdkafka::Message;
    let consumer = topic_reader(brokers, topic);
    let mut keys = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while keys.len() < expected && std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(20), consumer.recv()).await {
            Ok(Ok(m)) => {
                keys.insert(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
            }
            Ok(Err(e)) => panic!("consume error: {e}"),
            Err(_) => break,
        }
    }
    keys
}

/// A Prometheus handle whose recorder is not installed: for tests that do
/// not read the collector's metrics.
pub fn unread_metrics() -> PrometheusHandle {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle()
}
