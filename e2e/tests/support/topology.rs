//! Traces of a known service topology for the dependencies suites, the
//! `ferrotrace-ingester dependencies` job, and the dependencies documents
//! as stored.

use std::collections::BTreeMap;
use std::process::Output;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::process::Command;

use super::{kv, resource_spans, workspace_binary, Cluster};

pub const SPANS_PER_TRACE: u64 = 5;

/// Call counts per (parent, child).
pub type Links = BTreeMap<(String, String), u64>;

/// One trace: frontend (server) → frontend client → backend (server), which
/// calls redis (a leaf client with `peer.service`, no redis spans) and does
/// internal work.
fn trace(n: u64, start_ns: u64) -> Vec<(&'static str, Span)> {
    let trace_id = {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n + 1)).to_be_bytes());
        id[8..].copy_from_slice(&(n + 1).to_be_bytes());
        id.to_vec()
    };
    let span = |id: u8, parent: u8, name: &str, kind: SpanKind| Span {
        trace_id: trace_id.clone(),
        span_id: vec![0, 0, 0, 0, 0, 0, (n % 250) as u8 + 1, id],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![0, 0, 0, 0, 0, 0, (n % 250) as u8 + 1, parent]
        },
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start_ns + u64::from(id) * 1_000,
        end_time_unix_nano: start_ns + 500_000,
        ..Default::default()
    };
    let mut redis_call = span(4, 3, "GET", SpanKind::Client);
    redis_call.attributes = vec![kv("peer.service", Value::StringValue("redis".into()))];
    vec![
        ("frontend", span(1, 0, "GET /dispatch", SpanKind::Server)),
        ("frontend", span(2, 1, "GET /customer", SpanKind::Client)),
        ("backend", span(3, 2, "GET /customer", SpanKind::Server)),
        ("backend", redis_call),
        ("backend", span(5, 3, "load", SpanKind::Internal)),
    ]
}

/// The spans of `traces` (of one `service` only, or all), one resource per service.
pub fn request(
    traces: std::ops::Range<u64>,
    start_ns: u64,
    service: Option<&str>,
) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for n in traces {
        for (name, span) in trace(n, start_ns) {
            if service.is_none_or(|s| s == name) {
                by_service.entry(name).or_default().push(span);
            }
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| resource_spans(service, spans))
            .collect(),
    }
}

/// The links of `traces` traces of the topology.
pub fn expected(traces: u64) -> Links {
    [
        ("frontend", "frontend", traces),
        ("frontend", "backend", traces),
        ("backend", "backend", 2 * traces),
        ("backend", "redis", traces),
    ]
    .into_iter()
    .map(|(p, c, n)| ((p.to_owned(), c.to_owned()), n))
    .collect()
}

/// Runs `ferrotrace-ingester dependencies` on the cluster's indices.
pub async fn job(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(workspace_binary("ferrotrace-ingester"))
        .arg("dependencies")
        .arg(format!("--es-url={}", cluster.osmem.url()))
        .arg(format!("--es-index-prefix={}", cluster.prefix))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("job runs")
}

/// The job's report; panics with its output unless it succeeded.
pub fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The day's dependencies documents (`date` YYYY-MM-DD): (timestamp,
/// links) each.
pub async fn dependency_docs(cluster: &Cluster, date: &str) -> Vec<(String, Links)> {
    stored_docs(cluster, date)
        .await
        .into_iter()
        .map(|(_, doc)| {
            (
                doc["timestamp"].as_str().unwrap_or_default().to_owned(),
                links_of(&doc),
            )
        })
        .collect()
}

/// The day's dependencies documents as stored (`date` YYYY-MM-DD, or `*`
/// for every day), with their ids (none when the index does not exist yet).
pub async fn stored_docs(cluster: &Cluster, date: &str) -> Vec<(String, serde_json::Value)> {
    let index = format!("{}-jaeger-dependencies-{date}", cluster.prefix);
    cluster.osmem.all_docs(&index).await.unwrap_or_default()
}

/// A document's `dependencies`, summed per pair.
pub fn links_of(doc: &serde_json::Value) -> Links {
    let mut links = Links::new();
    for l in doc["dependencies"].as_array().expect("dependencies array") {
        assert_eq!(l["source"], "jaeger");
        *links
            .entry((
                l["parent"].as_str().unwrap().to_owned(),
                l["child"].as_str().unwrap().to_owned(),
            ))
            .or_default() += l["callCount"].as_u64().unwrap();
    }
    links
}

/// What jaeger-query's `/api/dependencies` shows for the day: every
/// document's links summed (its `deduplicateDependencies`).
pub async fn ui_links(cluster: &Cluster, date: &str) -> Links {
    let mut total = Links::new();
    for (_, links) in dependency_docs(cluster, date).await {
        for (pair, count) in links {
            *total.entry(pair).or_default() += count;
        }
    }
    total
}
