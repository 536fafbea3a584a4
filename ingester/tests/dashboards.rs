//! Every metric the Grafana dashboards (`deploy/grafana/dashboards/*.json`)
//! and the Prometheus alert rules (`deploy/prometheus/*.yaml`) query is
//! really exported: a real collector binary and a real ingester get traffic
//! (good spans, invalid spans, a broken UDP packet, documents Elasticsearch
//! refuses, spans with errors, a span with a malformed ID, an Elasticsearch
//! outage that pauses consumption) and their `/metrics` are compared with the
//! names the queries use, so a renamed metric breaks this test rather than a
//! dashboard in production.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferrotrace_common::testkit::{free_port, TcpProxy};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{workspace_binary, Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};
use tokio::process::{Child, Command};

/// Prefixes of the metrics ferrotrace exports; other identifiers in a query
/// are PromQL functions, keywords or label names.
const PREFIXES: &[&str] = &["ferrotrace_", "traces_", "process_"];
/// Series Prometheus itself adds to every scrape target.
const SCRAPE_SERIES: &[&str] = &["up"];
/// Exported only while partitions are paused (or after they were).
const PAUSED_PARTITIONS: &str = "ferrotrace_ingester_paused_partitions";
/// How long the processes get to export everything the queries use.
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_use_only_exported_metrics() {
    let used = used_metrics();

    let cluster = Cluster::start(2).await;
    // The 2026-11-25 span index exists with a mapping no span fits, so spans
    // of that day are refused for good: bulk item failures, rejected
    // documents and dead letters get exported.
    cluster
        .osmem
        .create_index(
            &format!("{}-jaeger-span-2026-11-25", cluster.prefix),
            serde_json::json!({"mappings": {"properties": {"operationName": {"type": "long"}}}}),
        )
        .await
        .expect("index created");
    // Elasticsearch behind a proxy the test cuts, with one bulk slot: the
    // only way to make the ingester pause its partitions.
    let osmem_addr = cluster
        .osmem
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("osmem address");
    let proxy = TcpProxy::start(osmem_addr).await.expect("proxy starts");
    let ingester_admin = free_port();
    let _ingester = cluster.ingester_with_es(
        &proxy.url(),
        &[
            &format!("--admin-listen=127.0.0.1:{ingester_admin}"),
            "--es-bulk-workers=1",
            "--es-bulk-actions=200",
            // The spans are dated 2026-11-25/26: count them in the span
            // metrics and service graph the dashboards show, however old.
            "--metrics-max-span-age=0",
        ],
    );
    let collector = CollectorProcess::spawn(&cluster);
    let admins = [collector.admin, ingester_admin];

    collector.send_traffic().await;
    produce_span_with_malformed_id(&cluster).await;
    let missing = wait_for_exports(&used, &admins, &[PAUSED_PARTITIONS], DEADLINE).await;
    assert_exported(&missing);

    proxy.cut();
    cluster.send_traces(150).await;
    let missing = wait_for_exports(&used, &admins, &[], DEADLINE).await;
    proxy.restore();
    assert_exported(&missing);
}

