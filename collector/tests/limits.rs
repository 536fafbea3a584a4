//! Limits a hostile or broken client cannot get past, against a real
//! collector and tansu:
//! - a gzip bomb (a small compressed body that inflates far past
//!   `--max-request-bytes`) is refused with the limit error on OTLP/HTTP and
//!   OTLP/gRPC, counted, and never inflated past the limit: the collector's
//!   resident memory stays far below the bomb's inflated size;
//! - a request with more spans than `--max-spans-per-request` is refused
//!   whole, with a message saying so, and counted;
//! - a connection beyond `--max-connections` is answered HTTP 503 / gRPC
//!   `UNAVAILABLE` (retryable) and counted, and its slot is free again once
//!   a held connection closes; a gRPC receiver advertises
//!   `--grpc-max-concurrent-streams` in its HTTP/2 settings;
//! - a connection on which nothing moves for `--idle-timeout` is closed,
//!   counted, and its slot serves the next client;
//! - request bodies take their bytes from `--max-inflight-bytes` while they
//!   are being read: with one big body half sent, a second request that
//!   does not fit is refused (HTTP 429 / gRPC `RESOURCE_EXHAUSTED`, both
//!   retryable) before its body is buffered, and the budget comes back when
//!   the first one ends;
//! - a client trickling its request (headers, body, a gRPC message) is cut
//!   off after `--read-timeout`: HTTP 408 / gRPC `DEADLINE_EXCEEDED`, counted.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use ferrotrace_collector::receivers::grpc_raw::RawCodec;
use ferrotrace_common::testkit::{free_port, sample, scrape_metrics, unique_name, Tansu};
use ferrotrace_loadtest::generator::{self, Shape};
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::process::{Child, Command};

/// The bomb inflates to 256 MiB; the limit is 1 MiB.
const INFLATED: usize = 256 << 20;
const LIMIT: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bombs_are_refused_at_the_limit_on_http_and_grpc() {
    let mut limited = Limited::start("bombs", &[]).await;
    let (grpc, http, admin) = (limited.grpc, limited.http, limited.admin);
    let pid = limited.collector.id().expect("collector pid");

    // OTLP/HTTP: 413 with the limit in the message.
    let bomb = gzip_of_zeros(INFLATED);
    assert!(bomb.len() < 2 << 20, "the bomb is small on the wire");
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .expect("HTTP answer");
    assert_eq!(response.status(), 413);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains(&LIMIT.to_string()), "{text}");

    // OTLP/gRPC: the client compresses 256 MiB of zeros into a small frame.
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects");
    let mut client =
        tonic::client::Grpc::new(channel).send_compressed(tonic::codec::CompressionEncoding::Gzip);
    client.ready().await.expect("gRPC ready");
    let status = client
        .unary::<Bytes, Bytes, _>(
            tonic::Request::new(Bytes::from(vec![0u8; INFLATED])),
            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
            RawCodec,
        )
        .await
        .expect_err("a gzip bomb is refused");
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains(&LIMIT.to_string()),
        "{}",
        status.message()
    );

    // Both refusals are counted, and the collector never held the inflated body.
    let metrics = scrape_metrics(admin).await;
    for receiver in ["otlp_http", "otlp_grpc"] {
        let refused = sample(
            &metrics,
            &format!(
                r#"ferrotrace_collector_requests_total{{receiver="{receiver}",result="too_large"}}"#
            ),
        );
        assert_eq!(refused, 1.0, "{receiver}: {metrics:?}");
    }
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .expect("collector's peak RSS");
    assert!(
        peak_rss_kib * 1024 < INFLATED / 4,
        "peak RSS {peak_rss_kib} KiB: the bomb was inflated"
    );
    limited.collector.kill().await.ok();
}

/// tansu and a collector process with the receivers' limits set by `env`,
/// listening (all its listeners are bound once the admin port answers).
struct Limited {
    collector: Child,
    grpc: u16,
    http: u16,
    admin: u16,
    _tansu: Tansu,
}

