//! Every series the Grafana dashboards (`deploy/grafana/dashboards/*.json`)
//! and the Prometheus alert rules (`deploy/prometheus/*.yaml`) query exists
//! from start-up: a freshly started real collector binary and real ingester
//! export every metric the queries name, with every fixed label value the
//! queries select (`outcome="refused"`, `status=~"429|5.."`), before any
//! traffic; the service graph's and span metrics' series, which depend on
//! the spans seen, after light traffic. That traffic (good spans with
//! errors, an invalid Zipkin span, a broken UDP packet) must not create a
//! `ferrotrace_*` series that was not there at start: the series created at
//! start are the ones the code counts in. A renamed metric or label value
//! breaks this test rather than a dashboard in production.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferrotrace_common::testkit::{free_port, scrape_metrics, wait_until};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use regex::Regex;
use support::{workspace_binary, Cluster, AFTER_MIDNIGHT_NS, BEFORE_MIDNIGHT_NS};
use tokio::process::{Child, Command};

/// Prefixes of the metrics ferrotrace exports; other identifiers in a query
/// are PromQL functions, keywords or label names.
const PREFIXES: &[&str] = &["ferrotrace_", "traces_", "process_"];
/// Series Prometheus itself adds to every scrape target.
const SCRAPE_SERIES: &[&str] = &["up"];
/// Metrics whose series are made by spans (service, client, server labels).
const FROM_SPANS: &str = "traces_";
/// How long the processes get to start, or to count the traffic in.
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_query_series_that_exist_from_start() {
    let used = used_metrics();

    let cluster = Cluster::start(2).await;
    let ingester_admin = free_port();
    let _ingester = cluster.ingester(&[
        &format!("--admin-listen=127.0.0.1:{ingester_admin}"),
        // The spans are dated 2026-11-25/26: count them in the span
        // metrics and service graph the dashboards show, however old.
        "--metrics-max-span-age=0",
    ]);
    let collector = CollectorProcess::spawn(&cluster);
    let admins = [collector.admin, ingester_admin];

    let (missing, at_start) =
        wait_for_series(&used, &admins, |name| !name.starts_with(FROM_SPANS)).await;
    assert_exported("before any traffic", &missing);

    collector.send_traffic().await;
    let counted = wait_until(DEADLINE, || async {
        let metrics = scrape_metrics(collector.admin).await;
        let total = |family: &str| -> f64 {
            metrics
                .iter()
                .filter(|(series, _)| series.starts_with(&format!("{family}{{")))
                .map(|(_, value)| value)
                .sum()
        };
        total("ferrotrace_collector_udp_packets_dropped_total") > 0.0
            && total("ferrotrace_collector_spans_refused_total") > 0.0
    })
    .await;
    assert!(
        counted,
        "the collector counted the broken packet and the invalid span"
    );
    let (missing, after) = wait_for_series(&used, &admins, |_| true).await;
    assert_exported("after light traffic", &missing);

    let new: Vec<&String> = after
        .difference(&at_start)
        .filter(|series| series.starts_with("ferrotrace_"))
        .collect();
    assert!(
        new.is_empty(),
        "series that appeared only with traffic (create them at start, in metrics::register):\n{new:#?}"
    );
}

/// A metric a query selects, with the label values it fixes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Selector {
    name: String,
    matchers: Vec<(String, Match)>,
}

/// A label matcher with a fixed value (not a dashboard variable).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// `label="value"`
    Equal(String),
    /// `label=~"regex"`, anchored as PromQL anchors it.
    Regex(String),
}

