//! Elasticsearch over real TLS: the ingester binary indexes through the
//! testkit's TLS-terminating proxy (rustls, certificates made by rcgen) in
//! front of osmem. Each test drives the real pipeline (collector → tansu →
//! ingester → proxy → osmem), confirms storage by reading osmem directly, and
//! checks the proxy's counters: what was accepted, answered 401, or refused
//! at the handshake. Secrets are looked for in everything the process prints.

mod support;

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrotrace_testkit::{wait_until, ProxyAuth, TempDir, TestPki, TlsProxy, TlsProxyOptions};
use support::{terminate, Cluster};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

const USERNAME: &str = "elastic";
const PASSWORD: &str = "tls-s3cret-Pa55";
/// Base64 of `id:key`.
const API_KEY: &str = "dGxzLWlkOnRscy1rZXktOTk=";
/// Ten traces of ten spans.
const SPANS: u64 = 100;

/// An ingester child whose stdout (logs) and stderr (the final error) are
/// collected while it runs.
struct Ingester {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Ingester {
    fn start(cluster: &Cluster, es_url: &str, flags: &[&str], log: &str) -> Self {
        let mut cmd = cluster.ingester_command(es_url, flags);
        // Plain text, so assertions can match `auth="basic"`.
        cmd.env("RUST_LOG", log)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("ingester starts");
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take(), output.clone());
        collect(child.stderr.take(), output.clone());
        Self { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits up to 60 s: on a loaded machine one attempt can hang until
    /// `--es-timeout` before the next names the failure.
    async fn wait_for_output(&self, text: &str) -> bool {
        wait_until(Duration::from_secs(60), || async {
            self.output().contains(text)
        })
        .await
    }

    async fn exit_status(&mut self) -> ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("ingester exits within 30 s")
            .expect("exit status")
    }

    /// True while the process keeps running (retrying).
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asserts no secret is in anything printed so far, in clear or as the
    /// base64 of a Basic header.
    fn assert_no_secret(&self) {
        let output = self.output();
        let basic = ProxyAuth::Basic {
            username: USERNAME.into(),
            password: PASSWORD.into(),
        }
        .header()
        .unwrap();
        let basic_b64 = basic.trim_start_matches("Basic ");
        for secret in [PASSWORD, API_KEY, basic_b64] {
            assert!(
                !output.contains(secret),
                "secret {secret:?} printed:\n{output}"
            );
        }
    }
}

fn collect(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, into: Arc<Mutex<String>>) {
    let Some(mut pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buffer[..n]);
            into.lock().unwrap().push_str(&text);
        }
    });
}

async fn proxy(cluster: &Cluster, pki: &TestPki, options: TlsProxyOptions) -> TlsProxy {
    let upstream = cluster
        .osmem
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("osmem address");
    TlsProxy::start(upstream, pki, options)
        .await
        .expect("tls proxy starts")
}