impl Limited {
    async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let tansu = Tansu::start().await.expect("tansu starts");
        let topic = unique_name(name);
        tansu.create_topic(&topic, 1).await.expect("topic created");
        let (grpc, http, admin) = (free_port(), free_port(), free_port());
        let listen = |port: u16| format!("127.0.0.1:{port}");
        let collector = Command::new(env!("CARGO_BIN_EXE_ferrotrace-collector"))
            .env("FERROTRACE_KAFKA_BROKERS", tansu.brokers())
            .env("FERROTRACE_KAFKA_TOPIC", &topic)
            .env("FERROTRACE_MAX_REQUEST_BYTES", LIMIT.to_string())
            .env("FERROTRACE_OTLP_GRPC_LISTEN", listen(grpc))
            .env("FERROTRACE_OTLP_HTTP_LISTEN", listen(http))
            .env("FERROTRACE_JAEGER_COMPACT_LISTEN", "")
            .env("FERROTRACE_JAEGER_BINARY_LISTEN", "")
            .env("FERROTRACE_JAEGER_HTTP_LISTEN", "")
            .env("FERROTRACE_JAEGER_GRPC_LISTEN", "")
            .env("FERROTRACE_ZIPKIN_LISTEN", "")
            .env("FERROTRACE_SAMPLING_HTTP_LISTEN", "")
            .env("FERROTRACE_ADMIN_LISTEN", listen(admin))
            // Test spans carry fixed dates.
            .env("FERROTRACE_MAX_SPAN_AGE", "876000h")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("collector starts");
        // Waits on the admin port, so the wait takes no receiver connection slot.
        let started = ferrotrace_common::testkit::wait_until(Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", admin))
                .await
                .is_ok()
        })
        .await;
        assert!(started, "the collector listens");
        Self {
            collector,
            grpc,
            http,
            admin,
            _tansu: tansu,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_spans_per_request_are_refused_whole() {
    let limited =
        Limited::start("spans-limit", &[("FERROTRACE_MAX_SPANS_PER_REQUEST", "50")]).await;
    let (http, admin) = (limited.http, limited.admin);
    let post = |traces: usize| async move {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(traces as u64);
        let shape = Shape {
            spans_per_trace: 10,
            ..Default::default()
        };
        let request = generator::request(&mut rng, traces, shape, 1_795_651_200_000_000_000);
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(prost::Message::encode_to_vec(&request))
            .send()
            .await
            .expect("HTTP answer");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };
    let (status, text) = post(6).await;
    assert_eq!(status, 413, "60 spans over a limit of 50: {text}");
    assert!(
        text.contains("60 spans") && text.contains("--max-spans-per-request 50"),
        "{text}"
    );
    let (status, text) = post(5).await;
    assert_eq!(status, 200, "50 spans are within the limit: {text}");
    let metrics = scrape_metrics(admin).await;
    let series = |result: &str| {
        sample(
            &metrics,
            &format!(
                r#"ferrotrace_collector_requests_total{{receiver="otlp_http",result="{result}"}}"#
            ),
        )
    };
    assert_eq!(series("too_large"), 1.0, "{metrics:?}");
    assert_eq!(series("ok"), 1.0, "{metrics:?}");
}

fn gzip_of_zeros(len: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..len / chunk.len() {
        encoder.write_all(&chunk).expect("gzip in memory");
    }
    encoder.finish().expect("gzip in memory")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_a_retryable_refusal() {
    let limited = Limited::start(
        "conn-limit",
        &[
            ("FERROTRACE_MAX_CONNECTIONS", "2"),
            ("FERROTRACE_GRPC_MAX_CONCURRENT_STREAMS", "7"),
        ],
    )
    .await;
    let (grpc, http, admin) = (limited.grpc, limited.http, limited.admin);
    let metric = |name: &'static str, receiver: &'static str| async move {
        sample(
            &scrape_metrics(admin).await,
            &format!(r#"{name}{{receiver="{receiver}"}}"#),
        )
    };
    let open_connections = |receiver, expected: f64| async move {
        let reached = ferrotrace_common::testkit::wait_until(Duration::from_secs(20), || async {
            metric("ferrotrace_collector_connections", receiver).await == expected
        })
        .await;
        assert!(reached, "{receiver}: expected {expected} open connections");
    };
    let refused = |receiver| metric("ferrotrace_collector_connections_refused_total", receiver);
    let hold = |port: u16| async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects")
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let request = generator::request(&mut rng, 2, Shape::default(), 1_795_651_200_000_000_000);
    let body = prost::Message::encode_to_vec(&request);
    let post = || {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
    };

    // OTLP/HTTP: two idle connections take both slots; a third is refused.
    let mut held = vec![hold(http).await, hold(http).await];
    open_connections("otlp_http", 2.0).await;
    let response = post().await.expect("an answer, not a reset");
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let text = response.text().await.unwrap_or_default();
    assert!(
        text.contains("--max-connections") && text.contains("limit of 2"),
        "{text}"
    );
    assert_eq!(refused("otlp_http").await, 1.0);
    // A held connection closes: its slot serves the next client.
    held.pop();
    open_connections("otlp_http", 1.0).await;
    let response = post().await.expect("HTTP answer");
    assert_eq!(response.status(), 200);
    drop(held);

    // OTLP/gRPC: the same, answered UNAVAILABLE.
    let held = vec![hold(grpc).await, hold(grpc).await];
    open_connections("otlp_grpc", 2.0).await;
    let export = || async {
        let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects");
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.expect("gRPC ready");
        client
            .unary::<Bytes, Bytes, _>(
                tonic::Request::new(Bytes::from(body.clone())),
                tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
                RawCodec,
            )
            .await
    };
    let status = export().await.expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("--max-connections"),
        "{}",
        status.message()
    );
    assert_eq!(refused("otlp_grpc").await, 1.0);
    drop(held);
    open_connections("otlp_grpc", 0.0).await;
    export().await.expect("within the limit again");

    // The stream limit is what the receiver advertises to HTTP/2 clients.
    let (h2, response, mut stream) = export_stream(grpc).await;
    // An empty export request: the 5-byte gRPC frame header of a 0-byte message.
    stream
        .send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .expect("body sent");
    let response = response.await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(h2.current_max_send_streams(), 7);
}

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A raw HTTP/2 connection to a gRPC receiver with one `Export` call opened,
/// its body to be sent by the test (the client, the answer, the body).
async fn export_stream(
    grpc: u16,
) -> (
    h2::client::SendRequest<Bytes>,
    h2::client::ResponseFuture,
    h2::SendStream<Bytes>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", grpc))
        .await
        .expect("connects");
    let (h2, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.expect("h2 ready");
    let call = http::Request::post(format!("http://127.0.0.1:{grpc}{EXPORT_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, stream) = h2.send_request(call, false).expect("request sent");
    (h2, response, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_free_their_slot() {
    let limited = Limited::start(
        "idle",
        &[
            ("FERROTRACE_MAX_CONNECTIONS", "1"),
            ("FERROTRACE_IDLE_TIMEOUT", "1s"),
        ],
    )
    .await;
    let (grpc, http, admin) = (limited.grpc, limited.http, limited.admin);
    // A client that connects and never sends, on each protocol: the server
    // closes it (end of stream, or a reset) well within the wait.
    for port in [http, grpc] {
        let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects");
        let started = std::time::Instant::now();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match tokio::io::AsyncReadExt::read(&mut silent, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    // The gRPC receiver's HTTP/2 settings frame, sent first.
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "port {port}: idle connection still open");
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "port {port}: closed after {:?}, before the idle timeout",
            started.elapsed()
        );
    }
    let metrics = scrape_metrics(admin).await;
    for receiver in ["otlp_http", "otlp_grpc"] {
        let series = format!(
            r#"ferrotrace_collector_connections_idle_closed_total{{receiver="{receiver}"}}"#
        );
        assert_eq!(sample(&metrics, &series), 1.0, "{receiver}: {metrics:?}");
    }
    // The only slot is free again.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let request = generator::request(&mut rng, 1, Shape::default(), 1_795_651_200_000_000_000);
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .expect("HTTP answer");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_being_read_count_against_the_inflight_budget() {
    const BUDGET: usize = 4 << 20;
    const BIG: usize = 3 << 20;
    let limited = Limited::start(
        "budget",
        &[
            ("FERROTRACE_MAX_INFLIGHT_BYTES", &BUDGET.to_string()),
            ("FERROTRACE_MAX_REQUEST_BYTES", &(BIG + 1024).to_string()),
        ],
    )
    .await;
    let (grpc, http, admin) = (limited.grpc, limited.http, limited.admin);
    let inflight_reaches = |at_least: usize| async move {
        let reached = ferrotrace_common::testkit::wait_until(Duration::from_secs(20), || async {
            sample(
                &scrape_metrics(admin).await,
                "ferrotrace_collector_inflight_bytes",
            ) >= at_least as f64
        })
        .await;
        assert!(reached, "in-flight bytes never reached {at_least}");
    };
    let inflight_is_zero = || async move {
        let zero = ferrotrace_common::testkit::wait_until(Duration::from_secs(20), || async {
            sample(
                &scrape_metrics(admin).await,
                "ferrotrace_collector_inflight_bytes",
            ) == 0.0
        })
        .await;
        assert!(zero, "the budget did not come back");
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(11);
    let small = prost::Message::encode_to_vec(&generator::request(
        &mut rng,
        2,
        Shape::default(),
        1_795_651_200_000_000_000,
    ));
    let post = |body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
    };

    // OTLP/HTTP: a 3 MiB body, all but its last byte sent, holds 3 MiB.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", http))
        .await
        .expect("connects");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {BIG}\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, &vec![0xffu8; BIG - 1])
        .await
        .unwrap();
    inflight_reaches(BIG - 1).await;
    let refused = post(vec![0u8; 2 << 20]).await.expect("an answer");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // The held body ends (it is no protobuf): the budget comes back.
    tokio::io::AsyncWriteExt::write_all(&mut slow, &[0xff])
        .await
        .unwrap();
    inflight_is_zero().await;
    assert_eq!(post(small.clone()).await.expect("an answer").status(), 200);

    // OTLP/gRPC: the same with a message half sent on an HTTP/2 stream.
    let (h2, response, mut stream) = export_stream(grpc).await;
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(BIG as u32).to_be_bytes());
    frame.resize(5 + BIG - 1, 0);
    stream.reserve_capacity(frame.len());
    stream
        .send_data(Bytes::from(frame), false)
        .expect("body sent");
    inflight_reaches(BIG - 1).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("gRPC ready");
    let status = client
        .unary::<Bytes, Bytes, _>(
            tonic::Request::new(Bytes::from(vec![0u8; 2 << 20])),
            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
            RawCodec,
        )
        .await
        .expect_err("over the budget");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        tonic_types::StatusExt::get_details_retry_info(&status).is_some(),
        "RetryInfo tells SDKs to retry: {status:?}"
    );
    // The half-sent call is cancelled (RST_STREAM): its budget comes back.
    drop((response, stream, h2));
    inflight_is_zero().await;

    // A gzip message takes --max-request-bytes before tonic inflates it, and
    // gives back what it did not need: a small one passes while the budget
    // is free, and is refused while a held body leaves less than that.
    let export_small = |compressed: bool| {
        let small = small.clone();
        async move {
            let channel =
                tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
                    .unwrap()
                    .connect()
                    .await
                    .expect("gRPC connects");
            let mut client = tonic::client::Grpc::new(channel);
            if compressed {
                client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            client.ready().await.expect("gRPC ready");
            client
                .unary::<Bytes, Bytes, _>(
                    tonic::Request::new(Bytes::from(small)),
                    tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
                    RawCodec,
                )
                .await
        }
    };
    export_small(true)
        .await
        .expect("a gzip call with the budget free");
    inflight_is_zero().await;
    let (h2, response, mut stream) = export_stream(grpc).await;
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(BIG as u32).to_be_bytes());
    frame.resize(5 + BIG - 1, 0);
    stream.reserve_capacity(frame.len());
    stream
        .send_data(Bytes::from(frame), false)
        .expect("body sent");
    inflight_reaches(BIG - 1).await;
    export_small(false)
        .await
        .expect("a small uncompressed call fits what is left");
    let status = export_small(true)
        .await
        .expect_err("a gzip call's allowance does not fit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    drop((response, stream, h2));
    inflight_is_zero().await;

    let metrics = scrape_metrics(admin).await;
    for (receiver, refused) in [("otlp_http", 1.0), ("otlp_grpc", 2.0)] {
        let series = format!(
            r#"ferrotrace_collector_requests_total{{receiver="{receiver}",result="exhausted"}}"#
        );
        assert_eq!(
            sample(&metrics, &series),
            refused,
            "{receiver}: {metrics:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_trickled_slower_than_the_read_timeout_are_cut_off() {
    let limited = Limited::start("read-timeout", &[("FERROTRACE_READ_TIMEOUT", "1s")]).await;
    let (grpc, http, admin) = (limited.grpc, limited.http, limited.admin);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Sends `first`, then one more byte of `rest` every 200 ms (well within the
    // idle timeout), and returns what the server answered before closing.
    let trickle = |first: &'static [u8], rest: &'static [u8]| async move {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", http))
            .await
            .expect("connects");
        tcp.write_all(first).await.unwrap();
        let (mut read, mut write) = tcp.into_split();
        let writer = tokio::spawn(async move {
            for byte in rest {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if write.write_all(&[*byte]).await.is_err() {
                    return;
                }
            }
        });
        let mut answer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut answer)).await;
        writer.abort();
        assert!(closed.is_ok(), "the connection was not cut off");
        String::from_utf8_lossy(&answer).into_owned()
    };
    let slow = &[b'x'; 200];
    // Headers that never end: hyper closes the connection.
    let answer = trickle(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n", slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // Headers sent, a body trickled: 408 with the limit named.
    let answer = trickle(
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 200\r\n\r\n",
        slow,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--read-timeout"), "{answer}");

    // gRPC: a message that never completes is answered DEADLINE_EXCEEDED.
    let (_h2, response, mut stream) = export_stream(grpc).await;
    stream
        .send_data(Bytes::from_static(&[0, 0, 0, 1, 0, 7]), false)
        .expect("part of a message sent");
    let response = tokio::time::timeout(Duration::from_secs(20), response)
        .await
        .expect("answered")
        .expect("response");
    let status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("4"), "{response:?}");
    drop(stream);

    let metrics = scrape_metrics(admin).await;
    for receiver in ["otlp_http", "otlp_grpc"] {
        let series = format!(
            r#"ferrotrace_collector_requests_total{{receiver="{receiver}",result="timeout"}}"#
        );
        assert_eq!(sample(&metrics, &series), 1.0, "{receiver}: {metrics:?}");
    }
}
