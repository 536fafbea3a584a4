//! Elasticsearch authentication against a real server: osmem behind a small
//! authenticating reverse proxy (started here, on 127.0.0.1:0) that answers
//! 401 unless the `Authorization` header is one it accepts. The ingester is
//! configured from its real flags (`--es-username`, `--es-password-file`,
//! `--es-api-key`) and prepares Elasticsearch exactly as at start: flavour
//! detection, then template installation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use ferrotrace_ingester::config::Config;
use ferrotrace_ingester::es::client::{EsClient, Flavour};
use ferrotrace_ingester::{prepare_elasticsearch, readiness};
use ferrotrace_testkit::{unique_name, Osmem, TempDir};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const USERNAME: &str = "elastic";
const PASSWORD: &str = "s3cret";
/// `Basic` + base64 of `elastic:s3cret`.
const BASIC: &str = "Basic ZWxhc3RpYzpzM2NyZXQ=";
/// Base64 of `id:key`, as Elasticsearch's `_security/api_key` hands it out.
const API_KEY: &str = "aWQ6a2V5";

/// A reverse proxy that lets through only requests carrying an accepted
/// `Authorization` header. It speaks the HTTP/1.1 the elasticsearch crate
/// sends (Content-Length bodies, keep-alive): enough for a test, no more.
struct AuthProxy {
    url: String,
    forwarded: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

struct Upstream {
    url: String,
    accepted: Vec<String>,
    http: reqwest::Client,
    forwarded: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl AuthProxy {
    async fn start(upstream: &str, accepted: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let forwarded = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let upstream = Arc::new(Upstream {
            url: upstream.to_owned(),
            accepted: accepted.iter().map(|a| a.to_string()).collect(),
            http: reqwest::Client::new(),
            forwarded: forwarded.clone(),
            refused: refused.clone(),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, upstream.clone()));
            }
        });
        Self {
            url,
            forwarded,
            refused,
            task,
        }
    }
}

impl Drop for AuthProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One keep-alive connection: read a request, answer it, until the client
/// closes.
async fn serve(stream: TcpStream, upstream: Arc<Upstream>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let length = header("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;

        let authorized = header("authorization")
            .is_some_and(|given| upstream.accepted.iter().any(|a| a == given));
        let (status, content_type, answer) = if authorized {
            upstream.forwarded.fetch_add(1, Ordering::Relaxed);
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = upstream
                .http
                .request(method, format!("{}{target}", upstream.url))
                .header(
                    "content-type",
                    header("content-type").unwrap_or("application/json"),
                )
                .body(body)
                .send()
                .await
                .expect("osmem answers");
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            (
                status,
                content_type,
                response.bytes().await.unwrap().to_vec(),
            )
        } else {
            upstream.refused.fetch_add(1, Ordering::Relaxed);
            let reason = br#"{"error":{"type":"security_exception","reason":"unable to authenticate user"},"status":401}"#;
            (
                reqwest::StatusCode::UNAUTHORIZED,
                "application/json".to_owned(),
                reason.to_vec(),
            )
        };
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            answer.len()
        );
        if status == reqwest::StatusCode::UNAUTHORIZED {
            head.push_str("www-authenticate: Basic realm=\"security\"\r\n");
        }
        head.push_str("\r\n");
        write.write_all(head.as_bytes()).await?;
        write.write_all(&answer).await?;
    }
}

/// A password file as Kubernetes mounts a Secret, in a directory removed on drop.
fn secret_file(contents: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new("ferrotrace-es-password").expect("temporary directory");
    let path = dir
        .write("password", contents)
        .expect("password file written");
    (dir, path)
}