fn basic() -> ProxyAuth {
    ProxyAuth::Basic {
        username: USERNAME.into(),
        password: PASSWORD.into(),
    }
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_tls_with_the_ca_file_stores_spans_and_never_logs_the_password() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let proxy = proxy(
        &cluster,
        &pki,
        TlsProxyOptions {
            auth: basic(),
            require_client_cert: false,
        },
    )
    .await;
    let password = pki
        .dir()
        .write("password", format!("{PASSWORD}\n"))
        .unwrap();
    let sent = cluster.send_traces(10).await;
    assert_eq!(sent.len() as u64, SPANS);

    let mut ingester = Ingester::start(
        &cluster,
        &proxy.url(),
        &[
            &format!("--es-tls-ca={}", path(pki.ca_pem())),
            &format!("--es-username={USERNAME}"),
            &format!("--es-password-file={}", path(&password)),
        ],
        "debug",
    );
    let stored = cluster.wait_for_spans(SPANS, Duration::from_secs(30)).await;
    assert_eq!(stored, SPANS, "output:\n{}", ingester.output());
    // GET /, three templates, at least one bulk: all with credentials.
    assert!(proxy.accepted() >= 5, "accepted {}", proxy.accepted());
    assert_eq!(proxy.rejected(), 0);
    assert_eq!(
        proxy.handshake_failures(),
        0,
        "{:?}",
        proxy.handshake_errors()
    );
    terminate(&mut ingester.child).await;
    assert!(
        ingester.output().contains("auth=\"basic\""),
        "startup log names the auth kind:\n{}",
        ingester.output()
    );
    ingester.assert_no_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_stops_the_ingester_at_start_with_a_401_hint() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let proxy = proxy(
        &cluster,
        &pki,
        TlsProxyOptions {
            auth: basic(),
            require_client_cert: false,
        },
    )
    .await;
    let wrong = "not-the-Pa55word";
    let password = pki.dir().write("password", format!("{wrong}\n")).unwrap();
    cluster.send_traces(10).await;

    let mut ingester = Ingester::start(
        &cluster,
        &proxy.url(),
        &[
            &format!("--es-tls-ca={}", path(pki.ca_pem())),
            &format!("--es-username={USERNAME}"),
            &format!("--es-password-file={}", path(&password)),
        ],
        "debug",
    );
    // A 401 is permanent: the flavour check at start fails and the process
    // exits instead of retrying.
    let status = ingester.exit_status().await;
    assert_eq!(status.code(), Some(1), "output:\n{}", ingester.output());
    let output = ingester.output();
    assert!(
        output.contains("detecting the elasticsearch flavour")
            && output.contains("answered 401")
            && output.contains("--es-username"),
        "{output}"
    );
    assert!(!output.contains(wrong), "wrong password printed:\n{output}");
    ingester.assert_no_secret();
    assert_eq!(proxy.accepted(), 0);
    assert!(proxy.rejected() >= 1);
    assert_eq!(proxy.handshake_failures(), 0);
    assert_eq!(cluster.span_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_refused_unless_verification_is_skipped() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let proxy = proxy(&cluster, &pki, TlsProxyOptions::default()).await;
    cluster.send_traces(10).await;

    // Built-in roots only, then a CA that did not sign the server's certificate.
    let other_ca = format!("--es-tls-ca={}", path(pki.other_ca_pem()));
    for (round, flags) in [vec![], vec![other_ca.as_str()]].into_iter().enumerate() {
        let mut ingester = Ingester::start(&cluster, &proxy.url(), &flags, "warn");
        // TLS trouble is treated as transient: the ingester keeps retrying and
        // says why in one line.
        assert!(
            ingester
                .wait_for_output("invalid peer certificate: UnknownIssuer")
                .await,
            "{flags:?}: output:\n{}",
            ingester.output()
        );
        assert!(
            ingester
                .output()
                .contains(r#"not ready check="elasticsearch" reason=unreachable"#),
            "{}",
            ingester.output()
        );
        assert!(ingester.running(), "{flags:?}: still retrying");
        assert!(
            proxy.handshake_failures() > round as u64,
            "{flags:?}: the proxy saw the refused handshake"
        );
        ingester.child.kill().await.unwrap();
    }
    assert_eq!(proxy.accepted(), 0);
    assert_eq!(cluster.span_count().await, 0);
    assert!(
        proxy
            .handshake_errors()
            .iter()
            .all(|e| e.contains("UnknownCA")),
        "the client refused the certificate: {:?}",
        proxy.handshake_errors()
    );

    let failures = proxy.handshake_failures();
    let mut ingester = Ingester::start(
        &cluster,
        &proxy.url(),
        &["--es-tls-skip-host-verify"],
        "warn",
    );
    let stored = cluster.wait_for_spans(SPANS, Duration::from_secs(30)).await;
    assert_eq!(stored, SPANS, "output:\n{}", ingester.output());
    assert!(proxy.accepted() >= 5);
    assert_eq!(proxy.handshake_failures(), failures);
    assert!(
        ingester
            .output()
            .contains("--es-tls-skip-host-verify: elasticsearch certificates are not verified"),
        "the start warns loudly:\n{}",
        ingester.output()
    );
    terminate(&mut ingester.child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate_signed_by_the_ca() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let proxy = proxy(
        &cluster,
        &pki,
        TlsProxyOptions {
            auth: ProxyAuth::None,
            require_client_cert: true,
        },
    )
    .await;
    cluster.send_traces(10).await;
    let ca = format!("--es-tls-ca={}", path(pki.ca_pem()));

    let untrusted_cert = format!("--es-tls-cert={}", path(pki.untrusted_client_cert_pem()));
    let untrusted_key = format!("--es-tls-key={}", path(pki.untrusted_client_key_pem()));
    // The proxy aborts the handshake; the ingester names the TLS alert it got
    // and keeps retrying.
    for (round, (flags, alert)) in [
        (
            vec![ca.as_str()],
            "received fatal alert: CertificateRequired",
        ),
        (
            vec![ca.as_str(), untrusted_cert.as_str(), untrusted_key.as_str()],
            "received fatal alert: UnknownCA",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // A short timeout, so an attempt that hangs is retried in the wait.
        let ingester_flags = [flags.as_slice(), &["--es-timeout=5s"]].concat();
        let mut ingester = Ingester::start(&cluster, &proxy.url(), &ingester_flags, "warn");
        assert!(
            wait_until(Duration::from_secs(20), || async {
                proxy.handshake_failures() > round as u64
            })
            .await,
            "{flags:?}: handshake refused by the proxy"
        );
        assert!(
            ingester.wait_for_output(alert).await,
            "{flags:?}: the proxy saw {:?}; output:\n{}",
            proxy.handshake_errors(),
            ingester.output()
        );
        assert!(
            ingester
                .output()
                .contains(r#"not ready check="elasticsearch" reason=unreachable"#),
            "{}",
            ingester.output()
        );
        assert!(ingester.running(), "{flags:?}: still retrying");
        ingester.child.kill().await.unwrap();
    }
    let errors = proxy.handshake_errors();
    assert!(
        errors[0].contains("no certificates") && errors.iter().any(|e| e.contains("UnknownIssuer")),
        "{errors:?}"
    );
    assert_eq!(proxy.accepted(), 0);
    assert_eq!(cluster.span_count().await, 0);

    let failures = proxy.handshake_failures();
    let mut ingester = Ingester::start(
        &cluster,
        &proxy.url(),
        &[
            &ca,
            &format!("--es-tls-cert={}", path(pki.client_cert_pem())),
            &format!("--es-tls-key={}", path(pki.client_key_pem())),
        ],
        "warn",
    );
    let stored = cluster.wait_for_spans(SPANS, Duration::from_secs(30)).await;
    assert_eq!(stored, SPANS, "output:\n{}", ingester.output());
    assert!(proxy.accepted() >= 5);
    assert_eq!(proxy.handshake_failures(), failures);
    terminate(&mut ingester.child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_file_is_sent_as_apikey_authorization_and_never_logged() {
    let cluster = Cluster::start(1).await;
    let pki = TestPki::generate().expect("pki");
    let proxy = proxy(
        &cluster,
        &pki,
        TlsProxyOptions {
            auth: ProxyAuth::ApiKey(API_KEY.into()),
            require_client_cert: false,
        },
    )
    .await;
    let key = pki.dir().write("api-key", format!("{API_KEY}\n")).unwrap();
    cluster.send_traces(10).await;

    let mut ingester = Ingester::start(
        &cluster,
        &proxy.url(),
        &[
            &format!("--es-tls-ca={}", path(pki.ca_pem())),
            &format!("--es-api-key-file={}", path(&key)),
        ],
        "debug",
    );
    let stored = cluster.wait_for_spans(SPANS, Duration::from_secs(30)).await;
    assert_eq!(stored, SPANS, "output:\n{}", ingester.output());
    assert!(proxy.accepted() >= 5);
    assert_eq!(proxy.rejected(), 0);
    assert_eq!(proxy.handshake_failures(), 0);
    terminate(&mut ingester.child).await;
    assert!(
        ingester.output().contains("auth=\"api_key\""),
        "{}",
        ingester.output()
    );
    ingester.assert_no_secret();
}

/// `--help` shows `[env: NAME=value]` for variables that are set; the
/// password and the API key must stay hidden there.
#[tokio::test]
async fn help_never_shows_secret_values_from_the_environment() {
    let dir = TempDir::new("ferrotrace-help").unwrap();
    let output = tokio::process::Command::new(support::workspace_binary("ferrotrace-ingester"))
        .arg("--help")
        .env("FERROTRACE_ES_USERNAME", USERNAME)
        .env("FERROTRACE_ES_PASSWORD", PASSWORD)
        .env("FERROTRACE_ES_API_KEY", API_KEY)
        .current_dir(dir.path())
        .output()
        .await
        .expect("--help runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--es-password"), "{help}");
    assert!(help.contains("--es-api-key"), "{help}");
    // The username is not a secret: shown, which proves values are printed at all.
    assert!(
        help.contains(&format!("FERROTRACE_ES_USERNAME={USERNAME}")),
        "{help}"
    );
    for secret in [PASSWORD, API_KEY] {
        assert!(!help.contains(secret), "{secret} in --help:\n{help}");
    }
}