/// Waits until every selector in `used` whose name passes `wanted` matches
/// a series exported by one of the processes on `admin_ports`; returns the
/// missing ones (selector → files) and the series seen last.
async fn wait_for_series(
    used: &BTreeMap<Selector, BTreeSet<String>>,
    admin_ports: &[u16],
    wanted: impl Fn(&str) -> bool,
) -> (BTreeMap<Selector, BTreeSet<String>>, BTreeSet<String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut exported = BTreeSet::new();
        for &port in admin_ports {
            exported.extend(exported_series(&scrape(port).await));
        }
        let missing: BTreeMap<Selector, BTreeSet<String>> = used
            .iter()
            .filter(|(selector, _)| {
                wanted(&selector.name)
                    && !SCRAPE_SERIES.contains(&selector.name.as_str())
                    && !exported.iter().any(|series| matches(selector, series))
            })
            .map(|(selector, files)| (selector.clone(), files.clone()))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            return (missing, exported);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether `series` (`family{label="value",...}`) is one `selector` selects.
fn matches(selector: &Selector, series: &str) -> bool {
    let (family, labels) = series.split_once('{').unwrap_or((series, ""));
    if family != selector.name {
        return false;
    }
    let labels = parse_labels(labels.trim_end_matches('}'));
    selector.matchers.iter().all(|(label, matcher)| {
        let value = labels.get(label).map(String::as_str).unwrap_or("");
        match matcher {
            Match::Equal(wanted) => value == wanted,
            Match::Regex(regex) => Regex::new(&format!("^(?:{regex})$"))
                .unwrap_or_else(|e| panic!("{regex:?} is a regular expression: {e}"))
                .is_match(value),
        }
    })
}

fn assert_exported(when: &str, missing: &BTreeMap<Selector, BTreeSet<String>>) {
    let report: Vec<String> = missing
        .iter()
        .map(|(selector, files)| format!("  {selector:?} (used in {})", join(files)))
        .collect();
    assert!(
        report.is_empty(),
        "{when}, series used by dashboards or alerts that neither the collector nor the ingester exports:\n{}",
        report.join("\n")
    );
}

#[test]
fn extracts_selectors_from_promql() {
    let expr = r#"histogram_quantile(0.95, sum by (le, topic) (rate(ferrotrace_ingester_bulk_duration_seconds_bucket{job="ferrotrace_x", instance=~"$instance"}[5m]))) / on() group_left up{job="traces_y"} + process_open_fds offset 1h + rate(traces_a_total{status_code="STATUS_CODE_ERROR",code=~"429|5..", other!="x"}[1m])"#;
    let selector = |name: &str, matchers: &[(&str, Match)]| Selector {
        name: name.into(),
        matchers: matchers
            .iter()
            .map(|(l, m)| (l.to_string(), m.clone()))
            .collect(),
    };
    assert_eq!(
        selectors(expr),
        BTreeSet::from([
            selector(
                "ferrotrace_ingester_bulk_duration_seconds",
                &[("job", Match::Equal("ferrotrace_x".into()))]
            ),
            selector("process_open_fds", &[]),
            selector(
                "traces_a_total",
                &[
                    ("status_code", Match::Equal("STATUS_CODE_ERROR".into())),
                    ("code", Match::Regex("429|5..".into())),
                ]
            ),
            selector("up", &[("job", Match::Equal("traces_y".into()))]),
        ])
    );
}

#[test]
fn selects_series_by_fixed_labels() {
    let selector = Selector {
        name: "f_total".into(),
        matchers: vec![("status".into(), Match::Regex("429|5..".into()))],
    };
    assert!(matches(&selector, r#"f_total{status="429"}"#));
    assert!(matches(&selector, r#"f_total{kind="span",status="503"}"#));
    assert!(!matches(&selector, r#"f_total{status="4290"}"#));
    assert!(!matches(&selector, r#"f_total{status="400"}"#));
    assert!(!matches(&selector, "f_total"));
    assert!(!matches(&selector, r#"g_total{status="429"}"#));
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
            .arg("--sampling-http-listen=")
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

/// The series of a Prometheus text exposition, each as
/// `family{label="value",...}` with its labels sorted: histogram and summary
/// suffixes and their `le`/`quantile` labels removed.
fn exported_series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, _value) = line.rsplit_once(' ')?;
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels: Vec<String> = parse_labels(labels.trim_end_matches('}'))
                .into_iter()
                .filter(|(label, _)| label != "le" && label != "quantile")
                .map(|(label, value)| format!("{label}=\"{value}\""))
                .collect();
            let family = family(name);
            Some(if labels.is_empty() {
                family.to_string()
            } else {
                format!("{family}{{{}}}", labels.join(","))
            })
        })
        .collect()
}

/// `label="value",...` (the inside of a series' braces) → label → value.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((label, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(
            label.trim().trim_start_matches(',').trim().to_string(),
            value,
        );
        rest = after[end..].trim_start_matches(',').trim();
    }
    labels
}

/// Selector → the files under `deploy/` whose queries use it.
fn used_metrics() -> BTreeMap<Selector, BTreeSet<String>> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut used: BTreeMap<Selector, BTreeSet<String>> = BTreeMap::new();
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
            let selected: BTreeSet<Selector> = exprs.iter().flat_map(|e| selectors(e)).collect();
            assert!(!selected.is_empty(), "{file} queries no ferrotrace metric");
            for selector in selected {
                used.entry(selector).or_default().insert(file.clone());
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

/// The metrics a PromQL expression selects: identifiers outside string
/// literals that start with one of [`PREFIXES`] (or are [`SCRAPE_SERIES`]),
/// with histogram and summary suffixes removed, and the fixed matchers of
/// the braces that follow them.
fn selectors(expr: &str) -> BTreeSet<Selector> {
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
                let matchers = match expr[end..].trim_start().strip_prefix('{') {
                    Some(braces) => fixed_matchers(braces),
                    None => Vec::new(),
                };
                names.insert(Selector {
                    name: family(word).to_string(),
                    matchers,
                });
            }
        }
    }
    names
}

/// The matchers at the start of `text` (what follows a selector's `{`, up
/// to its `}`) that fix a label: `=` and `=~` with a value that is not a
/// dashboard variable.
fn fixed_matchers(text: &str) -> Vec<(String, Match)> {
    let mut matchers = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        if rest.is_empty() || rest.starts_with('}') {
            return matchers;
        }
        let label_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = &rest[..label_end];
        let after = rest[label_end..].trim_start();
        let op_end = after
            .find('"')
            .unwrap_or_else(|| panic!("matcher without a quoted value: {text}"));
        let op = after[..op_end].trim();
        let quoted = &after[op_end + 1..];
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let mut end = quoted.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        rest = &quoted[end..];
        if value.contains('$') {
            continue;
        }
        match op {
            "=" => matchers.push((label.to_string(), Match::Equal(value))),
            "=~" => matchers.push((label.to_string(), Match::Regex(value))),
            _ => {}
        }
    }
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