fn config(url: &str, prefix: &str, auth: &[String]) -> Config {
    let mut flags = vec![
        "ferrotrace-ingester".to_owned(),
        format!("--es-url={url}"),
        format!("--es-index-prefix={prefix}"),
        "--es-num-shards=1".into(),
        "--es-num-replicas=0".into(),
        "--admin-listen=".into(),
    ];
    flags.extend(auth.iter().cloned());
    let config = Config::try_parse_from(flags).expect("flags parse");
    config.validate().expect("flags are valid");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_a_password_file_detects_flavour_and_installs_templates() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let proxy = AuthProxy::start(osmem.url(), &[BASIC]).await;
    let (_dir, password) = secret_file(&format!("{PASSWORD}\n"));
    let prefix = unique_name("auth");
    let config = config(
        &proxy.url,
        &prefix,
        &[
            format!("--es-username={USERNAME}"),
            format!("--es-password-file={}", password.display()),
        ],
    );

    let client = EsClient::new(&config.es_connection()).expect("client builds");
    let flavour = client.detect_flavour().await.expect("flavour detected");
    assert!(matches!(flavour, Flavour::OpenSearch { .. }), "{flavour:?}");

    // The same start-up path the binary runs: detection and templates.
    let shutdown = CancellationToken::new();
    let ready = readiness::new();
    prepare_elasticsearch(&client, &config, &ready, &shutdown)
        .await
        .expect("ingester prepares elasticsearch through the proxy");
    assert_eq!(ready.reasons(), ["kafka: not checked yet"]);
    for template in ["jaeger-span", "jaeger-service", "jaeger-dependencies"] {
        let url = format!("{}/_index_template/{prefix}-{template}", osmem.url());
        let status = reqwest::get(&url).await.unwrap().status();
        assert!(status.is_success(), "{url} answered {status}");
    }
    assert!(proxy.forwarded.load(Ordering::Relaxed) >= 5);
    assert_eq!(proxy.refused.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_fail_with_a_clear_error() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let proxy = AuthProxy::start(osmem.url(), &[BASIC]).await;
    let prefix = unique_name("noauth");
    let (_wrong_dir, wrong) = secret_file("not-the-password\n");
    for auth in [
        vec![
            format!("--es-username={USERNAME}"),
            format!("--es-password-file={}", wrong.display()),
        ],
        vec![format!("--es-username={USERNAME}"), "--es-password=".into()],
        vec![],
    ] {
        let config = config(&proxy.url, &prefix, &auth);
        let client = EsClient::new(&config.es_connection()).expect("client builds");
        let error = client
            .detect_flavour()
            .await
            .expect_err("the proxy refuses");
        assert!(!error.is_transient(), "{auth:?}: a 401 is not retried");
        let message = error.to_string();
        assert!(message.contains("401"), "{auth:?}: {message}");
        assert!(message.contains("--es-username"), "{auth:?}: {message}");

        // At start the binary stops with this error instead of retrying.
        let shutdown = CancellationToken::new();
        let error = prepare_elasticsearch(&client, &config, &readiness::new(), &shutdown)
            .await
            .expect_err("preparing fails");
        let message = format!("{error:#}");
        assert!(
            message.starts_with(
                "detecting the elasticsearch flavour: elasticsearch refused: GET / answered 401"
            ),
            "{message}"
        );
    }
    assert_eq!(proxy.forwarded.load(Ordering::Relaxed), 0);
    let templates = format!("{}/_index_template/{prefix}-jaeger-span", osmem.url());
    assert_eq!(reqwest::get(&templates).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_sent_as_an_apikey_authorization() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let proxy = AuthProxy::start(osmem.url(), &[&format!("ApiKey {API_KEY}")]).await;
    let config = config(
        &proxy.url,
        &unique_name("apikey"),
        &[format!("--es-api-key={API_KEY}")],
    );
    let client = EsClient::new(&config.es_connection()).expect("client builds");
    let flavour = client.detect_flavour().await.expect("api key accepted");
    assert!(matches!(flavour, Flavour::OpenSearch { .. }), "{flavour:?}");
    assert_eq!(proxy.refused.load(Ordering::Relaxed), 0);
}
