//! Adaptive sampling through the whole system: spans go through the real
//! collector to tansu, real ingester processes store them in osmem, count
//! the sampled root spans and (the owner of partition 0) compute the
//! probabilities and publish them to the sampling topic, and a real
//! collector following it serves them on its sampling endpoint
//! (`GET /sampling?service=`), where the simulated clients poll them.
//!
//! The services are simulated clients with a fixed request rate: each 100 ms
//! they send, as root spans, their requests times the probability they are
//! served now (fractions carried over, so the rate is exact). They start
//! with Jaeger's default probability, 0.001, and 200 000 requests per
//! second: 200 sampled traces per second, 5× the target of 40 per second.
//! A 2 s bucket then holds some 80 spans, which measure the rate to about
//! ±11 % (one standard deviation; Jaeger's defaults, 1 per second over
//! 1 minute, hold 60). With a target of 10 a bucket held 20, ±22 %, and a
//! recalculation after converging could land 1.6× off the goal.
//!
//! The load is kept small: throughput is counted when spans are stored, so
//! an ingester that falls behind counts the backlog it drains rather than
//! what the clients send. At 20× (2,400 spans per second from three
//! services) a debug ingester and osmem on a busy 2-core machine fell some
//! 16 s behind, and the probabilities followed the drain.
//!
//! The clients start once the leader has made its first (empty)
//! calculation: spans sent before an ingester joins are stored in a burst
//! when it does, and throughput is counted when spans are stored.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use ferrotrace_format::jaeger::sampling_store::ProbabilitiesDoc;
use ferrotrace_testkit::wait_until;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use rand::Rng;
use support::{kv, resource_spans, terminate, Cluster};
use tokio_util::sync::CancellationToken;

const REQUESTS_PER_SECOND: f64 = 200_000.0;
const TARGET: f64 = 40.0;
const OPERATION: &str = "GET /checkout";
const INTERVAL_SECS: u64 = 2;
const TIMEOUT: Duration = Duration::from_secs(120);

/// The probability that yields the target, and the ±20 % band around it.
const GOAL: f64 = TARGET / REQUESTS_PER_SECOND;
fn within_band(p: f64) -> bool {
    (p / GOAL - 1.0).abs() <= 0.2 + 1e-9
}

/// How a simulated client says how its root spans were sampled.
#[derive(Clone, Copy, Debug)]
enum Tagging {
    /// jaeger-client: `sampler.type` / `sampler.param`.
    JaegerClient,
    /// OpenTelemetry Go's jaegerremote sampler: `jaeger.sampler.*`.
    OtelGoJaegerRemote,
    /// OpenTelemetry probability sampling: `tracestate: ot=th:…`.
    TraceStateThreshold,
}

fn root_span(probability: f64, tagging: Tagging) -> Span {
    let mut rng = rand::rng();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut span = Span {
        trace_id: rng.random::<[u8; 16]>().to_vec(),
        span_id: rng.random::<[u8; 8]>().to_vec(),
        name: OPERATION.into(),
        start_time_unix_nano: now - 1_000_000,
        end_time_unix_nano: now,
        ..Default::default()
    };
    match tagging {
        Tagging::JaegerClient | Tagging::OtelGoJaegerRemote => {
            let prefix = match tagging {
                Tagging::JaegerClient => "",
                _ => "jaeger.",
            };
            span.attributes = vec![
                kv(
                    &format!("{prefix}sampler.type"),
                    Value::StringValue("probabilistic".into()),
                ),
                kv(
                    &format!("{prefix}sampler.param"),
                    Value::DoubleValue(probability),
                ),
            ];
        }
        Tagging::TraceStateThreshold => {
            // The rejection threshold, 56 bits as 14 hex digits (full precision).
            let threshold = ((1.0 - probability) * 72_057_594_037_927_936.0).round() as u64;
            span.trace_state = format!("ot=th:{threshold:014x}");
        }
    }
    span
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(service, spans)],
    }
}

/// A real collector serving sampling strategies on `url` (`:5778`'s
/// endpoint), following the sampling topic; it stops with `stop`.
struct Serving {
    url: String,
    stop: CancellationToken,
}

