//! Jaeger's Monitor tab (Service Performance Monitoring) over the ingester's
//! span metrics: a real Prometheus scrapes a real ingester fed through the
//! collector and Kafka, and answers the PromQL that jaeger-query sends
//! (`internal/storage/metricstore/prometheus/metricstore/reader.go`, namespace
//! `traces_span_metrics`, `normalize_calls` and `normalize_duration` on) with
//! the call rates, error rates and latency quantiles of the spans sent.
//!
//! The same batch of spans is sent twice, and the queries' rate window starts
//! after the first batch is scraped and ends after the second: every series
//! then grows by exactly its count in one batch, and Prometheus's
//! extrapolation scales every series alike. So ratios (error rates, rates of
//! one service against another, histogram quantiles) are exact, and a call
//! rate lies between `calls / window` and `calls / (window - 3 s)` (at most
//! one scrape interval unsampled at each end).
//!
//! Spans that ended an hour before they are read (`--metrics-max-span-age`)
//! count nowhere but in the skipped counter.
//!
//! The spans of one batch (server spans are what the Monitor tab shows):
//! ```text
//! frontend SERVER "GET /"       3 5 7 9 20 30 40 60 150 300 ms, two of them ERROR
//! frontend SERVER "GET /health" 1 ms ×5
//! frontend CLIENT "GET /api"    100 ms ×10 (left out by the span_kind filter)
//! backend  SERVER "SELECT"      1 ms ×5, status OK
//! frontend SERVER "GET /"       ended an hour ago ×5, two ERROR (too old: skipped)
//! ```

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrotrace_testkit::{free_port, sample, scrape_metrics, wait_until, PromSeries, Prometheus};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use support::{resource_spans, Cluster};

const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// Spans of one batch that count (the old ones do not).
const COUNTED_PER_BATCH: f64 = 30.0;
const OLD_PER_BATCH: f64 = 5.0;
/// The spanmetrics connector's default buckets (ms), which the ingester uses.
const BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

const GET_ROOT_MS: [u64; 10] = [3, 5, 7, 9, 20, 30, 40, 60, 150, 300];
/// Indices into [`GET_ROOT_MS`] of the failed requests.
const GET_ROOT_ERRORS: [usize; 2] = [1, 8];

fn unix_now_ns() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    u64::try_from(now.as_nanos()).expect("time fits u64")
}

fn unix_now_s() -> f64 {
    unix_now_ns() as f64 / 1e9
}

/// A span with its own trace ID that ended at `end_ns`, `millis` long.
fn span(
    id: &mut u64,
    kind: SpanKind,
    name: &str,
    millis: u64,
    end_ns: u64,
    status: StatusCode,
) -> Span {
    *id += 1;
    let mut trace_id = [0x5E; 16];
    trace_id[8..].copy_from_slice(&id.to_be_bytes());
    Span {
        trace_id: trace_id.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: end_ns - millis * 1_000_000,
        end_time_unix_nano: end_ns,
        status: Some(Status {
            code: status as i32,
            message: String::new(),
        }),
        ..Default::default()
    }
}

/// Sends one batch (see the module comment), its spans ending now; `id`
/// keeps trace and span IDs unique across batches.
async fn send_batch(cluster: &Cluster, id: &mut u64) {
    use SpanKind::{Client, Server};
    let now = unix_now_ns();
    let hour_ago = now - 3600 * 1_000_000_000;
    let mut frontend = Vec::new();
    for (i, millis) in GET_ROOT_MS.into_iter().enumerate() {
        let status = if GET_ROOT_ERRORS.contains(&i) {
            StatusCode::Error
        } else {
            StatusCode::Unset
        };
        frontend.push(span(id, Server, "GET /", millis, now, status));
    }
    for _ in 0..5 {
        frontend.push(span(id, Server, "GET /health", 1, now, StatusCode::Unset));
    }
    for _ in 0..10 {
        frontend.push(span(id, Client, "GET /api", 100, now, StatusCode::Unset));
    }
    for i in 0..OLD_PER_BATCH as usize {
        let status = if i < 2 {
            StatusCode::Error
        } else {
            StatusCode::Unset
        };
        frontend.push(span(id, Server, "GET /", 5, hour_ago, status));
    }
    let backend = (0..5)
        .map(|_| span(id, Server, "SELECT", 1, now, StatusCode::Ok))
        .collect();
    let mut grpc = TraceServiceClient::connect(cluster.collector_grpc.clone())
        .await
        .expect("connect");
    for (service, spans) in [("frontend", frontend), ("backend", backend)] {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![resource_spans(service, spans)],
        };
        grpc.export(request).await.expect("export");
    }
}

