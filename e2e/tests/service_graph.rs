//! The metrics-generator against the real spine: traces of a known topology
//! sent to the collector over OTLP/gRPC, one request per service (so the
//! halves of each call arrive in different Kafka messages), come out of a
//! real ingester's `/metrics` as Tempo's service-graph and span metrics,
//! exactly once per call; with both processors switched off, not at all.
//!
//! Topology of every trace (span durations in parentheses):
//! ```text
//! frontend  SERVER   "GET /"        root (50 ms)              user -> frontend (virtual node)
//! frontend  CLIENT   "GET /api"     -> backend SERVER          frontend -> backend
//! frontend  CLIENT   "POST /charge" peer.service=payments      frontend -> payments (virtual node, on expiry)
//! frontend  CLIENT   "GET /cache"   no server, no peer         unpaired client
//! backend   SERVER   "GET /api"     (30 ms)
//! backend   CLIENT   "SELECT"       -> db SERVER "query"       backend -> db, failed in 2 of 10 traces
//! backend   PRODUCER "publish"      -> worker CONSUMER         backend -> worker (messaging_system)
//! db        SERVER   "query"        (5 ms), ERROR in traces 0 and 5
//! db        SERVER   "orphan"       parent never sent          unpaired server
//! worker    CONSUMER "process"
//! ```

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferrotrace_testkit::{free_port, sample, scrape_metrics, wait_until};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use support::{kv, resource_spans, Cluster, AFTER_MIDNIGHT_NS};

const TRACES: u8 = 10;
const SPANS_PER_TRACE: u64 = 10;

fn span(trace: u8, id: u8, parent: Option<u8>, kind: SpanKind, name: &str, millis: u64) -> Span {
    let mut trace_id = [0xA0; 16];
    trace_id[15] = trace;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: [trace, id, 0, 0, 0, 0, 0, 1].to_vec(),
        parent_span_id: parent
            .map(|p| [trace, p, 0, 0, 0, 0, 0, 1].to_vec())
            .unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: AFTER_MIDNIGHT_NS,
        end_time_unix_nano: AFTER_MIDNIGHT_NS + millis * 1_000_000,
        ..Default::default()
    }
}

/// The spans one service reports for trace `t`.
fn service_spans(service: &str, t: u8) -> Vec<Span> {
    use SpanKind::*;
    match service {
        "frontend" => {
            let mut charge = span(t, 3, Some(1), Client, "POST /charge", 20);
            charge.attributes = vec![kv(
                "peer.service",
                any_value::Value::StringValue("payments".into()),
            )];
            vec![
                span(t, 1, None, Server, "GET /", 50),
                span(t, 2, Some(1), Client, "GET /api", 40),
                charge,
                span(t, 4, Some(1), Client, "GET /cache", 1),
            ]
        }
        "backend" => vec![
            span(t, 5, Some(2), Server, "GET /api", 30),
            span(t, 6, Some(5), Client, "SELECT", 10),
            span(t, 7, Some(5), Producer, "publish", 1),
        ],
        "db" => {
            let mut query = span(t, 8, Some(6), Server, "query", 5);
            if t % 5 == 0 {
                query.status = Some(Status {
                    code: StatusCode::Error as i32,
                    message: "deadlock".into(),
                });
            }
            vec![query, span(t, 9, Some(0xEE), Server, "orphan", 1)]
        }
        "worker" => vec![span(t, 10, Some(7), Consumer, "process", 2)],
        other => unreachable!("{other}"),
    }
}

/// Sends the topology above, one gRPC request per service.
async fn send_topology(cluster: &Cluster) {
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    for service in ["frontend", "backend", "db", "worker"] {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![resource_spans(
                service,
                (0..TRACES)
                    .flat_map(|t| service_spans(service, t))
                    .collect(),
            )],
        };
        grpc.export(request).await.expect("export");
    }
}