async fn serving_collector(cluster: &Cluster, topic: &str) -> Serving {
    let off = |flag: &str| format!("--{flag}-listen=");
    let mut args = vec![
        "ferrotrace-collector".to_string(),
        format!("--kafka-brokers={}", cluster.tansu.brokers()),
        format!("--kafka-topic={}", cluster.topic),
        "--sampling-http-listen=127.0.0.1:0".into(),
        "--sampling-adaptive".into(),
        format!("--kafka-sampling-topic={topic}"),
    ];
    for receiver in [
        "otlp-grpc",
        "otlp-http",
        "jaeger-compact",
        "jaeger-binary",
        "jaeger-http",
        "jaeger-grpc",
        "zipkin",
        "admin",
    ] {
        args.push(off(receiver));
    }
    let config =
        ferrotrace_collector::config::Config::try_parse_from(args).expect("collector flags");
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    let collector = ferrotrace_collector::Collector::bind(config, metrics)
        .await
        .expect("collector binds");
    let url = format!(
        "http://{}",
        collector.sampling_http_addr().expect("sampling listener")
    );
    let stop = CancellationToken::new();
    tokio::spawn(collector.run(stop.clone()));
    Serving { url, stop }
}

/// The probability the collector at `url` serves for `service`'s operation
/// (`GET /sampling?service=`, proto-JSON), as a remote sampler reads it:
/// the operation's own, else the service default.
async fn served(url: &str, service: &str) -> f64 {
    let Ok(response) = reqwest::get(format!("{url}/sampling?service={service}")).await else {
        return f64::NAN;
    };
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return f64::NAN;
    };
    let operations = &body["operationSampling"];
    if operations.is_object() {
        let own = operations["perOperationStrategies"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["operation"] == OPERATION)
            .and_then(|o| o["probabilisticSampling"]["samplingRate"].as_f64());
        return own
            .or(operations["defaultSamplingProbability"].as_f64())
            .unwrap_or(f64::NAN);
    }
    body["probabilisticSampling"]["samplingRate"]
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// A service sending its sampled requests through the collector until
/// `stop`, with the probability the collector at `url` serves.
fn simulate(
    cluster: &Cluster,
    service: &'static str,
    tagging: Tagging,
    url: String,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let endpoint = cluster.collector_grpc.clone();
    tokio::spawn(async move {
        let mut grpc = TraceServiceClient::connect(endpoint)
            .await
            .expect("connect");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut credit = 0.0;
        while !stop.is_cancelled() {
            tick.tick().await;
            let probability = served(&url, service).await;
            if probability.is_nan() {
                continue;
            }
            credit += REQUESTS_PER_SECOND / 10.0 * probability;
            let whole = credit.floor();
            credit -= whole;
            if whole >= 1.0 {
                let spans = (0..whole as usize)
                    .map(|_| root_span(probability, tagging))
                    .collect();
                grpc.export(request(service, spans)).await.expect("export");
            }
        }
    })
}

async fn sampling_cluster(partitions: i32) -> (Cluster, String) {
    let cluster = Cluster::start(partitions).await;
    let topic = format!("{}_sampling", cluster.topic);
    cluster
        .tansu
        .create_topic(&topic, 1)
        .await
        .expect("sampling topic");
    (cluster, topic)
}

fn ingester_flags(topic: &str) -> Vec<String> {
    vec![
        "--sampling-adaptive".into(),
        format!("--kafka-sampling-topic={topic}"),
        format!("--sampling-calculation-interval={INTERVAL_SECS}s"),
        "--sampling-calculation-delay=0s".into(),
        "--sampling-aggregation-buckets=10".into(),
        format!("--sampling-target-samples-per-second={TARGET}"),
        "--kafka-consumer-config=session.timeout.ms=6000".into(),
        "--kafka-consumer-config=heartbeat.interval.ms=500".into(),
    ]
}

fn start_ingester(cluster: &Cluster, topic: &str, hostname: &str) -> tokio::process::Child {
    let flags = ingester_flags(topic);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut command = cluster.ingester_command(cluster.osmem.url(), &flags);
    command.env("HOSTNAME", hostname);
    command.spawn().expect("ingester starts")
}

