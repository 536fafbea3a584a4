//! `--grpc-max-connection-age` and `--http-max-connection-age` against a
//! real collector, real clients and tansu. gRPC: a client sending continuously over one `Channel` for
//! several connection ages is sent GOAWAY at each age, reconnects on its
//! own, and loses nothing: every call is answered OK (after a retry of
//! CANCELLED / UNAVAILABLE, as OTLP exporters do) and every trace it sent is
//! in the topic. A call still running `--grpc-max-connection-age-grace`
//! after the age is cut off with its connection. HTTP/1.1: a pooling client
//! (hyper's, as reqwest uses) is told `Connection: close` on the first
//! response past the age, so it opens new connections and no request fails.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{parse_metrics, sample, unique_name, Tansu};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use support::{start_collector, topic_keys, unread_metrics};

/// Each client task sends for this long: a little over three ages.
const SENDING: Duration = Duration::from_millis(3_500);
const TASKS: usize = 4;

/// The test binary's Prometheus recorder. The other test here ages one
/// connection too, so the count below asks for more than one.
fn recorder() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the test binary's recorder")
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_clients_reconnect_at_the_max_connection_age_and_lose_nothing() {
    let recorder = recorder();
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("aged");
    tansu.create_topic(&topic, 3).await.expect("topic created");
    let collector = start_collector(
        &tansu.brokers(),
        &topic,
        &[
            "--grpc-max-connection-age=1s",
            // Long enough that a call in flight at the age always finishes,
            // even on a loaded machine: the connection closes as soon as its
            // calls are done, so the grace only bounds a stalled one (next test).
            "--grpc-max-connection-age-grace=10s",
        ],
        recorder.clone(),
    )
    .await;

    // One Channel whose connector counts the TCP connections it opens.
    let connects = Arc::new(AtomicUsize::new(0));
    let addr = collector.grpc;
    let channel = tonic::transport::Endpoint::from_shared(collector.grpc_url())
        .expect("endpoint")
        .connect_with_connector(counting_connector(addr, connects.clone()))
        .await
        .expect("connects");

    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let mut client = TraceServiceClient::new(channel.clone());
        senders.spawn(async move {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(task as u64);
            let mut sent = Vec::new();
            let mut retries = 0;
            while started.elapsed() < SENDING {
                let request =
                    generator::request(&mut rng, 2, Shape::default(), 1_795_651_200_000_000_000);
                // As OTLP exporters do: retry CANCELLED and UNAVAILABLE. A
                // tonic client hands a call to a connection that is closing
                // and gets CANCELLED; grpc-go retries such calls by itself.
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match client.export(request.clone()).await {
                        Ok(_) => break,
                        Err(status) if attempts < 5 && refused_by_closing(&status) => retries += 1,
                        Err(status) => panic!(
                            "task {task}: a call failed after {:?} ({attempts} attempts): {status}",
                            started.elapsed()
                        ),
                    }
                }
                sent.extend(trace_ids(&request));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (sent, retries)
        });
    }
    let mut sent = HashSet::new();
    let mut retries = 0;
    while let Some(task) = senders.join_next().await {
        let (traces, retried) = task.expect("sender task");
        sent.extend(traces);
        retries += retried;
    }
    let traces = sent.len();
    assert!(traces > 100, "only {traces} traces sent");

    let metrics = parse_metrics(&recorder.render());
    let aged = sample(
        &metrics,
        r#"ferrotrace_collector_connections_aged_total{receiver="otlp_grpc"}"#,
    );
    let connections = connects.load(Ordering::SeqCst);
    eprintln!("{traces} traces, {connections} connections, {aged} aged, {retries} calls retried");
    assert!(aged >= 2.0, "connections aged: {aged}");
    assert!(
        connections >= 3,
        "the client opened {connections} connections in {SENDING:?} with a 1s max age"
    );

    // Every acknowledged trace is in the topic (one record per trace).
    let stored = topic_keys(&tansu.brokers(), &topic, traces).await;
    let missing = sent
        .iter()
        .filter(|id| !stored.contains(&hex::encode(id)))
        .count();
    assert_eq!(
        missing, 0,
        "{missing} of {traces} acknowledged traces not in the topic"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_running_after_the_grace_is_cut_off() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("grace");
    tansu.create_topic(&topic, 1).await.expect("topic created");
    let collector = start_collector(
        &tansu.brokers(),
        &topic,
        &[
            "--grpc-max-connection-age=1s",
            "--grpc-max-connection-age-grace=1s",
            // Longer than the test: only the grace can end the call.
            "--read-timeout=60s",
        ],
        unread_metrics(),
    )
    .await;
    // An Export call whose body never ends, on a raw HTTP/2 connection.
    let tcp = tokio::net::TcpStream::connect(collector.grpc)
        .await
        .expect("connects");
    let started = Instant::now();
    let (h2, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    let connection = tokio::spawn(connection);
    let mut h2 = h2.ready().await.expect("h2 ready");
    let call = http::Request::post(format!(
        "{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        collector.grpc_url()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .expect("request");
    let (response, mut stream) = h2.send_request(call, false).expect("call opened");
    // The header of a 100-byte message, and no message.
    stream
        .send_data(Bytes::from_static(&[0, 0, 0, 0, 100]), false)
        .expect("frame header sent");
    let closed = tokio::time::timeout(Duration::from_secs(10), connection).await;
    let lived = started.elapsed();
    assert!(closed.is_ok(), "the connection outlived age and grace");
    // Age (1s ±10%) + grace (1s).
    assert!(
        lived >= Duration::from_millis(1_850),
        "closed after {lived:?}, before its age and grace"
    );
    assert!(response.await.is_err(), "the unfinished call got an answer");
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_clients_are_told_to_reconnect_at_the_max_connection_age_and_no_request_fails() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use prost::Message;

    let recorder = recorder();
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("aged-http");
    tansu.create_topic(&topic, 3).await.expect("topic created");
    let collector = start_collector(
        &tansu.brokers(),
        &topic,
        &[
            "--http-max-connection-age=1s",
            // Never reached: the clients keep their connections busy.
            "--http-max-connection-age-grace=10s",
        ],
        recorder.clone(),
    )
    .await;
    // A keep-alive pool whose connector counts the TCP connections it opens.
    let connects = Arc::new(AtomicUsize::new(0));
    let addr = collector.http;
    let connector = counting_connector(addr, connects.clone());
    let client: Client<_, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let url = format!("{}/v1/traces", collector.http_url());

    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (client, url) = (client.clone(), url.clone());
        senders.spawn(async move {
            let mut rng =
                <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(100 + task as u64);
            let mut sent = Vec::new();
            while started.elapsed() < SENDING {
                let request =
                    generator::request(&mut rng, 2, Shape::default(), 1_795_651_200_000_000_000);
                let post = http::Request::post(&url)
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(Bytes::from(request.encode_to_vec())))
                    .expect("request");
                // No retries: a Connection: close response leaves no race.
                let response = client.request(post).await.unwrap_or_else(|e| {
                    panic!(
                        "task {task}: a request failed after {:?}: {e:?}",
                        started.elapsed()
                    )
                });
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert_eq!(status, 200, "task {task}: {body:?}");
                sent.extend(trace_ids(&request));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        });
    }
    let mut sent = HashSet::new();
    while let Some(task) = senders.join_next().await {
        sent.extend(task.expect("sender task"));
    }
    let traces = sent.len();
    assert!(traces > 100, "only {traces} traces sent");

    let metrics = parse_metrics(&recorder.render());
    let aged = sample(
        &metrics,
        r#"ferrotrace_collector_connections_aged_total{receiver="otlp_http"}"#,
    );
    let connections = connects.load(Ordering::SeqCst);
    eprintln!("{traces} traces, {connections} connections, {aged} aged");
    // Each task's connection is replaced about every second: without the
    // age, the pool keeps its first TASKS connections for the whole run.
    assert!(aged >= TASKS as f64, "connections aged: {aged}");
    assert!(
        connections >= 2 * TASKS,
        "the pool opened {connections} connections in {SENDING:?} with a 1s max age"
    );
    let stored = topic_keys(&tansu.brokers(), &topic, traces).await;
    let missing = sent
        .iter()
        .filter(|id| !stored.contains(&hex::encode(id)))
        .count();
    assert_eq!(
        missing, 0,
        "{missing} of {traces} acknowledged traces not in the topic"
    );
    collector.stop().await;
}

/// A call the client handed to a connection the server was closing: it never
/// reached the server, so it is safe to send again. gRPC-Go and gRPC-Java
/// retry these by themselves; tonic reports them as `CANCELLED`,
/// `UNAVAILABLE`, or `INTERNAL` carrying the server's `GoAway(NO_ERROR)`.
/// A TCP connection as hyper and tonic take it, and one being opened.
type Io = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
type Connecting = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Io>> + Send>>;

/// A connector to `addr` that counts, in `connects`, the TCP connections
/// it opens: for tonic's `Endpoint` and hyper's pooling client alike.
fn counting_connector(
    addr: std::net::SocketAddr,
    connects: Arc<AtomicUsize>,
) -> impl tower::Service<http::Uri, Response = Io, Error = std::io::Error, Future = Connecting> + Clone
{
    tower::service_fn(move |_: http::Uri| -> Connecting {
        connects.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    })
}

/// The trace IDs of every span in `request`.
fn trace_ids(request: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.trace_id.clone())
        .collect()
}

fn refused_by_closing(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Cancelled | tonic::Code::Unavailable => true,
        tonic::Code::Internal => format!("{status:?}").contains("GoAway(b\"\", NO_ERROR, Remote)"),
        _ => false,
    }
}