fn edge(name: &str, client: &str, server: &str, connection: &str) -> String {
    let mut labels = Vec::new();
    if !client.is_empty() {
        labels.push(format!(r#"client="{client}""#));
    }
    if !server.is_empty() {
        labels.push(format!(r#"server="{server}""#));
    }
    if !connection.is_empty() {
        labels.push(format!(r#"connection_type="{connection}""#));
    }
    format!("{name}{{{}}}", labels.join(","))
}

fn calls(service: &str, span_name: &str, kind: &str, status: &str) -> String {
    format!(
        r#"traces_spanmetrics_calls_total{{service="{service}",span_name="{span_name}",span_kind="{kind}",status_code="{status}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_topology_comes_out_as_tempo_service_graph_and_span_metrics() {
    let cluster = Cluster::start(2).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    // The spans are dated 2026-11-26: count them however old.
    let mut ingester = cluster.ingester(&[
        &admin_flag,
        "--service-graph-wait=1s",
        "--metrics-max-span-age=0",
    ]);

    send_topology(&cluster).await;
    let expected = u64::from(TRACES) * SPANS_PER_TRACE;
    let stored = cluster
        .wait_for_spans(expected, Duration::from_secs(120))
        .await;
    assert_eq!(stored, expected, "every span indexed");

    let n = f64::from(TRACES);
    let requests = "traces_service_graph_request_total";
    let failed = "traces_service_graph_request_failed_total";
    let unpaired = "traces_service_graph_unpaired_spans_total";
    // Halves alone expire after --service-graph-wait, on the ingester's sweep.
    let expired = wait_until(Duration::from_secs(30), || async {
        let m = scrape_metrics(admin).await;
        sample(&m, &edge(unpaired, "", "db", "")) == n
            && sample(&m, &edge(requests, "frontend", "payments", "virtual_node")) == n
    })
    .await;
    let m: HashMap<String, f64> = scrape_metrics(admin).await;
    assert!(expired, "unpaired halves expired: {m:#?}");

    // Service graph.
    assert_eq!(
        sample(&m, &edge(requests, "user", "frontend", "virtual_node")),
        n,
        "{m:#?}"
    );
    assert_eq!(sample(&m, &edge(requests, "frontend", "backend", "")), n);
    assert_eq!(sample(&m, &edge(requests, "backend", "db", "")), n);
    assert_eq!(
        sample(&m, &edge(requests, "backend", "worker", "messaging_system")),
        n
    );
    assert_eq!(sample(&m, &edge(failed, "backend", "db", "")), 2.0);
    assert_eq!(sample(&m, &edge(failed, "frontend", "backend", "")), 0.0);
    assert_eq!(sample(&m, &edge(unpaired, "frontend", "", "")), n);
    assert_eq!(sample(&m, &edge(unpaired, "", "db", "")), n);
    let graph_requests: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("traces_service_graph_request_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(graph_requests, 5.0 * n, "no other edge: {m:#?}");
    let server_seconds = |le: &str| {
        format!(
            r#"traces_service_graph_request_server_seconds_bucket{{client="frontend",server="backend",le="{le}"}}"#
        )
    };
    assert_eq!(sample(&m, &server_seconds("0.1")), n, "30 ms server spans");
    assert_eq!(
        sample(
            &m,
            r#"traces_service_graph_request_client_seconds_count{client="frontend",server="backend"}"#
        ),
        n
    );
    assert!(!m
        .keys()
        .any(|k| k.starts_with("traces_service_graph_dropped_spans_total")));

    // Span metrics.
    let (server, client) = ("SPAN_KIND_SERVER", "SPAN_KIND_CLIENT");
    let (unset, error) = ("STATUS_CODE_UNSET", "STATUS_CODE_ERROR");
    assert_eq!(sample(&m, &calls("frontend", "GET /", server, unset)), n);
    assert_eq!(sample(&m, &calls("frontend", "GET /api", client, unset)), n);
    assert_eq!(sample(&m, &calls("backend", "GET /api", server, unset)), n);
    assert_eq!(sample(&m, &calls("db", "query", server, unset)), n - 2.0);
    assert_eq!(sample(&m, &calls("db", "query", server, error)), 2.0);
    assert_eq!(
        sample(&m, &calls("worker", "process", "SPAN_KIND_CONSUMER", unset)),
        n
    );
    assert_eq!(
        sample(
            &m,
            &calls("backend", "publish", "SPAN_KIND_PRODUCER", unset)
        ),
        n
    );
    let all_calls: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("traces_spanmetrics_calls_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(all_calls, expected as f64, "one call per span: {m:#?}");
    let query_bucket = |le: &str| {
        format!(
            r#"traces_spanmetrics_latency_bucket{{service="db",span_name="query",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET",le="{le}"}}"#
        )
    };
    assert_eq!(sample(&m, &query_bucket("0.004")), 0.0, "5 ms spans");
    assert_eq!(sample(&m, &query_bucket("0.008")), n - 2.0);
    assert_eq!(
        sample(
            &m,
            r#"ferrotrace_ingester_metrics_generator_overflow_total{processor="span_metrics"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(&m, "ferrotrace_ingester_service_graph_waiting_spans"),
        0.0
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_processors_export_no_series() {
    let cluster = Cluster::start(1).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut ingester = cluster.ingester(&[
        &admin_flag,
        "--service-graph=false",
        "--span-metrics=false",
        "--service-graph-wait=1s",
    ]);

    send_topology(&cluster).await;
    let expected = u64::from(TRACES) * SPANS_PER_TRACE;
    let stored = cluster
        .wait_for_spans(expected, Duration::from_secs(120))
        .await;
    assert_eq!(stored, expected, "every span indexed");
    // Past the wait and a few sweeps.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = scrape_metrics(admin).await;
    assert!(
        sample(&m, r#"ferrotrace_ingester_messages_total{result="ok"}"#) > 0.0,
        "the endpoint answers: {m:#?}"
    );
    let generated: Vec<_> = m
        .keys()
        .filter(|k| {
            k.starts_with("traces_")
                || k.starts_with("ferrotrace_ingester_metrics_generator")
                || k.starts_with("ferrotrace_ingester_service_graph")
        })
        .collect();
    assert!(generated.is_empty(), "{generated:#?}");

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
