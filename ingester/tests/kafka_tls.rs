//! Kafka over TLS and SASL end to end: the real collector and ingester
//! binaries talk to tansu only through a TLS-terminating proxy (tansu 0.6's
//! own TLS does not work), or log in to tansu with SASL SCRAM, and spans sent
//! over OTLP gRPC must arrive in osmem.
//!
//! tansu advertises the proxy's address, so after the bootstrap connection
//! every broker connection (produce, fetch, group coordinator) goes through
//! TLS too; the proxy's port is bound before tansu starts. The topic is
//! created through the proxy as well, with the same `--kafka-tls-*`
//! translation the binaries use, since tansu's metadata sends any client to
//! the proxy anyway.
//!
//! For SASL, the SCRAM user and the topic are created on a plain tansu, which
//! is then restarted with `--authentication` (tansu 0.6 refuses the requests
//! of an unauthenticated client, `tansu user create` among them, once it does).

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferrotrace_common::kafka_security::KafkaSecurity;
use ferrotrace_common::testkit::{
    create_topic, free_port, unique_name, Osmem, Tansu, TempDir, TestPki, TlsProxy, TlsProxyOptions,
};
use ferrotrace_loadtest::generator::{self, Shape};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use rdkafka::config::ClientConfig;
use support::{send_traces, workspace_binary, AFTER_MIDNIGHT_NS};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// osmem, and tansu reachable only through a TLS proxy.
struct TlsKafka {
    pki: TestPki,
    _tansu: Tansu,
    proxy: TlsProxy,
    pipeline: Pipeline,
}

impl TlsKafka {
    async fn start(require_client_cert: bool) -> Self {
        let pki = TestPki::generate().expect("test PKI");
        let osmem = Osmem::start().await.expect("osmem starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let proxy_addr = listener.local_addr().expect("proxy address");
        let tansu = Tansu::start_advertising(&format!("tcp://{proxy_addr}"))
            .await
            .expect("tansu starts");
        let upstream = tansu.brokers().parse().expect("tansu address");
        let options = TlsProxyOptions {
            require_client_cert,
            ..Default::default()
        };
        let proxy = TlsProxy::start_tcp(listener, upstream, &pki, options)
            .await
            .expect("TLS proxy starts");
        let cluster = Self {
            pki,
            _tansu: tansu,
            proxy,
            pipeline: Pipeline::new(osmem),
        };
        let mut admin = ClientConfig::new();
        admin.set("bootstrap.servers", proxy_addr.to_string());
        cluster
            .security(true)
            .apply(&mut admin)
            .expect("TLS properties");
        create_topic(&admin, &cluster.pipeline.topic, 2)
            .await
            .expect("topic created through TLS");
        cluster
    }

    /// `--kafka-tls-ca-file`, and the client certificate if `client_cert`.
    fn security(&self, client_cert: bool) -> KafkaSecurity {
        KafkaSecurity {
            kafka_tls_ca_file: Some(self.pki.ca_pem().to_owned()),
            kafka_tls_cert_file: client_cert.then(|| self.pki.client_cert_pem().to_owned()),
            kafka_tls_key_file: client_cert.then(|| self.pki.client_key_pem().to_owned()),
            ..Default::default()
        }
    }

    /// The brokers flag and the flags of [`TlsKafka::security`].
    fn kafka_flags(&self, client_cert: bool) -> Vec<String> {
        let mut flags = vec![
            format!("--kafka-brokers={}", self.proxy.addr()),
            flag("--kafka-tls-ca-file", self.pki.ca_pem()),
        ];
        if client_cert {
            flags.push(flag("--kafka-tls-cert-file", self.pki.client_cert_pem()));
            flags.push(flag("--kafka-tls-key-file", self.pki.client_key_pem()));
        }
        flags
    }

    fn collector(&self, client_cert: bool) -> (Child, String) {
        self.pipeline.collector(&self.kafka_flags(client_cert))
    }

    fn ingester(&self, client_cert: bool) -> Child {
        self.pipeline.ingester(&self.kafka_flags(client_cert))
    }

    async fn wait_for(&self, sent: &HashSet<(String, String)>) -> HashSet<(String, String)> {
        self.pipeline.wait_for(sent).await
    }
}

/// osmem, a topic and an index prefix of one test; spawns the binaries.
struct Pipeline {
    osmem: Osmem,
    topic: String,
    prefix: String,
}

impl Pipeline {
    fn new(osmem: Osmem) -> Self {
        Self {
            osmem,
            topic: unique_name("secure-spans"),
            prefix: unique_name("secure"),
        }
    }