/// Waits until every name in `used` but `except` is exported by one of the
/// processes on `admin_ports`; returns the missing ones (name → files).
async fn wait_for_exports(
    used: &BTreeMap<String, BTreeSet<String>>,
    admin_ports: &[u16],
    except: &[&str],
    timeout: Duration,
) -> BTreeMap<String, BTreeSet<String>> {
    // Counters and histograms appear on their first event, which for the
    // ingester may come some seconds after the collector answered.
    let deadline = Instant::now() + timeout;
    loop {
        let mut exported = BTreeSet::new();
        for &port in admin_ports {
            exported.extend(exported_names(&scrape(port).await));
        }
        let missing: BTreeMap<String, BTreeSet<String>> = used
            .iter()
            .filter(|(name, _)| {
                !exported.contains(*name)
                    && !SCRAPE_SERIES.contains(&name.as_str())
                    && !except.contains(&name.as_str())
            })
            .map(|(name, files)| (name.clone(), files.clone()))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn assert_exported(missing: &BTreeMap<String, BTreeSet<String>>) {
    let report: Vec<String> = missing
        .iter()
        .map(|(name, files)| format!("  {name} (used in {})", join(files)))
        .collect();
    assert!(
        report.is_empty(),
        "metrics used by dashboards or alerts that neither the collector nor the ingester exports:\n{}",
        report.join("\n")
    );
}

/// A span with a 3-byte span ID, produced straight to Kafka (the collector
/// would refuse it): the ingester skips it and counts it.
async fn produce_span_with_malformed_id(cluster: &Cluster) {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![support::kv(
                    "service.name",
                    any_value::Value::StringValue("dashboards-test".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![7; 16],
                    span_id: vec![1, 2, 3],
                    name: "malformed".into(),
                    start_time_unix_nano: AFTER_MIDNIGHT_NS,
                    end_time_unix_nano: AFTER_MIDNIGHT_NS + 1_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(&cluster.topic)
                .key("malformed")
                .payload(&request.encode_to_vec()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("malformed span produced");
}

#[test]
fn extracts_metric_names_from_promql() {
    let expr = r#"histogram_quantile(0.95, sum by (le, topic) (rate(ferrotrace_ingester_bulk_duration_seconds_bucket{job="ferrotrace_x", instance=~"$instance"}[5m]))) / on() group_left up{job="traces_y"} + process_open_fds offset 1h"#;
    let names = metric_names(expr);
    assert_eq!(
        names,
        BTreeSet::from([
            "ferrotrace_ingester_bulk_duration_seconds".to_string(),
            "process_open_fds".to_string(),
            "up".to_string(),
        ])
    );
}

#[test]
fn reads_single_line_and_block_exprs_from_rules() {
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: ferrotrace_a_total > 0\n        for: 5m\n      - alert: B\n        expr: |\n          sum(traces_b_total)\n          / process_c\n        labels:\n          severity: info\n";
    assert_eq!(
        rule_exprs(rules),
        vec![
            "ferrotrace_a_total > 0".to_string(),
            "sum(traces_b_total)\n/ process_c".to_string(),
        ]
    );
}

/// The real collector binary, with OTLP gRPC, Jaeger compact UDP and Zipkin
/// on free ports: unlike the cluster's in-process collector it installs the
/// global metrics recorder, so its `/metrics` is what production exports.
struct CollectorProcess {
    _child: Child,
    admin: u16,
    grpc: String,
    zipkin: String,
    jaeger_compact: String,
}

impl CollectorProcess {
    fn spawn(cluster: &Cluster) -> Self {
        let binary = workspace_binary("ferrotrace-collector");
        let admin = free_port();
        let grpc = format!("127.0.0.1:{}", free_port());
        let zipkin = format!("127.0.0.1:{}", free_port());
        let jaeger_compact = format!("127.0.0.1:{}", free_port());
        let child = Command::new(&binary)
            .arg(format!("--kafka-brokers={}", cluster.tansu.brokers()))
            .arg(format!("--kafka-topic={}", cluster.topic))
            .arg(format!("--admin-listen=127.0.0.1:{admin}"))
            .arg(format!("--otlp-grpc-listen={grpc}"))
            .arg("--otlp-http-listen=")
            .arg(format!("--jaeger-compact-listen={jaeger_compact}"))
            .arg("--jaeger-binary-listen=")
            .arg("--jaeger-http-listen=")
            .arg("--jaeger-grpc-listen=")
            .arg(format!("--zipkin-listen={zipkin}"))
            // Test spans start at AFTER_MIDNIGHT_NS, a fixed date.
            .arg("--max-span-age=876000h")
            .env(
                "RUST_LOG",
                std::env::var("COLLECTOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()));
        Self {
            _child: child,
            admin,
            grpc: format!("http://{grpc}"),
            zipkin: format!("http://{zipkin}"),
            jaeger_compact,
        }
    }

    /// Good spans (some with errors, for the failed-request series), spans
    /// for the broken index, an invalid Zipkin span and a broken UDP packet.
    async fn send_traffic(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut grpc = loop {
            match TraceServiceClient::connect(self.grpc.clone()).await {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => {
                    panic!("collector gRPC receiver never answered: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let mut rng = rand::rng();
        let shape = Shape {
            spans_per_trace: 10,
            attributes_per_span: 2,
            error_rate: 0.5,
            ..Default::default()
        };
        for at in [AFTER_MIDNIGHT_NS, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS] {
            let request = generator::request(&mut rng, 5, shape, at);
            grpc.export(request).await.expect("collector accepts spans");
        }

        let zero_trace_id = serde_json::json!([{
            "traceId": "00000000000000000000000000000000",
            "id": "0000000000000001",
            "name": "refused",
            "timestamp": AFTER_MIDNIGHT_NS / 1000,
            "duration": 10,
            "localEndpoint": {"serviceName": "dashboards-test"}
        }]);
        // Refused as invalid: the answer is an error, the counter is the point.
        let _ = reqwest::Client::new()
            .post(format!("{}/api/v2/spans", self.zipkin))
            .json(&zero_trace_id)
            .send()
            .await
            .expect("zipkin receiver answers");

        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("udp socket");
        socket
            .send_to(b"not a jaeger batch", &self.jaeger_compact)
            .await
            .expect("udp packet sent");
    }
}

/// `<target>/debug/ferrotrace-collector`, next to this test's `deps/` folder.
async fn scrape(admin_port: u16) -> String {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    match reqwest::get(url).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Metric family names in a Prometheus text exposition: every sample's name
/// and every `# HELP`/`# TYPE` line's, histogram and summary suffixes removed.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| {
            let name = match line.strip_prefix('#') {
                Some(comment) => {
                    let mut words = comment.split_whitespace();
                    match words.next() {
                        Some("HELP" | "TYPE") => words.next()?,
                        _ => return None,
                    }
                }
                None => line.split(['{', ' ']).next()?,
            };
            (!name.is_empty()).then(|| family(name).to_string())
        })
        .collect()
}

/// Metric name → the files under `deploy/` whose queries use it.
fn used_metrics() -> BTreeMap<String, BTreeSet<String>> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = 0;
    for (dir, extension) in [
        ("grafana/dashboards", "json"),
        ("prometheus", "yaml"),
        ("prometheus", "yml"),
    ] {
        for path in files_with_extension(&deploy.join(dir), extension) {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
            // prometheus.yml (docker-compose's scrape config) holds no rules.
            if extension != "json" && !text.lines().any(|l| l.trim_end() == "groups:") {
                continue;
            }
            let exprs = if extension == "json" {
                let json: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()));
                let mut exprs = Vec::new();
                dashboard_queries(&json, &mut exprs);
                exprs
            } else {
                rule_exprs(&text)
            };
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
            assert!(!names.is_empty(), "{file} queries no ferrotrace metric");
            for name in names {
                used.entry(name).or_default().insert(file.clone());
            }
            files += 1;
        }
    }
    assert!(
        files >= 4,
        "expected the three dashboards and the alert rules under {}, found {files} files",
        deploy.display()
    );
    used
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
}

/// Every PromQL string of a dashboard: panel targets' `expr` and template
/// variables' `query`/`definition`, at any depth (rows nest panels).
fn dashboard_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", serde_json::Value::String(query)) => {
                        out.push(query.clone())
                    }
                    _ => dashboard_queries(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The `expr:` values of a Prometheus rules file: one-line values, and
/// `|`/`>` blocks (the lines indented deeper than `expr:`). A quoted value
/// is refused: its metrics would be read as a string literal and missed.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        i += 1;
        let Some(value) = trimmed.strip_prefix("expr:").map(str::trim) else {
            continue;
        };
        if !value.starts_with(['|', '>']) {
            assert!(
                !value.starts_with(['"', '\'']),
                "quoted expr (write it unquoted or as a block): {value}"
            );
            exprs.push(value.to_string());
            continue;
        }
        let mut block = Vec::new();
        while i < lines.len() {
            let next = lines[i];
            let next_indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && next_indent <= indent {
                break;
            }
            block.push(next.trim());
            i += 1;
        }
        exprs.push(block.join("\n").trim().to_string());
    }
    exprs
}

/// Metric names in a PromQL expression: identifiers outside string literals
/// that start with one of [`PREFIXES`] (or are [`SCRAPE_SERIES`]), with
/// histogram and summary suffixes removed.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            let mut escaped = false;
            for (_, d) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            // Durations and numbers ("5m", "0.95") start with a digit; skipping
            // the whole word keeps "1h" from looking like an identifier.
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if !(d.is_ascii_alphanumeric() || d == '_' || d == ':') {
                    break;
                }
                end = i + d.len_utf8();
                chars.next();
            }
            let word = &expr[start..end];
            let is_metric =
                PREFIXES.iter().any(|p| word.starts_with(p)) || SCRAPE_SERIES.contains(&word);
            if !c.is_ascii_digit() && is_metric {
                names.insert(family(word).to_string());
            }
        }
    }
    names
}

/// A series name without the `_bucket`/`_sum`/`_count` of histograms and summaries.
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

fn join(files: &BTreeSet<String>) -> String {
    files.iter().cloned().collect::<Vec<_>>().join(", ")
}
