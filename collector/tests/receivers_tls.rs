//! The TCP receivers behind TLS, mTLS and bearer tokens, against real
//! connections and a real Kafka-compatible broker (tansu): what a client with
//! the right credentials gets through to the topic, what a client without
//! them is refused, and that a rotated certificate reaches new connections
//! without a restart.

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferrotrace_loadtest::generator::{self, Shape};
use ferrotrace_testkit::{parse_metrics, sample, unique_name, Tansu, TestPki};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use support::{start_collector, topic_keys};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// One Prometheus recorder for the whole test binary: tests run in parallel,
/// so counters are asserted as increases, per receiver.
fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the test binary's recorder")
        })
        .clone()
}

fn counter(series: &str) -> f64 {
    sample(&parse_metrics(&recorder().render()), series)
}

/// A server identity: the certificate files of a PKI of its own, so its CA
/// is not the one that signs the test's client certificates.
struct ServerIdentity {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// Owns the files.
    _pki: TestPki,
}

fn server_identity() -> ServerIdentity {
    let pki = TestPki::generate().unwrap();
    ServerIdentity {
        ca: pki.ca_pem().to_owned(),
        cert: pki.server_cert_pem().to_owned(),
        key: pki.server_key_pem().to_owned(),
        _pki: pki,
    }
}

fn tls_flags(server: &ServerIdentity) -> Vec<String> {
    vec![
        format!("--tls-cert-file={}", server.cert.display()),
        format!("--tls-key-file={}", server.key.display()),
    ]
}

fn request(traces: usize) -> ExportTraceServiceRequest {
    generator::request(
        &mut rand::rng(),
        traces,
        Shape {
            spans_per_trace: 2,
            ..Default::default()
        },
        1_764_115_200_000_000_000,
    )
}

/// The hex trace IDs of a request, as the collector keys Kafka messages.
fn trace_keys(request: &ExportTraceServiceRequest) -> std::collections::BTreeSet<String> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| hex::encode(&s.trace_id))
        .collect()
}

fn client_tls(ca: &std::path::Path) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()))
        .domain_name("localhost")
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

/// Exports over a fresh connection; `Err` with a description for any failure.
async fn export_over(
    addr: std::net::SocketAddr,
    tls: ClientTlsConfig,
    request: ExportTraceServiceRequest,
) -> Result<(), String> {
    let channel = tls_channel(addr, tls).await.map_err(|e| format!("{e:?}"))?;
    TraceServiceClient::new(channel)
        .export(request)
        .await
        .map(|_| ())
        .map_err(|status| format!("{status:?}"))
}