    /// The collector binary with only OTLP gRPC on; returns it and the gRPC URL.
    fn collector(&self, kafka_flags: &[String]) -> (Child, String) {
        self.collector_with(kafka_flags, Stdio::inherit())
    }

    /// [`Pipeline::collector`] with its log lines (stdout) going to `log`.
    fn collector_with(&self, kafka_flags: &[String], log: Stdio) -> (Child, String) {
        let binary = workspace_binary("ferrotrace-collector");
        let grpc = format!("127.0.0.1:{}", free_port());
        let child = Command::new(&binary)
            .args(kafka_flags)
            .arg(format!("--kafka-topic={}", self.topic))
            .arg("--kafka-produce-timeout=3s")
            // Test spans start at AFTER_MIDNIGHT_NS, a fixed date.
            .arg("--max-span-age=876000h")
            .arg(format!("--otlp-grpc-listen={grpc}"))
            .args([
                "--otlp-http-listen=",
                "--admin-listen=",
                "--jaeger-compact-listen=",
                "--jaeger-binary-listen=",
                "--jaeger-http-listen=",
                "--jaeger-grpc-listen=",
                "--zipkin-listen=",
                "--sampling-http-listen=",
            ])
            .env(
                "RUST_LOG",
                std::env::var("COLLECTOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()));
        (child, format!("http://{grpc}"))
    }

    fn ingester(&self, kafka_flags: &[String]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_ferrotrace-ingester"))
            .args(kafka_flags)
            .arg(format!("--kafka-topic={}", self.topic))
            .arg(format!("--kafka-group={}-group", self.topic))
            .arg(format!("--es-url={}", self.osmem.url()))
            .arg(format!("--es-index-prefix={}", self.prefix))
            .args([
                "--es-num-replicas=0",
                "--es-num-shards=1",
                "--admin-listen=",
            ])
            .env(
                "RUST_LOG",
                std::env::var("INGESTER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("ingester starts")
    }

    /// Waits until every span of `sent` is in osmem; returns what is there.
    async fn wait_for(&self, sent: &HashSet<(String, String)>) -> HashSet<(String, String)> {
        let index = format!("{}-jaeger-span-2026-11-26", self.prefix);
        let mut stored = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(25);
        while Instant::now() < deadline {
            let docs = self.osmem.all_docs(&index).await.unwrap_or_default();
            stored = docs
                .iter()
                .map(|(_, doc)| {
                    let field = |name: &str| doc[name].as_str().unwrap_or_default().to_string();
                    (field("traceID"), field("spanID"))
                })
                .collect();
            if stored.is_superset(sent) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        stored
    }
}

fn flag(name: &str, path: &Path) -> String {
    format!("{name}={}", path.display())
}

/// A gRPC client of a collector that is still starting.
async fn connect(url: &str) -> TraceServiceClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match TraceServiceClient::connect(url.to_owned()).await {
            Ok(client) => return client,
            Err(error) if Instant::now() > deadline => {
                panic!("collector gRPC receiver never answered: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_travel_through_kafka_over_tls() {
    let kafka = TlsKafka::start(false).await;
    let (_collector, grpc) = kafka.collector(false);
    let _ingester = kafka.ingester(false);

    let sent = send_traces(&mut connect(&grpc).await, 30).await;
    assert_eq!(sent.len(), 300);
    assert_eq!(kafka.wait_for(&sent).await, sent);
    // Admin, producer, consumer (bootstrap, broker, coordinator) and the
    // dead-letter producer: several TLS connections, none refused.
    assert!(
        kafka.proxy.tls_connections() >= 3,
        "{}",
        kafka.proxy.tls_connections()
    );
    assert_eq!(
        kafka.proxy.handshake_failures(),
        0,
        "{:?}",
        kafka.proxy.handshake_errors()
    );

    // The broker's certificate is checked: a collector trusting another CA
    // refuses the proxy's certificate and cannot produce.
    let untrusting = [
        format!("--kafka-brokers={}", kafka.proxy.addr()),
        flag("--kafka-tls-ca-file", kafka.pki.other_ca_pem()),
    ];
    let (_untrusting, grpc) = kafka.pipeline.collector(&untrusting);
    let request = generator::request(&mut rand::rng(), 1, Shape::default(), AFTER_MIDNIGHT_NS);
    let status = connect(&grpc)
        .await
        .export(request)
        .await
        .expect_err("untrusted broker, no produce");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(kafka.proxy.handshake_failures() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let kafka = TlsKafka::start(true).await;
    let _ingester = kafka.ingester(true);

    // Without a client certificate the collector starts, but the broker is
    // unreachable: the export is answered UNAVAILABLE (retryable) once
    // --kafka-produce-timeout passes, and the proxy refused the handshakes.
    let (mut refused, grpc) = kafka.collector(false);
    let mut client = connect(&grpc).await;
    let request = generator::request(&mut rand::rng(), 1, Shape::default(), AFTER_MIDNIGHT_NS);
    let status = client
        .export(request)
        .await
        .expect_err("no client certificate, no produce");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(kafka.proxy.handshake_failures() > 0);
    assert!(
        kafka
            .proxy
            .handshake_errors()
            .iter()
            .any(|e| e.contains("certificate")),
        "{:?}",
        kafka.proxy.handshake_errors()
    );
    refused.kill().await.expect("collector killed");
    let failures = kafka.proxy.handshake_failures();

    let (_collector, grpc) = kafka.collector(true);
    let sent = send_traces(&mut connect(&grpc).await, 10).await;
    assert_eq!(kafka.wait_for(&sent).await, sent);
    // The ingester and the second collector present the certificate: no
    // handshake of theirs was refused.
    assert_eq!(kafka.proxy.handshake_failures(), failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_logs_in_to_tansu() {
    let mut tansu = Tansu::start().await.expect("tansu starts");
    let pipeline = Pipeline::new(Osmem::start().await.expect("osmem starts"));
    tansu
        .create_scram_user("ingest", "s3cret-pw", "scram512")
        .await
        .expect("SCRAM user created");
    tansu
        .create_topic(&pipeline.topic, 2)
        .await
        .expect("topic created");
    tansu
        .require_authentication()
        .await
        .expect("tansu restarts with --authentication");

    let secrets = TempDir::new("ferrotrace-sasl").expect("temp dir");
    let good = secrets
        .write("password", "s3cret-pw\n")
        .expect("password file");
    let bad = secrets
        .write("wrong", "not-the-password")
        .expect("password file");
    let sasl = |password_file: &Path| {
        vec![
            format!("--kafka-brokers={}", tansu.brokers()),
            "--kafka-sasl-mechanism=SCRAM-SHA-512".into(),
            "--kafka-sasl-username=ingest".into(),
            flag("--kafka-sasl-password-file", password_file),
        ]
    };

    // A wrong password: the broker refuses the login, the export is
    // answered UNAVAILABLE, and the log says why without the password.
    let (mut refused, grpc) = pipeline.collector_with(&sasl(&bad), Stdio::piped());
    let request = generator::request(&mut rand::rng(), 1, Shape::default(), AFTER_MIDNIGHT_NS);
    let status = connect(&grpc)
        .await
        .export(request)
        .await
        .expect_err("wrong password, no produce");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    refused.start_kill().expect("collector killed");
    let log = refused
        .wait_with_output()
        .await
        .expect("collector log")
        .stdout;
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("SASL SCRAM authentication failed"), "{log}");
    assert!(!log.contains("not-the-password"), "{log}");

    let _ingester = pipeline.ingester(&sasl(&good));
    let (_collector, grpc) = pipeline.collector(&sasl(&good));
    let sent = send_traces(&mut connect(&grpc).await, 10).await;
    assert_eq!(pipeline.wait_for(&sent).await, sent);
}
