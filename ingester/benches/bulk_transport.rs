//! What one `_bulk` request costs the client, by transport: the ingester's
//! (`EsClient::request`, the `elasticsearch` crate over reqwest), reqwest
//! alone with the URL parsed once, and hyper's pooled client with the URI
//! and headers built once (what `../shared/limits`' `bulk_http` floor uses).
//!
//! A server in this process answers every request as Elasticsearch answers
//! a `_bulk` of 250 documents stored under the ingester's `filter_path`. The
//! client runs alone on its thread (a current-thread runtime, so the
//! connection tasks run there too), and the figure is that thread's CPU per
//! request, user and system apart (`getrusage(RUSAGE_THREAD)`): the kernel's
//! copy of the body is the same for every transport; the user time is what
//! the transport itself costs. The kernel splits a thread's time between
//! user and system by sampling at its clock ticks, so a round needs a
//! second or more for the split to settle (the default 4,000 requests of
//! 450 KiB, the size of the ingester's 250-document bodies). Rounds
//! alternate the transports, so a noisy neighbour costs them alike, and
//! the summary gives each transport's median. Run by `cargo test
//! --all-targets` (without `--bench`), it sends a few requests through each
//! transport, which checks that every one is answered, and measures nothing.
//!
//! ```text
//! cargo bench -p ferrotrace-ingester --bench bulk_transport -- [requests per round] [body KiB]
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferrotrace_ingester::es::bulk::BULK_PATH;
use ferrotrace_ingester::es::client::{EsClient, EsConnection};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::ThreadCpu;

mod support;

/// The allocator the ingester binary runs on.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DOCS: usize = 250;
const NDJSON: &str = "application/x-ndjson";

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // with no argument: then a few requests of one round check that every
    // transport is answered, and measure nothing.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds = if benching { 5 } else { 1 };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let default_requests = if benching { 4000 } else { 5 };
    let requests: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_requests);
    let body_kib: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(450);
    let address = serve();
    let body = Bytes::from(ndjson_body(body_kib << 10));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let base = format!("http://{address}");
    let transports = runtime.block_on(async {
        let es = EsClient::new(&EsConnection::new(
            vec![base.clone()],
            Duration::from_secs(30),
        ))
        .expect("es client");
        let url: reqwest::Url = format!("{base}{BULK_PATH}").parse().expect("url");
        let uri: hyper::Uri = format!("{base}{BULK_PATH}").parse().expect("uri");
        Transports {
            es,
            reqwest: (reqwest::Client::new(), url),
            hyper: (
                hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build(HttpConnector::new()),
                uri,
            ),
        }
    });
    println!(
        "bulk_transport: {requests} requests of {} KiB per transport per round, {rounds} rounds",
        body.len() >> 10
    );
    println!(
        "{:<10} {:>12} {:>12}",
        "transport", "user µs/req", "sys µs/req"
    );
    let kinds = [Kind::Es, Kind::Reqwest, Kind::Hyper];
    let mut user: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut total: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        for (k, &kind) in kinds.iter().enumerate() {
            runtime.block_on(async {
                // Warm-up: connections open, pools and buffers grown.
                for _ in 0..20 {
                    transports.send(kind, &body).await;
                }
                let start = ThreadCpu::now();
                for _ in 0..requests {
                    transports.send(kind, &body).await;
                }
                let spent = ThreadCpu::now().since(start);
                let per = |d: Duration| d.as_secs_f64() * 1e6 / requests as f64;
                user[k].push(per(spent.user));
                total[k].push(per(spent.user + spent.system));
                println!(
                    "{:<10} {:>12.1} {:>12.1}   (round {})",
                    kind.name(),
                    per(spent.user),
                    per(spent.system),
                    round + 1
                );
            });
        }
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for ((kind, user), total) in kinds.into_iter().zip(user).zip(total) {
        println!(
            "{:<10} {:>12.1} {:>12.1}   (medians: user, user + system)",
            kind.name(),
            median(user),
            median(total)
        );
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Es,
    Reqwest,
    Hyper,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Es => "es-client",
            Kind::Reqwest => "reqwest",
            Kind::Hyper => "hyper",
        }
    }
}

struct Transports {
    es: EsClient,
    reqwest: (reqwest::Client, reqwest::Url),
    hyper: (
        hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
        hyper::Uri,
    ),
}

impl Transports {
    /// Sends `body` as a `_bulk` and reads the whole answer; panics on a
    /// failed request (the server answers every one).
    async fn send(&self, kind: Kind, body: &Bytes) -> usize {
        match kind {
            Kind::Es => {
                let (status, answer) = self
                    .es
                    .request(
                        elasticsearch::http::Method::Post,
                        BULK_PATH,
                        NDJSON,
                        Some(body.clone()),
                    )
                    .await
                    .expect("es-client request");
                assert!(status.is_success());
                answer.len()
            }
            Kind::Reqwest => {
                let (client, url) = &self.reqwest;
                let response = client
                    .post(url.clone())
                    .header(CONTENT_TYPE, NDJSON)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("reqwest request");
                assert!(response.status().is_success());
                response.bytes().await.expect("reqwest answer").len()
            }
            Kind::Hyper => {
                let (client, uri) = &self.hyper;
                let mut request = hyper::Request::new(Full::new(body.clone()));
                *request.method_mut() = hyper::Method::POST;
                *request.uri_mut() = uri.clone();
                request
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(NDJSON));
                let response = client.request(request).await.expect("hyper request");
                assert!(response.status().is_success());
                let answer = response.into_body().collect().await.expect("hyper answer");
                answer.to_bytes().len()
            }
        }
    }
}

/// A body of about `bytes` bytes of action and document lines.
fn ndjson_body(bytes: usize) -> Vec<u8> {
    let doc = format!(
        "{{\"index\":{{\"_index\":\"jaeger-span-2026-12-07\"}}}}\n{{\"traceID\":\"{}\",\"tags\":[{}]}}\n",
        "a".repeat(32),
        vec![r#"{"key":"attr.00","type":"string","value":"some value"}"#; 28].join(",")
    );
    doc.repeat(bytes.div_ceil(doc.len())).into_bytes()
}

/// Serves on loopback, on a thread of its own, until the process ends: every
/// request is read whole and answered as a `_bulk` of [`DOCS`] stored
/// documents under the ingester's `filter_path`.
fn serve() -> SocketAddr {
    let items = vec![r#"{"index":{"status":201}}"#; DOCS].join(",");
    let answer = Bytes::from(format!(r#"{{"errors":false,"items":[{items}]}}"#));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let answer = answer.clone();
                            async move {
                                request.into_body().collect().await?;
                                let mut response = hyper::Response::new(Full::new(answer));
                                response.headers_mut().insert(
                                    CONTENT_TYPE,
                                    HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, hyper::Error>(response)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    address
}