fn https_client(ca: &std::path::Path, addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap())
        .resolve("localhost", addr)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_over_tls_reach_kafka_and_plaintext_is_refused() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("tls");
    tansu.create_topic(&topic, 2).await.expect("topic");
    let pki = TestPki::generate().unwrap();
    let server = server_identity();
    let collector =
        start_collector(&tansu.brokers(), &topic, &tls_flags(&server), recorder()).await;
    let failures_before =
        counter(r#"ferrotrace_collector_tls_handshake_failures_total{receiver="otlp_grpc"}"#);

    let over_grpc = request(3);
    export_over(collector.grpc, client_tls(&server.ca), over_grpc.clone())
        .await
        .expect("TLS gRPC export accepted");

    let over_http = request(2);
    let response = https_client(&server.ca, collector.http)
        .post(format!(
            "https://localhost:{}/v1/traces",
            collector.http.port()
        ))
        .header("content-type", "application/x-protobuf")
        .body(over_http.encode_to_vec())
        .send()
        .await
        .expect("TLS HTTP request");
    assert_eq!(response.status(), 200, "OTLP/HTTP over TLS accepted");

    // A client that does not trust the server's CA does not get through.
    assert!(
        export_over(collector.grpc, client_tls(pki.ca_pem()), request(1))
            .await
            .is_err(),
        "a server certificate from another CA is refused by the client"
    );

    // Plaintext on a TLS port: no answer but a failed handshake.
    let plaintext = async {
        let mut client = TraceServiceClient::connect(format!("http://{}", collector.grpc))
            .await
            .map_err(|e| e.to_string())?;
        client.export(request(1)).await.map_err(|e| e.to_string())
    };
    let plaintext = tokio::time::timeout(Duration::from_secs(10), plaintext)
        .await
        .expect("plaintext client answered in time");
    assert!(plaintext.is_err(), "plaintext gRPC refused");
    let plain_http = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", collector.http))
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain_http.is_err(), "plaintext HTTP refused");
    assert!(
        counter(r#"ferrotrace_collector_tls_handshake_failures_total{receiver="otlp_grpc"}"#)
            > failures_before,
        "failed handshakes are counted"
    );

    let mut expected = trace_keys(&over_grpc);
    expected.extend(trace_keys(&over_http));
    let keys = topic_keys(&tansu.brokers(), &topic, expected.len()).await;
    assert_eq!(
        keys, expected,
        "exactly the TLS clients' traces are in Kafka"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("mtls");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let pki = TestPki::generate().unwrap();
    let server = server_identity();
    let mut flags = tls_flags(&server);
    flags.push(format!("--tls-client-ca-file={}", pki.ca_pem().display()));
    let collector = start_collector(&tansu.brokers(), &topic, &flags, recorder()).await;
    let identity = |cert: &std::path::Path, key: &std::path::Path| {
        Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
    };

    let no_cert = export_over(collector.grpc, client_tls(&server.ca), request(1)).await;
    assert!(no_cert.is_err(), "no client certificate: refused");
    let untrusted = export_over(
        collector.grpc,
        client_tls(&server.ca).identity(identity(
            pki.untrusted_client_cert_pem(),
            pki.untrusted_client_key_pem(),
        )),
        request(1),
    )
    .await;
    assert!(untrusted.is_err(), "certificate from another CA: refused");

    let accepted = request(2);
    export_over(
        collector.grpc,
        client_tls(&server.ca).identity(identity(pki.client_cert_pem(), pki.client_key_pem())),
        accepted.clone(),
    )
    .await
    .expect("client certificate from the CA: accepted");

    // The same over OTLP/HTTP.
    let http = |identity: Option<reqwest::Identity>| {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&server.ca).unwrap()).unwrap(),
            )
            .resolve("localhost", collector.http)
            .no_proxy()
            .timeout(Duration::from_secs(10));
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder.build().unwrap()
    };
    let url = format!("https://localhost:{}/v1/traces", collector.http.port());
    let refused = http(None)
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .send()
        .await;
    assert!(
        refused.is_err(),
        "HTTP without a client certificate: refused"
    );
    let mut pem = std::fs::read(pki.client_cert_pem()).unwrap();
    pem.extend(std::fs::read(pki.client_key_pem()).unwrap());
    let over_http = request(1);
    let response = http(Some(reqwest::Identity::from_pem(&pem).unwrap()))
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(over_http.encode_to_vec())
        .send()
        .await
        .expect("HTTP with a client certificate");
    assert_eq!(response.status(), 200);

    let mut expected = trace_keys(&accepted);
    expected.extend(trace_keys(&over_http));
    let keys = topic_keys(&tansu.brokers(), &topic, expected.len()).await;
    assert_eq!(
        keys, expected,
        "only the authenticated clients' traces are in Kafka"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_reaches_new_connections_and_keeps_old_ones() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("rotate");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let first = server_identity();
    let collector = start_collector(&tansu.brokers(), &topic, &tls_flags(&first), recorder()).await;
    let reloads_before = counter(r#"ferrotrace_collector_tls_reloads_total{result="ok"}"#);

    let established = tls_channel(collector.grpc, client_tls(&first.ca))
        .await
        .expect("connect with the first certificate");
    let mut established = TraceServiceClient::new(established);
    established
        .export(request(1))
        .await
        .expect("export before the rotation");

    // Rotate: the same files now hold a certificate from another CA (key first,
    // so the collector may briefly see a pair that does not fit and keep the old one).
    let second = server_identity();
    std::fs::copy(&second.key, &first.key).unwrap();
    std::fs::copy(&second.cert, &first.cert).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match export_over(collector.grpc, client_tls(&second.ca), request(1)).await {
            Ok(()) => break,
            Err(error) if Instant::now() > deadline => {
                panic!("the new certificate was never served: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(
        export_over(collector.grpc, client_tls(&first.ca), request(1))
            .await
            .is_err(),
        "new connections no longer get the old certificate"
    );
    established
        .export(request(1))
        .await
        .expect("the connection made before the rotation still works");
    assert!(
        counter(r#"ferrotrace_collector_tls_reloads_total{result="ok"}"#) > reloads_before,
        "the reload is counted"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_required_on_grpc_and_http() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("tokens");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let pki = TestPki::generate().unwrap();
    let server = server_identity();
    let tokens = pki
        .dir()
        .write("tokens", "# collectors\nsecret-one\n\nsecret-two\n")
        .unwrap();
    let mut flags = tls_flags(&server);
    flags.push(format!("--auth-bearer-tokens-file={}", tokens.display()));
    let collector = start_collector(&tansu.brokers(), &topic, &flags, recorder()).await;
    let grpc_refused = |reason: &str| {
        counter(&format!(
            r#"ferrotrace_collector_requests_unauthenticated_total{{receiver="otlp_grpc",reason="{reason}"}}"#
        ))
    };
    let http_refused = |reason: &str| {
        counter(&format!(
            r#"ferrotrace_collector_requests_unauthenticated_total{{receiver="otlp_http",reason="{reason}"}}"#
        ))
    };

    let channel = tls_channel(collector.grpc, client_tls(&server.ca))
        .await
        .expect("TLS connect");
    let mut client = TraceServiceClient::new(channel);
    let status = client.export(request(1)).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().contains("missing bearer token"),
        "{status:?}"
    );
    let mut wrong = tonic::Request::new(request(1));
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer secret-three".parse().unwrap());
    let status = client.export(wrong).await.expect_err("wrong token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(grpc_refused("missing"), 1.0);
    assert_eq!(grpc_refused("invalid"), 1.0);

    let accepted_grpc = request(2);
    let mut right = tonic::Request::new(accepted_grpc.clone());
    right
        .metadata_mut()
        .insert("authorization", "Bearer secret-two".parse().unwrap());
    client.export(right).await.expect("right token accepted");

    let http = https_client(&server.ca, collector.http);
    let url = format!("https://localhost:{}/v1/traces", collector.http.port());
    let post = |token: Option<&str>, body: Vec<u8>| {
        let mut builder = http
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(body);
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        builder.send()
    };
    let response = post(None, request(1).encode_to_vec()).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("missing bearer token"));
    let response = post(Some("secret-"), request(1).encode_to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(http_refused("missing"), 1.0);
    assert_eq!(http_refused("invalid"), 1.0);
    let accepted_http = request(1);
    let response = post(Some("secret-one"), accepted_http.encode_to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let mut expected = trace_keys(&accepted_grpc);
    expected.extend(trace_keys(&accepted_http));

    // Rotating the file takes effect without a restart.
    std::fs::write(&tokens, "secret-four\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before_reload = request(1);
        let status = post(Some("secret-one"), before_reload.encode_to_vec())
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        expected.extend(trace_keys(&before_reload));
        assert!(Instant::now() < deadline, "the old token still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted_after = request(1);
    let response = post(Some("secret-four"), accepted_after.encode_to_vec())
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the new token works");

    expected.extend(trace_keys(&accepted_after));
    let keys = topic_keys(&tansu.brokers(), &topic, expected.len()).await;
    assert_eq!(
        keys, expected,
        "exactly the accepted requests' traces are in Kafka"
    );
    collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_and_zipkin_receivers_are_behind_tls_and_tokens_too() {
    let tansu = Tansu::start().await.expect("tansu starts");
    let topic = unique_name("others");
    tansu.create_topic(&topic, 1).await.expect("topic");
    let pki = TestPki::generate().unwrap();
    let server = server_identity();
    let tokens = pki.dir().write("tokens", "right\n").unwrap();
    let mut flags = tls_flags(&server);
    flags.extend([
        format!("--auth-bearer-tokens-file={}", tokens.display()),
        "--jaeger-grpc-listen=127.0.0.1:0".into(),
        "--jaeger-http-listen=127.0.0.1:0".into(),
        "--zipkin-listen=127.0.0.1:0".into(),
    ]);
    let collector = start_collector(&tansu.brokers(), &topic, &flags, recorder()).await;
    let [Some(jaeger_grpc), Some(jaeger_http), Some(zipkin)] = collector.others else {
        panic!("every receiver enabled");
    };

    // Jaeger gRPC: TLS, then the token; an empty PostSpans is fine once authenticated.
    use ferrotrace_format::jaeger::proto as jproto;
    let channel = tls_channel(jaeger_grpc, client_tls(&server.ca))
        .await
        .expect("TLS connect to Jaeger gRPC");
    let post_spans = |token: Option<&'static str>| {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let mut request = tonic::Request::new(jproto::PostSpansRequest::default());
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", token.parse().unwrap());
        }
        async move {
            grpc.ready().await.unwrap();
            grpc.unary::<_, jproto::PostSpansResponse, _>(
                request,
                tonic::codegen::http::uri::PathAndQuery::from_static(jproto::POST_SPANS_PATH),
                tonic_prost::ProstCodec::default(),
            )
            .await
        }
    };
    let status = post_spans(None).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = post_spans(Some("Bearer wrong"))
        .await
        .expect_err("wrong token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    post_spans(Some("Bearer right"))
        .await
        .expect("the right token is accepted");
    // The check comes before routing: an unknown service is refused the same way.
    let status = TraceServiceClient::new(channel.clone())
        .export(request(1))
        .await
        .expect_err("no token, wrong service");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    for (addr, path, content_type) in [
        (jaeger_http, "/api/traces", "application/x-thrift"),
        (zipkin, "/api/v2/spans", "application/json"),
    ] {
        let url = format!("https://localhost:{}{path}", addr.port());
        let https = https_client(&server.ca, addr);
        let response = https
            .post(&url)
            .header("content-type", content_type)
            .body("[]")
            .send()
            .await
            .expect("TLS request");
        assert_eq!(response.status(), 401, "{path} without a token");
        let response = https
            .post(&url)
            .header("content-type", content_type)
            .bearer_auth("right")
            .body("[]")
            .send()
            .await
            .expect("TLS request");
        assert_ne!(response.status(), 401, "{path} with the token");
        let plaintext = reqwest::Client::new()
            .post(format!("http://{addr}{path}"))
            .body("[]")
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(plaintext.is_err(), "{path} refuses plaintext");
    }
    collector.stop().await;
}