/// Waits until Prometheus's latest sample of every calls series adds up to
/// `expected` under both names.
async fn wait_for_scraped_calls(prometheus: &Prometheus, expected: f64) {
    let scraped = wait_until(Duration::from_secs(60), || async {
        let mut all = true;
        for metric in [
            "traces_span_metrics_calls_total",
            "traces_spanmetrics_calls_total",
        ] {
            let result = prometheus
                .query(&format!("sum({metric})"), unix_now_s())
                .await
                .unwrap_or_default();
            all &= result.first().map(|s| s.points[0].1) == Some(expected);
        }
        all
    })
    .await;
    let last = prometheus
        .query(
            "sum by (__name__) ({__name__=~\"traces_span_?metrics_calls_total\"})",
            unix_now_s(),
        )
        .await;
    assert!(scraped, "prometheus never saw {expected} calls: {last:?}");
}

/// The PromQL jaeger-query builds (`buildPromQuery` and the three query
/// templates of its Prometheus metrics reader) for the server spans of
/// frontend and backend, over a `rate` window.
struct JaegerQueries {
    rate: String,
    group_by_operation: bool,
}

impl JaegerQueries {
    const SERVICES: &'static str = "frontend|backend";
    const SPAN_KIND_FILTER: &'static str = r#"span_kind =~ "SPAN_KIND_SERVER""#;
    const CALLS: &'static str = "traces_span_metrics_calls_total";
    const LATENCY: &'static str = "traces_span_metrics_duration_milliseconds";

    fn group_by(&self, histogram: bool) -> String {
        let mut labels = vec!["service_name"];
        if self.group_by_operation {
            labels.push("span_name");
        }
        if histogram {
            labels.push("le");
        }
        labels.join(",")
    }

    fn latencies(&self, quantile: f64) -> String {
        format!(
            r#"histogram_quantile({quantile:.2}, sum(rate({}_bucket{{service_name =~ "{}", {}}}[{}])) by ({}))"#,
            Self::LATENCY,
            Self::SERVICES,
            Self::SPAN_KIND_FILTER,
            self.rate,
            self.group_by(true)
        )
    }

    fn call_rates(&self) -> String {
        format!(
            r#"sum(rate({}{{service_name =~ "{}", {}}}[{}])) by ({})"#,
            Self::CALLS,
            Self::SERVICES,
            Self::SPAN_KIND_FILTER,
            self.rate,
            self.group_by(false)
        )
    }

    fn error_rates(&self) -> String {
        let all = format!(
            r#"sum(rate({}{{service_name =~ "{}", {}}}[{}])) by ({})"#,
            Self::CALLS,
            Self::SERVICES,
            Self::SPAN_KIND_FILTER,
            self.rate,
            self.group_by(false)
        );
        let errors = format!(
            r#"sum(rate({}{{service_name =~ "{}", status_code = "STATUS_CODE_ERROR", {}}}[{}])) by ({})"#,
            Self::CALLS,
            Self::SERVICES,
            Self::SPAN_KIND_FILTER,
            self.rate,
            self.group_by(false)
        );
        format!("{errors} / {all}")
    }
}