/// Every probabilities document stored, oldest first.
async fn calculations(cluster: &Cluster) -> Vec<ProbabilitiesDoc> {
    let index = format!("{}-jaeger-sampling-*", cluster.prefix);
    let query = serde_json::json!({
        "size": 1000,
        "query": {"exists": {"field": "probabilitiesandqps.Hostname"}},
        "sort": [{"timestamp": {"order": "asc"}}],
    });
    let Ok(answer) = cluster.osmem.search(&index, query).await else {
        return Vec::new();
    };
    answer["hits"]["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| serde_json::from_value(hit["_source"].clone()).ok())
        .collect()
}

/// Waits for the leader's first calculation.
async fn wait_for_leader(cluster: &Cluster, hostname: &str) {
    let computing = wait_until(TIMEOUT, || async {
        calculations(cluster)
            .await
            .iter()
            .any(|d| d.probabilitiesandqps.hostname == hostname)
    })
    .await;
    assert!(computing, "{hostname} computes");
}

/// Whether `service` has settled: it is served a probability within the
/// band, and so were its last two calculations. One calculation in the band
/// is not enough: the bucket after it still holds spans sampled with the
/// previous probability, and the calculation from it overshoots (Jaeger's
/// algorithm, docs/adaptive-sampling.md).
async fn settled(cluster: &Cluster, url: &str, service: &str) -> bool {
    let docs = calculations(cluster).await;
    let last: Vec<f64> = docs
        .iter()
        .filter_map(|d| probability_in(d, service))
        .rev()
        .take(2)
        .collect();
    last.len() == 2
        && last.iter().all(|p| within_band(*p))
        && within_band(served(url, service).await)
}

/// A service's calculations, oldest first, as `probability@measured rate`.
fn calculation_path(docs: &[ProbabilitiesDoc], service: &str) -> String {
    let path: Vec<String> = docs
        .iter()
        .filter_map(|d| {
            let p = probability_in(d, service)?;
            let qps = d.probabilitiesandqps.qps.get(service)?.get(OPERATION)?;
            Some(format!("{p:.4e}@{qps:.1}/s"))
        })
        .collect();
    path.join(" → ")
}

fn probability_in(doc: &ProbabilitiesDoc, service: &str) -> Option<f64> {
    doc.probabilitiesandqps
        .probabilities
        .get(service)?
        .get(OPERATION)
        .copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_sending_five_times_its_target_is_brought_to_it() {
    let (cluster, topic) = sampling_cluster(1).await;
    let mut ingester = start_ingester(&cluster, &topic, "ingester-a");
    let stop = CancellationToken::new();
    let serving = serving_collector(&cluster, &topic).await;
    wait_for_leader(&cluster, "ingester-a").await;
    let services = [
        ("jaeger-client-svc", Tagging::JaegerClient),
        ("otel-go-svc", Tagging::OtelGoJaegerRemote),
        ("otel-threshold-svc", Tagging::TraceStateThreshold),
    ];
    let started = Instant::now();
    for (service, tagging) in services {
        simulate(
            &cluster,
            service,
            tagging,
            serving.url.clone(),
            stop.clone(),
        );
    }
    let mut converged_after = Vec::new();
    for (service, _) in services {
        let converged = wait_until(TIMEOUT, || settled(&cluster, &serving.url, service)).await;
        assert!(
            converged,
            "{service} is served {} after {:?}, want {GOAL} ± 20 %; its calculations: {}",
            served(&serving.url, service).await,
            started.elapsed(),
            calculation_path(&calculations(&cluster).await, service)
        );
        converged_after.push((service, started.elapsed()));
    }
    // It stays near: two more calculations do not swing it away again (a
    // 2 s bucket of 80 spans measures the rate to some ±11 %, so a
    // recalculation may land just outside the band, not far).
    tokio::time::sleep(Duration::from_secs(2 * INTERVAL_SECS)).await;
    let docs = calculations(&cluster).await;
    for (service, _) in services {
        let p = served(&serving.url, service).await;
        assert!(
            (p / GOAL - 1.0).abs() <= 0.5,
            "{service} is served {p} after converging, want {GOAL} ± 50 %; its calculations: {}",
            calculation_path(&docs, service)
        );
    }
    for (service, after) in &converged_after {
        let first_in_band = docs
            .iter()
            .filter_map(|d| probability_in(d, service))
            .position(within_band)
            .map_or(0, |i| i + 1);
        eprintln!(
            "convergence: {service} calculations: {}",
            calculation_path(&docs, service)
        );
        eprintln!(
            "convergence: {service} first within ±20 % of its target at calculation {first_in_band} that knew it, settled after {after:?} ({}s intervals)",
            INTERVAL_SECS
        );
    }
    stop.cancel();
    serving.stop.cancel();
    terminate(&mut ingester).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_and_a_restarted_collector_continue_from_the_stored_state() {
    const SERVICE: &str = "handover-svc";
    let (cluster, topic) = sampling_cluster(2).await;
    let mut ingester_a = start_ingester(&cluster, &topic, "ingester-a");
    let clients = CancellationToken::new();
    let collector_a = serving_collector(&cluster, &topic).await;
    wait_for_leader(&cluster, "ingester-a").await;
    simulate(
        &cluster,
        SERVICE,
        Tagging::JaegerClient,
        collector_a.url.clone(),
        clients.clone(),
    );
    let converged = wait_until(TIMEOUT, || async {
        within_band(served(&collector_a.url, SERVICE).await)
    })
    .await;
    assert!(
        converged,
        "served {}",
        served(&collector_a.url, SERVICE).await
    );
    // A's calculations are stored; then A stops and nothing is published.
    let stored = wait_until(TIMEOUT, || async {
        calculations(&cluster)
            .await
            .last()
            .and_then(|d| probability_in(d, SERVICE))
            .is_some_and(within_band)
    })
    .await;
    assert!(stored, "A stored a calculation within the band");
    // The client pauses while no ingester runs: what it sent meanwhile would
    // reach B in one burst. A stores what was in flight, then stops.
    clients.cancel();
    tokio::time::sleep(Duration::from_secs(INTERVAL_SECS)).await;
    terminate(&mut ingester_a).await;
    let stored = calculations(&cluster).await;
    let last_stored = stored
        .last()
        .and_then(|d| probability_in(d, SERVICE))
        .expect("A's last calculation has the service");
    // (Raised from the band, since its last bucket saw the client pause.)

    // A restarted collector serves the stored probabilities while no
    // ingester runs: from the topic, not from a new calculation.
    collector_a.stop.cancel();
    let restarted = serving_collector(&cluster, &topic).await;
    let served_at_once = wait_until(Duration::from_secs(30), || async {
        served(&restarted.url, SERVICE).await == last_stored
    })
    .await;
    assert!(
        served_at_once,
        "the restarted collector serves {}, the stored calculation says {last_stored}",
        served(&restarted.url, SERVICE).await
    );

    // B takes partition 0 over and continues from A's stored probability
    // (a fresh start would have kept or scaled the initial 0.001), then
    // keeps regulating the service once it sends again.
    let mut ingester_b = start_ingester(&cluster, &topic, "ingester-b");
    wait_for_leader(&cluster, "ingester-b").await;
    let of_b = |docs: Vec<ProbabilitiesDoc>| -> Vec<f64> {
        docs.iter()
            .filter(|d| d.probabilitiesandqps.hostname == "ingester-b")
            .filter_map(|d| probability_in(d, SERVICE))
            .collect()
    };
    let first = of_b(calculations(&cluster).await)[0];
    assert_eq!(
        first, last_stored,
        "B's first calculation continues from A's last stored one"
    );
    let clients = CancellationToken::new();
    simulate(
        &cluster,
        SERVICE,
        Tagging::JaegerClient,
        restarted.url.clone(),
        clients.clone(),
    );
    let regulating = wait_until(TIMEOUT, || async {
        let b = of_b(calculations(&cluster).await);
        b.len() >= 4 && within_band(b[b.len() - 1])
    })
    .await;
    assert!(
        regulating,
        "B's calculations with traffic: {:?}",
        of_b(calculations(&cluster).await)
    );
    clients.cancel();
    restarted.stop.cancel();
    terminate(&mut ingester_b).await;
}