/// A query's one point at `at` (a range query of one step, as jaeger-query
/// sends them), keyed by service (and span name when grouped by operation).
async fn evaluate(prometheus: &Prometheus, promql: &str, at: f64) -> BTreeMap<String, f64> {
    let series: Vec<PromSeries> = prometheus
        .query_range(promql, at, at, SCRAPE_INTERVAL)
        .await
        .unwrap_or_else(|e| panic!("{promql}: {e}"));
    series
        .into_iter()
        .map(|s| {
            let mut key = s.labels.get("service_name").cloned().unwrap_or_default();
            if let Some(name) = s.labels.get("span_name") {
                key = format!("{key} {name}");
            }
            assert_eq!(s.points.len(), 1, "{promql}: {s:?}");
            (key, s.points[0].1)
        })
        .collect()
}

/// What `histogram_quantile` makes of durations counted in [`BUCKETS_MS`]:
/// linear interpolation inside the bucket where the rank falls, from 0 in
/// the first bucket. Also checks that the exact quantile of the durations
/// (nearest rank) lies in that bucket, and that the rank does not sit on a
/// bucket's edge, where the float rates could tip it into the neighbour.
fn expected_quantile(durations_ms: &[u64], q: f64) -> f64 {
    let total = durations_ms.len() as f64;
    let rank = q * total;
    let below = |bound: f64| durations_ms.iter().filter(|&&d| d as f64 <= bound).count() as f64;
    let mut lower = 0.0;
    for upper in BUCKETS_MS {
        let (count_below, count) = (below(lower), below(upper));
        assert!(
            (count - rank).abs() > 1e-6,
            "rank {rank} sits on the edge le={upper}: pick other durations"
        );
        if count >= rank {
            let mut sorted = durations_ms.to_vec();
            sorted.sort_unstable();
            let exact = sorted[(rank.ceil() as usize).max(1) - 1] as f64;
            assert!(
                lower < exact && exact <= upper,
                "the exact quantile {exact} lies in ({lower}, {upper}]"
            );
            return lower + (upper - lower) * (rank - count_below) / (count - count_below);
        }
        lower = upper;
    }
    panic!("durations beyond the last bucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_monitor_queries_over_prometheus_give_the_rates_and_quantiles_sent() {
    let cluster = Cluster::start(1).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut ingester = cluster.ingester(&[
        &admin_flag,
        "--span-metrics-names=both",
        "--metrics-max-span-age=10m",
    ]);
    let up = wait_until(Duration::from_secs(30), || async {
        !scrape_metrics(admin).await.is_empty()
    })
    .await;
    assert!(up, "the ingester serves /metrics");
    let prometheus = Prometheus::start(&[format!("127.0.0.1:{admin}")], SCRAPE_INTERVAL)
        .await
        .expect("prometheus starts (install it with scripts/install-tools.sh: Debian's `prometheus` package)");

    let mut id = 0;
    send_batch(&cluster, &mut id).await;
    wait_for_scraped_calls(&prometheus, COUNTED_PER_BATCH).await;
    // Every sample from here on holds the whole first batch.
    let first_batch_scraped = unix_now_s();
    tokio::time::sleep(SCRAPE_INTERVAL * 5 / 2).await;
    send_batch(&cluster, &mut id).await;
    wait_for_scraped_calls(&prometheus, 2.0 * COUNTED_PER_BATCH).await;
    tokio::time::sleep(SCRAPE_INTERVAL * 5).await;
    let at = unix_now_s();
    // Whole seconds (as jaeger-query formats its --rate), starting between
    // 0.2 s and 1.2 s after the first batch was seen whole.
    let window = (at - first_batch_scraped - 0.2).floor();
    let rate = format!("{window}s");

    let by_service = JaegerQueries {
        rate: rate.clone(),
        group_by_operation: false,
    };
    let by_operation = JaegerQueries {
        rate,
        group_by_operation: true,
    };

    // Call rates: per batch, frontend has 15 server spans, backend 5.
    let calls = evaluate(&prometheus, &by_service.call_rates(), at).await;
    assert_eq!(
        calls.keys().collect::<Vec<_>>(),
        ["backend", "frontend"],
        "{calls:?}"
    );
    let (low, high) = (1.0 / window, 1.0 / (window - 3.0));
    for (service, count) in [("frontend", 15.0), ("backend", 5.0)] {
        let rate = calls[service];
        assert!(
            count * low - 1e-9 <= rate && rate <= count * high,
            "{service}: {rate}/s for {count} calls over {window} s: {calls:?}"
        );
    }
    assert!(
        (calls["frontend"] / calls["backend"] - 3.0).abs() < 1e-9,
        "{calls:?}"
    );
    let op_calls = evaluate(&prometheus, &by_operation.call_rates(), at).await;
    assert_eq!(op_calls.len(), 3, "server operations only: {op_calls:?}");
    let ratio = |a: &str, b: &str| op_calls[a] / op_calls[b];
    assert!((ratio("frontend GET /", "backend SELECT") - 2.0).abs() < 1e-9);
    assert!((ratio("frontend GET /health", "backend SELECT") - 1.0).abs() < 1e-9);

    // Error rates: 2 of frontend's 15 server spans, 2 of its 10 "GET /";
    // no errors, no series for the others (jaeger-query then reports 0).
    let errors = evaluate(&prometheus, &by_service.error_rates(), at).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!((errors["frontend"] - 2.0 / 15.0).abs() < 1e-9, "{errors:?}");
    let op_errors = evaluate(&prometheus, &by_operation.error_rates(), at).await;
    assert_eq!(op_errors.len(), 1, "{op_errors:?}");
    assert!(
        (op_errors["frontend GET /"] - 0.2).abs() < 1e-9,
        "{op_errors:?}"
    );

    // Latency quantiles, as the Monitor tab asks them.
    let frontend_ms: Vec<u64> = GET_ROOT_MS.iter().copied().chain([1; 5]).collect();
    for q in [0.5, 0.75, 0.95] {
        let latencies = evaluate(&prometheus, &by_service.latencies(q), at).await;
        for (service, durations) in [("frontend", &frontend_ms[..]), ("backend", &[1; 5][..])] {
            let expected = expected_quantile(durations, q);
            let got = latencies[service];
            assert!(
                (got - expected).abs() < 1e-6,
                "p{q} of {service}: {got} ms, expected {expected} ms: {latencies:?}"
            );
        }
        let op_latencies = evaluate(&prometheus, &by_operation.latencies(q), at).await;
        let expected = expected_quantile(&GET_ROOT_MS, q);
        let got = op_latencies["frontend GET /"];
        assert!(
            (got - expected).abs() < 1e-6,
            "p{q} of GET /: {got} ms, expected {expected} ms: {op_latencies:?}"
        );
    }

    // The label values Jaeger filters on.
    let by_status = prometheus
        .query(
            r#"sum by (status_code) (traces_span_metrics_calls_total{span_kind="SPAN_KIND_SERVER"})"#,
            at,
        )
        .await
        .expect("query");
    let by_status: BTreeMap<_, _> = by_status
        .into_iter()
        .map(|s| (s.labels["status_code"].clone(), s.points[0].1))
        .collect();
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("STATUS_CODE_ERROR".to_string(), 4.0),
            ("STATUS_CODE_OK".to_string(), 10.0),
            ("STATUS_CODE_UNSET".to_string(), 26.0),
        ])
    );

    // The spans that ended an hour ago counted nowhere but here.
    let m = scrape_metrics(admin).await;
    assert_eq!(
        sample(
            &m,
            r#"ferrotrace_ingester_metrics_generator_spans_skipped_total{reason="too_old"}"#
        ),
        2.0 * OLD_PER_BATCH,
        "{m:#?}"
    );

    ingester.kill().await.ok();
    cluster.collector_stop.cancel();
}
